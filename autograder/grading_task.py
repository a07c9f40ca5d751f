"""One submission's grading as data: the files a worker needs in, the results out.

The process that runs ``autograder grade`` keeps the course, the gradebook and the
merge. It packs a :class:`GradingTask` (the course configuration, the release and
source files nbgrader reads, the checked copy of the submission, a gradebook holding
only the assignment), and a worker, on this machine or on a cluster node that shares
no folder with it, unpacks the task into a private temporary course, grades it there
and returns a :class:`GradingOutcome`: the record, the graded folder and its gradebook.
Local worker processes and Dask workers run the very same :func:`run_task`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath

from autograder import intake, records
from autograder.course import CONFIG_NAME, Course
from autograder.worker import GradingRequest, grade_safely

GRADEBOOK_NAME = "gradebook.db"


@dataclass
class GradingTask:
    """Everything one grading needs; ``request.course_root`` is set where it is unpacked."""

    request: GradingRequest
    # Course files by their path below the course root, POSIX-style.
    files: dict[str, bytes]
    # A SQLite gradebook with the assignment and no student; empty for a server database,
    # which the worker then writes to directly (``request.db_url``).
    gradebook: bytes = b""
    # Reasons for what the checked copy of the submission left out.
    dropped: list[str] = field(default_factory=list)


@dataclass
class GradingOutcome:
    """What a worker gives back: the record, nbgrader's graded folder, the gradebook."""

    record: dict
    autograded: dict[str, bytes]
    gradebook: bytes = b""


def _regular_files(folder: Path) -> dict[str, bytes]:
    """The regular files under ``folder`` by relative path, never following a link."""
    files: dict[str, bytes] = {}
    if not folder.is_dir() or folder.is_symlink():
        return files
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if name not in intake.IGNORED]
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                relative = path.relative_to(folder).as_posix()
                files[relative] = intake.read_regular(path, intake.MAX_TOTAL_BYTES)
    return files


def _checked_relative(name: str) -> PurePosixPath:
    """``name`` as a path that stays below the folder it is written into."""
    path = PurePosixPath(name)
    # Only a plain relative name, as the packing side writes them: no "..", no "//".
    if path.is_absolute() or str(path) != name or ".." in path.parts or name in ("", "."):
        raise ValueError(f"a grading task may not write to {name!r}")
    return path


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Create each file below ``folder`` (which must not hold it yet)."""
    for name, data in files.items():
        path = folder.joinpath(*_checked_relative(name).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)


def assignment_files(course: Course, assignment: str) -> dict[str, bytes]:
    """What every task of ``assignment`` carries: the configuration, the release, and the
    source's non-notebook files (nbgrader copies them over the submission's)."""
    files = {CONFIG_NAME: course.config_file.read_bytes()}
    for name, data in _regular_files(course.release_dir / assignment).items():
        files[f"release/{assignment}/{name}"] = data
    for name, data in _regular_files(course.source_dir / assignment).items():
        # The answer key stays with the course: nbgrader scores from the gradebook.
        if not name.endswith(".ipynb"):
            files[f"source/{assignment}/{name}"] = data
    return files


def submission_files(assignment: str, student: str, checked_copy: Path) -> dict[str, bytes]:
    """The checked copy of a submission, where the task's course keeps it."""
    return {
        f"submitted/{student}/{assignment}/{name}": data
        for name, data in _regular_files(checked_copy).items()
    }


def run_task(task: GradingTask) -> GradingOutcome:
    """Grade ``task`` in a private temporary course; what every worker runs.

    Never raises: a task that cannot even be unpacked gives an error record.
    """
    request = task.request
    try:
        return _unpacked_and_graded(task)
    except Exception:
        record = records.GradingRecord(
            assignment=request.assignment,
            student=request.student,
            status="error",
            error=traceback.format_exc(),
            reasons=["crash: the grading task could not be unpacked on its worker"],
        )
        return GradingOutcome(record=asdict(record), autograded={})


def _unpacked_and_graded(task: GradingTask) -> GradingOutcome:
    request = task.request
    with tempfile.TemporaryDirectory(prefix="autograder-task-") as tmp:
        root = Path(tmp) / "course"
        root.mkdir()
        write_files(root, task.files)
        # A submission whose every file was dropped is still a (now empty) submission.
        submission = f"submitted/{request.student}/{request.assignment}"
        root.joinpath(*_checked_relative(submission).parts).mkdir(parents=True, exist_ok=True)
        database = Path(tmp) / GRADEBOOK_NAME
        db_url = request.db_url
        if task.gradebook:
            database.write_bytes(task.gradebook)
            db_url = f"sqlite:///{database}"
        record = grade_safely(replace(request, course_root=str(root), db_url=db_url))
        record.reasons[:0] = task.dropped
        graded = root / "autograded" / request.student / request.assignment
        return GradingOutcome(
            record=asdict(record),
            autograded=_regular_files(graded) if record.status == "graded" else {},
            gradebook=database.read_bytes() if task.gradebook else b"",
        )


def replace_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``files``; whatever was there (a link too) goes."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_files(folder, files)


def _encode(files: dict[str, bytes]) -> dict[str, str]:
    return {name: base64.b64encode(data).decode("ascii") for name, data in files.items()}


def _decode(files: dict[str, str]) -> dict[str, bytes]:
    return {name: base64.b64decode(data) for name, data in files.items()}


def task_to_json(task: GradingTask) -> str:
    return json.dumps(
        {
            "request": asdict(task.request),
            "files": _encode(task.files),
            "gradebook": base64.b64encode(task.gradebook).decode("ascii"),
            "dropped": task.dropped,
        }
    )


def task_from_json(text: str) -> GradingTask:
    data = json.loads(text)
    return GradingTask(
        request=GradingRequest(**data["request"]),
        files=_decode(data["files"]),
        gradebook=base64.b64decode(data["gradebook"]),
        dropped=data["dropped"],
    )


def outcome_to_json(outcome: GradingOutcome) -> str:
    return json.dumps(
        {
            "record": outcome.record,
            "autograded": _encode(outcome.autograded),
            "gradebook": base64.b64encode(outcome.gradebook).decode("ascii"),
        }
    )


def outcome_from_json(text: str) -> GradingOutcome:
    data = json.loads(text)
    return GradingOutcome(
        record=data["record"],
        autograded=_decode(data["autograded"]),
        gradebook=base64.b64decode(data["gradebook"]),
    )
