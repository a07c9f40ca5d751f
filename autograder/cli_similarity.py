"""The ``autograder similarity`` command.

A thin click wrapper over :mod:`autograder.similarity`; ``autograder.cli`` registers it.
"""

from __future__ import annotations

from pathlib import Path

import click

from autograder.cli_options import course_option
from autograder.course import Course


@click.command("similarity")
@click.argument("assignment")
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=None,
    help="How many of the most similar pairs the page shows side by side (default 10).",
)
@course_option
def similarity_command(assignment: str, top: int | None, course_root: Path | None) -> None:
    """Compare the students' code pair by pair, for a person to review (never a penalty)."""
    # Imported here: copydetect loads matplotlib, which every other command would wait for.
    from autograder import similarity

    course = Course.find(course_root)
    result = similarity.check_similarity(course, assignment, similarity.TOP if top is None else top)
    click.echo(f"similarity page: {result.page}")
    click.echo(f"every pair: {result.table}")
    click.echo(
        f"{len(result.compared)} student(s) compared in {len(result.pairs)} pair(s); "
        f"{len(result.not_compared)} not compared (the page says why)"
    )
    if result.shown:
        click.echo("most similar pairs (evidence for a person to review, never a penalty):")
    for view in result.shown:
        pair = view.pair
        click.echo(
            f"  {view.rank:>2}. {pair.first} and {pair.second}: {pair.score:.0%} "
            f"({pair.first_share:.0%} of {pair.first}'s code, "
            f"{pair.second_share:.0%} of {pair.second}'s)"
        )
