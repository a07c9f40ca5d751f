"""Per-student feedback: nbgrader's HTML, with hidden tests kept hidden.

Two preprocessors run inside nbgrader's own ``generate_feedback``: nbgrader's
``ClearHiddenTests`` removes the hidden block from every test cell's source, and
:class:`RedactTestOutputs` reduces each test cell's output to the test's outcome
and its assertion message, because a traceback quotes the hidden source.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.preprocessors.getgrades import GetGrades
from traitlets.config import Config

from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse, require_success


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


class RedactTestOutputs(NbGraderPreprocessor):
    """Test cells keep only ``Name: message`` of an error, or a pass line."""

    def preprocess_cell(self, cell, resources, index):
        if not _is_test_cell(cell):
            return cell, resources
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            error = errors[-1]
            summary = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}".rstrip(": ")
            cell.outputs = [
                NotebookNode(output_type="stream", name="stderr", text=f"Test failed. {summary}\n")
            ]
        else:
            cell.outputs = [
                NotebookNode(output_type="stream", name="stdout", text="Test passed.\n")
            ]
        return cell, resources


def configure_feedback(config: Config) -> None:
    """nbgrader's feedback steps with hidden tests removed and test outputs redacted."""
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        ClearHiddenTests,
        RedactTestOutputs,
        CSSHTMLHeaderPreprocessor,
    ]
    config.ClearHiddenTests.enforce_metadata = False


def generate_feedback(course: Course, assignment: str, students: list[str]) -> list[Path]:
    """nbgrader's feedback for each student; returns the HTML files written."""
    api = NbgraderCourse.for_course(course).api()
    configure_feedback(api.config)
    written: list[Path] = []
    for student in students:
        result = api.generate_feedback(assignment, student, force=True)
        require_success(result, f"feedback for {student}")
        written += sorted((course.root / "feedback" / student / assignment).glob("*.html"))
    return written


def release_feedback(course: Course, assignment: str, students: list[str]) -> None:
    """nbgrader's release_feedback: students fetch it from the Assignments tab."""
    api = NbgraderCourse.for_course(course).api()
    for student in students:
        require_success(
            api.release_feedback(assignment, student), f"releasing feedback to {student}"
        )
