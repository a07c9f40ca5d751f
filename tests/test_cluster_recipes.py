"""The Slurm job script and the Kubernetes DaskCluster resource of docs/cluster.md.

Made without a cluster: the script is dask-jobqueue's, the resource dask-kubernetes'.
One test runs the script's worker with bash (its #SBATCH lines are comments) against a
scheduler started as docs/cluster.md says, on the loopback.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from autograder import cluster_recipes
from autograder.cli import main
from autograder.cluster_recipes import (
    ALLOWED_FAILURES_ENV,
    kubernetes_cluster_spec,
    slurm_cluster,
    slurm_job_script,
)
from autograder.dask_settings import environment_variables
from autograder.errors import CourseError

REPO = Path(__file__).resolve().parents[1]
VENV = "/opt/grading/venv"
IMAGE = "registry.example.org/intro-dl-worker:1.0"


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip()]


def _worker_line(script: str) -> str:
    lines = [line for line in _lines(script) if "distributed.cli.dask_worker" in line]
    assert len(lines) == 1, f"one worker command per job, got {lines}"
    return lines[0]


def _option(words: list[str], name: str) -> str:
    assert words.count(name) == 1, f"{name} once in {words}"
    return words[words.index(name) + 1]


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def test_slurm_script_reserves_the_job_and_runs_one_single_threaded_worker():
    script = slurm_job_script(
        "tcp://login1:8786",
        venv=VENV + "/",
        cpus=4,
        memory="6GiB",
        walltime="1-03:30:00",
        partition="cpu",
        account="dl-course",
    )
    lines = _lines(script)
    for directive in (
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=6G",
        "#SBATCH -t 1-03:30:00",
        "#SBATCH -p cpu",
        "#SBATCH -A dl-course",
    ):
        assert directive in lines, f"{directive!r} missing from:\n{script}"
    worker = _worker_line(script)
    prologue = f"source {VENV}/bin/activate"
    assert prologue in lines
    assert lines.index(prologue) < lines.index(worker), "the environment first"
    words = worker.split()
    assert words[0] == f"{VENV}/bin/python"
    assert words[3] == "tcp://login1:8786"
    assert _option(words, "--nthreads") == "1"
    assert _option(words, "--nworkers") == "1"
    assert _option(words, "--name") == "autograder-${SLURM_JOB_ID}"
    assert _option(words, "--local-directory") == "${TMPDIR:-/tmp}"
    assert _option(words, "--memory-limit") == "6.00GiB"
    assert _option(words, "--death-timeout") == "60"
    # Nothing of the course: the worker gets its files with each task.
    assert str(REPO) not in script
    for course_word in ("submitted", "gradebook", "source/", "--preload"):
        assert course_word not in script


def test_slurm_script_without_partition_or_account_leaves_them_to_slurm():
    script = slurm_job_script("tcp://10.0.0.5:8786", venv=VENV)
    assert not [line for line in _lines(script) if line.startswith(("#SBATCH -p", "#SBATCH -A"))]
    assert "#SBATCH --cpus-per-task=2" in script and "#SBATCH --mem=8G" in script
    assert "#SBATCH -t 02:00:00" in script


def test_slurm_script_quotes_a_venv_path_with_spaces():
    script = slurm_job_script("tcp://h:8786", venv="/shared/intro dl/venv")
    assert "source '/shared/intro dl/venv/bin/activate'" in script
    assert _worker_line(script).startswith("'/shared/intro dl/venv/bin/python' -m ")


def test_slurm_cluster_has_the_same_worker_and_a_scheduler_that_retries():
    cluster = slurm_cluster(
        venv=VENV,
        cpus=3,
        memory="10GiB",
        scheduler_options={"host": "127.0.0.1", "dashboard_address": ":0"},
    )
    try:
        assert cluster.scheduler.allowed_failures == cluster_recipes.ALLOWED_FAILURES
        script = cluster.job_script()
        words = _worker_line(script).split()
        assert words[3] == cluster.scheduler_address
        assert _option(words, "--nthreads") == "1" and _option(words, "--nworkers") == "1"
        assert "#SBATCH --cpus-per-task=3" in script and "#SBATCH --mem=10G" in script
        assert f"source {VENV}/bin/activate" in script
    finally:
        cluster.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_slurm_script_worker_joins_a_scheduler_started_as_the_docs_say(tmp_path: Path):
    """The script's own lines (prologue and worker) run under bash, as Slurm would."""
    from dask.distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    environment = {**os.environ, ALLOWED_FAILURES_ENV: "2"}
    scheduler = subprocess.Popen(
        [
            *(sys.prefix + "/bin/dask", "scheduler", "--host", "127.0.0.1", "--port", "0"),
            *("--no-dashboard", "--scheduler-file", str(scheduler_file)),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = None
    try:
        deadline = time.monotonic() + 30
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        scratch = tmp_path / "node-scratch"
        scratch.mkdir()
        script = tmp_path / "worker.sh"
        script.write_text(slurm_job_script(address, venv=sys.prefix, memory="2GiB"))
        worker = subprocess.Popen(
            ["bash", str(script)],
            env={**os.environ, "SLURM_JOB_ID": "4242", "TMPDIR": str(scratch)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            workers = list(client.scheduler_info()["workers"].values())
            assert [(w["name"], w["nthreads"]) for w in workers] == [("autograder-4242", 1)]
            assert workers[0]["local_directory"].startswith(str(scratch))
            allowed = client.run_on_scheduler(
                lambda dask_scheduler: dask_scheduler.allowed_failures
            )
            assert allowed == 2
            # The script's exports reach the worker: no profiler, a slow event-loop check.
            [(profiling, tick)] = client.run(
                lambda dask_worker: (
                    "profile" in dask_worker.periodic_callbacks,
                    dask_worker._tick_interval,
                )
            ).values()
            assert (profiling, tick) == (False, 1.0)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


def test_kubernetes_spec_for_the_sandbox():
    spec = kubernetes_cluster_spec(image=IMAGE, workers=3, cpus=2, memory="8GiB")
    assert spec["apiVersion"] == "kubernetes.dask.org/v1" and spec["kind"] == "DaskCluster"
    assert spec["metadata"]["name"] == "autograder"
    workers = spec["spec"]["worker"]
    assert workers["replicas"] == 3
    [worker] = workers["spec"]["containers"]
    assert worker["image"] == IMAGE
    args = worker["args"]
    assert args[:2] == ["dask", "worker"]
    assert _option(args, "--nthreads") == "1" and _option(args, "--nworkers") == "1"
    assert _option(args, "--local-directory") == "/tmp"
    # The operator names each worker and gives it the scheduler's address.
    assert _option(args, "--name") == "$(DASK_WORKER_NAME)"
    amount = {"cpu": "2", "memory": "8Gi"}
    assert worker["resources"] == {"requests": amount, "limits": amount}
    assert worker["securityContext"] == {
        "privileged": True,
        "runAsUser": 0,
        "runAsNonRoot": False,
    }
    settings = [{"name": name, "value": value} for name, value in environment_variables().items()]
    assert worker["env"] == settings
    [scheduler] = spec["spec"]["scheduler"]["spec"]["containers"]
    assert scheduler["image"] == IMAGE
    assert scheduler["args"][:2] == ["dask", "scheduler"]
    assert scheduler["env"] == [{"name": ALLOWED_FAILURES_ENV, "value": "2"}, *settings]
    assert "securityContext" not in scheduler
    assert not {"volumes", "volumeMounts", "hostPath"} & set(_keys(spec))
    # What the operator's controller expects of the resource it is given.
    assert spec["spec"]["scheduler"]["service"]["ports"][0]["port"] == 8786


def test_kubernetes_spec_for_docker_and_other_sizes():
    spec = kubernetes_cluster_spec(
        image=IMAGE, workers=1, cpus=4, memory="12288MiB", backend="docker", name="dl-2026"
    )
    assert spec["metadata"] == {"name": "dl-2026", "labels": {"autograder/backend": "docker"}}
    [worker] = spec["spec"]["worker"]["spec"]["containers"]
    assert worker["resources"]["limits"] == {"cpu": "4", "memory": "12Gi"}
    # The Docker engine runs inside the worker's container (docs/cluster.md).
    assert worker["securityContext"]["privileged"] is True
    assert worker["securityContext"]["runAsUser"] == 0
    assert cluster_recipes.kubernetes_quantity(1536 * 2**20) == "1536Mi"


@functools.cache
def _daskcluster_schema() -> dict[str, Any]:
    """The OpenAPI schema of the DaskCluster resource, from the operator's Helm chart."""
    import dask_kubernetes

    chart = Path(dask_kubernetes.__file__).parent / "operator/deployment/helm"
    text = (chart / "dask-kubernetes-operator/crds/daskcluster.yaml").read_text()
    crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    [version] = [version for version in crd["spec"]["versions"] if version["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def _unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would prune, silently, from a resource of ``schema``."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    unknown: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                unknown += _unknown_fields(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                unknown += _unknown_fields(item, extra, f"{path}.{key}")
            else:
                unknown.append(f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            unknown += _unknown_fields(item, schema.get("items", {}), f"{path}[{index}]")
    return unknown


@pytest.mark.parametrize("backend", cluster_recipes.BACKENDS)
def test_kubernetes_spec_is_a_daskcluster_the_operator_accepts_whole(backend: str):
    import jsonschema

    spec = kubernetes_cluster_spec(image=IMAGE, backend=backend)
    schema = _daskcluster_schema()
    # OpenAPI v3 schemas are JSON Schema draft 4 with extensions the validator ignores.
    jsonschema.Draft4Validator(schema["properties"]["spec"]).validate(spec["spec"])
    assert _unknown_fields(spec["spec"], schema["properties"]["spec"], "spec") == []
    # The check sees a field the server would drop.
    spec["spec"]["worker"]["spec"]["containers"][0]["securityContexts"] = {}
    assert _unknown_fields(spec["spec"], schema["properties"]["spec"], "spec") == [
        "spec.worker.spec.containers[0].securityContexts"
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: slurm_job_script("tcp://h:8786", venv=VENV, cpus=0), "cpus must be"),
        (lambda: slurm_job_script("tcp://h:8786", venv=VENV, cpus=True), "cpus must be"),
        (lambda: slurm_job_script("tcp://h:8786", venv=VENV, memory="lots"), "not a size"),
        (lambda: slurm_job_script("tcp://h:8786", venv=VENV, memory=""), "not a size"),
        (lambda: slurm_job_script("tcp://h:8786", venv=VENV, memory="512MiB"), "less than 1"),
        (lambda: slurm_job_script("tcp://h:8786", venv=VENV, walltime="2h"), "walltime"),
        (lambda: slurm_job_script("tcp://h:8786", venv=""), "venv"),
        (lambda: slurm_job_script("tcp://h:8786", venv=VENV, partition="a b"), "partition"),
        (lambda: slurm_job_script("login1:8786", venv=VENV), "not an address"),
        (lambda: kubernetes_cluster_spec(image=""), "image"),
        (lambda: kubernetes_cluster_spec(image=IMAGE, backend="local"), "backend must be"),
        (lambda: kubernetes_cluster_spec(image=IMAGE, workers=0), "workers must be"),
        (lambda: kubernetes_cluster_spec(image=IMAGE, cpus=-2), "cpus must be"),
        (lambda: kubernetes_cluster_spec(image=IMAGE, memory="4 gigs"), "not a size"),
        (lambda: kubernetes_cluster_spec(image=IMAGE, name="Auto_grader"), "Kubernetes name"),
    ],
)
def test_bad_input_is_refused_with_what_to_write(call, message):
    with pytest.raises(CourseError, match=message):
        call()


def test_cluster_commands():
    runner = CliRunner()
    result = runner.invoke(main, ["cluster", "--help"])
    assert result.exit_code == 0, result.output
    assert "slurm-script" in result.output and "kubernetes-spec" in result.output

    result = runner.invoke(
        main,
        [
            *("cluster", "slurm-script", "--scheduler", "tcp://login1:8786"),
            *("--cpus", "3", "--memory", "12GiB", "--walltime", "04:00:00"),
            *("--partition", "short", "--account", "dl", "--venv", VENV),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == slurm_job_script(
        "tcp://login1:8786",
        venv=VENV,
        cpus=3,
        memory="12GiB",
        walltime="04:00:00",
        partition="short",
        account="dl",
    )
    assert "#SBATCH --cpus-per-task=3" in result.output and "#SBATCH -p short" in result.output

    result = runner.invoke(
        main,
        ["cluster", "kubernetes-spec", "--image", IMAGE, "--workers", "4", "--backend", "docker"],
    )
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output) == kubernetes_cluster_spec(
        image=IMAGE, workers=4, backend="docker"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["slurm-script", "--scheduler", "tcp://h:8786", "--cpus", "0"], "cpus must be"),
        (["slurm-script", "--scheduler", "tcp://h:8786", "--memory", "4 gigs"], "not a size"),
        (["slurm-script"], "Missing option '--scheduler'"),
        (["kubernetes-spec"], "Missing option '--image'"),
        (["kubernetes-spec", "--image", IMAGE, "--backend", "local"], "'local' is not one of"),
        (["kubernetes-spec", "--image", IMAGE, "--cpus", "0"], "cpus must be"),
    ],
)
def test_cluster_commands_refuse_bad_input(arguments, message):
    result = CliRunner().invoke(main, ["cluster", *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output
