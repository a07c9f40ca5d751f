"""nbgrader's exchange, with each submission and feedback file private to its student.

nbgrader's default exchange keeps other students from *finding* a submission or a
feedback file (the inbound and feedback folders cannot be listed, and the names hold
a random string or a hash of a per-submission secret: nbgrader issues #978, #1202),
but a file whose name is known is readable by everyone. With one Unix account per
person these two classes close that gap:

- :class:`PrivateSubmit` (students' servers): the submission folder becomes 0770. It
  belongs to the student and, through the set-group-ID inbound folder, to the group
  of the grading account, so only the student and the graders may enter it.
- :class:`PrivateReleaseFeedback` (the course service): each released feedback file
  becomes 0640 in the grading account's group, plus a POSIX ACL entry that lets
  exactly its student read it.
"""

from __future__ import annotations

import errno
import glob
import os
import pwd
import struct
from pathlib import Path

from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import notebook_hash

SUBMISSION_MODE = 0o770
FEEDBACK_MODE = 0o640
ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF
_READ, _WRITE = 4, 2


def owner_and_reader_acl(reader_uid: int) -> bytes:
    """The xattr form of ``u::rw-,u:<reader>:r--,g::r--,m::r--,o::---``."""
    entries = [
        (_ACL_USER_OBJ, _READ | _WRITE, _ACL_UNDEFINED_ID),
        (_ACL_USER, _READ, reader_uid),
        (_ACL_GROUP_OBJ, _READ, _ACL_UNDEFINED_ID),
        (_ACL_MASK, _READ, _ACL_UNDEFINED_ID),
        (_ACL_OTHER, 0, _ACL_UNDEFINED_ID),
    ]
    return struct.pack("<I", _ACL_VERSION) + b"".join(struct.pack("<HHI", *e) for e in entries)


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit; then only the student and the graders may enter the folder."""

    def copy_files(self) -> None:
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), SUBMISSION_MODE)


class PrivateReleaseFeedback(ExchangeReleaseFeedback):
    """nbgrader's release_feedback; then each file is readable by its student only."""

    def copy_files(self) -> None:
        super().copy_files()
        for html_file in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            self._restrict(Path(html_file))

    def _restrict(self, html_file: Path) -> None:
        # nbgrader's layout: feedback/<student>/<assignment>/<notebook>.html
        student = html_file.parent.parent.name
        secret = (html_file.parent / "submission_secret.txt").read_text()
        checksum = notebook_hash(secret=secret, notebook_id=html_file.stem)
        released = Path(self.dest_path) / f"{checksum}.html"
        if not released.is_file():
            return
        os.chmod(released, FEEDBACK_MODE)
        try:
            reader = pwd.getpwnam(student).pw_uid
        except KeyError:
            self.log.warning("No account %r: only graders can read %s", student, released)
            return
        try:
            os.setxattr(released, ACL_XATTR, owner_and_reader_acl(reader))
        except OSError as error:
            if error.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            os.chmod(released, 0o644)
            self.log.warning(
                "%s has no POSIX ACLs: %s is readable by anyone who knows its name",
                self.dest_path,
                released,
            )
