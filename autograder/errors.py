"""Mistakes a user can fix, as opposed to faults of the program.

A :class:`CourseError` is a mistake in the course folder, its configuration or a
command's input: the command line shows its message as one line, which says what
to do. Any other exception is a fault and keeps its traceback.
"""

from __future__ import annotations


class CourseError(ValueError):
    """A mistake the user can fix; the message says how."""
