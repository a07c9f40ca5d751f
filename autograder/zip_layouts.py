"""Whose file each entry of a submissions zip is, whatever downloaded it.

Three layouts, told apart by their names, each possibly inside one wrapper folder:

- plain: ``<student>/<file>``;
- Canvas's "Download Submissions": flat ``<name>_[LATE_]<user id>_<submission id>_<file>``;
- Moodle's "Download all submissions":
  ``<Full Name>_<participant id>_assignsubmission_file_/<file>``.

Canvas and Moodle name students by their own ids and names: a roster (CSV with a
``student_id`` column, and ``lms_id`` and/or ``name`` or ``first_name`` and
``last_name``: the course's ``roster.csv`` is one) maps them to the course's student
ids. Junk an archiver adds (``__MACOSX/``, dotfiles) is ignored.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.errors import CourseError
from autograder.intake import SAFE_NAME

CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<id>\d+)_\d+_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_[a-z]+_?$")
JUNK = ("__MACOSX", "Thumbs.db", "desktop.ini")


@dataclass(frozen=True)
class Entry:
    """One file of the zip: whose it is and where it goes in their submission folder."""

    student: str
    path: PurePosixPath
    info: zipfile.ZipInfo


class Roster:
    """The course's student ids by an LMS's ids and by names."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_id: dict[str, str] = {}
        self.by_name: dict[str, str] = {}
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "student_id" not in rows[0]:
            raise CourseError(f"{path}: a roster is a CSV file with a student_id column")
        for row in rows:
            student = (row.get("student_id") or "").strip()
            if row.get("lms_id"):
                self.by_id[row["lms_id"].strip()] = student
            name = row.get("name") or f"{row.get('first_name') or ''} {row.get('last_name') or ''}"
            if name.strip():
                self.by_name[_name_key(name)] = student

    def student(self, lms_id: str, name: str) -> str:
        found = self.by_id.get(lms_id) or self.by_name.get(_name_key(name))
        if not found:
            raise CourseError(
                f"{self.path}: no student_id for {name!r} (id {lms_id}); add them to the roster"
            )
        return found


def _name_key(name: str) -> str:
    """Names compared as Canvas writes them: lower case, letters only."""
    return re.sub(r"[^a-z]", "", name.lower())


def _is_junk(path: PurePosixPath) -> bool:
    return any(part.startswith(".") or part in JUNK for part in path.parts)


def entries(archive: Path, bundle: zipfile.ZipFile, roster: Roster | None) -> list[Entry]:
    """Every file of ``bundle`` with its student; refuses names that leave their folder."""
    files: list[tuple[PurePosixPath, zipfile.ZipInfo]] = []
    for info in bundle.infolist():
        path = PurePosixPath(info.filename)
        if info.filename.startswith("/") or ".." in path.parts:
            raise CourseError(f"{archive}: entry {info.filename!r} is not <student>/<file>")
        if info.is_dir() or _is_junk(path):
            continue
        files.append((path, info))
    files = _unwrapped(files)
    layout = _layout([path for path, _ in files])
    if layout == "canvas":
        return [_canvas(archive, path, info, roster) for path, info in files]
    if layout == "moodle":
        return [_moodle(archive, path, info, roster) for path, info in files]
    placed = []
    for path, info in files:
        if len(path.parts) < 2 or not SAFE_NAME.match(path.parts[0]):
            raise CourseError(f"{archive}: entry {info.filename!r} is not <student>/<file>")
        placed.append(Entry(path.parts[0], PurePosixPath(*path.parts[1:]), info))
    return placed


def _layout(paths: list[PurePosixPath]) -> str:
    if paths and all(len(p.parts) == 1 and CANVAS.match(p.name) for p in paths):
        return "canvas"
    if paths and all(len(p.parts) > 1 and MOODLE.match(p.parts[0]) for p in paths):
        return "moodle"
    return "plain"


def _unwrapped(
    files: list[tuple[PurePosixPath, zipfile.ZipInfo]],
) -> list[tuple[PurePosixPath, zipfile.ZipInfo]]:
    """``files`` without the folders that hold all of them and belong to no student:
    under such a folder lie LMS names, or ``<student>/<file>`` entries all one level down."""
    while files and _layout([path for path, _ in files]) == "plain":
        paths = [path for path, _ in files]
        if len({p.parts[0] for p in paths}) != 1 or any(len(p.parts) < 2 for p in paths):
            break
        inner = [PurePosixPath(*p.parts[1:]) for p in paths]
        if _layout(inner) == "plain" and any(len(p.parts) < 2 for p in inner):
            break  # the one folder is a student's own
        files = [(path, info) for path, (_, info) in zip(inner, files, strict=True)]
    return files


def _canvas(
    archive: Path, path: PurePosixPath, info: zipfile.ZipInfo, roster: Roster | None
) -> Entry:
    match = CANVAS.match(path.name)
    assert match is not None
    if roster is None:
        raise CourseError(f"{archive} is a Canvas download: name its roster with --roster")
    student = roster.student(match["id"], match["name"])
    return Entry(student, PurePosixPath(match["file"]), info)


def _moodle(
    archive: Path, path: PurePosixPath, info: zipfile.ZipInfo, roster: Roster | None
) -> Entry:
    match = MOODLE.match(path.parts[0])
    assert match is not None
    if roster is None:
        raise CourseError(f"{archive} is a Moodle download: name its roster with --roster")
    student = roster.student(match["id"], match["name"])
    return Entry(student, PurePosixPath(*path.parts[1:]), info)
