"""Grading settings: ``c.Autograder.*`` in the course's ``nbgrader_config.py``.

Command-line flags override them. The per-cell time limit is nbgrader's own
``c.Execute.timeout``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from traitlets import Bool, Enum, Integer, Unicode
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader

from autograder.course import CONFIG_NAME, Course


class Autograder(Configurable):
    """The settings nbgrader does not have."""

    backend = Enum(
        ["sandbox", "docker", "local"], "sandbox", help="Where student kernels run."
    ).tag(config=True)
    workers = Integer(2, help="Submissions graded at once on this machine.").tag(config=True)
    submission_timeout = Integer(1800, help="Seconds for a whole submission.").tag(config=True)
    memory_limit_mb = Integer(
        6144,
        help="Memory of a kernel, MiB: each process's address space, and the whole sandbox "
        "(children and tmpfs files included) through a memory cgroup.",
    ).tag(config=True)
    max_processes = Integer(512, help="Processes and threads a kernel may have.").tag(config=True)
    cpu_time_limit = Integer(3600, help="CPU seconds a kernel may use.").tag(config=True)
    scratch_limit_mb = Integer(
        512, help="Size of each writable folder of a sandboxed kernel (tmpfs), MiB."
    ).tag(config=True)
    cell_output_limit_kb = Integer(
        2048, help="Output one cell may keep in the graded notebook, KiB; the rest is cut."
    ).tag(config=True)
    output_limit_kb = Integer(
        16384, help="Output the whole graded notebook may keep, KiB; the rest is cut."
    ).tag(config=True)
    kernel_threads = Integer(
        0,
        help="Threads of a kernel's math libraries (BLAS, PyTorch, TensorFlow); "
        "0 shares this machine's cores among the workers.",
    ).tag(config=True)
    docker_image = Unicode("intro-dl-autograder:cpu", help="Image of the docker back end.").tag(
        config=True
    )
    docker_gpus = Bool(False, help="Pass --gpus all to docker.").tag(config=True)
    seed = Integer(0, help="The grading seed (AUTOGRADER_SEED) hidden tests use.").tag(config=True)


# nbgrader fails a test cell that writes anything to stderr, so library notices
# (deprecations, Keras' advice on input_shape, TensorFlow's start-up log) must not
# reach it: they say nothing about the student's answer. Tests that check for
# warnings (an overflowing sigmoid) turn them into errors explicitly.
SILENCED_WARNINGS = (
    "DeprecationWarning",
    "PendingDeprecationWarning",
    "FutureWarning",
    "UserWarning",
)
KERNEL_ENVIRONMENT = {
    "PYTHONWARNINGS": ",".join(f"ignore::{category}" for category in SILENCED_WARNINGS),
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def apply_kernel_environment() -> None:
    """Set :data:`KERNEL_ENVIRONMENT` for kernels this process starts."""
    os.environ.update(KERNEL_ENVIRONMENT)


def kernel_environment(threads: int, seed: int) -> dict[str, str]:
    """Every variable grading sets for a kernel: a sandboxed kernel gets only these."""
    return {**KERNEL_ENVIRONMENT, **thread_environment(threads), "AUTOGRADER_SEED": str(seed)}


@dataclass(frozen=True)
class Limits:
    """What a submission may use; hitting one is recorded as its reason."""

    cell_timeout: int
    submission_timeout: int
    memory_mb: int
    max_processes: int
    cpu_seconds: int
    threads: int = 1
    scratch_mb: int = 512
    cell_output_kb: int = 2048
    output_kb: int = 16384


def load_config(course: Course) -> Config:
    return PyFileConfigLoader(CONFIG_NAME, path=str(course.root)).load_config()


def course_db_url(course: Course) -> str:
    """The gradebook's SQLAlchemy URL, from the course's configuration."""
    return str(load_config(course).CourseDirectory.db_url)


def sqlite_path(db_url: str) -> Path | None:
    """The file of a SQLite gradebook URL; None for a server database."""
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :].split("?")[0]) if db_url.startswith(prefix) else None


def load_settings(course: Course, **overrides: object) -> Autograder:
    """The course's settings with non-None ``overrides`` applied (CLI flags)."""
    settings = Autograder(config=load_config(course))
    for name, value in overrides.items():
        if value is not None:
            setattr(settings, name, value)
    return settings


def limits_from(course: Course, settings: Autograder) -> Limits:
    cell_timeout = int(settings.config.get("Execute", {}).get("timeout", 30))
    cores_per_worker = max(1, (os.cpu_count() or 1) // max(1, settings.workers))
    return Limits(
        cell_timeout=cell_timeout,
        submission_timeout=settings.submission_timeout,
        memory_mb=settings.memory_limit_mb,
        max_processes=settings.max_processes,
        cpu_seconds=settings.cpu_time_limit,
        threads=settings.kernel_threads or cores_per_worker,
        scratch_mb=settings.scratch_limit_mb,
        cell_output_kb=settings.cell_output_limit_kb,
        output_kb=settings.output_limit_kb,
    )


# Each library sizes its thread pool from one of these; more threads than cores
# between parallel kernels makes every one of them slower.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def thread_environment(threads: int) -> dict[str, str]:
    return dict.fromkeys(THREAD_VARIABLES, str(threads))
