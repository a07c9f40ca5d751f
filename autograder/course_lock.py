"""One grading run per course at a time: a lock file that says who holds it.

Two ``autograder grade`` processes on one course would both grade the same
submissions and merge into one gradebook at once; the second waits for the first,
then finds those submissions graded and current.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from autograder.course import Course

LOCK_NAME = ".autograder-grading.lock"


@contextmanager
def grading_lock(course: Course, say: Callable[[str], None]) -> Iterator[None]:
    """Hold the course's grading lock for the block, waiting (and saying so) if taken."""
    path = course.root / LOCK_NAME
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            say(f"waiting for the grading run that holds {path} ({holder})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        since = datetime.datetime.now().isoformat(timespec="seconds")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {since}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
