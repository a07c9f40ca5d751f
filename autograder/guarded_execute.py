"""nbgrader's Execute step with a whole-submission deadline and crash containment.

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
"""

from __future__ import annotations

import time

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Any, Integer

CELL_TIMEOUT_ENAME = "CellTimeoutError"
SUBMISSION_TIMEOUT_ENAME = "SubmissionTimeoutError"
KERNEL_DIED_ENAME = "KernelDiedError"


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


class GuardedExecute(Execute):
    """Execute with ``submission_timeout`` seconds for the whole notebook."""

    submission_timeout = Integer(1800, help="Seconds for the whole notebook.").tag(config=True)
    kernel_source = Any(
        None, allow_none=True, help="A callable giving a kernel already started, or None."
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.submission_timeout
        self._cell_timeout = self.timeout
        self._stopped: str | None = None
        if km is not None or self.kernel_source is None:
            return super().preprocess(nb, resources, km)
        km = self.kernel_source()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if km is not None and self.km is not None:
                self._cleanup_kernel()

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
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = KERNEL_DIED_ENAME
            cell.outputs.append(_error_output(KERNEL_DIED_ENAME, self._stop_message()))
            return cell, resources
        if capped and self._timed_out(cell):
            # The cell was cut short by the submission's deadline, not its own limit.
            self._stopped = SUBMISSION_TIMEOUT_ENAME
            cell.outputs = [o for o in cell.outputs if o.get("ename") != CELL_TIMEOUT_ENAME]
            cell.outputs.append(_error_output(SUBMISSION_TIMEOUT_ENAME, self._stop_message()))
        return cell, resources

    @staticmethod
    def _timed_out(cell: NotebookNode) -> bool:
        return any(output.get("ename") == CELL_TIMEOUT_ENAME for output in cell.outputs)

    def _stop_message(self) -> str:
        if self._stopped == SUBMISSION_TIMEOUT_ENAME:
            return f"the submission used up its {self.submission_timeout} s"
        return "the kernel died (memory limit or crash); later cells were not run"
