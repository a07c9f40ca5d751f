"""Probes: the parts of a hidden test that must run beside the student's code.

A test that needs the objects a student's function returns (a model to train, an
estimator to query) decorates a function with :func:`in_kernel`. When the grader
runs the test, that function's source runs in the kernel, over the student's names,
and returns plain data (arrays, numbers, strings); the test's assertions, reference
code and thresholds stay in the grader. Wherever a test runs inside a kernel (otter,
a student's own run) the decorator changes nothing.

A probe must be a top-level function that imports what it uses: it sees the
student's names, not the test's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, Protocol


class ProbeRunner(Protocol):
    def run_probe(self, name: str, args: tuple, kwargs: dict) -> Any: ...


_RUNNER: contextvars.ContextVar[ProbeRunner | None] = contextvars.ContextVar(
    "probe_runner", default=None
)


def in_grader() -> bool:
    """Whether a hidden test is being run by the grader (outside any kernel) now."""
    return _RUNNER.get() is not None


def in_kernel(function: Callable) -> Callable:
    """``function`` run in the student's kernel when the grader runs the test."""
    runner = _RUNNER.get()
    if runner is None:
        return function
    name = function.__name__

    def run_in_kernel(*args: Any, **kwargs: Any) -> Any:
        return runner.run_probe(name, args, kwargs)

    run_in_kernel.__name__ = name
    return run_in_kernel


def running_probes_with(runner: ProbeRunner) -> contextvars.Token:
    """Make :func:`in_kernel` send probes to ``runner`` until :func:`stop_probes`."""
    return _RUNNER.set(runner)


def stop_probes(token: contextvars.Token) -> None:
    _RUNNER.reset(token)
