"""Per-student feedback: nbgrader's HTML, with hidden tests kept hidden.

Two preprocessors run inside nbgrader's own ``generate_feedback``:
:class:`RedactTestOutputs` reduces each test cell's output to the test's outcome and
its assertion message (a traceback quotes the hidden source), withholds outputs
that could reveal hidden tests and keeps only inert output kinds; then nbgrader's
``ClearHiddenTests`` removes the hidden block from every test cell's source. Student
HTML in Markdown cells is sanitised by nbconvert.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.preprocessors.getgrades import GetGrades
from traitlets.config import Config

from autograder import notebooks
from autograder.course import Course
from autograder.guarded_execute import PARTIAL_KEY
from autograder.nbgrader_course import NbgraderCourse, require_success
from autograder.settings import course_db_url

AWAITING = "awaiting TA grading"
WITHHELD = "Output not shown in feedback: it was produced after hidden tests ran.\n"
QUOTES_TEST = "Test failed. (The message is not shown: it quotes the hidden test.)\n"
# Output kinds a feedback page shows; HTML, SVG, JavaScript, Markdown and widgets are
# dropped, since student code wrote them and TAs open these pages.
SHOWN_DATA = ("text/plain", "image/png", "image/jpeg")
_SCRIPT_URL = re.compile(r"(?i)\b(java|vb)script\s*:|\bdata\s*:")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
_MIN_QUOTED_LINE = 12


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def _is_solution_cell(cell: NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def hidden_test_lines(notebook: NotebookNode) -> set[str]:
    """Lines of the hidden blocks of the test cells long enough to recognise when quoted."""
    lines: set[str] = set()
    for cell in notebook.cells:
        if not _is_test_cell(cell):
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

    def preprocess(self, nb, resources):
        self._hidden = hidden_test_lines(nb)
        self._after_test = False
        return super().preprocess(nb, resources)

    def _quotes_test(self, text: str) -> bool:
        return any(line in text for line in self._hidden)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if _is_test_cell(cell):
            self._after_test = True
            cell.outputs = [self._test_outcome(cell)]
            return cell, resources
        if self._after_test and _is_solution_cell(cell) and cell.get("outputs"):
            cell.outputs = [_stream("stdout", WITHHELD)]
            return cell, resources
        outputs = []
        for output in cell.get("outputs", []):
            if self._quotes_test(_output_text(output)):
                outputs.append(_stream("stdout", WITHHELD))
            elif (kept := _inert(output)) is not None:
                outputs.append(kept)
        cell.outputs = outputs
        return cell, resources

    def _test_outcome(self, cell: NotebookNode) -> NotebookNode:
        """One line: the outcome the gradebook recorded, its points, and why."""
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        partial = [
            str(o.get("metadata", {}).get(PARTIAL_KEY))
            for o in outputs
            if o.get("output_type") == "execute_result" and PARTIAL_KEY in o.get("metadata", {})
        ]
        why = ""
        if errors:
            error = errors[-1]
            why = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}".rstrip(": ")
        elif partial:
            why = partial[0]
        if self._quotes_test(why):
            return _stream("stderr", QUOTES_TEST)
        meta = cell.metadata.get("nbgrader", {})
        score, points = meta.get("score"), meta.get("points")
        if score is None or points is None:  # not from a gradebook: the outputs decide
            outcome = "failed" if errors else "partly passed" if partial else "passed"
            counted = ""
        else:
            score, points = float(score), float(points)
            outcome = "passed" if score >= points else "partly passed" if score > 0 else "failed"
            counted = f" ({score:g} of {points:g} points)"
            wrote_stderr = any(o.get("name") == "stderr" for o in outputs)
            if outcome != "passed" and not why and wrote_stderr:
                why = "The test wrote to stderr, which nbgrader counts as a failure."
        text = f"Test {outcome}{counted}.{f' {why}' if why and outcome != 'passed' else ''}\n"
        return _stream("stdout" if outcome == "passed" else "stderr", text)


def _stream(name: str, text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name=name, text=text)


class InertMarkdown(NbGraderPreprocessor):
    """Markdown a student could have written is shown as text, not as HTML.

    nbgrader's feedback page renders a free-response cell itself, without nbconvert's
    sanitiser: tags are escaped and script URLs in links disabled in every Markdown
    cell that is not locked (locked cells nbgrader restored from the instructor's).
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "markdown" or notebooks.nbgrader_meta(cell).get("locked"):
            return cell, resources
        cell.source = _SCRIPT_URL.sub("blocked:", html.escape(cell.source, quote=False))
        cell.pop("attachments", None)
        return cell, resources


class ClearHiddenTestsInTestCells(ClearHiddenTests):
    """nbgrader's ClearHiddenTests on test cells only.

    A student's own cell that contains the hidden-test marker is theirs to show, and
    must not stop the page (nbgrader raises on an unmatched marker).
    """

    def preprocess_cell(self, cell, resources, index):
        if not _is_test_cell(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, index)


def configure_feedback(config: Config) -> None:
    """nbgrader's feedback steps with hidden tests removed and outputs made safe."""
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        RedactTestOutputs,
        InertMarkdown,
        ClearHiddenTestsInTestCells,
        CSSHTMLHeaderPreprocessor,
    ]
    config.ClearHiddenTests.enforce_metadata = False
    # Markdown cells are the student's too: their HTML is cleaned as well.
    config.HTMLExporter.sanitize_html = True


def generate_feedback(
    course: Course, assignment: str, students: list[str]
) -> tuple[list[Path], dict[str, str]]:
    """nbgrader's feedback for each student: the HTML files written, and who failed why.

    One student's page that cannot be made is that student's error; the others go on.
    """
    api = NbgraderCourse.for_course(course).api()
    configure_feedback(api.config)
    written: list[Path] = []
    failures: dict[str, str] = {}
    for student in students:
        result = api.generate_feedback(assignment, student, force=True)
        if not result["success"]:
            log = (result.get("error") or result.get("log") or "").strip()
            failures[student] = log.splitlines()[-1] if log else "nbgrader gave no reason"
            continue
        awaiting = _awaiting_grading(course_db_url(course), assignment, student)
        for page in sorted((course.root / "feedback" / student / assignment).glob("*.html")):
            _mark_awaiting(page, awaiting.get(page.stem, {}))
            written.append(page)
    return written, failures


def _points(points: float) -> str:
    return f"{points:g} point{'' if points == 1 else 's'}"


def _awaiting_grading(db_url: str, assignment: str, student: str) -> dict[str, dict[str, float]]:
    """Per notebook, the points of each item no TA has graded yet (grade id -> points)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            notebook.name: {
                grade.name: float(grade.max_score)
                for grade in notebook.grades
                if grade.auto_score is None and grade.manual_score is None
            }
            for notebook in submission.notebooks
        }


def _mark_awaiting(page: Path, awaiting: dict[str, float]) -> None:
    """Say "awaiting TA grading" where nbgrader's page shows an ungraded item as 0
    points, and leave those points out of the page's total."""
    if not awaiting:
        return
    text = page.read_text(encoding="utf-8")
    for grade_id, points in awaiting.items():
        anchor = re.escape(grade_id)
        note = f"{AWAITING}, {_points(points)}"
        # The table of contents, then the cell's own heading (its first score).
        listed = re.compile(rf'(href="#{anchor}">[^<]*</a>) \(Score: [\d.]+ / [\d.]+\)')
        heading = re.compile(rf'(<a name="{anchor}"></a>.*?)Score: [\d.]+ / [\d.]+', re.S)
        text = heading.sub(rf"\1{note}", listed.sub(rf"\1 ({note})", text), count=1)
    pending = sum(awaiting.values())

    def total(match: re.Match) -> str:
        graded = float(match[2]) - pending
        return f"(Score: {match[1]} / {round(graded, 2)}; {_points(pending)} more {AWAITING})</h4>"

    page.write_text(re.sub(r"\(Score: ([\d.]+) / ([\d.]+)\)</h4>", total, text, count=1))


def release_feedback(course: Course, assignment: str, students: list[str]) -> None:
    """nbgrader's release_feedback: students fetch it from the Assignments tab."""
    api = NbgraderCourse.for_course(course).api()
    for student in students:
        require_success(
            api.release_feedback(assignment, student), f"releasing feedback to {student}"
        )
