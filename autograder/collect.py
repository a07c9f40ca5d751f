"""Bring submissions into ``submitted/<student>/<assignment>/``.

From nbgrader's exchange (what students submitted on JupyterHub) through nbgrader's
own collect, or from a zip: ``<student>/<file>`` entries, or the bulk download of
Canvas or Moodle with a roster (:mod:`autograder.zip_layouts`).
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.exchange.default.collect import ExchangeCollect

from autograder import intake, zip_layouts
from autograder.course import Course
from autograder.errors import CourseError
from autograder.nbgrader_course import NbgraderCourse, require_success
from autograder.zip_layouts import Roster

# nbgrader's own default for c.Exchange.root.
DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"


class LinkSafeCollect(ExchangeCollect):
    """nbgrader's collect, copying each submission as :func:`intake.checked_copy` does,
    with a submission time the student cannot set back.

    A student can plant a symbolic link in the exchange's inbound folder; nbgrader's
    own copy follows it with the grader's permissions (the answer key, the gradebook).
    Links and special files are left behind and logged instead. The time in a
    submission's ``timestamp.txt`` is written by the student's own ``nbgrader submit``
    (any time they like); the files' change times (ctime) are set by the file system
    to the moment of each change, and no one can set them back. The kept time is the
    later of the two, less :data:`SUBMIT_SLACK`.
    """

    def do_copy(self, src, dest, log=None):
        if os.path.islink(src) or not os.path.isdir(src):
            self.log.error("Not collected: %s is not a folder", src)
            return
        changed = last_change(Path(src))
        for reason in intake.checked_copy(Path(src), Path(dest)):
            self.log.warning("%s: %s", src, reason)
        claimed = self.coursedir.get_existing_timestamp(dest)
        if claimed is None or claimed < changed - SUBMIT_SLACK:
            kept = changed - SUBMIT_SLACK
            self.log.warning(
                "%s: its files last changed at %s UTC, after the time it states (%s): kept %s",
                src, f"{changed:%Y-%m-%d %H:%M:%S}", claimed, f"{kept:%Y-%m-%d %H:%M:%S}",
            )  # fmt: skip
            (Path(dest) / "timestamp.txt").write_text(f"{kept:%Y-%m-%d %H:%M:%S.%f} UTC")


# nbgrader submit states its time, then copies the files and sets their permissions:
# an honest submission's files change a little after the time it states.
SUBMIT_SLACK = datetime.timedelta(minutes=2)


def last_change(folder: Path) -> datetime.datetime:
    """The latest change time (ctime, naive UTC) of a folder and of what it holds;
    links are not followed. Past :data:`intake.MAX_ENTRIES` entries: now."""
    newest, seen = os.lstat(folder).st_ctime, 0
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            seen += 1
            if seen > intake.MAX_ENTRIES:
                return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            newest = max(newest, os.lstat(os.path.join(root, name)).st_ctime)
    return datetime.datetime.fromtimestamp(newest, datetime.UTC).replace(tzinfo=None)


def collect_from_exchange(course: Course, assignment: str) -> list[str]:
    """nbgrader's collect without following links; returns whose submissions arrived."""
    nbgrader_course = NbgraderCourse.for_course(course)
    config = nbgrader_course.config()
    root = Path(config.get("Exchange", {}).get("root", DEFAULT_EXCHANGE))
    if not root.is_dir():
        raise CourseError(
            f"no nbgrader exchange at {root}; set c.Exchange.root in nbgrader_config.py "
            f"(JupyterHub: see deploy/), or collect a zip with --zip"
        )
    config.ExchangeFactory.collect = LinkSafeCollect
    result = nbgrader_course.api(config).collect(assignment, update=True)
    require_success(result, f"nbgrader collect {assignment}")
    folder = course.root / "submitted"
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


@dataclass
class Collected:
    """Who was collected, and what a person should know about it."""

    students: list[str]
    notes: list[str] = field(default_factory=list)


def collect_from_zip(
    course: Course,
    assignment: str,
    archive: Path,
    roster: Path | None = None,
    timezone: str = "UTC",
) -> Collected:
    """Unpack a submissions zip (see :mod:`autograder.zip_layouts`) into ``submitted/``.

    A student's earlier files are replaced; a notebook named like the assignment's
    ("Forward_Pass (1).ipynb") takes its name, with a note; each submission's time is
    its newest entry's, read in ``timezone``, in nbgrader's ``timestamp.txt``.
    """
    notebook = course.source_notebook(assignment).name
    with zipfile.ZipFile(archive) as bundle:
        found = zip_layouts.entries(archive, bundle, Roster(roster) if roster else None)
        by_student: dict[str, list[zip_layouts.Entry]] = {}
        for entry in found:
            by_student.setdefault(entry.student, []).append(entry)
        collected = Collected(sorted(by_student))
        for student, files in sorted(by_student.items()):
            if not intake.SAFE_NAME.match(student):
                raise CourseError(f"{archive}: {student!r} cannot be a student id")
            folder = course.root / "submitted" / student / assignment
            if folder.is_symlink() or folder.is_file():
                raise CourseError(f"{folder} is not a folder; remove it and collect again")
            if folder.exists():
                shutil.rmtree(folder)
            for entry in files:
                if entry.info.file_size > intake.MAX_FILE_BYTES:
                    collected.notes.append(f"{student}: {entry.path} left out (too large)")
                    continue
                target = folder.joinpath(*entry.path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(bundle.read(entry.info))
            collected.notes += _named_notebook(folder, notebook, student)
            newest = max(datetime.datetime(*entry.info.date_time) for entry in files)
            (folder / "timestamp.txt").write_text(f"{newest:%Y-%m-%d %H:%M:%S.%f} {timezone}")
    return collected


def _plain_name(name: str) -> str:
    """A notebook's name without case and download suffixes: "Forward_Pass (1).ipynb"
    and "forward_pass-2.ipynb" are "forward_pass"."""
    stem = re.sub(r"\.ipynb$", "", name.strip(), flags=re.IGNORECASE)
    return re.sub(r"(\s*\(\d+\)|-\d+)$", "", stem).lower()


def _named_notebook(folder: Path, expected: str, student: str) -> list[str]:
    """Give the assignment's notebook its name; notes on what was renamed or is missing."""
    if (folder / expected).is_file():
        return []
    notebooks = sorted(folder.glob("*.ipynb"))
    alike = [path for path in notebooks if _plain_name(path.name) == _plain_name(expected)]
    if len(alike) == 1:
        alike[0].rename(folder / expected)
        return [f"{student}: took {alike[0].name!r} as {expected}"]
    names = ", ".join(repr(path.name) for path in notebooks) or "no notebook"
    return [f"{student}: no {expected} in the submission ({names})"]
