"""The hostile suite: every attack of ``hostile_submissions`` graded in one sandboxed batch.

Asserts, for each attack, the grade its real answers earn and the reasons it is
flagged with; then that the victims' grades, every submission, ``source/``,
``release/``, the configuration and the host are unchanged, and that feedback and
the class report finish for everyone without leaking hidden tests or live script.
The table of expected and observed outcomes is written to ``artifacts/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ARTIFACTS
from hostile_submissions import (
    DOUBLE,
    FORBIDDEN_IN_FEEDBACK,
    OUTPUT_PREFIX,
    RELU,
    SECRET_ENVIRONMENT,
    VICTIMS,
    Attack,
    attacks,
)

from autograder import notebooks, records
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse
from autograder.pipeline import BatchGrader
from autograder.settings import limits_from, load_settings

SCRATCH_MB = 64
LIMITS = {
    "cell_timeout": 30,
    "submission_timeout": 90,
    "memory_mb": 1536,
    "max_processes": 200,
    "scratch_mb": SCRATCH_MB,
    "cell_output_kb": 256,
    "output_kb": 1024,
}


def tree_digest(path: Path) -> dict[str, str]:
    """Hashes of every entry under ``path`` (links by target, FIFOs by kind), or of one file."""
    if path.is_file() and not path.is_symlink():
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    found = {}
    for entry in sorted(path.rglob("*")):
        key = str(entry.relative_to(path))
        if entry.is_symlink():
            found[key] = "link:" + os.readlink(entry)
        elif entry.is_file():
            found[key] = hashlib.sha256(entry.read_bytes()).hexdigest()
        elif not entry.is_dir():
            found[key] = "special"
    return found


def tree_listing(path: Path) -> dict[str, tuple[int, int, int]]:
    """Mode, size and (files only) modification time of every entry under ``path``."""
    listing = {}
    for folder, folders, files in os.walk(path):
        for name in folders + files:
            info = os.lstat(os.path.join(folder, name))
            changed = 0 if stat.S_ISDIR(info.st_mode) else info.st_mtime_ns
            listing[os.path.join(folder, name)] = (info.st_mode, info.st_size, changed)
    return listing


def plant(folder: Path, name: str, kind: tuple[str, ...], course: Course) -> None:
    path = folder / name
    if path.exists() or path.is_symlink():
        path.unlink()
    victim = course.root / "submitted" / (kind[1] if len(kind) > 1 else "") / "tiny" / "tiny.ipynb"
    if kind[0] == "symlink":
        path.symlink_to(victim)
    elif kind[0] == "hardlink":
        os.link(victim, path)
    elif kind[0] == "fifo":
        os.mkfifo(path)
    elif kind[0] == "sparse":
        with open(path, "wb") as file:
            file.truncate(int(kind[1]))
    elif kind[0] == "notebook":
        path.write_bytes((folder / "tiny.ipynb").read_bytes())


def submit(course: Course, suite: dict[str, Attack]) -> None:
    NbgraderCourse.for_course(course).generate("tiny")
    release = notebooks.read(course.release_dir / "tiny" / "tiny.ipynb")
    root = str(course.root)
    everyone = {name: attack.cells for name, attack in suite.items()}
    everyone |= {
        victim: {"relu": RELU, "double": DOUBLE, "explain": "Because."} for victim in VICTIMS
    }
    for student, cells in everyone.items():
        folder = course.root / "submitted" / student / "tiny"
        cells = {item: code.replace("{root}", root) for item, code in cells.items()}
        notebooks.write(notebooks.with_replaced_cells(release, cells), folder / "tiny.ipynb")
    for student, attack in suite.items():
        for name, kind in attack.files.items():
            plant(course.root / "submitted" / student / "tiny", name, kind, course)


def matches(attack: Attack, record: records.GradingRecord | None) -> bool:
    if record is None:
        return False
    expected = [r for r in attack.reasons if r != OUTPUT_PREFIX]
    flood_flagged = any(r.startswith(OUTPUT_PREFIX) for r in record.reasons)
    wants_flood = OUTPUT_PREFIX in attack.reasons
    others = [r for r in record.reasons if not r.startswith(OUTPUT_PREFIX)]
    # A memory kill of the whole kernel also says it died; the memory reason must be there.
    others = [r for r in others if r != "crash: the kernel died" or "memory" not in str(expected)]
    return (
        record.status == attack.status
        and record.score == attack.score
        and others == expected
        and flood_flagged == wants_flood
    )


def autograder_command(course: Course, *arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", *arguments]
    try:
        return subprocess.run(
            command, cwd=course.root, capture_output=True, text=True, timeout=600, check=False
        )
    except subprocess.TimeoutExpired as error:
        return subprocess.CompletedProcess(command, -1, "", f"timed out: {error}")


def write_table(suite: dict[str, Attack], graded: dict[str, records.GradingRecord]) -> None:
    lines = ["| submission | expected | observed | as expected |", "|---|---|---|---|"]
    for name, attack in suite.items():
        record = graded.get(name)
        observed = (
            f"{record.status} {record.score:g}/5 {'; '.join(record.reasons)}" if record else "none"
        )
        expected = f"{attack.status} {attack.score:g}/5 {'; '.join(attack.reasons)}"
        verdict = "yes" if matches(attack, record) else "NO"
        lines.append(f"| {name} | {expected} | {observed[:160]} | {verdict} |")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "hostile-suite.md").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_hostile_submissions_earn_what_their_answers_earn_and_harm_no_one(
    tiny_course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENVIRONMENT, "grader-only")
    suite = attacks(SCRATCH_MB)
    assert len(suite) >= 40
    if os.environ.get("HOSTILE_ONLY"):  # a quicker run of some attacks while working on them
        suite = {name: suite[name] for name in os.environ["HOSTILE_ONLY"].split(",")}
    submit(tiny_course, suite)
    protected = ["source", "release", "nbgrader_config.py", "submitted"]
    before = {name: tree_digest(tiny_course.root / name) for name in protected}
    python_before = tree_listing(Path(sys.prefix))

    settings = load_settings(tiny_course, backend="sandbox", workers=2)
    known = {f.name for f in dataclasses.fields(limits_from(tiny_course, settings))}
    limits = dataclasses.replace(
        limits_from(tiny_course, settings), **{k: v for k, v in LIMITS.items() if k in known}
    )
    BatchGrader(tiny_course, settings, limits).grade("tiny", say=lambda _: None)
    graded = {r.student: r for r in records.load_all(tiny_course, "tiny")}
    write_table(suite, graded)
    failures = [name for name, attack in suite.items() if not matches(attack, graded.get(name))]

    for victim in VICTIMS:
        record = graded.get(victim)
        if record is None or (record.status, record.score, record.reasons) != ("graded", 5, []):
            failures.append(f"{victim} (a classmate) was not graded 5/5 cleanly")
    for name in protected:
        if tree_digest(tiny_course.root / name) != before[name]:
            failures.append(f"{name} changed")
    if tree_listing(Path(sys.prefix)) != python_before:
        failures.append("the Python installation changed")
    if set(graded) - set(suite) - set(VICTIMS):
        failures.append(f"unexpected records: {sorted(set(graded) - set(suite) - set(VICTIMS))}")

    feedback = autograder_command(tiny_course, "feedback", "tiny")
    if feedback.returncode != 0:
        failures.append(f"feedback failed: {feedback.stderr.strip()[-300:]}")
    for page in sorted((tiny_course.root / "feedback").rglob("*")):
        if page.is_dir() and not page.is_symlink():
            continue
        if page.is_symlink() or not page.is_file():
            failures.append(f"feedback holds a link or special file: {page.name}")
            continue
        text = page.read_bytes().decode(errors="replace")
        leaked = [secret for secret in FORBIDDEN_IN_FEEDBACK if secret in text]
        if leaked:
            failures.append(f"{page.relative_to(tiny_course.root)} contains {leaked}")
    report = autograder_command(tiny_course, "report", "tiny")
    if report.returncode != 0:
        failures.append(f"report failed: {report.stderr.strip()[-300:]}")
    assert not failures, "\n".join(failures)
