"""Per-student feedback: nbgrader's HTML, with hidden tests kept hidden.

Two preprocessors run inside nbgrader's own ``generate_feedback``:
:class:`RedactTestOutputs` reduces each test cell's output to the test's outcome and
its assertion message (a traceback quotes the hidden source), withholds outputs
that could reveal hidden tests and keeps only inert output kinds; then nbgrader's
``ClearHiddenTests`` removes the hidden block from every test cell's source. Student
HTML in Markdown cells is sanitised by nbconvert.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.preprocessors.getgrades import GetGrades
from traitlets import Dict
from traitlets.config import Config

from autograder import deadlines, feedback_page, outcomes, records, ungradable_page
from autograder.course import Course
from autograder.guarded_execute import PARTIAL_KEY
from autograder.nbgrader_course import NbgraderCourse, require_success

WITHHELD = "Output not shown in feedback: it was produced after hidden tests ran.\n"
QUOTES_TEST = f"Test failed. {outcomes.QUOTES_TEST}\n"
# Output kinds a feedback page shows; HTML, SVG, JavaScript, Markdown and widgets are
# dropped, since student code wrote them and TAs open these pages.
SHOWN_DATA = ("text/plain", "image/png", "image/jpeg")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")


def _is_solution_cell(cell: NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _output_text(output: NotebookNode) -> str:
    parts = [str(output.get("text", "")), str(output.get("evalue", ""))]
    parts += [str(line) for line in output.get("traceback", [])]
    parts += [str(value) for value in output.get("data", {}).values()]
    return "\n".join(parts)


def _inert(output: NotebookNode) -> NotebookNode | None:
    """``output`` with only plain text and checked images, or None when nothing is left."""
    if output.get("output_type") not in ("display_data", "execute_result"):
        return output
    data = {
        kind: value
        for kind, value in output.get("data", {}).items()
        if kind in SHOWN_DATA and (kind == "text/plain" or _BASE64.match(str(value)))
    }
    if not data:
        return None
    return NotebookNode({**output, "data": data, "metadata": {}})


class RedactTestOutputs(NbGraderPreprocessor):
    """What a feedback page may show of each cell's outputs.

    - Test cells keep only ``Name: message`` of an error, or a pass line; a message
      that quotes a hidden test is withheld.
    - Solution cells after the first test cell lose their outputs: code there can
      print IPython's input history, which holds the tests that ran.
    - Any output that quotes a hidden test line is withheld; what is left keeps only
      plain text and images.
    """

    limits = Dict(help="The limits the submission was graded with (GradingRecord.limits).").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        self._hidden = outcomes.hidden_test_lines(nb)
        self._after_test = False
        return super().preprocess(nb, resources)

    def _quotes_test(self, text: str) -> bool:
        return any(line in text for line in self._hidden)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if outcomes.is_test_cell(cell):
            self._after_test = True
            cell.outputs = [self._test_outcome(cell)]
            return cell, resources
        if self._after_test and _is_solution_cell(cell) and cell.get("outputs"):
            cell.outputs = [_stream("stdout", WITHHELD)]
            return cell, resources
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        stopped = next(filter(None, (self._limit_sentence(o) for o in errors)), None)
        outputs = []
        for output in cell.get("outputs", []):
            if stopped and output.get("output_type") == "error":
                continue  # the interruption's traceback says nothing the sentence does not
            if self._quotes_test(_output_text(output)):
                outputs.append(_stream("stdout", WITHHELD))
            elif (kept := _inert(output)) is not None:
                outputs.append(kept)
        if stopped:
            outputs.append(_stream("stderr", stopped + "\n"))
            label = _cell_label(cell, index)
            resources.setdefault(feedback_page.STOPPED_KEY, []).append((label, stopped))
        cell.outputs = outputs
        return cell, resources

    def _limit_sentence(self, error: NotebookNode) -> str | None:
        ename, evalue = str(error.get("ename", "")), str(error.get("evalue", ""))
        return outcomes.limit_sentence(ename, self.limits, evalue)

    def _test_outcome(self, cell: NotebookNode) -> NotebookNode:
        """One line: the outcome the gradebook recorded, its points, and why."""
        why = outcomes.failure_reason(cell, self.limits)
        if self._quotes_test(why):
            why = outcomes.QUOTES_TEST
        meta = cell.metadata.get("nbgrader", {})
        score, points = meta.get("score"), meta.get("points")
        if score is None or points is None:  # not from a gradebook: the outputs decide
            outputs = cell.get("outputs", [])
            partial = any(PARTIAL_KEY in o.get("metadata", {}) for o in outputs)
            errors = any(o.get("output_type") == "error" for o in outputs)
            word = "failed" if errors else "partly passed" if partial else "passed"
            text = f"Test {word}.{f' {why}' if word != 'passed' else ''}\n"
            return _stream("stdout" if word == "passed" else "stderr", text)
        line = outcomes.outcome_line(float(score), float(points), why)
        passed = float(score) >= float(points)
        return _stream("stdout" if passed else "stderr", line + "\n")


def _cell_label(cell: NotebookNode, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"your answer cell {grade_id}" if grade_id else f"code cell {index + 1}"


def _stream(name: str, text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name=name, text=text)


class ClearHiddenTestsInTestCells(ClearHiddenTests):
    """nbgrader's ClearHiddenTests on test cells only.

    A student's own cell that contains the hidden-test marker is theirs to show, and
    must not stop the page (nbgrader raises on an unmatched marker).
    """

    def preprocess_cell(self, cell, resources, index):
        if not outcomes.is_test_cell(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, index)


def configure_feedback(config: Config) -> None:
    """nbgrader's feedback steps with hidden tests removed and outputs made safe."""
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        RedactTestOutputs,
        feedback_page.InstructorMarkdown,
        ClearHiddenTestsInTestCells,
        feedback_page.FeedbackSummary,
        CSSHTMLHeaderPreprocessor,
    ]
    config.ClearHiddenTests.enforce_metadata = False
    # Markdown cells a student could have written are cleaned as well.
    config.HTMLExporter.sanitize_html = True
    feedback_page.configure(config)


def generate_feedback(
    course: Course, assignment: str, students: list[str]
) -> tuple[list[Path], dict[str, str]]:
    """The feedback page of each student: the HTML files written, and who failed why.

    A submission that could not be graded gets a one-page explanation instead. One
    student's page that cannot be made is that student's error; the others go on.
    """
    api = NbgraderCourse.for_course(course).api()
    configure_feedback(api.config)
    api.config.InstructorMarkdown.instructor_markdown = feedback_page.released_markdown(
        course.release_dir / assignment
    )
    lateness = deadlines.apply(course, assignment)
    policy = deadlines.policy_sentence(course)
    written: list[Path] = []
    failures: dict[str, str] = {}
    for student in students:
        record = records.load(course, assignment, student)
        if record is not None and record.status != "graded":
            written.append(ungradable_page.write(course, record))
            continue
        limits = record.limits if record else {}
        api.config.RedactTestOutputs.limits = limits
        api.config.FeedbackSummary.notices = feedback_page.notices_from_reasons(
            record.reasons if record else []
        )
        late = lateness.get(student)
        api.config.FeedbackSummary.lateness = late.sentence(policy) if late else ""
        result = api.generate_feedback(assignment, student, force=True)
        if not result["success"]:
            log = (result.get("error") or result.get("log") or "").strip()
            failures[student] = log.splitlines()[-1] if log else "nbgrader gave no reason"
            continue
        written += sorted((course.root / "feedback" / student / assignment).glob("*.html"))
    return written, failures


def release_feedback(course: Course, assignment: str, students: list[str]) -> None:
    """nbgrader's release_feedback: students fetch it from the Assignments tab."""
    api = NbgraderCourse.for_course(course).api()
    for student in students:
        require_success(
            api.release_feedback(assignment, student), f"releasing feedback to {student}"
        )
