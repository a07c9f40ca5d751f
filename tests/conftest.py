"""Shared fixtures: the course in this repository and small scratch courses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from postgres_server import PostgresServer, PostgresUnavailable

from autograder import check, demo
from autograder.course import Course
from autograder.nbgrader_course import ensure_tools_on_path

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The docker tests last: ``.ci/run`` builds their image while the others run."""
    items.sort(key=lambda item: item.path.name == "test_docker_backend.py")


@pytest.fixture(scope="session", autouse=True)
def _tools_on_path() -> None:
    ensure_tools_on_path()


@pytest.fixture(scope="session")
def blank_gradebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty nbgrader gradebook file to copy: made once, as nbgrader takes seconds
    to create one (its schema migrations)."""
    from nbgrader.api import Gradebook

    path = tmp_path_factory.mktemp("blank-gradebook") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}"):
        pass
    return path


@pytest.fixture(scope="session")
def course() -> Course:
    return Course(REPO)


@pytest.fixture(scope="session")
def demo_run(course: Course, tmp_path_factory: pytest.TempPathFactory):
    """The README's demo graded once in a scratch copy of the course: the copy, its
    records by student, and what the demo printed."""
    target = tmp_path_factory.mktemp("demo") / "course"
    lines: list[str] = []
    graded = demo.run_demo(course, target, "forward_pass", "sandbox", 2, say=lines.append)
    return Course(target), {r.student: r for r in graded}, "\n".join(lines)


@pytest.fixture(scope="session")
def sandbox_check(course: Course, tmp_path_factory: pytest.TempPathFactory):
    """``autograder check`` of an assignment in the sandbox, run once per session."""
    made: dict[str, check.AssignmentCheck] = {}

    def run(assignment: str) -> check.AssignmentCheck:
        if assignment not in made:
            workdir = tmp_path_factory.mktemp(f"check-{assignment}")
            made[assignment] = check.check_assignment(
                course, assignment, workdir, say=lambda line: None, backend="sandbox"
            )
        return made[assignment]

    return run


@pytest.fixture()
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections from this machine."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (``postgres_server.py``), stopped and
    removed at the end. Without one the tests skip, or fail where ``CI`` is set."""
    try:
        server = PostgresServer()
        server.start()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as problem:
        reason = f"no PostgreSQL server: {problem}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


def nbgrader_metadata(**fields: object) -> dict:
    return {"nbgrader": {"schema_version": 3, "locked": False, "task": False, **fields}}


def tiny_notebook() -> nbformat.NotebookNode:
    """Two auto-graded items (3 and 2 points) and one free response (1 point)."""
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        new_markdown_cell("# Tiny assignment"),
        new_code_cell("import numpy as np"),
        new_code_cell(
            "def relu(z):\n"
            "    ### BEGIN SOLUTION\n    return np.maximum(0, z)\n    ### END SOLUTION",
            metadata=nbgrader_metadata(grade=False, solution=True, grade_id="relu"),
        ),
        new_code_cell(
            "assert relu(-1.0) == 0, 'relu(-1) should be 0'\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert np.allclose(relu(np.array([-3.0, 2.5])), [0.0, 2.5]), 'HIDDEN-RELU-SECRET'\n"
            "### END HIDDEN TESTS",
            metadata=nbgrader_metadata(
                grade=True, solution=False, locked=True, points=3, grade_id="test_relu"
            ),
        ),
        new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            metadata=nbgrader_metadata(grade=False, solution=True, grade_id="double"),
        ),
        new_code_cell(
            "assert double(1) == 2\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert double(21) == 42, 'HIDDEN-DOUBLE-SECRET'\n"
            "### END HIDDEN TESTS",
            metadata=nbgrader_metadata(
                grade=True, solution=False, locked=True, points=2, grade_id="test_double"
            ),
        ),
        new_markdown_cell(
            "A model answer.",
            metadata=nbgrader_metadata(grade=True, solution=True, points=1, grade_id="explain"),
        ),
    ]
    return notebook


def one_assignment_course(root: Path, name: str, notebook: nbformat.NotebookNode) -> Course:
    """A course folder at ``root`` with the repository's configuration and one assignment."""
    (root / "source" / name).mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    nbformat.write(notebook, str(root / "source" / name / f"{name}.ipynb"))
    return Course(root)


def submit_answers(course: Course, assignment: str, answers: dict[str, dict[str, str]]) -> None:
    """Release ``assignment`` and submit, per student, the release with its answers
    (solution cell name -> code) filled in."""
    from autograder import notebooks
    from autograder.nbgrader_course import NbgraderCourse

    NbgraderCourse.for_course(course).generate(assignment)
    name = f"{assignment}.ipynb"
    release = notebooks.read(course.release_dir / assignment / name)
    for student, cells in answers.items():
        submission = notebooks.with_replaced_cells(release, cells)
        notebooks.write(submission, course.root / "submitted" / student / assignment / name)


def local_grading_request(course: Course, assignment: str, student: str):
    """A worker's request to grade one submission with the local back end, in-process."""
    from dataclasses import asdict

    from autograder.settings import course_db_url, limits_from, load_settings
    from autograder.worker import GradingRequest

    settings = load_settings(course, backend="local", workers=1)
    return GradingRequest(
        course_root=str(course.root),
        assignment=assignment,
        student=student,
        backend="local",
        limits=asdict(limits_from(course, settings)),
        seed=0,
        db_url=course_db_url(course),
    )


@pytest.fixture()
def tiny_course(tmp_path: Path) -> Course:
    """A course folder with one assignment, ``tiny``, and the repository's configuration."""
    return one_assignment_course(tmp_path / "course", "tiny", tiny_notebook())
