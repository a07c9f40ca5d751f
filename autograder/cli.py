"""The ``autograder`` command: thin click wrappers over the package's functions."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from autograder import notebooks
from autograder.course import Course

assignments_argument = click.argument("assignments", nargs=-1)
all_option = click.option("--all", "all_", is_flag=True, help="Every assignment in source/.")
course_option = click.option(
    "--course",
    "course_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Course folder (default: the one containing the working directory).",
)


def _course(course_root: Path | None) -> Course:
    try:
        return Course.find(course_root)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error


def _select(course: Course, assignments: tuple[str, ...], all_: bool) -> list[str]:
    try:
        return course.resolve_assignments(assignments, all_)
    except ValueError as error:
        raise click.ClickException(str(error)) from error


@click.group()
def main() -> None:
    """Release, grade and check the auto-graded deep-learning course."""


@main.command("release")
@assignments_argument
@all_option
@course_option
def release_command(assignments: tuple[str, ...], all_: bool, course_root: Path | None) -> None:
    """Generate release/<assignment>/ with nbgrader (no solutions, no hidden tests)."""
    from autograder import release

    course = _course(course_root)
    for assignment in _select(course, assignments, all_):
        target = release.release(course, assignment)
        click.echo(f"released {assignment} -> {target.relative_to(course.root)}")


@main.command("solutions")
@assignments_argument
@all_option
@course_option
def solutions_command(assignments: tuple[str, ...], all_: bool, course_root: Path | None) -> None:
    """Write executed answer keys to solutions/<assignment>/ for TAs."""
    from autograder import solutions

    course = _course(course_root)
    for assignment in _select(course, assignments, all_):
        path, seconds = solutions.build_solutions(course, assignment)
        click.echo(f"{assignment}: {path.relative_to(course.root)} executed in {seconds:.1f} s")


@main.command("strip")
@assignments_argument
@all_option
@course_option
def strip_command(assignments: tuple[str, ...], all_: bool, course_root: Path | None) -> None:
    """Remove outputs from the source notebooks (committed notebooks carry none)."""
    course = _course(course_root)
    for assignment in _select(course, assignments, all_):
        path = course.source_notebook(assignment)
        notebook = notebooks.read(path)
        if notebooks.has_outputs(notebook):
            notebooks.write(notebooks.strip_outputs(notebook), path)
            click.echo(f"stripped {path.relative_to(course.root)}")


@main.command("check")
@assignments_argument
@all_option
@course_option
def check_command(assignments: tuple[str, ...], all_: bool, course_root: Path | None) -> None:
    """Prove every hidden test with nbgrader's autograde and the fixtures."""
    from autograder import check

    course = _course(course_root)
    results = check.check_course(course, _select(course, assignments, all_))
    click.echo(check.format_table(results))
    if not all(result.passed for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
