"""``autograder cluster``: worker recipes for grading on Slurm or Kubernetes (docs/cluster.md)."""

from __future__ import annotations

import sys

import click

from autograder import cluster_recipes
from autograder.errors import CourseError

cpus_option = click.option(
    "--cpus",
    type=int,
    default=cluster_recipes.DEFAULT_CPUS,
    show_default=True,
    help="CPUs each worker reserves (its kernel's and the grader's).",
)
memory_option = click.option(
    "--memory",
    default=cluster_recipes.DEFAULT_MEMORY,
    show_default=True,
    help="Memory each worker reserves; keep it above the kernels' memory limit "
    "(c.Autograder.memory_limit_mb, 6144 MiB by default) plus the grader's.",
)


def _recipes_missing(error: ImportError) -> click.ClickException:
    return click.ClickException(
        f"{error.name} is not installed: pip install -e '.[dev]' (pyproject.toml pins it)"
    )


@click.group("cluster")
def cluster_command() -> None:
    """Worker recipes for grading with --scheduler on Slurm or Kubernetes."""


@cluster_command.command("slurm-script")
@click.option(
    "--scheduler",
    required=True,
    help="Address of the scheduler the workers join, e.g. tcp://login1:8786.",
)
@cpus_option
@memory_option
@click.option(
    "--walltime",
    default=cluster_recipes.DEFAULT_WALLTIME,
    show_default=True,
    help="Slurm time limit of each worker's job (HH:MM:SS or D-HH:MM:SS).",
)
@click.option("--partition", default=None, help="Slurm partition (#SBATCH -p).")
@click.option("--account", default=None, help="Slurm account (#SBATCH -A).")
@click.option(
    "--venv",
    default=sys.prefix,
    show_default="this environment",
    help="The grading environment on the nodes (this package and its pinned stack).",
)
@click.option(
    "--local-directory",
    default=cluster_recipes.SLURM_LOCAL_DIRECTORY,
    show_default=True,
    help="The worker's node-local scratch folder.",
)
def slurm_script_command(scheduler: str, **options: object) -> None:
    """Print the batch script of one grading worker: sbatch it once per worker."""
    try:
        click.echo(cluster_recipes.slurm_job_script(scheduler, **options), nl=False)
    except ImportError as error:
        raise _recipes_missing(error) from error
    except CourseError as error:
        raise click.UsageError(str(error)) from error


@cluster_command.command("kubernetes-spec")
@click.option(
    "--image",
    required=True,
    help="Worker image: this package and its pinned stack (docs/cluster.md).",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Worker pods.")
@cpus_option
@memory_option
@click.option(
    "--backend",
    type=click.Choice(cluster_recipes.BACKENDS),
    default="sandbox",
    show_default=True,
    help="The isolation back end the workers' pods are made for (grade with the same).",
)
@click.option("--name", default="autograder", show_default=True, help="DaskCluster name.")
def kubernetes_spec_command(**options: object) -> None:
    """Print the DaskCluster resource of a grading cluster (YAML, for kubectl apply)."""
    import yaml

    try:
        spec = cluster_recipes.kubernetes_cluster_spec(**options)
    except ImportError as error:
        raise _recipes_missing(error) from error
    except CourseError as error:
        raise click.UsageError(str(error)) from error
    click.echo(yaml.safe_dump(spec, sort_keys=False), nl=False)
