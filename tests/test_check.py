"""The course self-check, graded as a class is: in the sandbox, verdicts in the grader.

Every hidden test is proven here: the solution gets every point, the release none,
each alternative keeps its item's points, each mistake loses exactly its item's, and
each forgery (wrong code that attacks the grading from inside the kernel) scores
nothing on its item. The table lands in ``artifacts/check-<assignment>.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import ARTIFACTS

from autograder import check


@pytest.mark.slow
@pytest.mark.parametrize(
    "assignment", ["forward_pass", "backprop", "iris_comparison", "cnn_mnist", "regression"]
)
def test_course_check_passes(sandbox_check: Callable, assignment: str) -> None:
    result = sandbox_check(assignment)
    table = check.format_table([result])
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"check-{assignment}.md").write_text(f"```\n{table}\n```\n")
    assert result.passed, table
    assert result.solution_score == result.max_score > 0
    assert result.release_score == 0
    for item in result.items:
        assert len(item.accepted) >= 2 and len(item.rejected) >= 2, table
    assert sum(len(item.defeated) for item in result.items) >= 2, table
