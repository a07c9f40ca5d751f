"""``autograder image build``: the grading images of the docker back end."""

from __future__ import annotations

import click

from autograder.errors import CourseError


@click.group("image")
def image_command() -> None:
    """Grading images of the docker back end (autograder/container/)."""


@image_command.command("build")
@click.option("--gpu", is_flag=True, help="The GPU image (CUDA builds) instead of the CPU one.")
@click.option(
    "--base",
    default=None,
    help="Base image with Python 3.11 (CPU image; default python:3.11-slim). On a machine "
    "that cannot pull it: bash scripts/debian_base_image.sh, then --base intro-dl-base:bookworm.",
)
@click.option("--tag", default=None, help="Image name (default intro-dl-autograder:cpu or :gpu).")
@click.option("--force", is_flag=True, help="Build even when an up-to-date image exists.")
def build_command(gpu: bool, base: str | None, tag: str | None, force: bool) -> None:
    """Build a grading image; skipped when one built from the same sources exists."""
    from autograder import images

    try:
        built = images.build(gpu=gpu, base=base, tag=tag, force=force, say=click.echo)
    except CourseError as error:
        raise click.ClickException(str(error)) from error
    size = f"{built.size_bytes / 1e9:.2f} GB"
    if built.reused:
        click.echo(f"{built.tag}: up to date ({size})")
    else:
        click.echo(f"{built.tag}: built in {built.seconds:.0f} s ({size})")
