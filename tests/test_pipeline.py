"""End to end: grading a scratch course under the sandbox and local back ends.

The submissions are named after what they should score; limits, crashes and
tampering must be recorded without costing any other submission anything.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import notebooks, pipeline, records
from autograder.course import Course
from autograder.gradebook_tests import digest, source_tests
from autograder.nbgrader_course import NbgraderCourse
from autograder.pipeline import BatchGrader
from autograder.seeding import submission_seed
from autograder.settings import course_db_url, limits_from, load_settings

RELU = "def relu(z):\n    return np.maximum(0, z)"
DOUBLE = "def double(x):\n    return 2 * x"
FORK_BOMB = (
    "import os, time\n"
    "for _ in range(3000):\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(5)\n"
    "        os._exit(0)\n"
)

# A detached grandchild that would sleep for a day: it must die with its submission.
DAEMON_MARK = "86399"
OUTLIVES_THE_KERNEL = (
    "import os\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    f"        os.execvp('sleep', ['sleep', '{DAEMON_MARK}'])\n"
    "    os._exit(0)\n"
    "os.wait()\n"
)


def processes_with(argument: str, wait_seconds: float = 10) -> list[int]:
    """Processes with ``argument`` on their command line, once any dying ones are gone."""
    deadline = time.monotonic() + wait_seconds
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argument.encode() in arguments:
                found.append(int(entry.name))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def indented(code: str) -> str:
    return "    " + code.replace("\n", "\n    ")


def submissions(port: int) -> dict[str, dict[str, str] | str]:
    """Student -> replaced cells (or raw text); the expected scores are in EXPECTED."""
    threads = max(1, (os.cpu_count() or 1) // 2)  # grade() uses two workers
    kernel_environment = (
        "import os, pathlib\n"
        "fonts = pathlib.Path(os.environ.get('MPLCONFIGDIR', '/none')).glob('fontlist-*.json')\n"
        f"if os.environ.get('OMP_NUM_THREADS') == '{threads}' and any(fonts):\n"
        f"{indented(DOUBLE)}\n"
    )
    reach_network = (
        "import socket\n"
        f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        f"except OSError:\n{indented(DOUBLE)}\n"
    )
    return {
        "full-marks": {"relu": RELU, "double": DOUBLE, "explain": "Because."},
        "blank": {},
        "relu-wrong-sign": {"relu": "def relu(z):\n    return np.minimum(0, z)", "double": DOUBLE},
        "infinite-loop": {"relu": RELU, "double": "while True:\n    pass\n" + DOUBLE},
        "memory-bomb": {"relu": RELU, "double": "hog = bytearray(40 * 1024**3)\n" + DOUBLE},
        "fork-bomb": {"relu": RELU, "double": FORK_BOMB + DOUBLE},
        "outlives-the-kernel": {"relu": RELU, "double": OUTLIVES_THE_KERNEL + DOUBLE},
        "network-only-when-blocked": {"relu": RELU, "double": reach_network},
        # Math libraries get the cores shared among workers, matplotlib the font list.
        "kernel-environment": {"relu": RELU, "double": kernel_environment},
        "changed-locked-cell": {"relu": RELU, "double": DOUBLE, "test_double": "pass"},
        "invalid-json": '{"cells": [',
    }


SANDBOX_EXPECTED = {
    "full-marks": (5, []),
    "blank": (0, []),
    "relu-wrong-sign": (2, []),
    "infinite-loop": (3, ["timeout: a cell ran past the per-cell limit"]),
    "memory-bomb": (3, ["memory: the memory limit was hit"]),
    "fork-bomb": (3, ["processes: the process limit was hit"]),
    "outlives-the-kernel": (5, []),
    "network-only-when-blocked": (5, []),
    "kernel-environment": (5, []),
    "changed-locked-cell": (5, ["changed locked cell: test_double"]),
}


def prepare(course: Course, port: int, students: list[str] | None = None) -> None:
    NbgraderCourse.for_course(course).generate("tiny")
    release = notebooks.read(course.release_dir / "tiny" / "tiny.ipynb")
    for student, content in submissions(port).items():
        if students is not None and student not in students:
            continue
        path = course.root / "submitted" / student / "tiny" / "tiny.ipynb"
        path.parent.mkdir(parents=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            notebooks.write(notebooks.with_replaced_cells(release, content), path)


def grade(
    course: Course, backend: str, workers: int = 2, scheduler: str = ""
) -> dict[str, records.GradingRecord]:
    settings = load_settings(course, backend=backend, workers=workers, max_processes=200)
    limits = dataclasses.replace(limits_from(course, settings), cell_timeout=8)
    grader = BatchGrader(course, settings, limits, scheduler=scheduler)
    graded = grader.grade("tiny", say=lambda line: None)
    return {r.student: r for r in graded}


def gradebook_scores(course: Course) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    with Gradebook(course_db_url(course)) as gradebook:
        return {
            (submission.student.id, grade.name): float(grade.score)
            for submission in gradebook.assignment_submissions("tiny")
            for notebook in submission.notebooks
            for grade in notebook.grades
        }


def test_sandbox_grades_every_submission_and_records_each_limit(
    tiny_course: Course, listening_port: int
) -> None:
    prepare(tiny_course, listening_port)
    before = {p: p.read_bytes() for p in (tiny_course.root / "submitted").rglob("*") if p.is_file()}
    graded = grade(tiny_course, "sandbox")
    for student, (score, reasons) in SANDBOX_EXPECTED.items():
        record = graded[student]
        assert (record.status, record.score, record.max_score) == ("graded", score, 5), student
        assert record.reasons == reasons, student
        assert record.manual_points == 1
    broken = graded["invalid-json"]
    assert broken.status == "error"
    assert broken.reasons[0].startswith("invalid notebook: tiny.ipynb")
    after = {p: p.read_bytes() for p in (tiny_course.root / "submitted").rglob("*") if p.is_file()}
    assert after == before, "grading must never modify a submission"
    assert processes_with(DAEMON_MARK) == [], "a submission's process outlived its sandbox"
    record = graded["full-marks"]
    assert record.environment["device"] in {"cpu", "gpu"}
    assert record.environment["nbgrader"] and record.environment["python"]
    assert record.tests_sha256 == digest(source_tests(tiny_course, "tiny"))
    assert record.backend == "sandbox"
    assert record.seed == submission_seed(0, "tiny", "full-marks")
    assert len({r.seed for r in graded.values() if r.status == "graded"}) > 1, "one seed each"
    scores = gradebook_scores(tiny_course)
    assert scores[("full-marks", "test_relu")] == 3
    assert scores[("relu-wrong-sign", "test_relu")] == 0


def test_local_backend_grades_the_same_and_reaches_the_network(
    tiny_course: Course, listening_port: int
) -> None:
    chosen = ["full-marks", "blank", "relu-wrong-sign", "network-only-when-blocked"]
    prepare(tiny_course, listening_port, chosen)
    graded = grade(tiny_course, "local")
    assert {s: graded[s].score for s in chosen} == {
        "full-marks": 5,
        "blank": 0,
        "relu-wrong-sign": 2,
        # Not isolated: the connection succeeds, so `double` is never defined.
        "network-only-when-blocked": 3,
    }
    assert "NOT isolated" in graded["full-marks"].backend


def test_parallel_grading_gives_the_sequential_gradebook(
    tiny_course: Course, tmp_path: Path, listening_port: int
) -> None:
    chosen = ["full-marks", "blank", "relu-wrong-sign", "changed-locked-cell", "invalid-json"]
    prepare(tiny_course, listening_port, chosen)
    for copy in range(3):
        for student in chosen[:4]:
            source = tiny_course.root / "submitted" / student / "tiny"
            target = tiny_course.root / "submitted" / f"{student}-{copy}" / "tiny"
            target.mkdir(parents=True)
            (target / "tiny.ipynb").write_bytes((source / "tiny.ipynb").read_bytes())
    sequential_root = tmp_path / "sequential"
    subprocess.run(["cp", "-a", str(tiny_course.root), str(sequential_root)], check=True)
    sequential = Course(sequential_root)
    (sequential_root / "gradebook.db").unlink()
    NbgraderCourse.for_course(sequential).generate("tiny")

    grade(tiny_course, "sandbox", workers=3)
    grade(sequential, "sandbox", workers=1)
    parallel_scores, sequential_scores = gradebook_scores(tiny_course), gradebook_scores(sequential)
    assert parallel_scores == sequential_scores
    assert len(parallel_scores) == 16 * 3  # 16 gradable submissions, 3 graded cells each


def test_an_interrupted_batch_resumes_with_the_same_grades(
    tiny_course: Course, listening_port: int
) -> None:
    chosen = ["full-marks", "blank", "relu-wrong-sign", "changed-locked-cell"]
    prepare(tiny_course, listening_port, chosen)
    for copy in range(2):
        for student in chosen:
            source = tiny_course.root / "submitted" / student / "tiny" / "tiny.ipynb"
            target = tiny_course.root / "submitted" / f"{student}-{copy}" / "tiny" / "tiny.ipynb"
            target.parent.mkdir(parents=True)
            target.write_bytes(source.read_bytes())
    command = [sys.executable, "-m", "autograder", "grade", "tiny", "--workers", "1"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    batch = subprocess.Popen(
        command, cwd=tiny_course.root, env=env, start_new_session=True, stdout=subprocess.PIPE
    )
    records_dir = tiny_course.root / records.RECORDS_DIR / "tiny"
    deadline = time.monotonic() + 240
    while len(list(records_dir.glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(batch.pid, signal.SIGKILL)
    batch.wait()
    done_before = len(list(records_dir.glob("*.json")))
    assert 3 <= done_before < 12

    resumed = subprocess.run(command, cwd=tiny_course.root, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    left = 12 - done_before
    assert (
        f"tiny: {left} to grade ({left} not graded yet), {done_before} already graded and current"
        in resumed.stdout
    )
    assert resumed.stdout.count("tiny ") == 12 - done_before
    final = {r.student: r.score for r in records.load_all(tiny_course, "tiny")}
    expected = {"full-marks": 5, "blank": 0, "relu-wrong-sign": 2, "changed-locked-cell": 5}
    assert final == {
        name: expected[name.rsplit("-", 1)[0] if name[-1].isdigit() else name] for name in final
    }
    assert len(final) == 12
    nbformat.validate(
        nbformat.read(
            str(tiny_course.root / "submitted" / "blank-0" / "tiny" / "tiny.ipynb"), as_version=4
        )
    )


def test_submission_deadline_keeps_earned_points_and_missing_cells_are_flagged(
    tiny_course: Course, listening_port: int
) -> None:
    prepare(tiny_course, listening_port, ["full-marks"])
    release = notebooks.read(tiny_course.release_dir / "tiny" / "tiny.ipynb")
    slow = notebooks.with_replaced_cells(
        release, {"relu": RELU, "double": "import time\ntime.sleep(30)\n" + DOUBLE}
    )
    path = tiny_course.root / "submitted" / "slow" / "tiny" / "tiny.ipynb"
    path.parent.mkdir(parents=True)
    notebooks.write(slow, path)
    missing = notebooks.with_replaced_cells(release, {"relu": RELU, "double": DOUBLE})
    missing.cells = [c for c in missing.cells if notebooks.grade_id(c) != "test_double"]
    path = tiny_course.root / "submitted" / "missing-test-cell" / "tiny" / "tiny.ipynb"
    path.parent.mkdir(parents=True)
    notebooks.write(missing, path)

    settings = load_settings(tiny_course, backend="local", workers=2)
    limits = dataclasses.replace(
        limits_from(tiny_course, settings), cell_timeout=60, submission_timeout=12
    )
    graded = {
        r.student: r
        for r in BatchGrader(tiny_course, settings, limits).grade("tiny", say=lambda _: None)
    }
    assert graded["slow"].score == 3
    assert graded["slow"].reasons == ["timeout: the submission ran past its limit"]
    assert graded["slow"].wall_seconds < 30
    assert "missing cell: test_double" in graded["missing-test-cell"].reasons
    # nbgrader put the released test cell back: correct work keeps its points.
    assert graded["missing-test-cell"].score == 5
    assert graded["full-marks"].score == 5


def test_a_dask_cluster_grades_like_local_workers(tiny_course: Course, listening_port: int) -> None:
    chosen = ["full-marks", "blank", "relu-wrong-sign", "changed-locked-cell", "invalid-json"]
    prepare(tiny_course, listening_port, chosen)
    graded = grade(tiny_course, "sandbox", workers=2, scheduler="local")
    assert {s: (graded[s].status, graded[s].score) for s in chosen} == {
        "full-marks": ("graded", 5),
        "blank": ("graded", 0),
        "relu-wrong-sign": ("graded", 2),
        "changed-locked-cell": ("graded", 5),
        "invalid-json": ("error", 0),
    }
    assert gradebook_scores(tiny_course)[("relu-wrong-sign", "test_double")] == 2


FORGED_VERDICTS = {
    "relu": (
        "class Anything(float):\n"
        "    __eq__ = lambda self, other: True\n"
        "np.allclose = lambda *args, **kwargs: True\n"
        "def relu(z):\n"
        "    return Anything()"
    ),
    "double": "def double(x):\n    return Anything()",
}


def test_code_that_rewrites_what_the_tests_call_earns_nothing(
    tiny_course: Course, listening_port: int
) -> None:
    NbgraderCourse.for_course(tiny_course).generate("tiny")
    release = notebooks.read(tiny_course.release_dir / "tiny" / "tiny.ipynb")
    path = tiny_course.root / "submitted" / "forger" / "tiny" / "tiny.ipynb"
    path.parent.mkdir(parents=True)
    notebooks.write(notebooks.with_replaced_cells(release, FORGED_VERDICTS), path)
    assert grade(tiny_course, "sandbox")["forger"].score == 0


def test_progress_lines_say_done_total_flagged_and_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines: list[str] = []
    clock = iter([100.0, 110.0, 120.0])
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: next(clock))
    progress = pipeline.Progress(4, lines.append)
    graded = records.GradingRecord("tiny", "ada", "graded", score=5, max_score=5, wall_seconds=9)
    failed = records.GradingRecord("tiny", "bob", "error", reasons=["crash: the kernel died"])
    progress.update(graded)
    progress.update(failed)
    assert lines == [
        "[1/4] tiny ada: 5/5 in 9.0 s (elapsed 10 s, about 30 s left, flagged so far 0)",
        "[2/4] tiny bob: ERROR (crash: the kernel died) in 0.0 s "
        "(elapsed 20 s, about 20 s left, flagged so far 1)",
    ]
