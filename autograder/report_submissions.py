"""A submitted notebook read for TAs to look at, without trusting anything in it.

The student wrote every byte of it. It is read without following links (each
folder and the file opened with ``O_NOFOLLOW`` relative to its parent), only
from a regular file under a size cap; its cells become plain text (code and
Markdown alike) and its outputs plain text or PNG/JPEG images whose data is
checked to be base64. HTML, JavaScript, SVG and every other kind of output are
named, never shown. The page template escapes all of it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
IMAGE_TYPES = ("image/png", "image/jpeg")


@dataclass
class ShownOutput:
    """``kind`` is ``text``, ``error``, ``image`` (``mime`` and base64 ``data``) or
    ``withheld`` (``text`` names what was not shown)."""

    kind: str
    text: str = ""
    mime: str = ""
    data: str = ""


@dataclass
class ShownCell:
    cell_type: str
    source: str
    execution_count: int | None = None
    outputs: list[ShownOutput] = field(default_factory=list)


@dataclass
class ShownNotebook:
    """A notebook of the submission; ``problem`` says why its cells are not shown."""

    name: str
    cells: list[ShownCell] = field(default_factory=list)
    problem: str | None = None


@dataclass
class Submission:
    """The notebooks of one submission folder, or why the folder was not read."""

    notebooks: list[ShownNotebook] = field(default_factory=list)
    problem: str | None = None
    key: str = ""


def _why(error: OSError, what: str) -> str:
    if error.errno == errno.ELOOP:
        return f"{what} is a symbolic link; links are not followed"
    if error.errno == errno.ENOTDIR:
        return f"{what} is not a folder"
    return f"{what} could not be opened: {error.strerror or error}"


@contextmanager
def _opened_folder(submitted: Path, student: str, assignment: str) -> Iterator[int]:
    """A descriptor of ``submitted/<student>/<assignment>``: neither folder may be a link."""
    opened = [os.open(submitted, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for name in (student, assignment):
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
            opened.append(os.open(name, flags, dir_fd=opened[-1]))
        yield opened[-1]
    finally:
        for descriptor in reversed(opened):
            os.close(descriptor)


def _listing(folder: int) -> tuple[list[str], str]:
    """The notebooks' names, and a key of what ``lstat`` says of each."""
    names = sorted(name for name in os.listdir(folder) if name.endswith(".ipynb"))
    key = hashlib.sha256()
    for name in names:
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            stamp = f"{info.st_mode}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}"
        except OSError:
            stamp = "gone"
        key.update(os.fsencode(name) + b"\0" + stamp.encode() + b"\0")
    return names, key.hexdigest()


def submission_key(submitted: Path, student: str, assignment: str) -> str:
    """What changes whenever the submission's notebooks may have changed (``lstat`` only:
    cheap enough to decide whether its page must be made again)."""
    try:
        with _opened_folder(submitted, student, assignment) as folder:
            return _listing(folder)[1]
    except OSError as error:
        return f"unreadable {error.errno}"


def read_submission(submitted: Path, student: str, assignment: str) -> Submission:
    """The notebooks of ``submitted/<student>/<assignment>/``, read without following links."""
    try:
        with _opened_folder(submitted, student, assignment) as folder:
            names, key = _listing(folder)
            if not names:
                return Submission(problem="the submission folder holds no notebook", key=key)
            return Submission([_read_notebook(name, folder) for name in names], key=key)
    except OSError as error:
        return Submission(
            problem=_why(error, "the submission folder"), key=f"unreadable {error.errno}"
        )


def _read_notebook(name: str, folder: int) -> ShownNotebook:
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as error:
        return ShownNotebook(name, problem=_why(error, "the file"))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return ShownNotebook(name, problem="not shown: it is not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            return ShownNotebook(
                name,
                problem=f"not shown: {info.st_size:,} bytes, over the limit of "
                f"{MAX_NOTEBOOK_BYTES:,} bytes",
            )
        chunks = []
        size = 0
        while size <= MAX_NOTEBOOK_BYTES:
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_NOTEBOOK_BYTES:
            return ShownNotebook(name, problem="not shown: it grew over the size limit")
    except OSError as error:
        return ShownNotebook(name, problem=f"could not be read: {error.strerror or error}")
    finally:
        os.close(descriptor)
    try:
        content = json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as error:
        return ShownNotebook(name, problem=f"not a readable notebook: {error}")
    return _shown(name, content)


def notebook_text(value: object) -> str:
    """A notebook's multi-line string (a string or a list of strings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return ""


def _shown(name: str, content: object) -> ShownNotebook:
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
        return ShownNotebook(name, problem="not a readable notebook: it has no list of cells")
    cells = []
    for cell in content["cells"]:
        if not isinstance(cell, dict):
            continue
        cell_type = cell.get("cell_type")
        cell_type = cell_type if cell_type in ("code", "markdown", "raw") else "unknown"
        count = cell.get("execution_count")
        shown = ShownCell(
            cell_type,
            notebook_text(cell.get("source")),
            count if isinstance(count, int) and not isinstance(count, bool) else None,
        )
        outputs = cell.get("outputs") if cell_type == "code" else None
        if isinstance(outputs, list):
            shown.outputs = [_output(output) for output in outputs if isinstance(output, dict)]
        cells.append(shown)
    return ShownNotebook(name, cells)


def _output(output: dict) -> ShownOutput:
    kind = output.get("output_type")
    if kind == "stream":
        return ShownOutput("text", _plain(notebook_text(output.get("text"))))
    if kind == "error":
        lines = output.get("traceback")
        trace = "\n".join(x for x in lines if isinstance(x, str)) if isinstance(lines, list) else ""
        head = f"{notebook_text(output.get('ename'))}: {notebook_text(output.get('evalue'))}"
        return ShownOutput("error", _plain(trace or head))
    if kind in ("execute_result", "display_data"):
        data = output.get("data")
        if not isinstance(data, dict):
            return ShownOutput("withheld", "an output without data")
        for mime in IMAGE_TYPES:
            encoded = notebook_text(data.get(mime))
            if encoded and BASE64.match(encoded):
                return ShownOutput("image", mime=mime, data="".join(encoded.split()))
        if "text/plain" in data:
            return ShownOutput("text", _plain(notebook_text(data["text/plain"])))
        kinds = ", ".join(sorted(str(mime) for mime in data)) or "no data"
        return ShownOutput("withheld", f"output of type {kinds} not shown")
    return ShownOutput("withheld", "an unknown kind of output, not shown")


def _plain(text: str) -> str:
    """Terminal colour codes removed."""
    return ANSI_ESCAPE.sub("", text)
