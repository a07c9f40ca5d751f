"""What a graded cell's outcome says to a student, in one line.

Shared by the grading worker (each record keeps the line of every item that lost
points, for the class report's "why students fail") and the feedback page (which
shows it under the test cell and in its summary), so both say the same thing.
A stopped cell is explained in one sentence that names the limit, never with the
traceback of the interruption.
"""

from __future__ import annotations

from nbformat import NotebookNode

from autograder.guarded_execute import (
    CELL_TIMEOUT_ENAME,
    JUDGE_ENAME,
    KERNEL_DIED_ENAME,
    PARTIAL_KEY,
    SUBMISSION_TIMEOUT_ENAME,
)

QUOTES_TEST = "(The message is not shown: it quotes the hidden test.)"
STDERR_FAILURE = "The test wrote to stderr, which nbgrader counts as a failure."
NO_MESSAGE = "The test failed without a message."
_MIN_QUOTED_LINE = 12


def is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def hidden_test_lines(notebook: NotebookNode) -> set[str]:
    """Lines of the hidden blocks of the test cells long enough to recognise when quoted."""
    lines: set[str] = set()
    for cell in notebook.cells:
        if not is_test_cell(cell):
            continue
        hidden = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("### BEGIN HIDDEN TESTS"):
                hidden = True
            elif stripped.startswith("### END HIDDEN TESTS"):
                hidden = False
            elif hidden and len(stripped) >= _MIN_QUOTED_LINE:
                lines.add(stripped)
    return lines


def limit_sentence(ename: str, limits: dict[str, int], evalue: str = "") -> str | None:
    """One sentence for an error that a grading limit caused, or None for any other."""
    if ename == CELL_TIMEOUT_ENAME:
        seconds = limits.get("cell_timeout")
        limit = f"the {seconds} s one cell may run" if seconds else "the time one cell may run"
        return f"This cell was stopped: it ran past {limit}."
    if ename == SUBMISSION_TIMEOUT_ENAME:
        seconds = limits.get("submission_timeout")
        limit = f"the {seconds} s a whole notebook may run" if seconds else "its time limit"
        return f"This cell was not finished: the notebook used up {limit}."
    if ename == KERNEL_DIED_ENAME:
        memory = limits.get("memory_mb")
        limit = f" (at most {memory} MB)" if memory else ""
        return (
            f"Python stopped while running this cell, most likely out of memory{limit}; "
            "the cells after it were not run."
        )
    if ename == "BlockingIOError" or "Resource temporarily unavailable" in evalue:
        most = limits.get("max_processes")
        limit = f" (at most {most})" if most else ""
        return f"This cell tried to start more processes or threads than allowed{limit}."
    if ename == "MemoryError":
        memory = limits.get("memory_mb")
        return f"This cell ran out of memory{f' (at most {memory} MB)' if memory else ''}."
    return None


def failure_reason(cell: NotebookNode, limits: dict[str, int]) -> str:
    """Why a graded cell lost points, as its outputs say: the verdict's message, the
    failed cases of partial credit, or the limit that stopped it ('' if none)."""
    outputs = cell.get("outputs", [])
    for output in outputs:
        if output.get("output_type") == "execute_result" and PARTIAL_KEY in output.get(
            "metadata", {}
        ):
            return str(output["metadata"][PARTIAL_KEY])
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if errors:
        error = errors[0]
        ename, evalue = str(error.get("ename", "Error")), str(error.get("evalue", ""))
        if ename == JUDGE_ENAME and evalue:
            return evalue  # the grader's own message: its exception name says nothing
        return limit_sentence(ename, limits, evalue) or f"{ename}: {evalue}".rstrip(": ")
    if any(o.get("name") == "stderr" for o in outputs):
        return STDERR_FAILURE
    return ""


def outcome_word(score: float, points: float) -> str:
    return "passed" if score >= points else "partly passed" if score > 0 else "failed"


def outcome_line(score: float, points: float, why: str) -> str:
    """``Test failed (0 of 2 points). <why>`` and the like."""
    outcome = outcome_word(score, points)
    reason = f" {why}" if why and outcome != "passed" else ""
    return f"Test {outcome} ({score:g} of {points:g} point{'' if points == 1 else 's'}).{reason}"


def item_messages(notebook: NotebookNode, items: dict[str, dict], limits: dict[str, int]):
    """For each test cell of a graded notebook whose item lost points (``items``: grade
    id -> score and max_score, as the gradebook says), the line a student is shown."""
    hidden = hidden_test_lines(notebook)
    messages: dict[str, str] = {}
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        item = items.get(grade_id) if is_test_cell(cell) else None
        if item is None or item["score"] >= item["max_score"]:
            continue
        why = failure_reason(cell, limits) or NO_MESSAGE
        messages[grade_id] = QUOTES_TEST if any(line in why for line in hidden) else why
    return messages
