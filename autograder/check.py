"""The course self-check: nbgrader's real autograde proves every hidden test.

For each assignment: the solution gets every auto-graded point, the unmodified
release gets none and grades without crashing, every alternative fixture keeps its
item's points, every mistake fixture loses exactly its item's points, every forgery
fixture scores nothing on its item, and the release passes its audit. The
submissions are graded as a class is (``autograder grade``): in the course's
sandbox, with hidden tests run by the grader, each with its own seed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder import fixtures, notebooks, records, release
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse
from autograder.pipeline import BatchGrader
from autograder.settings import limits_from, load_settings

STUDENT_PREFIX = "check-"


@dataclass
class ItemCheck:
    """What the check saw for one auto-graded item."""

    name: str
    points: float
    accepted: list[str] = field(default_factory=list)
    not_accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    not_rejected: list[str] = field(default_factory=list)
    defeated: list[str] = field(default_factory=list)
    not_defeated: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            not self.not_accepted
            and not self.not_rejected
            and not self.not_defeated
            and len(self.accepted) >= 2
            and len(self.rejected) >= 2
        )


@dataclass
class AssignmentCheck:
    """The outcome for one assignment; ``problems`` is empty when it passed."""

    assignment: str
    items: list[ItemCheck]
    manual_items: list[notebooks.Item]
    solution_score: float = 0.0
    release_score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    # Submission -> auto-graded item -> points, as graded.
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems and all(item.passed for item in self.items)


def expected_points(item: str, submission: fixtures.Submission, points: float) -> float:
    """What ``item`` must score in ``submission``: none in the release or when mutated."""
    if submission.name == "release":
        return 0.0
    mutated = {f.item for f in submission.applied if f.kind in fixtures.LOSING_KINDS}
    return 0.0 if item in mutated else points


def check_assignment(
    course: Course,
    assignment: str,
    workdir: Path,
    say: Callable[[str], None] = print,
    backend: str | None = None,
) -> AssignmentCheck:
    """Grade the reference and fixture submissions of one assignment and compare.

    ``backend`` defaults to the course's grading back end (the sandbox).
    """
    started = time.perf_counter()
    source = notebooks.read(course.source_notebook(assignment))
    all_items = notebooks.items(source)
    auto = [item for item in all_items if not item.manual]
    result = AssignmentCheck(
        assignment,
        items=[ItemCheck(item.name, item.points) for item in auto],
        manual_items=[item for item in all_items if item.manual],
        max_score=sum(item.points for item in auto),
    )
    by_name = {check.name: check for check in result.items}
    result.problems += release.audit_release(course, assignment)

    grading_course = NbgraderCourse.scratch(workdir, course.config_file)
    grading_course.add_source(assignment, course.source_dir / assignment)
    release_dir = grading_course.generate(assignment)
    notebook_name = course.source_notebook(assignment).name
    release_nb = notebooks.read(release_dir / notebook_name)
    found = fixtures.discover(course, assignment)
    submissions = fixtures.reference_submissions(release_nb, source)
    for kind in fixtures.KINDS:
        submissions += fixtures.combined_submissions(release_nb, source, found, kind)
    for submission in submissions:
        student = STUDENT_PREFIX + submission.name
        grading_course.submit(assignment, student, notebook_name, submission.notebook)

    # Graded as a batch of students is: isolated, judged outside the kernel, in parallel.
    scratch = Course(grading_course.root)
    settings = load_settings(scratch, backend=backend)
    BatchGrader(scratch, settings, limits_from(scratch, settings)).grade(
        assignment, say=lambda line: say(f"  {line}")
    )
    for submission in submissions:
        record = records.load(scratch, assignment, STUDENT_PREFIX + submission.name)
        if record is None or record.status != "graded":
            why = "no record" if record is None else f"{record.reasons} {record.error or ''}"
            result.problems.append(f"{submission.name}: grading failed: {why.strip()}")
            continue
        scores = {name: (item["score"], item["max_score"]) for name, item in record.items.items()}
        _compare(submission, scores, auto, by_name, result)

    result.seconds = time.perf_counter() - started
    return result


def _compare(
    submission: fixtures.Submission,
    scores: dict[str, tuple[float, float]],
    auto: list[notebooks.Item],
    by_name: dict[str, ItemCheck],
    result: AssignmentCheck,
) -> None:
    applied = {fixture.item: fixture for fixture in submission.applied}
    total = 0.0
    for item in auto:
        got = scores.get(item.test_id, (0.0, item.points))[0]
        result.scores.setdefault(submission.name, {})[item.name] = got
        total += got
        expected = expected_points(item.name, submission, item.points)
        fixture = applied.get(item.name)
        check = by_name[item.name]
        if fixture is not None:
            if fixture.kind == "alternative":
                (check.accepted if got == expected else check.not_accepted).append(fixture.label)
            elif fixture.kind == "mistake":
                (check.rejected if got == expected else check.not_rejected).append(fixture.label)
            else:
                (check.defeated if got == expected else check.not_defeated).append(fixture.label)
        elif got != expected:
            result.problems.append(
                f"{submission.name}: {item.name} scored {got:g}/{item.points:g}, "
                f"expected {expected:g} (no fixture applied to it)"
            )
    if submission.name == "solution":
        result.solution_score = total
    elif submission.name == "release":
        result.release_score = total


def check_course(
    course: Course,
    assignments: list[str],
    say: Callable[[str], None] = print,
    backend: str | None = None,
) -> list[AssignmentCheck]:
    results = []
    for assignment in assignments:
        say(f"checking {assignment}")
        with tempfile.TemporaryDirectory(prefix=f"autograder-check-{assignment}-") as tmp:
            results.append(check_assignment(course, assignment, Path(tmp), say, backend))
    return results


def format_table(results: list[AssignmentCheck]) -> str:
    """The check table: one row per item, then each assignment's totals and problems."""
    header = (
        "assignment",
        "item",
        "points",
        "accepted alternatives",
        "rejected mistakes",
        "forgeries scoring 0",
        "ok",
    )
    rows = [header]
    for result in results:
        for item in result.items:
            rows.append(
                (
                    result.assignment,
                    item.name,
                    f"{item.points:g}",
                    f"{len(item.accepted)}/{len(item.accepted) + len(item.not_accepted)}",
                    f"{len(item.rejected)}/{len(item.rejected) + len(item.not_rejected)}",
                    f"{len(item.defeated)}/{len(item.defeated) + len(item.not_defeated)}",
                    "yes" if item.passed else "NO",
                )
            )
        for manual in result.manual_items:
            rows.append(
                (result.assignment, manual.name, f"{manual.points:g}", *["manual"] * 3, "-")
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for result in results:
        lines.append(
            f"{result.assignment}: solution {result.solution_score:g}/{result.max_score:g}, "
            f"release {result.release_score:g}/{result.max_score:g}, "
            f"{result.seconds:.0f} s, {'PASSED' if result.passed else 'FAILED'}"
        )
        for item in result.items:
            for label in item.not_accepted:
                lines.append(f"  alternative lost points: {label}")
            for label in item.not_rejected:
                lines.append(f"  mistake not rejected exactly: {label}")
            for label in item.not_defeated:
                lines.append(f"  forgery scored points: {label}")
            if len(item.accepted) < 2 or len(item.rejected) < 2:
                lines.append(f"  {item.name}: needs at least 2 alternatives and 2 mistakes")
        lines += [f"  {problem}" for problem in result.problems]
    return "\n".join(lines)
