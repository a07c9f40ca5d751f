"""The student's feedback page: a summary of every item, then the graded notebook.

nbgrader's ``generate_feedback`` renders the page with this package's nbconvert
template (``templates/feedback``) instead of nbgrader's, so that the page

- opens with a table of every item: its name, score, points and one line, and the
  total as auto-graded points plus TA-graded points ("awaiting TA grading" until a
  TA has graded them);
- marks passed, partly passed and failed cells differently (colour and a word);
- explains a cell stopped by a limit, a restored locked cell or a re-inserted
  missing cell in a sentence at the top;
- folds long outputs (first and last lines kept) and fits wide images;
- loads nothing: no script at all (a Content-Security-Policy forbids any), and the
  instructor's equations are MathML made here, which browsers draw themselves.

Equations are rendered only in Markdown the instructor wrote (a cell whose text is
one of the release's); everything a student wrote stays text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from latex2mathml.converter import convert as latex_to_mathml
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode
from traitlets.config import Config

from autograder import notebooks, outcomes

TEMPLATES = Path(__file__).resolve().parent / "templates"
# nbgrader's API always asks for a template named "feedback": this package's is found first.
TEMPLATE_NAME = "feedback"
# Resources keys the template reads.
SUMMARY_KEY = "autograder_summary"
STOPPED_KEY = "autograder_stopped"
# Cell metadata the preprocessors set (and remove wherever a student could have set it).
TRUSTED_HTML_KEY = "autograder_trusted_html"
STATUS_KEY = "autograder_status"
AWAITING = "awaiting TA grading"
FOLD_AFTER_LINES = 40
FOLD_KEEP_HEAD, FOLD_KEEP_TAIL = 20, 10
# "Test failed (0 of 2 points). " before the reason, which the table shows apart.
_OUTCOME_PREFIX = re.compile(r"^Test (passed|partly passed|failed)( \([^)]*\))?\.\s*")
_SCRIPT_URL = re.compile(r"(?i)\b(java|vb)script\s*:|\bdata\s*:")


class _MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with equations as MathML instead of MathJax input."""

    def block_math(self, body: str) -> str:
        return latex_to_mathml(body, display="block")

    def inline_math(self, body: str) -> str:
        return latex_to_mathml(body)

    def latex_environment(self, name: str, body: str) -> str:
        return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display="block")


def markdown_with_mathml(source: str) -> str:
    """Instructor Markdown as HTML with its equations as MathML."""
    return MarkdownWithMath(renderer=_MathMLRenderer(escape=False)).render(source)


def fold(text: str) -> dict[str, str | int]:
    """``text`` as head, folded middle and tail when it is long (for the template)."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= FOLD_AFTER_LINES:
        return {"head": text, "middle": "", "tail": "", "folded": 0}
    middle = lines[FOLD_KEEP_HEAD:-FOLD_KEEP_TAIL]
    return {
        "head": "".join(lines[:FOLD_KEEP_HEAD]),
        "middle": "".join(middle),
        "tail": "".join(lines[-FOLD_KEEP_TAIL:]),
        "folded": len(middle),
    }


class InstructorMarkdown(NbGraderPreprocessor):
    """Markdown the instructor wrote is rendered (with equations); any other is text.

    A Markdown cell counts as the instructor's only when its text is exactly that of
    a Markdown cell of the released notebook (``instructor_markdown``): rendering it
    is then as safe as rendering the release. Every other Markdown cell a student
    could have written is escaped, its script links disabled and its ``$`` kept from
    becoming an equation.
    """

    instructor_markdown = List(
        Unicode(), help="The text of every Markdown cell of the released notebooks."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self._instructor = set(self.instructor_markdown)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        cell.metadata.pop(TRUSTED_HTML_KEY, None)
        if cell.cell_type != "markdown":
            return cell, resources
        if cell.source in self._instructor:
            cell.metadata[TRUSTED_HTML_KEY] = markdown_with_mathml(cell.source)
            return cell, resources
        text = _SCRIPT_URL.sub("blocked:", html.escape(cell.source, quote=False))
        cell.source = text.replace("$", "&#36;")
        cell.pop("attachments", None)
        return cell, resources


def released_markdown(release_folder: Path) -> list[str]:
    """The text of every Markdown cell of the notebooks in ``release_folder``."""
    return [
        cell.source
        for path in sorted(release_folder.glob("*.ipynb"))
        for cell in notebooks.read(path).cells
        if cell.cell_type == "markdown"
    ]


@dataclass
class SummaryRow:
    """One graded item as the summary table shows it."""

    anchor: str
    name: str
    kind: str
    status: str
    score: float | None
    points: float
    line: str


@dataclass
class Summary:
    rows: list[SummaryRow] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    lateness: str = ""

    @property
    def auto_score(self) -> float:
        return sum(r.score or 0 for r in self.rows if r.kind == "test")

    @property
    def auto_points(self) -> float:
        return sum(r.points for r in self.rows if r.kind == "test")

    @property
    def manual_points(self) -> float:
        return sum(r.points for r in self.rows if r.kind != "test")

    @property
    def manual_score(self) -> float | None:
        """Points TAs gave; None while any TA-graded item waits."""
        manual = [r for r in self.rows if r.kind != "test"]
        if any(r.score is None for r in manual):
            return None
        return sum(r.score or 0 for r in manual)

    @property
    def awaiting_points(self) -> float:
        return sum(r.points for r in self.rows if r.kind != "test" and r.score is None)


class FeedbackSummary(NbGraderPreprocessor):
    """The summary at the top of the page (after GetGrades and RedactTestOutputs).

    ``notices`` are sentences from the grading record (a restored locked cell, a
    re-inserted cell, dropped files); cells a limit stopped are added here.
    """

    notices = List(help="Sentences about the grading of this submission.").tag(config=True)
    lateness = Unicode("", help="When it was submitted against its due date.").tag(config=True)

    def preprocess(self, nb, resources):
        self._summary = Summary(notices=list(self.notices), lateness=self.lateness)
        self._ungraded = _ungraded_items(resources.get("nbgrader", {}))
        nb, resources = super().preprocess(nb, resources)
        for label, sentence in resources.get(STOPPED_KEY, []):
            self._summary.notices.append(f"In {label}: {sentence}")
        resources[SUMMARY_KEY] = self._summary
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        cell.metadata.pop(STATUS_KEY, None)
        meta = notebooks.nbgrader_meta(cell)
        if not meta.get("grade") or meta.get("points") is None:
            return cell, resources
        grade_id, points = meta.get("grade_id", ""), float(meta["points"])
        if outcomes.is_test_cell(cell):
            score = float(meta.get("score") or 0)
            status = outcomes.outcome_word(score, points).replace(" ", "-")
            shown = "".join(o.get("text", "") for o in cell.outputs).strip()
            line = _OUTCOME_PREFIX.sub("", shown)
            name = grade_id.removeprefix(notebooks.TEST_PREFIX)
            row = SummaryRow(grade_id, name, "test", status, score, points, line)
        elif grade_id in self._ungraded or meta.get("score") is None:
            row = SummaryRow(grade_id, grade_id, "manual", "awaiting", None, points, AWAITING)
        else:
            score = float(meta.get("score") or 0)
            status = outcomes.outcome_word(score, points).replace(" ", "-")
            row = SummaryRow(grade_id, grade_id, "manual", status, score, points, "graded by a TA")
        cell.metadata[STATUS_KEY] = row.status
        self._summary.rows.append(row)
        return cell, resources


def _ungraded_items(nbgrader: dict) -> set[str]:
    """Grade ids of this submission's items that neither nbgrader nor a TA scored."""
    if not {"db_url", "notebook", "assignment", "student"} <= set(nbgrader):
        return set()
    from nbgrader.api import Gradebook

    with Gradebook(nbgrader["db_url"]) as gradebook:
        notebook = gradebook.find_submission_notebook(
            nbgrader["notebook"], nbgrader["assignment"], nbgrader["student"]
        )
        return {
            grade.name
            for grade in notebook.grades
            if grade.auto_score is None and grade.manual_score is None
        }


def notices_from_reasons(reasons: list[str]) -> list[str]:
    """The sentences a student reads for what grading changed in their notebook."""
    sentences = []
    for reason in reasons:
        kind, _, detail = reason.partition(": ")
        if kind == "changed locked cell":
            sentences.append(
                f"The cell {detail} may not be changed; it was put back as released before grading."
            )
        elif kind == "missing cell" and detail.startswith(notebooks.TEST_PREFIX):
            sentences.append(
                f"The test cell {detail} was missing from your notebook; the released one "
                "was put back in its place before grading."
            )
        elif kind == "missing cell":
            sentences.append(
                f"The cell {detail} was missing from your notebook, so the items that need "
                "it could not earn points; keep every given cell when you resubmit."
            )
        elif kind == "dropped":
            sentences.append(f"A file of your submission was left out: {detail}.")
        elif kind == "output":
            sentences.append("Some output was cut: your notebook printed more than allowed.")
    return sentences


def configure(config: Config) -> None:
    """Render feedback with this package's template and filters."""
    config.HTMLExporter.template_name = TEMPLATE_NAME
    config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES)]
    config.HTMLExporter.filters = {"fold": fold}
