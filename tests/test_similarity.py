"""The similarity check on a class where two students share one solution in disguise.

Five students answered backprop's items with the course's fixtures: alice, bob and
carol each with their own correct alternative of every item, erin with mistakes,
and dave with bob's code, names renamed, comments reworded and spacing changed. Four
more folders are not compared: frank handed in the release untouched, grace's notebook
is a link to bob's, heidi's is not JSON and ivan's submission folder is a link to
alice's. No kernel runs.
"""

from __future__ import annotations

import csv
import html
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder import fixtures, notebooks, similarity
from autograder.cli import main
from autograder.course import Course
from tests.conftest import ARTIFACTS, REPO

ASSIGNMENT = "backprop"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
HOSTILE = "</pre><script>alert(1)</script>"
COMPARED = ["alice", "bob", "carol", "dave", "erin"]
NOT_COMPARED = ("frank", "grace", "heidi", "ivan")
# dave's new names for the local variables of bob's code (parameters keep theirs: the
# first line of each function is the release's).
RENAMED = {
    "out": "mask",
    "e": "decay",
    "one_hot": "target",
    "back": "spread",
    "activations": "acts",
    "pre_activations": "zs",
    "logits": "scores",
    "exp": "shifted",
    "delta": "err",
    "grads": "gradients",
    "i": "j",
    "n": "count",
    "flat": "view",
    "grad": "g",
    "original": "saved",
    "plus": "up",
    "minus": "down",
    "rng": "gen",
    "sizes": "widths",
    "batch_size": "chunk",
    "epoch": "_",
    "order": "perm",
    "start": "first",
    "batch": "rows",
    "n_in": "fan_in",
    "n_out": "fan_out",
}


def disguised(code: str) -> str:
    """``code`` as a student who copies it hides it: local names renamed, comments
    reworded, indentation halved and no spaces around ``=``."""
    lines = []
    for line in code.splitlines():
        body, hash_sign, _ = line.partition("#")
        for old, new in RENAMED.items():
            body = re.sub(rf"(?<![\w.]){old}(?!\w)", new, body)
        indent = len(body) - len(body.lstrip(" "))
        body = " " * (indent // 2) + body.strip().replace(" = ", "=")
        if hash_sign:
            body = f"{body}  # my own note" if body.strip() else f"{body}# worked this out myself"
        lines.append(body)
    return "\n".join(lines)


def _written(found: dict, kind: str, index: int) -> dict[str, str]:
    """The ``index``-th fixture of ``kind`` of every item, as solution cell sources."""
    return {item: per_kind[kind][index].source for item, per_kind in found.items()}


def _notebook(course: Course, student: str) -> Path:
    return course.root / "submitted" / student / ASSIGNMENT / NOTEBOOK


@pytest.fixture(scope="module")
def answers(course: Course) -> dict[str, dict[str, str]]:
    found = fixtures.discover(course, ASSIGNMENT)
    written = {
        "alice": _written(found, "alternative", 0),
        "bob": _written(found, "alternative", 1),
        "carol": _written(found, "alternative", 2),
        "erin": _written(found, "mistake", 0),
    }
    written["dave"] = {item: disguised(code) for item, code in written["bob"].items()}
    written["dave"]["relu_derivative"] = f"# {HOSTILE}\n{written['dave']['relu_derivative']}"
    written["frank"] = {}
    return written


@pytest.fixture(scope="module")
def batch(answers: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Course:
    """A course folder with backprop's source and release and the class's submissions."""
    root = tmp_path_factory.mktemp("similarity") / "course"
    for name in ("source", "release"):
        shutil.copytree(REPO / name / ASSIGNMENT, root / name / ASSIGNMENT)
    shutil.copy(REPO / "nbgrader_config.py", root)
    course = Course(root)
    release = notebooks.read(course.release_dir / ASSIGNMENT / NOTEBOOK)
    for student, cells in answers.items():
        notebooks.write(notebooks.with_replaced_cells(release, cells), _notebook(course, student))
    _notebook(course, "grace").parent.mkdir(parents=True)
    _notebook(course, "grace").symlink_to(_notebook(course, "bob"))
    _notebook(course, "heidi").parent.mkdir(parents=True)
    _notebook(course, "heidi").write_text('{"cells": [{"cell_type": "code", "source": "x')
    (root / "submitted" / "ivan").mkdir()
    (root / "submitted" / "ivan" / ASSIGNMENT).symlink_to(_notebook(course, "alice").parent)
    return course


@pytest.fixture(scope="module")
def checked(batch: Course) -> similarity.Similarity:
    return similarity.check_similarity(batch, ASSIGNMENT, top=3)


def _section(page: str, anchor: str) -> str:
    """The HTML of the section with id ``anchor``, up to the next section."""
    start = page.index(f'id="{anchor}"')
    end = page.find("<section", start)
    return page[start : end if end != -1 else len(page)]


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_the_disguise_leaves_no_line_of_bobs_code_as_it_was(answers) -> None:
    for item, code in answers["dave"].items():
        compile(code, item, "exec")
        original = {line for line in answers["bob"][item].splitlines()[1:] if line.strip()}
        assert not original & set(code.splitlines()[1:]), item


def test_the_copied_pair_ranks_first_with_a_clear_gap(checked) -> None:
    assert checked.compared == COMPARED
    assert len(checked.pairs) == 10
    first, second = checked.pairs[:2]
    assert (first.first, first.second) == ("bob", "dave")
    # Measured: bob and dave 1.00 (all of both codes), then carol and erin 0.25.
    assert first.first_share > 0.9 and first.second_share > 0.9, first
    assert second.score < 0.35, second
    assert first.score - second.score > 0.6, (first, second)


def test_what_was_not_compared_is_a_note_never_a_crash(checked) -> None:
    why = dict(checked.not_compared)
    assert sorted(why) == list(NOT_COMPARED)
    assert why["frank"] == similarity.NO_CODE
    assert "is a symbolic link; links are not followed" in why["grace"]
    assert "is not a readable notebook" in why["heidi"]
    assert "symbolic link" in why["ivan"]
    assert checked.notes == []
    rows = _section(checked.page.read_text(), "not-compared").split("<tr>")
    for student in NOT_COMPARED:
        assert any(student in row and html.escape(why[student]) in row for row in rows), student


def test_the_odd_folders_change_no_other_pair(checked, batch: Course, tmp_path: Path) -> None:
    copy = Course(shutil.copytree(batch.root, tmp_path / "course", symlinks=True))
    for student in NOT_COMPARED:
        shutil.rmtree(copy.root / "submitted" / student)
    assert similarity.check_similarity(copy, ASSIGNMENT).pairs == checked.pairs


def test_both_codes_appear_side_by_side_as_text(checked, batch: Course) -> None:
    page = checked.page.read_text()
    assert "<script" not in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)" in page
    pair = _section(page, "pair-1")
    assert pair.count('<mark class="match">') >= 7
    shown = _text(pair)
    release = similarity.release_cells(batch, ASSIGNMENT)
    for student in ("bob", "dave"):
        code = similarity.read_student(batch.root / "submitted", student, ASSIGNMENT, release)
        assert len(code.cells) == 7
        for cell in code.cells:
            assert cell.code in shown, (student, cell.grade_id)
    assert HOSTILE in shown


def test_the_release_lines_are_not_a_students_code(batch: Course) -> None:
    given = similarity.release_cells(batch, ASSIGNMENT)[NOTEBOOK]["relu_derivative"]
    assert similarity.own_code(given, given) == ""
    indented = given.replace("    raise NotImplementedError()", "  return np.sign(z) > 0")
    assert similarity.own_code(indented, given) == "  return np.sign(z) > 0"


def test_a_huge_answer_is_cut_with_a_note(batch: Course, tmp_path: Path) -> None:
    release = notebooks.read(batch.release_dir / ASSIGNMENT / NOTEBOOK)
    huge = notebooks.with_replaced_cells(release, {"relu_derivative": "x = 1\n" * 40_000})
    notebooks.write(huge, tmp_path / "submitted" / "zoe" / ASSIGNMENT / NOTEBOOK)
    code = similarity.read_student(
        tmp_path / "submitted", "zoe", ASSIGNMENT, similarity.release_cells(batch, ASSIGNMENT)
    )
    assert sum(len(cell.code) for cell in code.cells) == similarity.MAX_CODE_CHARS
    assert code.notes == ["239,999 characters of code; only the first 200,000 were compared"]


def test_the_csv_lists_every_pair_most_similar_first(checked) -> None:
    with checked.table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert (rows[0]["student_a"], rows[0]["student_b"]) == ("bob", "dave")
    assert [float(row["score"]) for row in rows] == sorted(
        (float(row["score"]) for row in rows), reverse=True
    )


def test_the_command_prints_the_page_and_the_top_pairs(batch: Course, tmp_path: Path) -> None:
    copy = shutil.copytree(batch.root, tmp_path / "course", symlinks=True)
    result = CliRunner().invoke(
        main, ["similarity", ASSIGNMENT, "--course", str(copy), "--top", "2"]
    )
    assert result.exit_code == 0, result.output
    assert f"similarity page: {copy / 'reports' / ASSIGNMENT / 'similarity.html'}" in result.output
    assert "5 student(s) compared in 10 pair(s); 4 not compared" in result.output
    assert re.search(r"^\s+1\. bob and dave: \d+%", result.output, re.MULTILINE), result.output
    assert " 3. " not in result.output

    unknown = CliRunner().invoke(main, ["similarity", "backprob", "--course", str(copy)])
    assert unknown.exit_code != 0 and "unknown assignment(s) ['backprob']" in unknown.output
    shutil.rmtree(copy / "submitted")
    empty = CliRunner().invoke(main, ["similarity", ASSIGNMENT, "--course", str(copy)])
    assert empty.exit_code != 0 and "no submissions of backprop" in empty.output


def test_the_page_in_chromium_shows_the_pair_first_and_side_by_side(checked) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail("chromium is not installed: scripts/setup.sh installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "similarity.png"
    requested: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.on("request", lambda request: requested.append(request.url))
        page.goto(checked.page.as_uri())
        page.wait_for_load_state("networkidle")
        assert page.locator("#notice").is_visible()
        assert "never an automatic penalty" in page.locator("#notice").inner_text()
        row = page.locator("#row-1")
        assert row.is_visible()
        assert row.locator("th").all_inner_texts() == ["bob", "dave"]
        columns = page.locator("#pair-1 table.side tbody tr").first.locator("td")
        left, right = columns.nth(0).bounding_box(), columns.nth(1).bounding_box()
        assert left and right and left["x"] + left["width"] <= right["x"] + 1
        assert abs(left["y"] - right["y"]) < 1 and right["y"] + right["height"] < 1800
        assert page.locator("#pair-1 mark.match").first.is_visible()
        page.screenshot(path=str(shot))
        browser.close()
    assert shot.stat().st_size > 10_000
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
