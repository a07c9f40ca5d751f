"""Unit tests of notebook reading and rewriting by nbgrader cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import notebooks
from autograder.errors import CourseError
from tests.conftest import tiny_notebook


def test_items_pair_solutions_with_tests_and_find_free_responses() -> None:
    items = notebooks.items(tiny_notebook())
    assert [(i.name, i.points, i.manual) for i in items] == [
        ("relu", 3.0, False),
        ("double", 2.0, False),
        ("explain", 1.0, True),
    ]
    assert items[0].test_id == "test_relu"
    assert items[2].test_id == "explain"


def test_a_solution_without_test_cell_is_an_error() -> None:
    notebook = tiny_notebook()
    notebook.cells = [c for c in notebook.cells if notebooks.grade_id(c) != "test_double"]
    with pytest.raises(ValueError, match="test_double"):
        notebooks.items(notebook)


def test_strip_solution_markers_keeps_the_code() -> None:
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert notebooks.strip_solution_markers(source) == "def f():\n    return 1\n"


def test_with_replaced_cells_copies_and_rejects_unknown_ids() -> None:
    original = tiny_notebook()
    changed = notebooks.with_replaced_cells(original, {"relu": "def relu(z):\n    return z"})
    assert notebooks.cells_by_grade_id(changed)["relu"].source == "def relu(z):\n    return z"
    assert "BEGIN SOLUTION" in notebooks.cells_by_grade_id(original)["relu"].source
    with pytest.raises(CourseError, match="nope"):
        notebooks.with_replaced_cells(original, {"nope": ""})


def test_strip_outputs_removes_outputs_and_counts() -> None:
    notebook = tiny_notebook()
    notebook.cells[1].outputs = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    notebook.cells[1].execution_count = 3
    assert notebooks.has_outputs(notebook)
    assert not notebooks.has_outputs(notebooks.strip_outputs(notebook))
    assert notebooks.has_outputs(notebook)


def test_read_names_the_file_when_it_is_not_a_notebook(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.ipynb"):
        notebooks.read(broken)
