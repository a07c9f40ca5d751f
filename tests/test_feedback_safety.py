"""What a feedback page shows of a graded notebook: no hidden tests, nothing live."""

from __future__ import annotations

import base64
from pathlib import Path

from conftest import nbgrader_metadata
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import records, ungradable_page
from autograder.course import Course
from autograder.feedback import QUOTES_TEST, WITHHELD, RedactTestOutputs
from autograder.feedback_page import (
    STOPPED_KEY,
    TRUSTED_HTML_KEY,
    InstructorMarkdown,
    fold,
    notices_from_reasons,
)
from autograder.guarded_execute import PARTIAL_KEY, GuardedExecute
from autograder.records import GradingRecord

HIDDEN_LINE = "assert relu(-7.5) == 0, 'the hidden check'"
PNG = base64.b64encode(b"\x89PNG fake image bytes").decode()


def graded_notebook() -> NotebookNode:
    test = new_code_cell(
        f"assert relu(1) == 1\n### BEGIN HIDDEN TESTS\n{HIDDEN_LINE}\n### END HIDDEN TESTS",
        metadata=nbgrader_metadata(
            grade=True, solution=False, locked=True, points=1, grade_id="test_relu"
        ),
    )
    test.outputs = [
        new_output("error", ename="AssertionError", evalue=HIDDEN_LINE, traceback=["..."])
    ]
    before = new_code_cell(
        "show()", metadata=nbgrader_metadata(grade=False, solution=True, grade_id="a")
    )
    before.outputs = [
        new_output(
            "display_data",
            data={
                "text/plain": "a plot",
                "text/html": "<script>alert(1)</script>",
                "image/png": PNG,
                "image/svg+xml": "<svg onload='alert(1)'/>",
            },
        ),
        new_output("display_data", data={"image/png": '"><script>alert(1)</script>'}),
    ]
    after = new_code_cell(
        "print(In)", metadata=nbgrader_metadata(grade=False, solution=True, grade_id="b")
    )
    after.outputs = [new_output("stream", name="stdout", text="['...', 'anything']")]
    given = new_code_cell("print(history)")
    given.outputs = [new_output("stream", name="stdout", text=f"x\n{HIDDEN_LINE}\n")]
    answer = new_markdown_cell(
        "<img src=x onerror=alert(1)> [link](javascript:alert(1)) $a < b$",
        metadata=nbgrader_metadata(grade=True, solution=True, points=1, grade_id="explain"),
    )
    return new_notebook(cells=[before, test, after, given, answer])


def redacted() -> NotebookNode:
    notebook, _ = RedactTestOutputs().preprocess(graded_notebook(), {})
    notebook, _ = InstructorMarkdown().preprocess(notebook, {})
    return notebook


def test_a_test_message_quoting_the_hidden_test_is_withheld() -> None:
    assert redacted().cells[1].outputs == [
        NotebookNode(output_type="stream", name="stderr", text=QUOTES_TEST)
    ]


def test_solution_cells_after_a_test_and_outputs_quoting_tests_are_withheld() -> None:
    notebook = redacted()
    for cell in (notebook.cells[2], notebook.cells[3]):
        assert [o.text for o in cell.outputs] == [WITHHELD]


def test_only_plain_text_and_real_images_are_shown() -> None:
    outputs = redacted().cells[0].outputs
    assert [dict(o.data) for o in outputs] == [{"text/plain": "a plot", "image/png": PNG}]


def test_markdown_a_student_wrote_is_text() -> None:
    source = redacted().cells[4].source
    assert "<img" not in source and "&lt;img src=x onerror=alert(1)&gt;" in source
    assert "javascript:" not in source and "&#36;a &lt; b&#36;" in source


def test_output_past_the_caps_is_cut_and_errors_stay_errors() -> None:
    execute = GuardedExecute(cell_output_limit=10, output_limit=15)
    execute._output_by_cell, execute._output_cut = {}, 0
    header = {"msg_type": "stream"}
    first = {"msg_type": "stream", "header": header, "content": {"name": "stdout", "text": "a" * 8}}
    assert execute._capped(first, 0) is first
    cut = execute._capped({**first, "content": {"name": "stdout", "text": "b" * 8}}, 0)
    assert cut["content"]["text"].startswith("bb\n[output cut: 6 bytes")
    error = {
        "msg_type": "error",
        "header": {"msg_type": "error"},
        "content": {"ename": "AssertionError", "evalue": "e" * 50, "traceback": ["t" * 50]},
    }
    capped = execute._capped(error, 1)
    assert capped["msg_type"] == "error" and capped["content"]["ename"] == "AssertionError"
    display = {
        "msg_type": "display_data",
        "header": {"msg_type": "display_data"},
        "content": {"data": {"text/html": "x" * 100}, "metadata": {}},
    }
    as_note = execute._capped(display, 2)
    assert as_note["header"]["msg_type"] == "stream" and "output cut" in as_note["content"]["text"]
    assert execute._output_cut == 6 + (100 - 5) + 100


def test_a_partly_passed_test_names_its_failed_cases() -> None:
    notebook = graded_notebook()
    notebook.cells[1].outputs = [
        new_output(
            "execute_result",
            data={"text/plain": "0.5"},
            metadata={PARTIAL_KEY: "1 of 2 cases failed. relu(-2): got -2"},
            execution_count=None,
        )
    ]
    notebook, _ = RedactTestOutputs().preprocess(notebook, {})
    assert notebook.cells[1].outputs == [
        NotebookNode(
            output_type="stream",
            name="stderr",
            text="Test partly passed. 1 of 2 cases failed. relu(-2): got -2\n",
        )
    ]


def test_each_test_line_says_the_recorded_score_even_without_an_error() -> None:
    notebook = graded_notebook()
    test = notebook.cells[1]
    test.metadata["nbgrader"].update(score=0.0, points=2.0)
    test.outputs = [new_output("stream", name="stderr", text="a warning\n")]
    notebook, _ = RedactTestOutputs().preprocess(notebook, {})
    assert notebook.cells[1].outputs[0].text == (
        "Test failed (0 of 2 points). "
        "The test wrote to stderr, which nbgrader counts as a failure.\n"
    )

    notebook = graded_notebook()
    notebook.cells[1].metadata["nbgrader"].update(score=2.0, points=2.0)
    notebook.cells[1].outputs = []
    notebook, _ = RedactTestOutputs().preprocess(notebook, {})
    assert notebook.cells[1].outputs[0].text == "Test passed (2 of 2 points).\n"


def test_long_outputs_fold_keeping_their_first_and_last_lines() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    parts = fold(text)
    assert parts["head"].startswith("line 0\n") and parts["head"].endswith("line 19\n")
    assert parts["tail"].endswith("line 99\n") and parts["folded"] == 70
    assert parts["head"] + parts["middle"] + parts["tail"] == text
    assert fold("short\n") == {"head": "short\n", "middle": "", "tail": "", "folded": 0}


def test_instructor_markdown_gets_equations_and_a_students_copy_does_not() -> None:
    released = "The sum $\\sum_i x_i$ is <b>bold</b>."
    student = "$\\text{<script>alert(1)</script>}$"
    notebook = new_notebook(cells=[new_markdown_cell(released), new_markdown_cell(student)])
    notebook.cells[1].metadata[TRUSTED_HTML_KEY] = "<script>forged</script>"
    markdown = InstructorMarkdown(instructor_markdown=[released])
    notebook, _ = markdown.preprocess(notebook, {})
    assert "<math" in notebook.cells[0].metadata[TRUSTED_HTML_KEY]
    assert TRUSTED_HTML_KEY not in notebook.cells[1].metadata
    assert "<script>" not in notebook.cells[1].source and "$" not in notebook.cells[1].source


def test_an_ungradable_page_escapes_what_the_student_chose(tiny_course: Course) -> None:
    record = GradingRecord(
        assignment="tiny",
        student="mallory",
        status="error",
        reasons=["invalid notebook: tiny.ipynb: <script>alert(1)</script>"],
    )
    page = ungradable_page.write(tiny_course, record).read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "How to resubmit" in page


def test_a_message_a_student_shaped_is_escaped_on_the_page() -> None:
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from autograder import feedback_page

    notebook = graded_notebook()
    test = notebook.cells[1]
    test.metadata["nbgrader"].update(score=0.0, points=2.0)
    shaped = "got '<script>x()</script>'"
    test.outputs = [new_output("error", ename="AssertionError", evalue=shaped)]
    config = Config()
    config.HTMLExporter.preprocessors = [RedactTestOutputs, feedback_page.FeedbackSummary]
    feedback_page.configure(config)
    resources = {"nbgrader": {"assignment": "<b>a</b>", "student": "<i>s</i>"}}
    page, _ = HTMLExporter(config=config).from_notebook_node(notebook, resources=resources)
    assert "<script>x()" not in page and "&lt;script&gt;x()" in page
    assert "<b>a</b>" not in page and "<i>s</i>" not in page
    assert 'id="items"' in page and "Content-Security-Policy" in page


def test_an_ungradable_page_is_released_through_the_exchange(
    tiny_course: Course, tmp_path: Path
) -> None:
    from autograder import feedback
    from autograder.nbgrader_course import NbgraderCourse

    exchange = tmp_path / "exchange"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o777)
    with (tiny_course.root / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    NbgraderCourse.for_course(tiny_course).generate("tiny")
    submitted = tiny_course.root / "submitted" / "mallory" / "tiny"
    submitted.mkdir(parents=True)
    (submitted / "tiny.ipynb").write_text("{ not json")
    (submitted / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    (submitted / "submission_secret.txt").write_text("ab" * 64)
    record = GradingRecord(
        assignment="tiny",
        student="mallory",
        status="error",
        reasons=["invalid notebook: tiny.ipynb: Notebook does not appear to be JSON"],
    )
    records.save(tiny_course, record)
    pages, failures = feedback.generate_feedback(tiny_course, "tiny", ["mallory"])
    assert failures == {} and [p.name for p in pages] == ["tiny.html"]
    feedback.release_feedback(tiny_course, "tiny", ["mallory"])
    released = list((exchange / "intro-deep-learning" / "feedback").glob("*.html"))
    assert len(released) == 1 and "could not be graded" in released[0].read_text()


def test_a_cell_stopped_by_a_limit_is_one_sentence_naming_it() -> None:
    notebook = graded_notebook()
    before = notebook.cells[0]
    before.outputs = [
        new_output("error", ename="KeyboardInterrupt", evalue="", traceback=["long"]),
        new_output("error", ename="CellTimeoutError", evalue="No reply", traceback=["tb"]),
    ]
    limits = {"cell_timeout": 20, "max_processes": 64}
    notebook, resources = RedactTestOutputs(limits=limits).preprocess(notebook, {})
    assert [o.text for o in notebook.cells[0].outputs] == [
        "This cell was stopped: it ran past the 20 s one cell may run.\n"
    ]
    assert resources[STOPPED_KEY] == [
        ("your answer cell a", notebook.cells[0].outputs[0].text[:-1])
    ]
    forks = NotebookNode(
        ename="BlockingIOError", evalue="[Errno 11] Resource temporarily unavailable"
    )
    assert "(at most 64)" in RedactTestOutputs(limits=limits)._limit_sentence(forks)


def test_what_grading_changed_is_said_in_plain_words() -> None:
    notices = notices_from_reasons(
        ["changed locked cell: test_relu", "missing cell: test_double", "missing cell: relu"]
    )
    assert notices == [
        "The cell test_relu may not be changed; it was put back as released before grading.",
        "The test cell test_double was missing from your notebook; the released one was put "
        "back in its place before grading.",
        "The cell relu was missing from your notebook, so the items that need it could not "
        "earn points; keep every given cell when you resubmit.",
    ]
