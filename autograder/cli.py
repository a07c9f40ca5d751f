"""The ``autograder`` command: thin click wrappers over the package's functions."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from autograder import notebooks
from autograder.cli_cluster import cluster_command
from autograder.cli_image import image_command
from autograder.cli_options import (
    all_option,
    assignments_argument,
    course_option,
    selection,
    workers_option,
)
from autograder.cli_otter import export_otter_command, otter_parity_command
from autograder.cli_similarity import similarity_command
from autograder.cli_term import roster_command
from autograder.course import Course
from autograder.errors import CourseError
from autograder.roster import ROSTER_NAME


class _Commands(click.Group):
    """Mistakes a user can fix end in their message; faults keep their traceback
    (``--debug``: every error does)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CourseError as error:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(str(error)) from error


@click.group(cls=_Commands)
@click.option("--debug", is_flag=True, help="Show the traceback of every error.")
def main(debug: bool) -> None:
    """Release, grade and check the auto-graded deep-learning course."""
    from sqlalchemy.exc import SAWarning

    # nbgrader's gradebook code triggers these; they say nothing about the course.
    warnings.filterwarnings("ignore", category=SAWarning)


@main.command("release")
@assignments_argument
@all_option
@course_option
def release_command(assignments: tuple[str, ...], all_: bool, course_root: Path | None) -> None:
    """Generate release/<assignment>/ with nbgrader (no solutions, no hidden tests)."""
    from autograder import release

    course, selected = selection(course_root, assignments, all_)
    for assignment in selected:
        target = release.release(course, assignment)
        click.echo(f"released {assignment} -> {target.relative_to(course.root)}")


@main.command("solutions")
@assignments_argument
@all_option
@course_option
def solutions_command(assignments: tuple[str, ...], all_: bool, course_root: Path | None) -> None:
    """Write executed answer keys to solutions/<assignment>/ for TAs."""
    from autograder import solutions

    course, selected = selection(course_root, assignments, all_)
    for assignment in selected:
        path, seconds = solutions.build_solutions(course, assignment)
        click.echo(f"{assignment}: {path.relative_to(course.root)} executed in {seconds:.1f} s")


@main.command("strip")
@assignments_argument
@all_option
@course_option
def strip_command(assignments: tuple[str, ...], all_: bool, course_root: Path | None) -> None:
    """Remove outputs from the source notebooks (committed notebooks carry none)."""
    course, selected = selection(course_root, assignments, all_)
    for assignment in selected:
        path = course.source_notebook(assignment)
        notebook = notebooks.read(path)
        if notebooks.has_outputs(notebook):
            notebooks.write(notebooks.strip_outputs(notebook), path)
            click.echo(f"stripped {path.relative_to(course.root)}")


backend_option = click.option(
    "--backend",
    type=click.Choice(["sandbox", "docker", "local"]),
    default=None,
    help="Where student kernels run (default: c.Autograder.backend).",
)


@main.command("check")
@assignments_argument
@all_option
@backend_option
@course_option
def check_command(
    assignments: tuple[str, ...], all_: bool, backend: str | None, course_root: Path | None
) -> None:
    """Prove every hidden test by grading the answer key and the fixtures as a class."""
    from autograder import check

    course, selected = selection(course_root, assignments, all_)
    results = check.check_course(course, selected, backend=backend)
    click.echo(check.format_table(results))
    if not all(result.passed for result in results):
        sys.exit(1)


@main.command("collect")
@click.argument("assignment")
@click.option(
    "--zip",
    "archive",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A zip instead of the exchange: <student>/<file> entries, or Canvas's or "
    "Moodle's bulk download (with --roster).",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with student_id and lms_id (or names): whose Canvas or Moodle files are "
    "whose [default: the course's roster.csv].",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Time zone of the zip's file times, which become the submission times.",
)
@course_option
def collect_command(
    assignment: str,
    archive: Path | None,
    roster: Path | None,
    timezone: str,
    course_root: Path | None,
) -> None:
    """Collect submissions from nbgrader's exchange or from a zip."""
    from autograder import collect

    course = Course.find(course_root)
    course.resolve_assignments((assignment,), False)
    if archive is not None:
        course_roster = course.root / ROSTER_NAME
        if roster is None and course_roster.is_file():
            roster = course_roster
        collected = collect.collect_from_zip(course, assignment, archive, roster, timezone)
        students = collected.students
        for note in collected.notes:
            click.echo(f"note: {note}")
    else:
        students = collect.collect_from_exchange(course, assignment)
    click.echo(f"{len(students)} submission(s) of {assignment} in submitted/")


@main.command("grade")
@click.argument("assignment")
@click.option("--student", "students", multiple=True, help="Only these students.")
@backend_option
@workers_option
@click.option("--cell-timeout", type=int, default=None, help="Seconds per cell.")
@click.option(
    "--timeout", "submission_timeout", type=int, default=None, help="Seconds per submission."
)
@click.option("--memory-mb", "memory_limit_mb", type=int, default=None, help="Kernel memory.")
@click.option("--max-processes", type=int, default=None, help="Kernel processes and threads.")
@click.option(
    "--threads",
    "kernel_threads",
    type=int,
    default=None,
    help="Math-library threads per kernel (default: cores shared among workers).",
)
@click.option("--seed", type=int, default=None, help="Grading seed for hidden tests.")
@click.option("--gpus", "docker_gpus", is_flag=True, default=None, help="docker: --gpus all.")
@click.option("--force", is_flag=True, help="Grade again what is already graded.")
@click.option(
    "--scheduler",
    default="",
    help="Grade on a Dask cluster: a scheduler address, or 'local' for a LocalCluster.",
)
@course_option
def grade_command(
    assignment: str,
    students: tuple[str, ...],
    cell_timeout: int | None,
    force: bool,
    scheduler: str,
    course_root: Path | None,
    **overrides: object,
) -> None:
    """Autograde every submission of ASSIGNMENT (isolated, parallel, resumable)."""
    from dataclasses import replace

    from autograder.pipeline import BatchGrader, submitted_students
    from autograder.settings import limits_from, load_settings

    course = Course.find(course_root)
    course.resolve_assignments((assignment,), False)
    unknown = sorted(set(students) - set(submitted_students(course, assignment)))
    if unknown:
        raise click.ClickException(
            f"no submission of {assignment} from {', '.join(unknown)}: a submission is a "
            f"folder {course.root / 'submitted'}/<student id>/{assignment}; check the ids"
        )
    settings = load_settings(course, **overrides)
    limits = limits_from(course, settings)
    if cell_timeout is not None:
        limits = replace(limits, cell_timeout=cell_timeout)
    grader = BatchGrader(course, settings, limits, scheduler=scheduler)
    click.echo(f"back end: {grader.backend_description()}")
    graded = grader.grade(assignment, list(students) or None, force=force, say=click.echo)
    errors = [r.student for r in graded if r.status != "graded"]
    if errors:
        raise click.ClickException(
            f"{len(errors)} submission(s) could not be graded: {', '.join(errors)}"
        )


@main.command("feedback")
@click.argument("assignment")
@click.option("--release", "release_", is_flag=True, help="Also release it through the exchange.")
@course_option
def feedback_command(assignment: str, release_: bool, course_root: Path | None) -> None:
    """Per-student HTML feedback without hidden-test source."""
    from autograder import feedback, records

    course = Course.find(course_root)
    students = [r.student for r in records.load_all(course, assignment)]
    pages, failures = feedback.generate_feedback(course, assignment, students)
    click.echo(f"{len(pages)} feedback file(s) under {course.root / 'feedback'}")
    for student, reason in failures.items():
        click.echo(f"no feedback for {student}: {reason}", err=True)
    ready = [student for student in students if student not in failures]
    if release_:
        feedback.release_feedback(course, assignment, ready)
        click.echo(f"feedback of {len(ready)} student(s) released to the exchange")
    if failures:
        raise click.ClickException(f"feedback failed for {len(failures)} student(s)")


@main.command("report")
@click.argument("assignment")
@click.option(
    "--help-below",
    type=click.FloatRange(0, 1),
    default=None,
    help="List under 'needs help' whoever scored below this fraction of the auto-graded "
    "points (default 0.5).",
)
@course_option
def report_command(assignment: str, help_below: float | None, course_root: Path | None) -> None:
    """The class report for TAs: roster, needs help, items, failures (HTML and CSVs)."""
    from autograder import report

    course = Course.find(course_root)
    page = report.write_report(
        course, assignment, report.HELP_BELOW if help_below is None else help_below
    )
    click.echo(f"class report: {page}")
    click.echo(f"all assignments: {course.root / report.REPORTS_DIR / 'index.html'}")


@main.command("export")
@assignments_argument
@all_option
@click.option(
    "--canvas-upload",
    is_flag=True,
    help="Also post the scores to Canvas (c.CanvasUpload; token in $CANVAS_API_TOKEN).",
)
@course_option
def export_command(
    assignments: tuple[str, ...], all_: bool, canvas_upload: bool, course_root: Path | None
) -> None:
    """Grades for the LMS (Canvas, Moodle, per item), nbgrader's grades.csv and one JSON
    record per graded submission, late penalties applied."""
    from autograder import export

    course, selected = selection(course_root, assignments, all_)
    exported = export.export(course, selected)
    for path in exported.paths:
        click.echo(f"wrote {path}")
    notes = list(exported.notes)
    if canvas_upload:
        from autograder.canvas_upload import upload

        uploaded = upload(course, exported.grades)
        for assignment, count in uploaded.scores.items():
            click.echo(f"Canvas: {count} score(s) of {assignment} posted")
        notes += uploaded.notes
    for note in notes:
        click.echo(f"note: {note}")


@main.command("demo")
@click.option("--assignment", default="forward_pass", show_default=True)
@click.option(
    "--backend",
    type=click.Choice(["sandbox", "docker", "local"]),
    default="sandbox",
    show_default=True,
)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the demo course goes (default: build/demo-course).",
)
@course_option
def demo_command(
    assignment: str, backend: str, workers: int, target: Path | None, course_root: Path | None
) -> None:
    """Release, grade six example submissions, feedback, report, exports."""
    from autograder import demo

    course = Course.find(course_root)
    course.resolve_assignments((assignment,), False)
    demo.run_demo(
        course,
        target or course.root / "build" / "demo-course",
        assignment,
        backend,
        workers,
        say=click.echo,
    )


@main.command("thresholds")
@click.option("--seeds", type=int, default=10, show_default=True)
@click.option(
    "--margin",
    type=float,
    default=0.05,
    show_default=True,
    help="Absolute accuracy below the worst seed.",
)
@assignments_argument
@course_option
def thresholds_command(
    seeds: int, margin: float, assignments: tuple[str, ...], course_root: Path | None
) -> None:
    """Measure reference solutions over many seeds; set thresholds from the worst."""
    from autograder import threshold_study

    course = Course.find(course_root)
    chosen = list(threshold_study.STUDIED)
    if assignments:
        chosen = course.resolve_assignments(assignments, False)
    study = threshold_study.run_study(course, chosen, seeds, say=click.echo)
    table = threshold_study.write_results(course, study, seeds, margin)
    click.echo(table.read_text())


main.add_command(export_otter_command)
main.add_command(otter_parity_command)
main.add_command(image_command)
main.add_command(cluster_command)
main.add_command(similarity_command)
main.add_command(roster_command)

if __name__ == "__main__":
    main()
