"""The ``autograder export-otter`` and ``autograder otter-parity`` commands.

Thin click wrappers over :mod:`autograder.otter_export`; ``autograder.cli`` registers them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from autograder.cli_options import (
    all_option,
    assignments_argument,
    course_option,
    selection,
    workers_option,
)


@click.command("export-otter")
@assignments_argument
@all_option
@click.option(
    "--no-run-tests",
    is_flag=True,
    help="Skip otter assign's own grading of the answer key (a whole notebook run).",
)
@course_option
def export_otter_command(
    assignments: tuple[str, ...], all_: bool, no_run_tests: bool, course_root: Path | None
) -> None:
    """Export to otter-grader: otter/<assignment>/ with the autograder zip and student notebook."""
    from autograder import otter_export

    course, selected = selection(course_root, assignments, all_)
    for assignment in selected:
        export = otter_export.export_assignment(course, assignment, run_tests=not no_run_tests)
        click.echo(
            f"{assignment}: {export.autograder_zip.relative_to(course.root)}, "
            f"{export.student_notebook.relative_to(course.root)}"
        )


@click.command("otter-parity")
@assignments_argument
@all_option
@workers_option
@course_option
def otter_parity_command(
    assignments: tuple[str, ...], all_: bool, workers: int | None, course_root: Path | None
) -> None:
    """Export, then grade every fixture submission with `otter run` and compare with nbgrader."""
    from autograder import otter_export
    from autograder.settings import load_settings

    course, selected = selection(course_root, assignments, all_)
    rows = otter_export.parity(
        course, selected, workers=load_settings(course, workers=workers).workers, say=click.echo
    )
    click.echo(otter_export.format_parity_table(rows))
    if not all(row.matches for row in rows):
        sys.exit(1)
