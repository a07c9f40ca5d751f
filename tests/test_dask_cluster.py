"""Grading on a real Dask cluster: separate scheduler and worker processes that cannot
see the course folder, with workers killed, the scheduler lost and the grading
command killed in the middle of a batch.

Whatever happens, nothing graded is lost, nothing is counted twice, and the grades
equal those of one local worker grading the same submissions one after another.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dask_processes import DaskProcesses, can_hide_folders, dask_processes
from nbgrader.api import Gradebook
from test_pipeline import DOUBLE, RELU, grade, gradebook_scores, prepare

from autograder import notebooks, records
from autograder.course import Course
from autograder.errors import CourseError
from autograder.settings import course_db_url

QUICK = ["full-marks", "blank", "relu-wrong-sign", "changed-locked-cell", "invalid-json"]
EXPECTED = {
    "full-marks": ("graded", 5),
    "blank": ("graded", 0),
    "relu-wrong-sign": ("graded", 2),
    "changed-locked-cell": ("graded", 5),
    "invalid-json": ("error", 0),
}
# A graded, an ungradable and a blank submission beside a slow one.
FEW = ["full-marks", "blank", "invalid-json"]
FEW_EXPECTED = {**{student: EXPECTED[student] for student in FEW}, "slow": ("graded", 5)}
# Long enough to be killed in the middle of: the relu cell sleeps first.
SLOW_RELU = "import time\ntime.sleep(6)\n" + RELU


@pytest.fixture(autouse=True)
def _root_for_namespaces() -> None:
    problem = can_hide_folders()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def add_slow_students(course: Course, students: list[str]) -> None:
    release = notebooks.read(course.release_dir / "tiny" / "tiny.ipynb")
    for student in students:
        path = course.root / "submitted" / student / "tiny" / "tiny.ipynb"
        path.parent.mkdir(parents=True)
        cells = {"relu": SLOW_RELU, "double": DOUBLE}
        notebooks.write(notebooks.with_replaced_cells(release, cells), path)


def outcome_of(record: records.GradingRecord) -> tuple:
    """What must not depend on where a record was made."""
    return (
        record.status,
        record.score,
        record.max_score,
        record.reasons,
        record.items,
        record.messages,
        record.submission_sha256,
        record.tests_sha256,
        record.seed,
    )


def gradebook_counts(course: Course) -> dict[str, int]:
    """Grades per student in the gradebook: a submission merged twice would show."""
    with Gradebook(course_db_url(course)) as gradebook:
        return {
            submission.student.id: sum(len(notebook.grades) for notebook in submission.notebooks)
            for submission in gradebook.assignment_submissions("tiny")
        }


def saved_at(course: Course, graded_only: bool = False) -> dict[str, int]:
    """When each record was last written: a submission graded again would show."""
    return {
        record.student: records.record_path(course, "tiny", record.student).stat().st_mtime_ns
        for record in records.load_all(course, "tiny")
        if record.status == "graded" or not graded_only
    }


def in_background(target, *args) -> tuple[threading.Thread, list]:
    """Run ``target(*args)`` in a thread; the list gets its result or its exception."""
    result: list = []

    def run() -> None:
        try:
            result.append(target(*args))
        except Exception as error:
            result.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def worker_running(cluster: DaskProcesses, student: str, timeout: float = 60) -> tuple[str, int]:
    """The address and process id of the worker grading ``student`` right now (not one
    that merely holds the task in its queue)."""
    deadline = time.monotonic() + timeout
    with cluster.client() as client:
        while time.monotonic() < deadline:
            # A lambda travels by value: the workers cannot import this module.
            executing = client.run(
                lambda dask_worker: [str(task.key) for task in dask_worker.state.executing]
            )
            for address, keys in executing.items():
                if any(f"-{student}-" in key for key in keys):
                    pids = client.run(os.getpid, workers=[address])
                    if address in pids:
                        return address, pids[address]
            time.sleep(0.2)
    raise AssertionError(f"no worker took {student}'s submission within {timeout} s")


def test_separate_dask_processes_grade_without_the_course_like_one_local_worker(
    tiny_course: Course, listening_port: int, tmp_path: Path
) -> None:
    prepare(tiny_course, listening_port, QUICK)
    sequential = Course(tmp_path / "sequential")
    shutil.copytree(tiny_course.root, sequential.root)
    expected = grade(sequential, "sandbox", workers=1)

    with dask_processes(tmp_path / "cluster", 2, hidden=[tiny_course.root]) as cluster:
        with cluster.client() as client:
            seen = client.run(os.listdir, str(tiny_course.root))
        assert len(seen) == 2 and all(entries == [] for entries in seen.values()), seen
        graded = grade(tiny_course, "sandbox", workers=2, scheduler=cluster.address)

    assert {s: (r.status, r.score) for s, r in graded.items()} == EXPECTED
    assert {s: outcome_of(r) for s, r in graded.items()} == {
        s: outcome_of(r) for s, r in expected.items()
    }
    assert gradebook_scores(tiny_course) == gradebook_scores(sequential)
    for student in QUICK[:-1]:
        names = {p.name for p in (tiny_course.root / "autograded" / student / "tiny").iterdir()}
        assert names == {"tiny.ipynb", "timestamp.txt"} or names == {"tiny.ipynb"}, names
        notebooks.read(tiny_course.root / "autograded" / student / "tiny" / "tiny.ipynb")


def test_killed_workers_lose_nothing_and_a_task_killed_too_often_is_recorded(
    tiny_course: Course, listening_port: int, tmp_path: Path
) -> None:
    prepare(tiny_course, listening_port, QUICK[:3])
    # Tasks go out in the order of the names: "doomed" among the first, "slow" last.
    add_slow_students(tiny_course, ["slow", "doomed"])
    with dask_processes(
        tmp_path / "cluster", 2, hidden=[tiny_course.root], allowed_failures=1
    ) as cluster:
        thread, result = in_background(grade, tiny_course, "sandbox", 2, cluster.address)
        # "doomed" loses a worker on each of its allowed attempts.
        killed: set[int] = set()
        while len(killed) < 2:
            _, pid = worker_running(cluster, "doomed", timeout=120)
            if pid not in killed:
                time.sleep(2)
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.2)
        # "slow" loses its worker once: the scheduler runs it again elsewhere.
        _, pid = worker_running(cluster, "slow")
        time.sleep(2)
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=300)
        assert result and not isinstance(result[0], BaseException), (result, cluster.logs())
        graded = result[0]

    assert {s: (r.status, r.score) for s, r in graded.items()} == {
        "full-marks": ("graded", 5),
        "blank": ("graded", 0),
        "relu-wrong-sign": ("graded", 2),
        "slow": ("graded", 5),
        "doomed": ("error", 0),
    }
    assert graded["doomed"].reasons == [
        "crash: the Dask workers grading it died 2 times (the scheduler's allowed-failures is 1)"
    ]
    # Each graded submission is in the gradebook once, with each of its three grades.
    assert gradebook_counts(tiny_course) == {
        s: 3 for s in ("full-marks", "blank", "relu-wrong-sign", "slow")
    }
    assert gradebook_scores(tiny_course)[("slow", "test_relu")] == 3

    # A re-run grades only what failed, and counts nothing twice.
    saved = saved_at(tiny_course)
    with dask_processes(tmp_path / "cluster-again", 1, hidden=[tiny_course.root]) as cluster:
        again = grade(tiny_course, "sandbox", workers=1, scheduler=cluster.address)
    assert (again["doomed"].status, again["doomed"].score) == ("graded", 5)
    assert {s: t for s, t in saved_at(tiny_course).items() if s != "doomed"} == {
        s: t for s, t in saved.items() if s != "doomed"
    }
    assert set(gradebook_counts(tiny_course).values()) == {3}
    assert len(gradebook_counts(tiny_course)) == 5


def test_a_lost_scheduler_stops_the_batch_and_a_rerun_grades_the_rest(
    tiny_course: Course, listening_port: int, tmp_path: Path
) -> None:
    prepare(tiny_course, listening_port, FEW)
    add_slow_students(tiny_course, ["slow"])
    with dask_processes(tmp_path / "cluster", 2, hidden=[tiny_course.root]) as cluster:
        thread, result = in_background(grade, tiny_course, "sandbox", 2, cluster.address)
        worker_running(cluster, "slow")
        time.sleep(1)
        cluster.kill_scheduler()
        thread.join(timeout=120)
    assert result and isinstance(result[0], CourseError), result
    message = str(result[0])
    assert "the connection to the Dask scheduler" in message, message
    assert "grading again grades only the rest" in message, message
    kept = saved_at(tiny_course, graded_only=True)
    assert "slow" not in kept and kept, kept

    with dask_processes(tmp_path / "cluster-again", 2, hidden=[tiny_course.root]) as cluster:
        graded = grade(tiny_course, "sandbox", workers=2, scheduler=cluster.address)
    assert {s: (r.status, r.score) for s, r in graded.items()} == FEW_EXPECTED
    assert {s: t for s, t in saved_at(tiny_course).items() if s in kept} == kept
    assert set(gradebook_counts(tiny_course).values()) == {3}


def test_a_killed_grading_command_resumes(
    tiny_course: Course, listening_port: int, tmp_path: Path
) -> None:
    prepare(tiny_course, listening_port, FEW)
    add_slow_students(tiny_course, ["slow"])
    with dask_processes(tmp_path / "cluster", 2, hidden=[tiny_course.root]) as cluster:
        command = subprocess.Popen(
            # The settings of grade() below: a record made with others would be stale.
            [sys.executable, "-m", "autograder", "grade", "tiny", "--scheduler", cluster.address,
             "--workers", "2", "--max-processes", "200", "--cell-timeout", "8"],
            cwd=tiny_course.root, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not saved_at(tiny_course, graded_only=True):
            assert time.monotonic() < deadline and command.poll() is None
            time.sleep(0.2)
        os.killpg(command.pid, signal.SIGKILL)
        command.wait()
        kept = saved_at(tiny_course, graded_only=True)
        assert "slow" not in kept, kept
        graded = grade(tiny_course, "sandbox", workers=2, scheduler=cluster.address)
    assert {s: (r.status, r.score) for s, r in graded.items()} == FEW_EXPECTED
    assert {s: t for s, t in saved_at(tiny_course).items() if s in kept} == kept
    assert set(gradebook_counts(tiny_course).values()) == {3}
