"""Grade submissions in a worker process: ``python -m autograder.worker`` (see :func:`serve`).

Runs apart from the batch so that a batch survives anything one submission does.
nbgrader's autograde runs here, in the trusted process; only the kernel is started
through the chosen back end. Writes a :class:`GradingRecord` whatever happens.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.utils import compute_checksum
from traitlets.config import Config

from autograder import datasets, intake, notebooks, outcomes, records
from autograder.backends import MEMORY_REASON, PROCESSES_REASON, make_backend
from autograder.confine import capped_folder
from autograder.course import Course
from autograder.early_kernel import EarlyKernel, PromptKernelManager
from autograder.gradebook_merge import item_scores
from autograder.gradebook_tests import digest, gradebook_tests
from autograder.guarded_execute import (
    CELL_TIMEOUT_ENAME,
    KERNEL_DIED_ENAME,
    OUTPUT_CUT_KEY,
    SUBMISSION_TIMEOUT_ENAME,
    GraderFault,
    judging_config,
)
from autograder.nbgrader_course import NbgraderCourse
from autograder.settings import Limits, kernel_environment, load_config, sqlite_path

KERNEL_NAME = "autograder-kernel"
# The IPC folder holds a connection file and a few sockets: a megabyte is plenty.
IPC_FOLDER_MB = 1


@dataclass
class GradingRequest:
    """What to grade and how; it travels inside a :class:`~autograder.grading_task.GradingTask`,
    and ``course_root`` is where the worker unpacked the task."""

    course_root: str
    assignment: str
    student: str
    backend: str
    limits: dict
    seed: int
    db_url: str
    docker_image: str = ""
    docker_gpus: bool = False
    # Items a TA scores by hand: not part of the automatic score.
    manual_items: list[str] = field(default_factory=list)


def _write_kernelspec(jupyter_dir: Path, argv: list[str]) -> None:
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    # Interrupts go over the control channel: a signal would stop at the sandbox.
    spec = {
        "argv": argv,
        "display_name": "Python 3 (graded)",
        "language": "python",
        "interrupt_mode": "message",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


@functools.cache
def kernel_data_dir() -> Path:
    """This worker's copy of the data a kernel may read, made once per process."""
    folder = Path(tempfile.mkdtemp(prefix="autograder-data-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    datasets.prepare_kernel_data(str(folder))
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


# Digests of the tests in the SQLite gradebooks this worker was sent, by the file's hash.
_tests_by_gradebook: dict[tuple[str, str], str] = {}


def _tests_sha256(db_url: str, assignment: str) -> str:
    """The digest of the tests nbgrader scores with: the gradebook's copy.

    Every task of a batch carries the same SQLite gradebook, so its tests are read once
    per batch; a server database is read every time (its tests may change).
    """
    path = sqlite_path(db_url)
    if path is None:
        return digest(gradebook_tests(db_url, assignment))
    key = (hashlib.sha256(path.read_bytes()).hexdigest(), assignment)
    if key not in _tests_by_gradebook:
        if len(_tests_by_gradebook) >= 64:
            _tests_by_gradebook.clear()
        _tests_by_gradebook[key] = digest(gradebook_tests(db_url, assignment))
    return _tests_by_gradebook[key]


def _nbgrader_config(
    course: Course, request: GradingRequest, limits: Limits, ipc_dir: Path
) -> Config:
    config = load_config(course)
    config.CourseDirectory.root = str(course.root)
    config.CourseDirectory.db_url = request.db_url
    judging_config(config)
    # A graded cell the student deleted is put back (and said so in the feedback), so a
    # deleted test cell neither hides a mistake nor loses the points of correct work.
    config.OverwriteCells.add_missing_cells = True
    # Penalties are the course's to give, with extensions and manual scores known
    # (autograder.deadlines, after the merge): nbgrader's own step here gives none.
    config.AssignLatePenalties.plugin_class = LateSubmissionPlugin
    config.GuardedExecute.kernel_name = KERNEL_NAME
    config.GuardedExecute.timeout = limits.cell_timeout
    config.GuardedExecute.submission_timeout = limits.submission_timeout
    config.GuardedExecute.cell_output_limit = limits.cell_output_kb * 1024
    config.GuardedExecute.output_limit = limits.output_kb * 1024
    # Nothing in a graded kernel needs a clean exit; a graceful one waits on the process.
    config.GuardedExecute.shutdown_kernel = "immediate"
    config.GuardedExecute.kernel_manager_class = PromptKernelManager
    # nbconvert validates the whole notebook after each of nbgrader's preprocessors;
    # once, after the last, is enough (about 0.05 s of CPU per forward_pass submission).
    config.Exporter.optimistic_validation = True
    # The kernel has no network: it talks over IPC sockets beside its connection file.
    config.KernelManager.transport = "ipc"
    config.KernelManager.connection_file = str(ipc_dir / "kernel.json")
    return config


def _reasons_from_outputs(graded: list[NotebookNode]) -> list[str]:
    """Limits hit and crashes, read from the graded notebooks nbgrader wrote."""

    reasons: list[str] = []
    for notebook in graded:
        cut = notebook.metadata.get("autograder", {}).get(OUTPUT_CUT_KEY, 0)
        if cut:
            reasons.append(f"output: {cut} bytes of output past the limit were cut")
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") != "error":
                    continue
                ename, evalue = output.get("ename", ""), str(output.get("evalue", ""))
                if ename == CELL_TIMEOUT_ENAME:
                    reasons.append("timeout: a cell ran past the per-cell limit")
                elif ename == SUBMISSION_TIMEOUT_ENAME:
                    reasons.append("timeout: the submission ran past its limit")
                elif ename == "MemoryError":
                    reasons.append(MEMORY_REASON)
                elif ename == KERNEL_DIED_ENAME:
                    reasons.append("crash: the kernel died")
                elif ename == "BlockingIOError" or "Resource temporarily unavailable" in evalue:
                    reasons.append(PROCESSES_REASON)
    return reasons


def _grader_fault(log: str) -> str | None:
    """The message of a :class:`GraderFault` in nbgrader's log, if one stopped it."""
    marker = f"{GraderFault.__name__}: "
    lines = [line for line in log.splitlines() if marker in line]
    return lines[-1].split(marker, 1)[1].strip() if lines else None


def _cell_integrity(
    course: Course, request: GradingRequest, submitted: dict[str, NotebookNode]
) -> list[str]:
    """Locked cells changed and graded cells missing, against the course's release."""

    reasons = []
    for released in sorted((course.release_dir / request.assignment).glob("*.ipynb")):
        if released.name not in submitted:
            reasons.append(f"missing notebook: {released.name}")
            continue
        cells = notebooks.cells_by_grade_id(submitted[released.name])
        for grade_id, original in notebooks.cells_by_grade_id(notebooks.read(released)).items():
            cell = cells.get(grade_id)
            if cell is None:
                reasons.append(f"missing cell: {grade_id}")
            elif notebooks.nbgrader_meta(original).get("locked") and compute_checksum(
                cell
            ) != compute_checksum(original):
                reasons.append(f"changed locked cell: {grade_id}")
    return reasons


def _read_submitted(folder: Path) -> tuple[dict[str, NotebookNode], list[str]]:
    """The submitted notebooks by file name, and a reason for each one that is invalid."""
    read: dict[str, NotebookNode] = {}
    problems = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            read[path.name] = notebooks.read(path)
        except ValueError as error:
            reason = str(error).split(": ", 1)[-1].split(": '")[0].splitlines()[0]
            problems.append(f"invalid notebook: {path.name}: {reason}")
    return read, problems


def _checked_submission(course: Course, request: GradingRequest, copy_root: Path) -> list[str]:
    """Copy the submission into ``copy_root/<student>/<assignment>``; returns what was dropped.

    Everything after this reads the copy: regular files only, nothing a link could
    redirect, nothing a FIFO could block.
    """
    submitted = course.root / "submitted"
    folder = submitted / request.student / request.assignment
    intake.require_plain_folder(folder, submitted)
    return intake.checked_copy(folder, copy_root / request.student / request.assignment)


def grade(request: GradingRequest) -> records.GradingRecord:
    course = Course(Path(request.course_root))
    limits = Limits(**request.limits)
    backend = make_backend(request.backend, request.docker_image, request.docker_gpus)
    submitted = course.root / "submitted" / request.student / request.assignment
    started = time.perf_counter()
    record = records.GradingRecord(
        assignment=request.assignment,
        student=request.student,
        status="graded",
        backend=backend.describe(),
        image=request.docker_image if request.backend == "docker" else None,
        environment=records.environment("gpu" if Path("/dev/nvidia0").exists() else "cpu"),
        seed=request.seed,
        limits=request.limits,
        tests_sha256=_tests_sha256(request.db_url, request.assignment),
        submission_sha256=records.folder_sha256(submitted),
        graded_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    workdir = course.root / "autograded" / request.student / request.assignment
    with tempfile.TemporaryDirectory(prefix="autograder-kernel-") as tmp:
        # The run folder's unique name also names the kernel's cgroups.
        run_dir = Path(tmp)
        copy_root = run_dir / "submitted"
        try:
            dropped = _checked_submission(course, request, copy_root)
        except intake.UnsafeFolder as error:
            record.status, record.error = "error", str(error)
            record.reasons = [f"invalid submission: {error}"]
            return record
        inputs = copy_root / request.student / request.assignment
        submitted_notebooks, invalid = _read_submitted(inputs)
        if invalid:
            record.status, record.reasons, record.error = "error", dropped + invalid, invalid[0]
            return record
        # Only this folder is writable by the kernel; the kernelspec stays outside it.
        ipc_dir = run_dir / "ipc"
        ipc_dir.mkdir(mode=0o1777)
        ipc_dir.chmod(0o1777)
        jupyter_dir = run_dir / "jupyter"
        data_dir = kernel_data_dir()
        environment = kernel_environment(limits.threads, request.seed)
        environment[datasets.KERNEL_DATA_ENV] = backend.kernel_data_path(data_dir)
        argv = backend.kernel_argv(inputs, ipc_dir, limits, environment, data_dir)
        _write_kernelspec(jupyter_dir, argv)
        os.environ.update(environment, JUPYTER_PATH=str(jupyter_dir), JUPYTER_RUNTIME_DIR=tmp)
        config = _nbgrader_config(course, request, limits, ipc_dir)
        config.CourseDirectory.submitted_directory = str(copy_root)
        if backend.kernel_gid is not None:
            config.PromptKernelManager.kernel_gid = backend.kernel_gid
        early_kernel = EarlyKernel(config, KERNEL_NAME, workdir)
        if "pre_convert_hook" not in config.Autograde:  # a course's own hook wins
            config.Autograde.pre_convert_hook = early_kernel.start
            config.GuardedExecute.kernel_source = early_kernel.take
        with capped_folder(ipc_dir, IPC_FOLDER_MB):
            try:
                result = (
                    NbgraderCourse(course.root, request.db_url)
                    .api(config)
                    .autograde(request.assignment, request.student, force=True, create=True)
                )
            finally:
                early_kernel.discard()
                # Before the IPC folder goes: a container still holds it mounted.
                limits_hit = backend.finish(run_dir)
        record.reasons = dropped + _cell_integrity(course, request, submitted_notebooks)
    record.wall_seconds = round(time.perf_counter() - started, 2)
    if not result["success"]:
        record.status = "error"
        record.error = "\n".join(
            part.strip() for part in (result.get("log"), result.get("error")) if part
        )[-4000:]
        fault = _grader_fault(record.error)
        record.reasons.append(
            f"grader: {fault}" if fault else "crash: nbgrader could not grade the submission"
        )
        return record
    graded = [notebooks.read(path) for path in sorted(workdir.glob("*.ipynb"))]
    found = _reasons_from_outputs(graded) + limits_hit
    record.reasons += list(dict.fromkeys(found))

    manual = set(request.manual_items)
    record.items = item_scores(request.db_url, request.assignment, request.student)
    for name, item in record.items.items():
        item["manual"] = name in manual
    for notebook in graded:
        record.messages.update(outcomes.item_messages(notebook, record.items, request.limits))
    auto = [item for item in record.items.values() if not item["manual"]]
    record.score = sum(item["score"] for item in auto)
    record.max_score = sum(item["max_score"] for item in auto)
    record.manual_points = sum(i["max_score"] for i in record.items.values() if i["manual"])
    return record


def grade_safely(request: GradingRequest) -> records.GradingRecord:
    """:func:`grade`, turning any failure of the grading itself into an error record."""
    try:
        return grade(request)
    except Exception:
        return records.GradingRecord(
            assignment=request.assignment,
            student=request.student,
            status="error",
            error=traceback.format_exc(),
            reasons=["crash: the grading worker failed"],
        )


def serve() -> None:
    """Grade tasks read from stdin, one ``<task file>\t<outcome file>`` per line.

    A long-lived worker pays for its imports once. Kernels inherit this process's
    standard output, so replies go to a private copy of it and fd 1 is pointed at
    stderr, where nothing a kernel writes can be taken for a reply.
    """
    from autograder.grading_task import outcome_to_json, run_task, task_from_json

    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        task_file, outcome_file = line.rstrip("\n").split("\t")
        outcome = run_task(task_from_json(Path(task_file).read_text()))
        Path(outcome_file).write_text(outcome_to_json(outcome))
        replies.write(f"done\t{outcome_file}\n")


if __name__ == "__main__":
    serve()
