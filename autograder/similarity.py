"""How alike the students' code is, pair by pair: evidence for a person to review.

A student's code is what they wrote in the assignment's code solution cells: each
cell without the lines the release's cell of the same ``grade_id`` gives (the
function's first line, its docstring, ``# YOUR CODE HERE``,
``raise NotImplementedError()``). Every pair of students with code is compared with
copydetect, which fingerprints the code after replacing names by one letter and
dropping comments and spacing, so renaming and reformatting do not hide a copy.

``reports/<assignment>/similarity.html`` shows the most similar pairs, their code side
by side with the matching passages marked; ``similarity.csv`` lists every pair. Nothing
here changes a grade: a high score is a reason to look, never a penalty.

Submissions are read as :mod:`autograder.intake` reads them: no link is followed, only
regular files under a size cap. A folder or notebook that cannot be read that way, or
is not a notebook, is a note on the page; it never stops the check or changes the
comparison of other students.
"""

from __future__ import annotations

import csv
import errno
import io
import itertools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import copydetect
import numpy as np

from autograder import intake, notebooks, report
from autograder.course import Course
from autograder.errors import CourseError
from autograder.report_data import REPORTS_DIR
from autograder.report_submissions import MAX_NOTEBOOK_BYTES, notebook_text
from autograder.spreadsheet import text_cell

PAGE = "similarity.html"
CSV_NAME = "similarity.csv"
CSV_COLUMNS = ("rank", "student_a", "student_b", "score", "share_of_a", "share_of_b")
# How many of the most similar pairs the page shows side by side.
TOP = 10
# copydetect matches k-grams of the filtered code, where names are one letter and spacing
# and comments are gone: one short NumPy statement is 10 to 25 characters
# (`V=V.V(V.V(V))`, `return(V.V(V)>0).V(float)`). With k = 25 a match spans about two
# statements, so a one-line idiom any student writes (`return np.maximum(0, z)`) does
# not count, while a copied passage of two statements or more does. Measured on
# backprop's fixtures (tests/test_similarity.py): the highest score of two students who
# did not copy from each other falls from 0.53 at k = 10 to 0.25 at k = 25, while a
# disguised copy scores 1.0 at every k from 10 to 40.
NOISE_CHARS = 25
# Winnowing with a window w keeps only some k-grams and is sure to find a copied passage
# only from k + w - 1 characters on. A class's code is a few hundred kilobytes, small
# enough to keep every k-gram (w = 1), so every passage of k characters is found.
WINDOW = 1
# A hostile notebook could hold megabytes of code; fingerprints of more would be slow.
MAX_CODE_CHARS = 200_000
NO_CODE = "no code of their own: every solution cell is blank or as released"
# Between two cells of one student's code: whitespace, which copydetect ignores.
CELL_BREAK = "\n\n"


@dataclass(frozen=True)
class Cell:
    """The code a student wrote in one solution cell."""

    grade_id: str
    code: str


@dataclass
class StudentCode:
    """One student's code, in the release's cell order, and what could not be read."""

    student: str
    cells: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_code(self) -> bool:
        return bool(self.cells)

    def document(self) -> tuple[str, dict[str, tuple[int, int]]]:
        """The cells joined into one text, and where each cell lies in it."""
        spans: dict[str, tuple[int, int]] = {}
        position = 0
        for cell in self.cells:
            spans[cell.grade_id] = (position, position + len(cell.code))
            position += len(cell.code) + len(CELL_BREAK)
        return CELL_BREAK.join(cell.code for cell in self.cells), spans


Spans = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Pair:
    """Two students (in name order), the share of each one's code in passages that
    match the other's, and where those passages are in each one's document."""

    first: str
    second: str
    first_share: float
    second_share: float
    first_matches: Spans
    second_matches: Spans

    @property
    def score(self) -> float:
        """The mean of the two shares. The larger one alone would put a student with two
        lines of code, both common, at the top of every pair they are in."""
        return (self.first_share + self.second_share) / 2


@dataclass(frozen=True)
class Segment:
    text: str
    matched: bool


@dataclass(frozen=True)
class ItemView:
    """One cell of both students side by side; None where a student wrote nothing."""

    grade_id: str
    first: list[Segment] | None
    second: list[Segment] | None


@dataclass(frozen=True)
class PairView:
    rank: int
    pair: Pair
    items: list[ItemView]


@dataclass
class Similarity:
    """What the page shows: every pair, most similar first, and who was not compared."""

    assignment: str
    compared: list[str]
    pairs: list[Pair]
    shown: list[PairView]
    not_compared: list[tuple[str, str]]
    notes: list[tuple[str, str]]
    page: Path
    table: Path


def release_cells(course: Course, assignment: str) -> dict[str, dict[str, str]]:
    """Per notebook of the release, the source of each code solution cell by grade_id."""
    paths = sorted((course.release_dir / assignment).glob("*.ipynb"))
    if not paths:
        raise CourseError(
            f"release/{assignment} holds no notebook; run `autograder release {assignment}`"
        )
    found = {}
    for path in paths:
        cells = notebooks.cells_by_grade_id(notebooks.read(path))
        found[path.name] = {
            gid: cell.source
            for gid, cell in cells.items()
            if cell.cell_type == "code" and notebooks.nbgrader_meta(cell).get("solution")
        }
    return found


def own_code(source: str, given: str) -> str:
    """``source`` without the lines of ``given`` (compared without indentation), and
    without blank lines at either end."""
    given_lines = {line.strip() for line in given.splitlines() if line.strip()}
    kept = [line for line in source.splitlines() if line.strip() not in given_lines]
    written = [index for index, line in enumerate(kept) if line.strip()]
    return "\n".join(kept[written[0] : written[-1] + 1]) if written else ""


def submission_names(submitted: Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>``, and every link in
    ``submitted/`` (not followed, so it may hide a submission a person should see)."""
    if not submitted.is_dir():
        return []
    names = []
    with os.scandir(submitted) as entries:
        for entry in entries:
            if entry.is_symlink() or (
                entry.is_dir(follow_symlinks=False)
                and os.path.lexists(os.path.join(entry.path, assignment))
            ):
                names.append(entry.name)
    return sorted(names)


def _code_cells(content: object) -> dict[str, str] | None:
    """The source of each code cell with a grade_id (cells sharing one are joined);
    None when ``content`` is not a notebook."""
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
        return None
    found: dict[str, str] = {}
    for cell in content["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata")
        nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        gid = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        if isinstance(gid, str):
            source = notebook_text(cell.get("source"))
            found[gid] = f"{found[gid]}\n{source}" if gid in found else source
    return found


def _unread(name: str, folder: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return f"{name} is a symbolic link; links are not followed, so it was not read"
    if error.errno is None:  # intake's own refusals: not a regular file, too large
        return f"{str(error).replace(f'{folder}{os.sep}', '')}; it was not read"
    return f"{name} could not be read: {error.strerror}"


def read_student(
    submitted: Path, student: str, assignment: str, release: dict[str, dict[str, str]]
) -> StudentCode:
    """What ``student`` wrote in the release's code solution cells, read without
    following links; what could not be read becomes a note."""
    found = StudentCode(student)
    folder = submitted / student / assignment
    try:
        intake.require_plain_folder(folder, submitted)
    except intake.UnsafeFolder:
        found.notes.append(
            f"submitted/{student} or its {assignment} folder is a symbolic link or not a "
            "folder; links are not followed, so it was not read"
        )
        return found
    for name, given in release.items():
        try:
            data = intake.read_regular(folder / name, MAX_NOTEBOOK_BYTES)
        except FileNotFoundError:
            found.notes.append(f"the submission holds no {name}")
            continue
        except OSError as error:
            found.notes.append(_unread(name, folder, error))
            continue
        try:
            cells = _code_cells(json.loads(data))
        except (ValueError, RecursionError) as error:
            found.notes.append(f"{name} is not a readable notebook ({error})")
            continue
        if cells is None:
            found.notes.append(f"{name} is not a readable notebook (it has no list of cells)")
            continue
        for gid, released in given.items():
            code = own_code(cells.get(gid, ""), released)
            if code:
                found.cells.append(Cell(gid, code))
    _cap(found)
    return found


def _cap(student: StudentCode) -> None:
    """Cut a student's code at :data:`MAX_CODE_CHARS`, with a note."""
    total = sum(len(cell.code) for cell in student.cells)
    if total <= MAX_CODE_CHARS:
        return
    kept, room = [], MAX_CODE_CHARS
    for cell in student.cells:
        if room <= 0:
            break
        kept.append(Cell(cell.grade_id, cell.code[:room]))
        room -= len(cell.code)
    student.cells = kept
    student.notes.append(
        f"{total:,} characters of code; only the first {MAX_CODE_CHARS:,} were compared"
    )


def _fingerprint(text: str) -> copydetect.CodeFingerprint:
    return copydetect.CodeFingerprint(
        "code.py", NOISE_CHARS, WINDOW, language="python", fp=io.StringIO(text)
    )


def _spans(slices: np.ndarray) -> Spans:
    """copydetect's 2 x N array of starts and ends (or an empty array) as pairs."""
    if slices.size == 0:
        return ()
    return tuple((int(start), int(end)) for start, end in zip(slices[0], slices[1], strict=True))


def compare_all(students: list[StudentCode]) -> list[Pair]:
    """Every pair of ``students``, most similar first (ties in name order)."""
    prints = {
        student.student: _fingerprint(student.document()[0])
        for student in sorted(students, key=lambda s: s.student)
    }
    pairs = []
    for first, second in itertools.combinations(prints, 2):
        _, shares, slices = copydetect.compare_files(prints[first], prints[second])
        pairs.append(
            Pair(
                first,
                second,
                float(shares[0]),
                float(shares[1]),
                _spans(slices[0]),
                _spans(slices[1]),
            )
        )
    return sorted(pairs, key=lambda pair: (-pair.score, pair.first, pair.second))


def segments(text: str, start: int, end: int, matches: Iterable[tuple[int, int]]) -> list[Segment]:
    """``text[start:end]`` cut into passages that match (``matches``, sorted) and that do not."""
    parts = []
    position = start
    for match_start, match_end in matches:
        match_start, match_end = max(match_start, position), min(match_end, end)
        if match_start >= match_end:
            continue
        if match_start > position:
            parts.append(Segment(text[position:match_start], False))
        parts.append(Segment(text[match_start:match_end], True))
        position = match_end
    if position < end:
        parts.append(Segment(text[position:end], False))
    return parts


def _cell_segments(student: StudentCode, matches: Spans) -> dict[str, list[Segment]]:
    text, spans = student.document()
    return {gid: segments(text, start, end, matches) for gid, (start, end) in spans.items()}


def pair_view(
    rank: int, pair: Pair, students: dict[str, StudentCode], order: list[str]
) -> PairView:
    """Both students' cells side by side, in the release's order, matches marked."""
    first = _cell_segments(students[pair.first], pair.first_matches)
    second = _cell_segments(students[pair.second], pair.second_matches)
    items = [
        ItemView(gid, first.get(gid), second.get(gid))
        for gid in order
        if gid in first or gid in second
    ]
    return PairView(rank, pair, items)


def write_csv(path: Path, pairs: list[Pair]) -> None:
    """Every pair with its rank, score and both shares (fractions, 0 to 1)."""
    with path.open("w", newline="", encoding="utf-8", errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for rank, pair in enumerate(pairs, start=1):
            writer.writerow(
                [
                    rank,
                    text_cell(pair.first),
                    text_cell(pair.second),
                    f"{pair.score:.4f}",
                    f"{pair.first_share:.4f}",
                    f"{pair.second_share:.4f}",
                ]
            )


def check_similarity(course: Course, assignment: str, top: int = TOP) -> Similarity:
    """Compare the code of every submission of ``assignment`` pairwise; write
    ``reports/<assignment>/similarity.html`` (the ``top`` pairs side by side) and
    ``similarity.csv`` (every pair)."""
    if top < 1:
        raise CourseError(f"top is how many pairs the page shows, at least 1, not {top}")
    course.resolve_assignments((assignment,), False)
    release = release_cells(course, assignment)
    submitted = course.root / "submitted"
    names = submission_names(submitted, assignment)
    if not names:
        raise CourseError(
            f"no submissions of {assignment} in {submitted}; "
            f"run `autograder collect {assignment}` first"
        )
    students = [read_student(submitted, name, assignment, release) for name in names]
    with_code = {student.student: student for student in students if student.has_code}
    pairs = compare_all(list(with_code.values()))
    order = [gid for given in release.values() for gid in given]
    report_dir = course.root / REPORTS_DIR / assignment
    report_dir.mkdir(parents=True, exist_ok=True)
    result = Similarity(
        assignment=assignment,
        compared=sorted(with_code),
        pairs=pairs,
        shown=[
            pair_view(rank, pair, with_code, order)
            for rank, pair in enumerate(pairs[:top], start=1)
        ],
        not_compared=[
            (student.student, "; ".join(student.notes) or NO_CODE)
            for student in students
            if not student.has_code
        ],
        notes=[
            (student.student, note)
            for student in students
            if student.has_code
            for note in student.notes
        ],
        page=report_dir / PAGE,
        table=report_dir / CSV_NAME,
    )
    write_csv(result.table, pairs)
    page = report.render(
        "similarity.html.j2",
        similarity=result,
        noise_chars=NOISE_CHARS,
        copydetect_version=copydetect.__version__,
        class_report=(report_dir / "index.html").is_file(),
    )
    report.write_page(result.page, page)
    return result
