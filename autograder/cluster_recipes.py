"""Recipes for grading on a Slurm or Kubernetes cluster, made without a cluster present.

``autograder grade A --scheduler tcp://host:8786`` sends each submission to a Dask
scheduler as a task that carries its files and its results as data, so a worker needs
the grading environment (this package with its pinned stack) and nothing of the course.
Every cluster follows the same rules, which these recipes encode:

- one Dask worker process per Slurm job or pod (``--nworkers 1``) running one task at
  a time (``--nthreads 1``: grading sets process environment variables for the kernel
  it starts), with the CPUs and memory of one kernel plus the grader;
- a scheduler that retries a task whose worker died a bounded number of times
  (``distributed.scheduler.allowed-failures``), after which ``autograder grade``
  records that submission as an error with the reason;
- no folder of the course mounted; the worker's local directory on node-local scratch;
- scheduler and workers without the diagnostics grading has no use for
  (:mod:`autograder.dask_settings`);
- the kernel isolated on the worker by the back end ``autograder grade --backend``
  chooses: ``sandbox`` (bubblewrap and cgroups) or ``docker`` (a Docker engine).

:func:`slurm_job_script` renders the batch script of one worker with dask-jobqueue's
``SLURMCluster`` job class, for a scheduler started on its own (``sbatch`` it once per
worker); :func:`slurm_cluster` is the same worker as a ``SLURMCluster`` whose scheduler
runs in the calling process. :func:`kubernetes_cluster_spec` is the ``DaskCluster``
resource of the dask-kubernetes operator. docs/cluster.md says how to use them; none
was run on a real Slurm or Kubernetes cluster here.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from autograder.dask_settings import GRADING_CLUSTER_CONFIG, environment_variables
from autograder.errors import CourseError

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster

# Retries of a submission whose worker died (scheduler side), then it is an error.
ALLOWED_FAILURES = 2
ALLOWED_FAILURES_ENV = "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"
BACKENDS = ("sandbox", "docker")
# A kernel may use c.Autograder.memory_limit_mb (6144 MiB by default) and the grader
# needs memory of its own beside it.
DEFAULT_CPUS = 2
DEFAULT_MEMORY = "8GiB"
DEFAULT_WALLTIME = "02:00:00"
# Expanded by the job's shell: the job's node-local scratch (most sites point TMPDIR at
# it), else /tmp of the node.
SLURM_LOCAL_DIRECTORY = "${TMPDIR:-/tmp}"
# Each job's worker is named after the job, so that several jobs of one script differ.
SLURM_WORKER_NAME = "autograder-${SLURM_JOB_ID}"
# A worker whose scheduler is gone for this long ends its job instead of idling in it.
DEATH_TIMEOUT_S = 60
# In a pod: the container's own writable layer, on the node's disk; no volume.
POD_LOCAL_DIRECTORY = "/tmp"
SCHEDULER_RESOURCES = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"cpu": "1", "memory": "2Gi"},
}
# The sandbox creates namespaces and mounts (bubblewrap) and writes cgroup files
# (pids.max, memory.max), as root; container runtimes give a container a writable
# cgroup tree, CAP_SYS_ADMIN and no seccomp or AppArmor filter only when privileged.
# The docker back end runs a Docker engine inside the worker's container, which needs
# the same (docs/cluster.md).
SECURITY_CONTEXTS: dict[str, dict[str, Any]] = {
    "sandbox": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False},
    "docker": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False},
}
_WALLTIME = re.compile(r"(\d+-)?\d+(:\d{2}){0,2}")
_MEBI = 2**20


def _cpus(cpus: int) -> int:
    if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
        raise CourseError(f"cpus must be a whole number of 1 or more, not {cpus!r}")
    return cpus


def _memory_bytes(memory: str) -> int:
    """``memory`` ("8GiB", "4096MiB", "6G") in bytes, at least 1 GiB."""
    from dask.utils import parse_bytes

    try:
        size = parse_bytes(memory) if str(memory).strip() else None
    except (ValueError, TypeError):
        size = None
    if size is None or size <= 0:
        raise CourseError(
            f"memory {memory!r} is not a size: write a number and a unit, e.g. 8GiB or 6144MiB"
        )
    if size < 2**30:
        raise CourseError(
            f"memory {memory!r} is less than 1 GiB: a worker holds a kernel and the grader"
        )
    return size


def _walltime(walltime: str) -> str:
    if not _WALLTIME.fullmatch(walltime):
        raise CourseError(
            f"walltime {walltime!r} is not a Slurm time: write HH:MM:SS or D-HH:MM:SS"
        )
    return walltime


def _slurm_memory(size: int) -> str:
    """Whole MiB, as dask-jobqueue and Slurm read them (Slurm's M is MiB)."""
    return f"{-(-size // _MEBI)}MiB"


def slurm_job_options(
    *,
    venv: str,
    cpus: int = DEFAULT_CPUS,
    memory: str = DEFAULT_MEMORY,
    walltime: str = DEFAULT_WALLTIME,
    partition: str | None = None,
    account: str | None = None,
    local_directory: str = SLURM_LOCAL_DIRECTORY,
) -> dict[str, Any]:
    """The job keywords of ``SLURMCluster`` for one grading worker per job.

    ``venv``: the grading environment on the nodes (a virtual environment holding this
    package and its pinned stack), activated by the job before the worker starts.
    Dask sees one core (one thread, one task at a time); the job reserves ``cpus``.
    """
    if not venv:
        raise CourseError("venv: give the grading environment's folder on the nodes")
    venv = venv.rstrip("/") or "/"
    for what, value in (("partition", partition), ("account", account)):
        if value and not re.fullmatch(r"[\w.,@+-]+", value):
            raise CourseError(f"{what} {value!r} is not a Slurm {what} name")
    return {
        "cores": 1,
        "processes": 1,
        "job_cpu": _cpus(cpus),
        "memory": _slurm_memory(_memory_bytes(memory)),
        "walltime": _walltime(walltime),
        "queue": partition or None,
        "account": account or None,
        "job_name": "autograder-worker",
        "python": shlex.quote(f"{venv}/bin/python"),
        "job_script_prologue": [
            f"source {shlex.quote(venv + '/bin/activate')}",
            *(f"export {name}={value}" for name, value in environment_variables().items()),
        ],
        "local_directory": local_directory,
        "death_timeout": DEATH_TIMEOUT_S,
        "worker_extra_args": ["--nworkers", "1"],
        "log_directory": None,
    }


def slurm_job_script(scheduler: str, **options: Any) -> str:
    """The batch script of one worker of the scheduler at ``scheduler`` (``sbatch`` it).

    ``options``: those of :func:`slurm_job_options`. The scheduler runs on its own with
    ``allowed-failures`` set (docs/cluster.md); the script names no course path.
    """
    from dask_jobqueue import SLURMCluster

    if not re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+", scheduler):
        raise CourseError(f"scheduler {scheduler!r} is not an address like tcp://host:8786")
    job = SLURMCluster.job_cls(scheduler, name=SLURM_WORKER_NAME, **slurm_job_options(**options))
    return job.job_script()


def slurm_cluster(
    *,
    allowed_failures: int = ALLOWED_FAILURES,
    scheduler_options: dict[str, Any] | None = None,
    **options: Any,
) -> SLURMCluster:
    """A ``SLURMCluster`` of grading workers whose scheduler runs in this process.

    Its scheduler retries a task whose worker died ``allowed_failures`` times; scale it
    (``cluster.scale(8)``) and grade with ``--scheduler <cluster.scheduler_address>``
    while this process lives. ``options``: those of :func:`slurm_job_options`.
    """
    import dask
    from dask_jobqueue import SLURMCluster

    scheduler = {"allowed_failures": allowed_failures, **(scheduler_options or {})}
    with dask.config.set(GRADING_CLUSTER_CONFIG):
        return SLURMCluster(scheduler_options=scheduler, **slurm_job_options(**options))


def _pod_environment() -> list[dict[str, str]]:
    # New dicts for each container: YAML would write shared ones as anchors.
    return [{"name": name, "value": value} for name, value in environment_variables().items()]


def kubernetes_quantity(size: int) -> str:
    """Bytes as a Kubernetes quantity: whole Gi or Mi where exact, else bytes."""
    for unit, factor in (("Gi", 2**30), ("Mi", _MEBI), ("Ki", 2**10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def kubernetes_cluster_spec(
    *,
    image: str,
    workers: int = 2,
    cpus: int = DEFAULT_CPUS,
    memory: str = DEFAULT_MEMORY,
    backend: str = "sandbox",
    name: str = "autograder",
    allowed_failures: int = ALLOWED_FAILURES,
) -> dict[str, Any]:
    """The ``DaskCluster`` resource (dask-kubernetes operator) of a grading cluster.

    ``image``: a worker image with this package and its pinned stack (and bubblewrap
    for ``sandbox``, a Docker engine for ``docker``: docs/cluster.md); the scheduler
    runs it too. Each worker pod runs ``dask worker --nthreads 1 --nworkers 1``,
    requests and is limited to ``cpus`` and ``memory``, mounts no volume and has the
    securityContext ``backend`` needs; the scheduler retries a task whose worker died
    ``allowed_failures`` times.
    """
    from dask_kubernetes.operator import make_cluster_spec

    if not image:
        raise CourseError("image: give the worker image (docs/cluster.md says what it holds)")
    if backend not in BACKENDS:
        raise CourseError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise CourseError(f"workers must be a whole number of 1 or more, not {workers!r}")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", name):
        raise CourseError(f"name {name!r} is not a Kubernetes name (lower case, digits, '-')")
    amount = {"cpu": str(_cpus(cpus)), "memory": kubernetes_quantity(_memory_bytes(memory))}
    command = f"dask worker --nthreads 1 --nworkers 1 --local-directory {POD_LOCAL_DIRECTORY}"
    spec = make_cluster_spec(
        name=name,
        image=image,
        n_workers=workers,
        resources={"requests": dict(amount), "limits": dict(amount)},
        worker_command=command,
    )
    worker_pod = spec["spec"]["worker"]["spec"]
    worker = worker_pod["containers"][0]
    worker["env"] = _pod_environment()
    worker["securityContext"] = dict(SECURITY_CONTEXTS[backend])
    scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
    # The operator's default names the dask-scheduler script, which distributed no
    # longer installs.
    scheduler["args"] = ["dask", "scheduler", "--host", "0.0.0.0"]
    scheduler["env"] = [
        {"name": ALLOWED_FAILURES_ENV, "value": str(allowed_failures)},
        *_pod_environment(),
    ]
    scheduler["resources"] = {key: dict(value) for key, value in SCHEDULER_RESOURCES.items()}
    spec["metadata"]["labels"] = {"autograder/backend": backend}
    return spec
