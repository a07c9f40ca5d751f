"""Checked copies and hashes of submission folders that may hold anything."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from autograder import intake


@pytest.fixture()
def submission(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted" / "alice" / "tiny"
    (folder / "data").mkdir(parents=True)
    (folder / "tiny.ipynb").write_text('{"cells": []}')
    (folder / "data" / "points.csv").write_text("1,2\n")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "tiny-checkpoint.ipynb").write_text("{}")
    secret = tmp_path / "answer-key.ipynb"
    secret.write_text("SOLUTION")
    (folder / "key.ipynb").symlink_to(secret)
    (folder / "linked-folder").symlink_to(tmp_path)
    os.mkfifo(folder / "pipe.ipynb")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "sock"))
    with open(folder / "big.bin", "wb") as big:
        big.truncate(2048)
    (folder / "<b>.ipynb").write_text("{}")
    return folder


def test_only_regular_files_and_folders_are_copied_and_the_rest_is_said(
    submission: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    dropped = intake.checked_copy(submission, copy, max_file_bytes=1024)
    copied = sorted(str(p.relative_to(copy)) for p in copy.rglob("*"))
    assert copied == ["data", "data/points.csv", "tiny.ipynb"]
    assert (copy / "tiny.ipynb").read_text() == '{"cells": []}'
    assert sorted(dropped) == sorted(
        [
            "dropped: key.ipynb is a symbolic link",
            "dropped: linked-folder is a symbolic link",
            "dropped: pipe.ipynb is a FIFO",
            "dropped: sock is a socket",
            "dropped: big.bin is too large (2048 bytes)",
            "dropped: '<b>.ipynb' has characters a file name may not have",
        ]
    )


def test_a_submission_folder_that_is_a_link_is_refused(submission: Path, tmp_path: Path) -> None:
    submitted = tmp_path / "submitted"
    (submitted / "mallory").mkdir()
    (submitted / "mallory" / "tiny").symlink_to(submission)
    with pytest.raises(intake.UnsafeFolder, match="not a folder"):
        intake.require_plain_folder(submitted / "mallory" / "tiny", submitted)
    intake.require_plain_folder(submission, submitted)


def test_the_hash_never_opens_special_files_and_sees_where_links_point(
    submission: Path, tmp_path: Path
) -> None:
    before = intake.tree_sha256(submission)  # returns although a FIFO is there
    assert before == intake.tree_sha256(submission)
    (tmp_path / "answer-key.ipynb").write_text("CHANGED")
    assert intake.tree_sha256(submission) == before, "a link's target is not read"
    (submission / "data" / "points.csv").write_text("3,4\n")
    assert intake.tree_sha256(submission) != before


def test_reading_a_link_or_a_fifo_fails_at_once(submission: Path) -> None:
    for name in ("key.ipynb", "pipe.ipynb"):
        with pytest.raises(OSError):
            intake.read_regular(submission / name, 1024)
    assert intake.read_regular(submission / "tiny.ipynb", 1024) == b'{"cells": []}'
