"""The otter-grader export: an nbgrader notebook in otter assign's format, and otter's grading."""

from __future__ import annotations

import ast
import builtins
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_markdown_cell

from autograder import notebooks, otter_export
from autograder.cli_otter import export_otter_command
from autograder.course import Course
from autograder.settings import KERNEL_ENVIRONMENT, SILENCED_WARNINGS
from tests.conftest import tiny_notebook

TINY_SECRETS = ("HIDDEN-RELU-SECRET", "HIDDEN-DOUBLE-SECRET", "A model answer.")


def _sources(notebook: nbformat.NotebookNode, cell_type: str) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == cell_type]


def _strings(python_source: str) -> str:
    """Every string constant of a Python file, joined (the test code otter test files embed)."""
    tree = ast.parse(python_source)
    constants = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]
    return "\n".join(value for value in constants if isinstance(value, str))


def _test_case(
    stretch_code: str, hidden: bool = False, ends_cell: bool = True
) -> Callable[[dict], None]:
    """The function of one generated test case, ready to call with a namespace."""
    stretch = otter_export.Stretch(hidden, stretch_code)
    cell = otter_export.otter_test_case("test_item", 1, stretch, ends_cell, seed=7)
    definitions: dict = {}
    exec(cell.source, definitions)
    return definitions[f"test_item_1_{'hidden' if hidden else 'visible'}"]


def test_tiny_notebook_becomes_otter_blocks() -> None:
    master = otter_export.to_otter_master(tiny_notebook(), {"name": "tiny"})
    raw = _sources(master, "raw")
    assert raw[0].startswith("# ASSIGNMENT CONFIG\nname: tiny")
    assert raw[1:9] == [
        "# BEGIN QUESTION\nname: relu\npoints: 3.0\nall_or_nothing: true",
        "# BEGIN SOLUTION",
        "# END SOLUTION",
        "# BEGIN TESTS",
        "# END TESTS",
        "# END QUESTION",
        "# BEGIN QUESTION\nname: double\npoints: 2.0\nall_or_nothing: true",
        "# BEGIN SOLUTION",
    ]
    assert raw[-4:] == [
        "# BEGIN QUESTION\nname: explain\nmanual: true\npoints: 1.0",
        "# BEGIN SOLUTION",
        "# END SOLUTION",
        "# END QUESTION",
    ]
    code = _sources(master, "code")
    assert "    # BEGIN SOLUTION\n    return np.maximum(0, z)\n    # END SOLUTION" in code[1]
    relu_tests = [source for source in code if "test_relu_" in source]
    assert len(relu_tests) == 2
    assert not relu_tests[0].startswith('"""') and "relu(-1.0) == 0" in relu_tests[0]
    assert relu_tests[1].startswith('""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG')
    assert "HIDDEN-RELU-SECRET" in relu_tests[1] and "HIDDEN-RELU-SECRET" not in relu_tests[0]
    assert all("nbgrader" not in cell.metadata for cell in master.cells)
    answer_cells = [
        cell for cell in master.cells if otter_export.ITEM_METADATA_KEY in cell.metadata
    ]
    assert [cell.metadata[otter_export.ITEM_METADATA_KEY] for cell in answer_cells] == [
        "relu",
        "double",
    ]


def test_free_response_takes_the_markdown_before_it_as_its_prompt() -> None:
    source = tiny_notebook()
    source.cells.insert(-1, new_markdown_cell("Explain why, in a sentence."))
    master = otter_export.to_otter_master(source, {"name": "tiny"})
    sources = [cell.source for cell in master.cells]
    start = sources.index("# BEGIN QUESTION\nname: explain\nmanual: true\npoints: 1.0")
    assert sources[start + 1 : start + 6] == [
        "Explain why, in a sentence.",
        "# BEGIN SOLUTION",
        "A model answer.",
        "# END SOLUTION",
        "# END QUESTION",
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a = 1\nb = 2", [(False, "a = 1\nb = 2")]),
        ("### BEGIN HIDDEN TESTS\nx = 1\n### END HIDDEN TESTS", [(True, "x = 1")]),
        (
            "v = 1\n### BEGIN HIDDEN TESTS\nh = 2\n### END HIDDEN TESTS\nw = 3",
            [(False, "v = 1"), (True, "h = 2"), (False, "w = 3")],
        ),
    ],
)
def test_test_cells_split_into_visible_and_hidden_stretches(
    source: str, expected: list[tuple[bool, str]]
) -> None:
    stretches = otter_export.split_test_cell(source)
    assert [(stretch.hidden, stretch.code) for stretch in stretches] == expected


@pytest.mark.parametrize(
    "source", ["### BEGIN HIDDEN TESTS\nx = 1", "x = 1\n### END HIDDEN TESTS\ny = 2"]
)
def test_unbalanced_hidden_markers_are_refused(source: str) -> None:
    with pytest.raises(ValueError, match="HIDDEN"):
        otter_export.split_test_cell(source)


def test_solution_markers_become_otter_markers() -> None:
    nbgrader = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert otter_export.otter_solution_source(nbgrader) == (
        "def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION"
    )
    assert otter_export.otter_solution_source("x = 1") == "# BEGIN SOLUTION\nx = 1\n# END SOLUTION"


def test_test_code_runs_in_the_notebook_namespace_so_substitutions_reach_students_code() -> None:
    namespace: dict = {}
    exec(
        "def helper():\n    return 'student'\n\ndef uses_helper():\n    return helper()", namespace
    )
    check = _test_case(
        "from autograder.testing import substituted\n"
        "_shared = 'defined by the test'\n"
        "with substituted(globals(), helper=lambda: 'reference'):\n"
        "    assert uses_helper() == 'reference'"
    )
    check(namespace)
    assert namespace["_shared"] == "defined by the test"
    assert namespace["helper"]() == "student"


def test_writing_to_stderr_fails_a_test_case_but_silenced_warnings_do_not() -> None:
    namespace: dict = {}
    exec(
        "import sys, warnings\n"
        "def noisy():\n    sys.stderr.write('careful')\n"
        "def overflowing():\n    warnings.warn('overflow', RuntimeWarning)\n"
        "def deprecated():\n    warnings.warn('old', FutureWarning)",
        namespace,
    )
    with pytest.raises(AssertionError, match="wrote to stderr:\ncareful"):
        _test_case("noisy()")(namespace)
    with pytest.raises(AssertionError, match="RuntimeWarning: overflow"):
        _test_case("overflowing()")(namespace)
    _test_case("deprecated()")(namespace)
    expected = [entry.split(":")[2] for entry in KERNEL_ENVIRONMENT["PYTHONWARNINGS"].split(",")]
    assert list(SILENCED_WARNINGS) == expected
    assert all(issubclass(getattr(builtins, name), Warning) for name in SILENCED_WARNINGS)


def test_a_trailing_value_fails_where_nbgrader_would_grade_it_as_partial_credit() -> None:
    namespace: dict = {"score": 0.5}
    with pytest.raises(AssertionError, match="partial credit"):
        _test_case("x = 1\nscore")(namespace)
    _test_case("x = 1\nscore", ends_cell=False)(namespace)
    _test_case("print('done')")(namespace)
    _test_case("x = 1; None")(namespace)


def test_test_cases_set_the_grading_seed_unless_the_environment_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUTOGRADER_SEED", raising=False)
    _test_case("from autograder.seeding import grading_seed\nassert grading_seed() == 7")({})
    monkeypatch.setenv("AUTOGRADER_SEED", "3")
    _test_case("from autograder.seeding import grading_seed\nassert grading_seed() == 3")({})


def test_ipython_syntax_in_a_test_cell_is_refused_at_export() -> None:
    source = tiny_notebook()
    source.cells[3].source = "%timeit relu(1)\n" + source.cells[3].source
    with pytest.raises(ValueError, match="test_relu: not plain Python"):
        otter_export.to_otter_master(source, {"name": "tiny"})


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (new_code_cell("# Ignore warnings below\nx = 1"), "otter drops a cell"),
        (new_markdown_cell("# Ignore the noise"), "otter drops a cell"),
        (new_code_cell("x = 1  # SEED"), "otter directive"),
        (new_code_cell("y = 2  # IGNORE"), "otter directive"),
    ],
)
def test_cells_otter_would_read_as_directives_are_refused_at_export(
    cell: nbformat.NotebookNode, message: str
) -> None:
    source = tiny_notebook()
    source.cells.insert(1, cell)
    with pytest.raises(ValueError, match=f"cell 2: .*{message}"):
        otter_export.to_otter_master(source, {"name": "tiny"})


def test_a_test_cell_before_its_solution_is_refused() -> None:
    source = tiny_notebook()
    source.cells[2], source.cells[3] = source.cells[3], source.cells[2]
    with pytest.raises(ValueError, match="must follow its solution"):
        otter_export.to_otter_master(source, {"name": "tiny"})


def test_requirements_pin_what_the_code_imports() -> None:
    pinned = otter_export.requirements(
        ["import numpy as np\nimport os", "from sklearn.svm import SVC", "import autograder"]
    )
    assert "numpy==2.4.6" in pinned and "scikit-learn==1.9.1" in pinned
    assert not any(line.startswith(("os", "autograder")) for line in pinned)
    keras = otter_export.requirements(["from tensorflow import keras"])
    assert "tensorflow-cpu==2.21.0" in keras and "keras==3.15.1" in keras


def test_shipped_modules_follow_the_package_imports() -> None:
    shipped = otter_export.shipped_modules(
        ["from autograder.thresholds import assert_at_least", "from autograder import seeding"]
    )
    assert [path.name for path in shipped] == ["seeding.py", "thresholds.py"]


def test_export_command_keeps_hidden_tests_and_answers_out_of_the_student_notebook(
    tiny_course: Course,
) -> None:
    result = CliRunner().invoke(
        export_otter_command, ["tiny", "--course", str(tiny_course.root)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    folder = tiny_course.root / "otter" / "tiny"
    student_text = (folder / "student" / "tiny.ipynb").read_text()
    student = nbformat.reads(student_text, as_version=4)
    public_tests = _strings("\n".join(student.metadata["otter"]["tests"].values()))
    assert "relu(-1) should be 0" in public_tests
    for secret in TINY_SECRETS:
        assert secret not in student_text and secret not in public_tests
    (archive,) = folder.glob("autograder/tiny-autograder_*.zip")
    with zipfile.ZipFile(archive) as bundle:
        names = set(bundle.namelist())
        hidden = _strings(bundle.read("tests/relu.py").decode())
        assert "HIDDEN-RELU-SECRET" in hidden
        assert "files/autograder/thresholds.json" in names
    assert "A model answer." in (folder / "autograder" / "tiny.ipynb").read_text()
    assert f"tiny: otter/tiny/autograder/{archive.name}" in result.output


def test_otter_run_grades_all_or_nothing_per_item_and_fails_on_stderr(
    tiny_course: Course, tmp_path: Path
) -> None:
    export = otter_export.export_assignment(tiny_course, "tiny", run_tests=False)
    student = notebooks.read(export.student_notebook)
    solution = {
        "relu": "def relu(z):\n    return np.maximum(0, z)",
        "double": "def double(x):\n    return 2 * x",
    }
    wrong = {
        "relu": "import sys\ndef relu(z):\n    print('!', file=sys.stderr)\n    return z * (z > 0)",
        "double": "def double(x):\n    return x + 1",  # passes the visible check only
    }
    graded = otter_export.otter_run(
        export, otter_export.with_answers(student, solution), tmp_path / "solution"
    )
    assert graded == {"relu": 3.0, "double": 2.0}
    graded = otter_export.otter_run(
        export, otter_export.with_answers(student, wrong), tmp_path / "wrong"
    )
    assert graded == {"relu": 0.0, "double": 0.0}
    results = json.loads((tmp_path / "wrong" / "results.json").read_text())
    assert "wrote to stderr" in json.dumps(results)
