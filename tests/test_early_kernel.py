"""The kernel started while nbgrader prepares a submission, and its hand-over."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from unittest import mock

from conftest import local_grading_request
from jupyter_client.manager import AsyncKernelManager
from traitlets.config import Config

from autograder import notebooks, worker
from autograder.course import Course
from autograder.early_kernel import EarlyKernel
from autograder.nbgrader_course import NbgraderCourse


def test_the_started_kernel_is_given_once_and_an_untaken_one_is_killed(tmp_path: Path) -> None:
    early = EarlyKernel(Config(), "python3", tmp_path / "work")
    early.start(assignment="a", student="s", notebooks=[])
    assert (tmp_path / "work").is_dir()
    manager = early.take()
    assert manager is not None and manager.has_kernel
    assert early.take() is None
    early.manager = manager
    process = manager.provisioner.process
    early.discard()
    assert process.poll() is not None, "a kernel nobody took must not outlive the grading"
    assert early.take() is None


def test_configured_copies_share_one_early_kernel(tmp_path: Path) -> None:
    # traitlets deep-copies configured values: the hook and the source must stay one object.
    early = EarlyKernel(Config(), "python3", tmp_path)
    assert copy.deepcopy(early.start).__self__ is early
    assert copy.deepcopy(early.take).__self__ is early


def test_grading_runs_the_notebook_on_the_kernel_started_early(tiny_course: Course) -> None:
    NbgraderCourse.for_course(tiny_course).generate("tiny")
    release = notebooks.read(tiny_course.release_dir / "tiny" / "tiny.ipynb")
    answer = {"relu": "def relu(z):\n    return np.maximum(0, z)", "double": "double = 2 .__mul__"}
    submitted = tiny_course.root / "submitted" / "alice" / "tiny" / "tiny.ipynb"
    notebooks.write(notebooks.with_replaced_cells(release, answer), submitted)
    request = local_grading_request(tiny_course, "tiny", "alice")
    started: list[str] = []
    start_kernel = AsyncKernelManager.start_kernel

    async def counted_start(manager: AsyncKernelManager, **kwargs: object) -> None:
        started.append(type(manager).__name__)
        await start_kernel(manager, **kwargs)

    taken: list[object] = []
    take = EarlyKernel.take

    def recorded_take(early: EarlyKernel) -> object:
        taken.append(manager := take(early))
        return manager

    with (
        mock.patch.dict(os.environ),
        mock.patch.object(AsyncKernelManager, "start_kernel", counted_start),
        mock.patch.object(EarlyKernel, "take", recorded_take),
    ):
        record = worker.grade(request)
    assert (record.status, record.score) == ("graded", 5)
    assert started == ["PromptKernelManager"], "one kernel per submission, the early one"
    assert taken[0] is not None
