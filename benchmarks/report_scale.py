"""The class report of a 200-student class, timed (not a test; target: under 5 s a run).

Builds a scratch course with the repository's forward_pass assignment (released, so
the gradebook knows it), then 200 students: each with gradebook grades (varied
scores, half of the free responses graded by a TA), a grading record (varied
failure messages; a few flagged, a few not gradable) and a submitted notebook (the
executed answer key, with its outputs and plots: about 0.3 MB each). Times
``report.write_report`` twice, first with every submitted notebook to render, then
with their pages cached, and prints both and the size of the pages.

Usage: ``python benchmarks/report_scale.py [--students N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from autograder import notebooks, records, report
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse, ensure_tools_on_path
from autograder.settings import course_db_url

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "forward_pass"
TARGET_SECONDS = 5.0
MESSAGES = (
    "AssertionError: {name}(...) returned wrong values",
    "AssertionError: StudentCodeRaised: {name}(...) raised NotImplementedError",
    "NameError: name '{name}' is not defined",
    "AssertionError: {name} should return an array of the input's shape",
)


def scratch_course(root: Path) -> Course:
    (root / "source").mkdir(parents=True)
    shutil.copytree(REPO / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    shutil.copy(REPO / "nbgrader_config.py", root)
    course = Course(root)
    NbgraderCourse.for_course(course).generate(ASSIGNMENT)
    return course


def populate(course: Course, students: int, seed: int = 0) -> None:
    """Gradebook grades, records and submitted notebooks of ``students`` students."""
    rng = random.Random(seed)
    items = notebooks.items(notebooks.read(course.source_notebook(ASSIGNMENT)))
    answer_key = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    with Gradebook(course_db_url(course)) as gradebook:
        for index in range(students):
            student = f"student{index:03d}"
            ability = rng.random()
            gradebook.add_student(student)
            submission_folder = course.root / "submitted" / student / ASSIGNMENT
            submission_folder.mkdir(parents=True)
            shutil.copy(answer_key, submission_folder / answer_key.name)
            if index % 50 == 7:  # not a notebook: a record says so, the gradebook has nothing
                records.save(
                    course,
                    records.GradingRecord(
                        assignment=ASSIGNMENT,
                        student=student,
                        status="error",
                        reasons=["invalid notebook: forward_pass.ipynb: not JSON"],
                        error="invalid notebook",
                        graded_at="2026-12-01T09:00:00+00:00",
                    ),
                )
                continue
            gradebook.add_submission(ASSIGNMENT, student)
            scored, messages = {}, {}
            for item in items:
                grade = gradebook.find_grade(item.test_id, ASSIGNMENT, ASSIGNMENT, student)
                if item.manual:
                    if rng.random() < 0.5:
                        grade.manual_score = float(rng.randint(0, int(item.points)))
                    scored[item.test_id] = {
                        "score": grade.manual_score or 0.0,
                        "max_score": item.points,
                        "manual": True,
                    }
                    continue
                roll = rng.random()
                score = item.points if roll < ability else (0.0 if roll > 0.8 else item.points / 2)
                grade.auto_score = score
                scored[item.test_id] = {"score": score, "max_score": item.points, "manual": False}
                if score < item.points:
                    messages[item.name] = rng.choice(MESSAGES).format(name=item.name)
            auto = [value for value in scored.values() if not value["manual"]]
            records.save(
                course,
                records.GradingRecord(
                    assignment=ASSIGNMENT,
                    student=student,
                    status="graded",
                    score=sum(value["score"] for value in auto),
                    max_score=sum(value["max_score"] for value in auto),
                    manual_points=sum(i.points for i in items if i.manual),
                    items=scored,
                    reasons=["timeout: a cell ran past the per-cell limit"]
                    if index % 40 == 3
                    else [],
                    messages=messages,
                    wall_seconds=round(rng.uniform(4, 30), 2),
                    graded_at="2026-12-01T09:00:00+00:00",
                ),
            )
        gradebook.db.commit()


def timed_report(course: Course) -> float:
    start = time.perf_counter()
    report.write_report(course, ASSIGNMENT)
    return time.perf_counter() - start


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="build the course here and keep it")
    args = parser.parse_args()
    ensure_tools_on_path()
    # nbgrader's own gradebook code triggers these SQLAlchemy notices.
    warnings.filterwarnings("ignore", category=SAWarning)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch) / "course"
        if root.exists():
            shutil.rmtree(root)
        start = time.perf_counter()
        course = scratch_course(root)
        populate(course, args.students)
        print(f"course with {args.students} students built in {time.perf_counter() - start:.1f} s")
        first = timed_report(course)
        second = timed_report(course)
        reports = course.root / report.REPORTS_DIR
        page = reports / ASSIGNMENT / "index.html"
        print(f"write_report, submissions rendered: {first:.2f} s")
        print(f"write_report, submissions cached:   {second:.2f} s")
        print(f"assignment page: {page.stat().st_size / 1024:.0f} KiB")
        print(f"index page: {(reports / 'index.html').stat().st_size / 1024:.0f} KiB")
        submissions = reports / ASSIGNMENT / "submissions"
        pages = list(submissions.glob("*.html"))
        print(
            f"submission pages: {len(pages)}, {folder_bytes(submissions) / 2**20:.1f} MiB "
            f"(submitted notebooks: {folder_bytes(course.root / 'submitted') / 2**20:.1f} MiB)"
        )
        verdict = "met" if max(first, second) < TARGET_SECONDS else "MISSED"
        print(f"target under {TARGET_SECONDS:g} s a run: {verdict}")


if __name__ == "__main__":
    main()
