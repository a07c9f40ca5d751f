"""nbgrader's Execute step with verdicts outside the kernel, a whole-submission
deadline and crash containment.

- With ``judge_answers``, a test cell's hidden tests run in the grader
  (:mod:`autograder.judged_tests`) and the kernel runs only its visible checks;
  what the kernel printed in the cell (errors, stderr, results) is kept as plain
  text, so the grader's verdict alone is what nbgrader scores.
- Each cell's time limit is the smaller of the per-cell timeout and the time left
  to the submission; once the deadline passes, remaining cells are not run and get
  an error output saying why, so tests after it score nothing while the points
  earned before are kept.
- A kernel started ahead (:mod:`autograder.early_kernel`) is taken from
  ``kernel_source`` and stopped here, since nbclient leaves running a kernel it
  did not start.
- When the kernel dies (memory limit, segfault, ``os._exit``), the cell gets an
  error output and the rest of the notebook is skipped the same way, instead of
  failing the whole submission.
- Output is capped per cell and per notebook as it arrives: text past the cap is
  cut, larger displays are replaced by a note, errors keep their name (a failed
  test stays failed), and the notebook's metadata counts the bytes cut, so neither
  nbgrader nor the feedback ever holds a flood.
"""

from __future__ import annotations

import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Any, Bool, Integer
from traitlets.config import Config

from autograder import judged_tests, judges
from autograder.answers import ANSWER_MIME
from autograder.kernel_link import KernelDied, KernelLink, LinkFailed

OUTPUT_CUT_KEY = "output_cut_bytes"
CELL_TIMEOUT_ENAME = "CellTimeoutError"
SUBMISSION_TIMEOUT_ENAME = "SubmissionTimeoutError"
KERNEL_DIED_ENAME = "KernelDiedError"


_OUTPUT_TYPES = {"stream", "display_data", "execute_result", "update_display_data", "error"}
_DISPLAY_TYPES = {"display_data", "execute_result", "update_display_data"}
JUDGE_ENAME = "AssertionError"
PARTIAL_KEY = "autograder_failed_cases"
MAX_ANSWERS_PER_CELL = 8
RUNTIME_CHECK_SECONDS = 60


class GraderFault(RuntimeError):
    """The grading itself failed (its runtime is out of the kernel's reach): the
    submission is an error of the run, never points lost by the student."""


def _size(content: dict) -> int:
    """Characters of what a message shows (text, data, error), roughly its size."""
    return sum(_characters(content.get(key)) for key in ("text", "data", "evalue", "traceback"))


def _characters(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_characters(item) for item in value.values())
    if isinstance(value, list):
        return sum(_characters(item) for item in value)
    return 0


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


def _partial_credit(cell: NotebookNode, verdict: judged_tests.Verdict) -> NotebookNode:
    """The result nbgrader reads as the cell's points, with the failed cases beside it."""
    points = float(cell.metadata["nbgrader"]["points"]) * verdict.fraction
    return NotebookNode(
        output_type="execute_result",
        execution_count=None,
        data={"text/plain": repr(points)},
        metadata={PARTIAL_KEY: verdict.message},
    )


def _demoted(output: NotebookNode) -> NotebookNode:
    """A kernel output that shows what it showed and decides no points."""
    kind = output.get("output_type")
    if kind == "error":
        text = f"(visible check, not graded) {output.get('ename')}: {output.get('evalue')}\n"
        return NotebookNode(output_type="stream", name="stdout", text=text)
    if kind == "stream" and output.get("name") == "stderr":
        return NotebookNode(output_type="stream", name="stdout", text=output.get("text", ""))
    if kind == "execute_result":
        return NotebookNode(
            output_type="display_data",
            data=output.get("data", {}),
            metadata=output.get("metadata", {}),
        )
    return output


class GuardedExecute(Execute):
    """Execute with ``submission_timeout`` seconds for the whole notebook."""

    submission_timeout = Integer(1800, help="Seconds for the whole notebook.").tag(config=True)
    kernel_source = Any(
        None, allow_none=True, help="A callable giving a kernel already started, or None."
    ).tag(config=True)
    cell_output_limit = Integer(2 * 1024**2, help="Bytes of output one cell keeps.").tag(
        config=True
    )
    output_limit = Integer(16 * 1024**2, help="Bytes of output the notebook keeps.").tag(
        config=True
    )
    judge_answers = Bool(
        False,
        help="Decide test cells outside the kernel: run hidden tests in the grader against "
        "the kernel's functions, and judge the answers in-kernel tests hand over.",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.submission_timeout
        self._cell_timeout = self.timeout
        self._stopped: str | None = None
        self._output_by_cell: dict[int, int] = {}
        self._output_cut = 0
        self._answers: dict[int, list[object]] = {}
        self._link: KernelLink | None = None
        self._runtime_checked = False
        try:
            if km is not None or self.kernel_source is None:
                return super().preprocess(nb, resources, km)
            km = self.kernel_source()
            try:
                return super().preprocess(nb, resources, km)
            finally:
                if km is not None and self.km is not None:
                    self._cleanup_kernel()
        finally:
            if self._link is not None:
                self._link.close()
            if self._output_cut:
                nb.metadata.setdefault("autograder", {})[OUTPUT_CUT_KEY] = self._output_cut

    def process_message(self, msg, cell, cell_index):
        data = msg.get("content", {}).get("data")
        if msg.get("msg_type") in _DISPLAY_TYPES and isinstance(data, dict) and ANSWER_MIME in data:
            # An answer is for the grader, never an output of the notebook.
            kept = self._answers.setdefault(cell_index, [])
            # Only a test cell's answers count; a few are enough to see it sent too many.
            is_test = cell.metadata.get("nbgrader", {}).get("grade")
            if self.judge_answers and is_test and len(kept) < MAX_ANSWERS_PER_CELL:
                kept.append(data[ANSWER_MIME])
            return None
        if msg.get("msg_type") in _OUTPUT_TYPES:
            msg = self._capped(msg, cell_index)
        return super().process_message(msg, cell, cell_index)

    def _capped(self, msg: dict, cell_index: int) -> dict:
        """``msg`` within what the cell and the notebook have left, else a cut copy."""
        content = msg["content"]
        size = _size(content)
        used_by_cell = self._output_by_cell.get(cell_index, 0)
        used = sum(self._output_by_cell.values())
        room = max(0, min(self.cell_output_limit - used_by_cell, self.output_limit - used))
        if size <= room:
            self._output_by_cell[cell_index] = used_by_cell + size
            return msg
        self._output_cut += size - room
        self._output_by_cell[cell_index] = used_by_cell + room
        note = f"\n[output cut: {size - room} bytes past the output limit]\n"
        if msg["msg_type"] == "stream":
            content = {**content, "text": str(content.get("text", ""))[:room] + note}
        elif msg["msg_type"] == "error":
            evalue = str(content.get("evalue", ""))[:room]
            content = {**content, "evalue": evalue + note, "traceback": [evalue + note]}
        else:
            header = {**msg["header"], "msg_type": "stream"}
            stream = {"name": "stdout", "text": note}
            return {**msg, "header": header, "msg_type": "stream", "content": stream}
        return {**msg, "content": content}

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and time.monotonic() >= self._deadline:
            self._stopped = SUBMISSION_TIMEOUT_ENAME
        if self._stopped is not None:
            cell.outputs = [_error_output(self._stopped, self._stop_message())]
            return cell, resources
        remaining = max(1, int(self._deadline - time.monotonic()))
        capped = not self._cell_timeout or remaining < self._cell_timeout
        self.timeout = remaining if capped else self._cell_timeout
        if self.judge_answers and not self._runtime_checked:
            self._runtime_checked = True
            self._check_runtime()
        source, tests = cell.source, self._tests_judged_outside(cell)
        if tests is not None:
            # The kernel runs only the visible checks, for the student to see.
            cell.source = judged_tests.split_hidden(source)[0] if tests != source else ""
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = KERNEL_DIED_ENAME
            cell.outputs.append(_error_output(KERNEL_DIED_ENAME, self._stop_message()))
            return cell, resources
        finally:
            cell.source = source
        if capped and self._timed_out(cell):
            # The cell was cut short by the submission's deadline, not its own limit.
            self._stopped = SUBMISSION_TIMEOUT_ENAME
            cell.outputs = [o for o in cell.outputs if o.get("ename") != CELL_TIMEOUT_ENAME]
            cell.outputs.append(_error_output(SUBMISSION_TIMEOUT_ENAME, self._stop_message()))
        if tests is not None and self._stopped is None:
            self._judge_outside(cell, tests)
        elif self.judge_answers:
            self._judge(cell, index)
        return cell, resources

    def _tests_judged_outside(self, cell: NotebookNode) -> str | None:
        """The code the grader runs itself for ``cell``: its hidden tests, or the whole
        cell when it has none; None for cells the kernel runs as they are."""
        if not (self.judge_answers and cell.metadata.get("nbgrader", {}).get("grade")):
            return None
        if not judged_tests.judged_outside(cell.source):
            return None
        hidden = judged_tests.split_hidden(cell.source)[1]
        return cell.source if hidden is None else hidden

    def _open_link(self) -> KernelLink:
        if self._link is None:
            self._link = KernelLink(
                self.km.get_connection_info(),
                is_alive=run_sync(self.km.is_alive),
                interrupt=run_sync(self.km.interrupt_kernel),
            )
        return self._link

    def _check_runtime(self) -> None:
        """Import the kernel's side and open a session before any student code runs:
        if that fails, the kernel cannot reach the grader's runtime, a fault of the
        grading, not the student's."""
        deadline = time.monotonic() + RUNTIME_CHECK_SECONDS
        try:
            with self._open_link().session(deadline, import_runtime=True):
                pass
        except LinkFailed as error:
            raise GraderFault(f"the kernel cannot run autograder.kernel_calls: {error}") from None

    def _judge_outside(self, cell: NotebookNode, tests: str) -> None:
        """Score ``cell`` by the grader's run of ``tests``, whatever the kernel printed."""
        cell.outputs = [_demoted(output) for output in cell.outputs]
        deadline = min(self._deadline, time.monotonic() + self.timeout)
        try:
            verdict = judged_tests.run_hidden_tests(tests, self._open_link(), deadline)
        except KernelDied:
            self._stopped = KERNEL_DIED_ENAME
            cell.outputs.insert(0, _error_output(KERNEL_DIED_ENAME, self._stop_message()))
            return
        except LinkFailed as error:
            verdict = judged_tests.Verdict(False, f"a call of the submission's code {error}")
        # First: nbgrader scores a cell by its first error or result.
        if verdict.fraction > 0:
            cell.outputs.insert(0, _partial_credit(cell, verdict))
        elif not verdict.passed:
            cell.outputs.insert(0, _error_output(JUDGE_ENAME, verdict.message))

    def _judge(self, cell: NotebookNode, index: int) -> None:
        """Fail a test cell that ran cleanly when the answers it hands over do not pass."""
        answers = self._answers.pop(index, [])
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            return
        if any(output.get("output_type") == "error" for output in cell.outputs):
            return
        for key in judges.judged_keys(cell.source):
            keyed = [a for a in answers if isinstance(a, dict) and a.get("key") == key]
            failure = judges.verdict(key, keyed)
            if failure is not None:
                # First: nbgrader scores a cell by its first error or result.
                cell.outputs.insert(0, _error_output(JUDGE_ENAME, failure))
                return

    @staticmethod
    def _timed_out(cell: NotebookNode) -> bool:
        return any(output.get("ename") == CELL_TIMEOUT_ENAME for output in cell.outputs)

    def _stop_message(self) -> str:
        if self._stopped == SUBMISSION_TIMEOUT_ENAME:
            return f"the submission used up its {self.submission_timeout} s"
        return "the kernel died (memory limit or crash); later cells were not run"


def judging_config(config: Config) -> Config:
    """``config`` with nbgrader's Execute step replaced by a judging :class:`GuardedExecute`."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import CheckCellMetadata

    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    # The sanitising pass checked nbgrader's cell metadata, which execution cannot change.
    config.Autograde.autograde_preprocessors = [
        GuardedExecute if step is Execute else step
        for step in steps
        if step is not CheckCellMetadata
    ]
    config.GuardedExecute.judge_answers = True
    return config
