"""``autograder demo``: the whole job on a scratch copy of the course.

Builds the release, loads a roster (with a student who never submits), writes example
submissions (full marks, blank, partly wrong, invalid JSON, infinite loop, changed
locked cell), grades them in parallel under the chosen back end, writes feedback,
the class report and the exports (Canvas, Moodle), and prints a score table.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder import export, feedback, fixtures, notebooks, records, report, roster
from autograder.course import Course
from autograder.errors import CourseError
from autograder.nbgrader_course import NbgraderCourse
from autograder.pipeline import BatchGrader
from autograder.settings import limits_from, load_settings

DEMO_CELL_TIMEOUT = 20
MISTAKEN_ITEMS = ("relu", "softmax", "dense_forward")
# The example submission that is not a notebook: the only one the demo expects to fail.
BROKEN = "invalid-json"
# A student of the roster who submits nothing.
ABSENT = "absent"
# The demo's students as a registrar's roster names them: (id, first, last, section).
ROSTER = (
    ("full-marks", "Amara", "Okafor", "A"),
    ("blank", "Jonas", "Lindqvist", "A"),
    ("partly-wrong", "Mei", "Tanaka", "B"),
    (BROKEN, "Luis", "Ortega", "B"),
    ("infinite-loop", "Priya", "Nair", "A"),
    ("changed-locked-cell", "Tom", "Walsh", "B"),
    (ABSENT, "Sara", "Haddad", "A"),
)


def make_course(course: Course, target: Path, assignment: str) -> Course:
    """A fresh course folder at ``target`` with one assignment of ``course``."""
    if target.exists():
        shutil.rmtree(target)
    (target / "source").mkdir(parents=True)
    shutil.copytree(course.source_dir / assignment, target / "source" / assignment)
    config = course.config_file.read_text()
    config += "\n# Demo: a short per-cell limit so the infinite loop ends soon.\n"
    config += f"c.Execute.timeout = {DEMO_CELL_TIMEOUT}\n"
    (target / "nbgrader_config.py").write_text(config)
    return Course(target)


def example_submissions(
    course: Course, demo: Course, assignment: str
) -> dict[str, NotebookNode | str]:
    """Student name -> notebook (or raw text for the broken one)."""
    source = notebooks.read(course.source_notebook(assignment))
    release = notebooks.read(
        demo.release_dir / assignment / course.source_notebook(assignment).name
    )
    solutions = fixtures.solution_sources(source)
    found = fixtures.discover(course, assignment)
    mistakes = {
        item: found[item]["mistake"][0].source
        for item in MISTAKEN_ITEMS
        if item in found and found[item]["mistake"]
    }
    first_item = next(item.name for item in notebooks.items(source) if not item.manual)
    looping = "while True:\n    pass\n\n" + solutions[first_item]
    full = notebooks.with_replaced_cells(release, solutions)
    tampered = notebooks.with_replaced_cells(
        full, {notebooks.TEST_PREFIX + first_item: "# the test is gone\npass"}
    )
    text = nbformat.writes(full)
    return {
        "full-marks": full,
        "blank": release,
        "partly-wrong": notebooks.with_replaced_cells(release, solutions | mistakes),
        BROKEN: text[: len(text) // 2],
        "infinite-loop": notebooks.with_replaced_cells(release, solutions | {first_item: looping}),
        "changed-locked-cell": tampered,
    }


def run_demo(
    course: Course,
    target: Path,
    assignment: str = "forward_pass",
    backend: str = "sandbox",
    workers: int = 2,
    say: Callable[[str], None] = print,
) -> list[records.GradingRecord]:
    demo = make_course(course, target, assignment)
    say(f"demo course: {demo.root}")
    NbgraderCourse.for_course(demo).generate(assignment)
    say(f"release generated: {demo.release_dir / assignment}")
    listed, _ = roster.load(demo, write_roster(demo))
    say(f"roster: {len(listed)} students in the gradebook, {ABSENT!r} never submits")
    notebook_name = course.source_notebook(assignment).name
    for student, content in example_submissions(course, demo, assignment).items():
        path = demo.root / "submitted" / student / assignment / notebook_name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            notebooks.write(content, path)
    settings = load_settings(demo, backend=backend, workers=workers)
    say(f"grading 6 submissions with the {backend} back end, {workers} workers")
    graded = BatchGrader(demo, settings, limits_from(demo, settings)).grade(assignment, say=say)
    students = [r.student for r in graded if r.status == "graded"]
    failed = sorted({r.student for r in graded} - set(students) - {BROKEN})
    pages, failures = feedback.generate_feedback(demo, assignment, [r.student for r in graded])
    for student, reason in failures.items():
        say(f"no feedback for {student}: {reason}")
    page = report.write_report(demo, assignment)
    exported = export.export(demo, [assignment]).paths
    say("")
    say(format_scores(graded, {student.student_id: student.name for student in listed}))
    manual = max((r.manual_points for r in graded), default=0)
    if manual:
        say(f"(auto-graded points only; {manual:g} more per submission are graded by TAs)")
    say("")
    say(f"feedback: {len(pages)} files under {demo.root / 'feedback'}")
    say(f"class report: {page}")
    say(f"exports: {', '.join(str(p) for p in exported)}")
    if failed:
        raise CourseError(
            f"the demo could not grade {', '.join(failed)} with the {backend} back end; "
            f"their records under {demo.root / 'grading'} say why"
        )
    return graded


def write_roster(demo: Course) -> Path:
    """The demo course's roster.csv, as a registrar would send it."""
    path = roster.roster_path(demo)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "first_name", "last_name", "email", "lms_id", "section"])
        for number, (student, first, last, section) in enumerate(ROSTER, start=2001):
            email = f"{first}.{last}@students.example.edu".lower()
            writer.writerow([student, first, last, email, number, section])
    return path


def format_scores(graded: list[records.GradingRecord], names: dict[str, str] | None = None) -> str:
    """The score table: one line per student, with the roster's name when given."""
    rows = [("student", *(("name",) if names else ()), "auto-graded", "status", "reasons")]
    for r in sorted(graded, key=lambda r: r.student):
        score = f"{r.score:g}/{r.max_score:g}" if r.status == "graded" else "-"
        name = (names.get(r.student, ""),) if names else ()
        rows.append((r.student, *name, score, r.status, "; ".join(r.reasons)))
    aligned = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(aligned)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:aligned], widths, strict=True))
        + "  "
        + row[aligned]
        for row in rows
    )
