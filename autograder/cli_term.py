"""``autograder roster``: running a term (the roster; deadlines live in the config)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from autograder.cli_options import course_option
from autograder.course import Course


@click.command("roster")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@course_option
def roster_command(file: Path | None, course_root: Path | None) -> None:
    """Load the roster (FILE becomes the course's roster.csv) into the gradebook.

    Columns: student_id, first_name, last_name, email, lms_id, section (and login).
    """
    from autograder import roster

    course = Course.find(course_root)
    target = roster.roster_path(course)
    if file is None and not target.is_file():
        raise click.ClickException(f"no roster: give a CSV file, or put one at {target}")
    if file is not None:
        roster.read(file)  # checked before it replaces the course's roster
        if file.resolve() != target.resolve():
            shutil.copyfile(file, target)
    students, missing = roster.load(course)
    sections = sorted({s.section for s in students if s.section})
    click.echo(
        f"{len(students)} students in the gradebook from {target}"
        + (f" (sections {', '.join(sections)})" if sections else "")
    )
    if missing:
        click.echo(
            f"note: in the gradebook but not the roster (kept, with their grades): "
            f"{', '.join(missing)}"
        )
