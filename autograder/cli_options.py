"""Click options shared by every ``autograder`` command.

Course and input errors raised here become one-line messages in ``cli.main``.
"""

from __future__ import annotations

from pathlib import Path

import click

from autograder.course import Course

assignments_argument = click.argument("assignments", nargs=-1)
all_option = click.option("--all", "all_", is_flag=True, help="Every assignment in source/.")
workers_option = click.option("--workers", type=int, default=None, help="Submissions at once.")
course_option = click.option(
    "--course",
    "course_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Course folder (default: the one containing the working directory).",
)


def selection(
    course_root: Path | None, assignments: tuple[str, ...], all_: bool
) -> tuple[Course, list[str]]:
    """The course and the assignments asked for (all of them when none are named)."""
    course = Course.find(course_root)
    return course, course.resolve_assignments(assignments, all_)
