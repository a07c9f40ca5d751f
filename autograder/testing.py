"""Helpers for hidden tests.

:func:`substituted` swaps reference implementations into the student's namespace
while one check runs, so a mistake in one function is never charged to another.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

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
