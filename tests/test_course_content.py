"""The course itself: the contract of graded functions, clean sources, fixtures."""

from __future__ import annotations

import ast

import pytest

from autograder import fixtures, notebooks, solutions
from autograder.course import Course

# The stable contract of DESIGN.md: graders outside the notebooks call these.
CONTRACT = {
    "forward_pass": {
        "relu": ["z"],
        "sigmoid": ["z"],
        "tanh": ["z"],
        "softmax": ["z", "axis"],
        "dense_forward": ["a_prev", "W", "b", "activation"],
        "mlp_forward": ["X", "params", "activation"],
        "mse": ["y_pred", "y_true"],
        "cross_entropy": ["probs", "labels"],
        "gradient_descent": ["grad_fn", "w0", "lr", "n_steps"],
        "poly_fit_errors": ["x_train", "y_train", "x_test", "y_test", "degree"],
        "lift_rings": ["X"],
    },
    "backprop": {
        "relu_derivative": ["z"],
        "sigmoid_derivative": ["z"],
        "output_delta": ["probs", "labels"],
        "hidden_delta": ["delta_next", "W_next", "z", "activation_derivative"],
        "backprop": ["X", "labels", "params"],
        "numerical_gradient": ["f", "w", "eps"],
        "train_mlp": ["X", "y", "hidden_sizes", "lr", "n_epochs", "seed"],
    },
    "cnn_mnist": {
        "conv_output_size": ["n", "kernel_size", "stride", "padding"],
        "count_dense_params": ["layer_sizes"],
        "train_torch": ["model", "X", "y", "n_epochs", "batch_size", "lr", "device"],
        "evaluate_accuracy": ["model", "X", "y"],
        "build_keras_cnn": [],
        "build_keras_dense": [],
        "SimpleCNN": None,
    },
    "iris_comparison": {
        "load_and_split": ["test_size", "random_state"],
        "scale_features": ["X_train", "X_test"],
        "train_svm": ["X_train", "y_train"],
        "build_iris_dnn": [],
        "neuron_predict_proba": ["X", "w", "b"],
    },
    "regression": {
        "fit_line": ["x", "y"],
        "line_mse_gradient": ["slope", "intercept", "x", "y"],
        "build_regression_net": ["n_in", "n_hidden"],
        "train_regression": ["model", "X", "y", "n_epochs", "lr"],
        "projectile_height": ["v0", "angle_deg", "t", "g"],
    },
}
DEFAULTS = {
    ("softmax", "axis"): -1,
    ("numerical_gradient", "eps"): 1e-5,
    ("build_regression_net", "n_in"): 1,
    ("build_regression_net", "n_hidden"): 32,
    ("projectile_height", "g"): 9.81,
}


def _definitions(course: Course, assignment: str) -> dict[str, ast.AST]:
    source = notebooks.read(course.source_notebook(assignment))
    found: dict[str, ast.AST] = {}
    for cell in source.cells:
        if cell.cell_type == "code" and notebooks.nbgrader_meta(cell).get("solution"):
            tree = ast.parse(notebooks.strip_solution_markers(cell.source))
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    found[node.name] = node
    return found


@pytest.mark.parametrize("assignment", sorted(CONTRACT))
def test_graded_functions_keep_their_names_and_signatures(course: Course, assignment: str) -> None:
    defined = _definitions(course, assignment)
    for name, parameters in CONTRACT[assignment].items():
        assert name in defined, f"{assignment} must define {name} in a solution cell"
        node = defined[name]
        if parameters is None:
            assert isinstance(node, ast.ClassDef)
            continue
        assert isinstance(node, ast.FunctionDef)
        assert [a.arg for a in node.args.args] == parameters, f"signature of {name}"
        for (function, parameter), value in DEFAULTS.items():
            if function == name:
                index = parameters.index(parameter) - len(parameters)
                default = node.args.defaults[index]
                assert ast.literal_eval(default) == value


@pytest.mark.parametrize("assignment", sorted(CONTRACT))
def test_source_notebooks_carry_no_outputs_and_teach(course: Course, assignment: str) -> None:
    source = notebooks.read(course.source_notebook(assignment))
    assert not notebooks.has_outputs(source)
    prose = sum(len(c.source) for c in source.cells if c.cell_type == "markdown")
    assert prose > 3000, "the notebook should teach, not only test"
    assert any(item.manual for item in notebooks.items(source)), "a free-response question"


@pytest.mark.parametrize("assignment", sorted(CONTRACT))
def test_every_item_has_two_alternatives_and_two_mistakes(course: Course, assignment: str) -> None:
    for item, per_kind in fixtures.discover(course, assignment).items():
        assert len(per_kind["alternative"]) >= 2, f"{assignment}/{item}: alternatives"
        assert len(per_kind["mistake"]) >= 2, f"{assignment}/{item}: mistakes"
        for fixture in per_kind["alternative"] + per_kind["mistake"]:
            ast.parse(fixture.source)


@pytest.mark.parametrize("assignment", sorted(CONTRACT))
def test_committed_answer_keys_are_current_and_executed(course: Course, assignment: str) -> None:
    assert not solutions.solutions_are_stale(course, assignment), (
        f"solutions/{assignment} is stale: run `autograder solutions {assignment}`"
    )
    key = notebooks.read(solutions.answer_key_path(course, assignment))
    assert notebooks.has_outputs(key)
    assert not any("BEGIN SOLUTION" in cell.source for cell in key.cells)


@pytest.mark.parametrize("assignment", sorted(CONTRACT))
def test_no_answer_key_writes_to_stderr(course: Course, assignment: str) -> None:
    """Executed from top to bottom, the answer key prints nothing on stderr: no library
    start-up notes, no warnings (nbgrader would count stderr in a test cell as failed)."""
    key = notebooks.read(solutions.answer_key_path(course, assignment))
    written = [
        (index, output.get("text", "")[:200])
        for index, cell in enumerate(key.cells)
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
    ]
    assert written == [], f"solutions/{assignment} wrote to stderr: {written}"
