"""Bring submissions into ``submitted/<student>/<assignment>/``.

From nbgrader's exchange (what students submitted on JupyterHub) through nbgrader's
own collect, or from a zip whose entries are ``<student>/<file>`` (an LMS download).
"""

from __future__ import annotations

import datetime
import os
import zipfile
from pathlib import Path, PurePosixPath

from nbgrader.exchange.default.collect import ExchangeCollect

from autograder import intake
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse, require_success


class LinkSafeCollect(ExchangeCollect):
    """nbgrader's collect, copying each submission as :func:`intake.checked_copy` does.

    A student can plant a symbolic link in the exchange's inbound folder; nbgrader's
    own copy follows it with the grader's permissions (the answer key, the gradebook).
    Links and special files are left behind and logged instead.
    """

    def do_copy(self, src, dest, log=None):
        if os.path.islink(src) or not os.path.isdir(src):
            self.log.error("Not collected: %s is not a folder", src)
            return
        for reason in intake.checked_copy(Path(src), Path(dest)):
            self.log.warning("%s: %s", src, reason)


def collect_from_exchange(course: Course, assignment: str) -> list[str]:
    """nbgrader's collect without following links; returns whose submissions arrived."""
    nbgrader_course = NbgraderCourse.for_course(course)
    config = nbgrader_course.config()
    config.ExchangeFactory.collect = LinkSafeCollect
    result = nbgrader_course.api(config).collect(assignment, update=True)
    require_success(result, f"nbgrader collect {assignment}")
    folder = course.root / "submitted"
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


def collect_from_zip(course: Course, assignment: str, archive: Path) -> list[str]:
    """Unpack ``<student>/<file>`` entries; rejects paths that leave the student's folder."""
    students: set[str] = set()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    with zipfile.ZipFile(archive) as bundle:
        for entry in bundle.infolist():
            if entry.is_dir():
                continue
            parts = PurePosixPath(entry.filename).parts
            if len(parts) < 2 or ".." in parts or parts[0].startswith(("/", ".")):
                raise ValueError(f"{archive}: entry {entry.filename!r} is not <student>/<file>")
            student, relative = parts[0], Path(*parts[1:])
            target = course.root / "submitted" / student / assignment / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bundle.read(entry))
            students.add(student)
    for student in students:
        (course.root / "submitted" / student / assignment / "timestamp.txt").write_text(stamp)
    return sorted(students)
