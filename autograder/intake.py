"""Reading what students wrote without trusting it: checked copies and hashes.

A submission folder may hold anything a student, a broken upload or a hostile kernel
could leave: symbolic links to files the grader can read, FIFOs that block a
reader, device nodes, sockets, huge files. The grader only ever reads a submission
through :func:`checked_copy` (regular files opened with ``O_NOFOLLOW``, size-capped;
everything else is dropped with a reason) and hashes it with :func:`tree_sha256`,
which never opens anything but a regular file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 2000
# Left out without a word, as nbgrader's own exchange does.
IGNORED = {".ipynb_checkpoints", "__pycache__"}
# Names a submission's files may have: they reach HTML pages and command lines.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,200}$")
_CHUNK = 1024 * 1024
_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


class UnsafeFolder(ValueError):
    """The submission folder itself is not a plain folder (a link, a file, missing)."""


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def require_plain_folder(folder: Path, below: Path) -> None:
    """``folder`` and every folder between ``below`` and it are real folders, not links."""
    relative = folder.relative_to(below)
    current = below
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError as error:
            raise UnsafeFolder(f"{current} does not exist") from error
        if not stat.S_ISDIR(mode):
            raise UnsafeFolder(f"{current} is {_kind(mode)}, not a folder")


def _entries(folder: Path, relative: Path = Path()) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry under ``folder`` with its lstat, folders before their content, sorted."""
    with os.scandir(folder / relative) as scan:
        found = sorted(scan, key=lambda entry: entry.name)
    for entry in found:
        info = entry.stat(follow_symlinks=False)
        yield relative / entry.name, info
        if stat.S_ISDIR(info.st_mode):
            yield from _entries(folder, relative / entry.name)


def _open_regular(path: Path) -> int:
    """A read descriptor of ``path`` if it is a regular file; never follows a link or blocks."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(f"{path} is not a regular file")
    return descriptor


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``; OSError for a link, a special file or too big."""
    descriptor = _open_regular(path)
    with os.fdopen(descriptor, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"{path.name} is larger than {max_bytes} bytes")
    return data


def checked_copy(
    source: Path,
    target: Path,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> list[str]:
    """Copy the folders and regular files of ``source`` into ``target``; returns what was dropped.

    Symbolic links, special files, unsafe names, files over ``max_file_bytes`` and
    anything past ``max_total_bytes`` or :data:`MAX_ENTRIES` entries are left out,
    each with a one-line reason.
    """
    dropped: list[str] = []
    unsafe_folders: set[Path] = set()  # and ignored ones: their content is skipped
    total = 0
    target.mkdir(parents=True, exist_ok=True)
    for count, (relative, info) in enumerate(_entries(source)):
        name = relative.as_posix()
        if count >= MAX_ENTRIES:
            dropped.append(f"dropped: more than {MAX_ENTRIES} files in the submission")
            break
        if relative.name in IGNORED or any(parent in unsafe_folders for parent in relative.parents):
            if stat.S_ISDIR(info.st_mode):
                unsafe_folders.add(relative)
            continue
        if not SAFE_NAME.match(relative.name):
            dropped.append(f"dropped: {name!a} has characters a file name may not have")
            if stat.S_ISDIR(info.st_mode):
                unsafe_folders.add(relative)
            continue
        if stat.S_ISDIR(info.st_mode):
            (target / relative).mkdir()
            continue
        if not stat.S_ISREG(info.st_mode):
            dropped.append(f"dropped: {name} is {_kind(info.st_mode)}")
            continue
        if info.st_size > max_file_bytes or total + info.st_size > max_total_bytes:
            dropped.append(f"dropped: {name} is too large ({info.st_size} bytes)")
            continue
        try:
            data = read_regular(source / relative, max_file_bytes)
        except OSError as error:
            dropped.append(f"dropped: {name} could not be read safely ({error.strerror or error})")
            continue
        total += len(data)
        with open(target / relative, "xb") as copy:
            copy.write(data)
    return dropped


def tree_sha256(folder: Path) -> str:
    """A hash of every entry's name, kind and (for regular files) bytes under ``folder``."""
    digest = hashlib.sha256()
    if not folder.is_dir() or folder.is_symlink():
        return digest.hexdigest()
    for relative, info in _entries(folder):
        digest.update(f"{relative.as_posix()}\0{stat.S_IFMT(info.st_mode):o}\0".encode())
        if not stat.S_ISREG(info.st_mode):
            continue
        with (
            contextlib.suppress(OSError),
            os.fdopen(_open_regular(folder / relative), "rb") as file,
        ):
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
