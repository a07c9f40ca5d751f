"""The docker back end for real: a Docker engine, the grading image, the sandbox's grades.

Needs a running engine and an up-to-date image (``autograder image build``); ``.ci/run``
provides both and sets ``AUTOGRADER_REQUIRE_DOCKER=1``, under which a missing engine or
image fails these tests instead of skipping them. It builds the image while the rest
of the suite runs (these tests run last) and names in ``AUTOGRADER_IMAGE_BUILD`` the
file that holds the build's exit status once it has finished.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_pipeline import DAEMON_MARK, DOUBLE, RELU, SANDBOX_EXPECTED, prepare, processes_with

from autograder import demo, images, notebooks
from autograder.check import check_assignment
from autograder.course import Course
from autograder.docker_backend import (
    RUN_LABEL,
    WORKER_LABEL,
    remove_containers,
    remove_orphaned_containers,
)
from autograder.errors import CourseError
from autograder.pipeline import BatchGrader
from autograder.settings import limits_from, load_settings

# Children that hold more memory together than the container may have, each well
# within its own data limit.
MEMORY_BY_CHILDREN = (
    "import os, time\n"
    "children = []\n"
    "for _ in range(5):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        try:\n"
    "            hog = bytearray(b'\\x01') * (400 * 2**20)\n"
    "            time.sleep(3)\n"
    "        finally:\n"
    "            os._exit(0)\n"
    "    children.append(pid)\n"
    "for pid in children:\n"
    "    os.waitpid(pid, 0)\n"
)
MEMORY_MB = 1536


def _engine_problem() -> str | None:
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"no Docker engine: {error}"
    if info.returncode != 0:
        return f"no Docker engine: {info.stderr.strip()[-200:]}"
    try:
        images.require_current_image(images.CPU_IMAGE)
    except CourseError as error:
        return str(error)
    return None


def _wait_for_build(status_file: Path, timeout_s: float = 1800) -> str | None:
    """None once the build that writes ``status_file`` succeeded; else what went wrong."""
    deadline = time.monotonic() + timeout_s
    while not status_file.is_file() or not status_file.read_text().strip():
        if time.monotonic() > deadline:
            return f"the image build did not finish within {timeout_s:.0f} s"
        time.sleep(5)
    status = status_file.read_text().strip()
    if status != "0":
        log = status_file.with_suffix(".log")
        tail = log.read_text()[-1500:] if log.is_file() else ""
        return f"the image build failed (exit {status}):\n{tail}"
    return None


@pytest.fixture(scope="session")
def docker_image() -> str:
    build = os.environ.get("AUTOGRADER_IMAGE_BUILD")
    problem = _wait_for_build(Path(build)) if build else None
    problem = problem or _engine_problem()
    if problem:
        if os.environ.get("AUTOGRADER_REQUIRE_DOCKER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    return images.CPU_IMAGE


def grading_containers() -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter", f"label={RUN_LABEL}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


@pytest.mark.slow
def test_docker_grades_like_the_sandbox_and_contains_each_attack(
    tiny_course: Course, listening_port: int, docker_image: str
) -> None:
    prepare(tiny_course, listening_port)
    extra = {
        "memory-by-children": {"relu": RELU, "double": MEMORY_BY_CHILDREN + DOUBLE},
    }
    release = tiny_course.release_dir / "tiny" / "tiny.ipynb"
    for student, cells in extra.items():
        notebook = notebooks.with_replaced_cells(notebooks.read(release), cells)
        notebooks.write(notebook, tiny_course.root / "submitted" / student / "tiny" / "tiny.ipynb")
    settings = load_settings(
        tiny_course, backend="docker", workers=2, max_processes=200, memory_limit_mb=MEMORY_MB
    )
    limits = dataclasses.replace(limits_from(tiny_course, settings), cell_timeout=8)
    graded = {
        r.student: r
        for r in BatchGrader(tiny_course, settings, limits).grade("tiny", say=lambda _: None)
    }
    expected = {
        **SANDBOX_EXPECTED,
        "memory-by-children": (5, ["memory: the memory limit was hit"]),
    }
    observed = {s: (graded[s].status, graded[s].score, graded[s].reasons) for s in expected}
    assert observed == {s: ("graded", *outcome) for s, outcome in expected.items()}
    assert graded["invalid-json"].status == "error"
    record = graded["full-marks"]
    assert record.backend == f"docker ({docker_image})" and record.image == docker_image
    assert grading_containers() == [], "a grading container outlived its submission"
    assert processes_with(DAEMON_MARK) == [], "a submission's process outlived its container"


@pytest.mark.slow
def test_the_demo_in_containers_prints_the_sandboxs_table(
    course: Course, demo_run: tuple, docker_image: str, tmp_path: Path
) -> None:
    _, sandbox_records, _ = demo_run
    graded = demo.run_demo(course, tmp_path / "course", "forward_pass", "docker", 2, say=str)
    assert demo.format_scores(graded) == demo.format_scores(list(sandbox_records.values()))
    assert grading_containers() == []


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ["forward_pass", "backprop"])
def test_the_check_fixtures_score_in_containers_as_in_the_sandbox(
    course: Course,
    sandbox_check: Callable,
    docker_image: str,
    assignment: str,
    tmp_path: Path,
) -> None:
    in_containers = check_assignment(
        course, assignment, tmp_path, say=lambda line: None, backend="docker"
    )
    in_sandbox = sandbox_check(assignment)
    assert in_containers.problems == []
    assert in_containers.scores == in_sandbox.scores
    assert in_containers.passed
    assert grading_containers() == []


def test_grading_refuses_an_image_built_from_other_sources(docker_image: str) -> None:
    try:
        fake = subprocess.run(
            ["docker", "build", "--quiet", "--label", f"{images.FINGERPRINT_LABEL}=old",
             "--tag", "autograder-test:stale", "-"],
            input=f"FROM {docker_image}\n",
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
        assert fake.returncode == 0, fake.stderr
        with pytest.raises(CourseError, match="built from another Dockerfile"):
            images.require_current_image("autograder-test:stale")
        with pytest.raises(CourseError, match="no docker image"):
            images.require_current_image("autograder-test:absent")
    finally:
        subprocess.run(["docker", "rmi", "autograder-test:stale"], capture_output=True)


def test_the_containers_of_a_killed_worker_are_removed(docker_image: str) -> None:
    def start(worker: int, run: str) -> None:
        started = subprocess.run(
            ["docker", "run", "--detach", "--label", f"{WORKER_LABEL}={worker}",
             "--label", f"{RUN_LABEL}={run}", "--network", "none", docker_image, "sleep", "600"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr

    start(999999999, "orphan")
    assert remove_containers(WORKER_LABEL, "999999999") == 1
    assert grading_containers() == []
    # A worker killed where no runner watches it (a Dask nanny restarts it): the next
    # worker removes its containers, and leaves those of living workers alone.
    start(999999999, "orphan")
    start(os.getpid(), "living")
    assert remove_orphaned_containers() == 1
    assert len(grading_containers()) == 1
    assert remove_containers(WORKER_LABEL, str(os.getpid())) == 1
    assert grading_containers() == []


def test_a_current_image_is_not_built_again(docker_image: str) -> None:
    labels = images.image_labels(docker_image)
    assert labels is not None
    built = images.build(base=labels["autograder.base"], say=lambda line: None)
    assert built.reused and built.tag == docker_image and built.size_bytes > 10**9
