"""Helpers for hidden tests.

:func:`substituted` swaps reference implementations into the student's namespace
while one check runs, so a mistake in one function is never charged to another;
:func:`passes` lets a test try the student's own functions first, so that swap (whose
every call the grader answers across the kernel boundary) is paid only when needed.
:func:`case` marks the cases of an item the instructor declares independent: where
the grader runs the test, each failed case costs only its share of the points.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

# (description, failure message or None) per case, while the grader runs a test.
_CASES: contextvars.ContextVar[list[tuple[str, str | None]] | None] = contextvars.ContextVar(
    "cases", default=None
)

_MISSING = object()


@contextmanager
def substituted(namespace: MutableMapping[str, Any], **replacements: Any) -> Iterator[None]:
    """Bind ``replacements`` in ``namespace`` for the block, then restore what was there."""
    saved = {name: namespace.get(name, _MISSING) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def passes(check: Callable[[], object]) -> bool:
    """Whether ``check`` runs without failing. A timeout or a dead kernel still ends
    the test: it is no answer, right or wrong.

    Cascade isolation at no cost for a right submission::

        if not passes(judge_train_mlp):  # with the student's own forward, backprop
            with substituted(globals(), forward=_ref_forward, backprop=_ref_backprop):
                judge_train_mlp()
    """
    try:
        check()
    except Exception as error:
        if getattr(error, "ends_the_test", False):
            raise
        return False
    return True


@contextmanager
def case(description: str) -> Iterator[None]:
    """One independent case of an item, described for the student (``"shape (2, 3)"``).

    Where the grader runs the test, a failure in the block is recorded and the test
    goes on; the item then earns the share of its points of the cases that passed.
    Anywhere else the block runs as it is, and a failure fails the test.
    """
    outcomes = _CASES.get()
    if outcomes is None:
        yield
        return
    try:
        yield
    except Exception as error:
        if getattr(error, "ends_the_test", False):
            raise
        message = (
            str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
        )
        outcomes.append((description, message or "failed"))
    else:
        outcomes.append((description, None))


@contextmanager
def recorded_cases() -> Iterator[list[tuple[str, str | None]]]:
    """Record the outcome of every :func:`case` entered while the block runs."""
    outcomes: list[tuple[str, str | None]] = []
    token = _CASES.set(outcomes)
    try:
        yield outcomes
    finally:
        _CASES.reset(token)
