"""The seccomp filter, loaded into a real process with prctl (no bubblewrap needed)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from autograder.seccomp import filter_program, supported

LOADER = """
import ctypes, os, sys, threading, errno
program = open(sys.argv[1], "rb").read()
libc = ctypes.CDLL(None, use_errno=True)

class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
fprog = Program(len(program) // 8, program)
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0, ctypes.get_errno()  # SECCOMP_MODE_FILTER

def errno_of(result):
    return ctypes.get_errno() if result == -1 else 0

found = {
    "unshare": errno_of(libc.unshare(0x10000000)),
    "mount": errno_of(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    "ptrace": errno_of(libc.ptrace(16, os.getppid(), 0, 0)),
    "clone3": errno_of(libc.syscall(435, None, 0)),
    "keyctl": errno_of(libc.syscall(250, 0, 0, 0, 0, 0)),
}
try:
    os.mkfifo("/nonexistent-dir/fifo")
except OSError as error:
    found["mknod"] = error.errno
results = []
thread = threading.Thread(target=lambda: results.append("thread"))
thread.start(); thread.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
found["fork"] = os.waitpid(pid, 0)[1] >> 8
found["thread"] = results
print(found)
"""


@pytest.mark.skipif(not supported(), reason="no filter for this architecture")
def test_the_filter_denies_namespace_mount_trace_calls_and_allows_threads_and_forks(tmp_path):
    program = tmp_path / "filter.bpf"
    program.write_bytes(filter_program())
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(program)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    found = ast.literal_eval(result.stdout)
    assert found == {
        "unshare": 1,
        "mount": 1,
        "ptrace": 1,
        "clone3": 38,  # ENOSYS: the C library falls back to clone
        "keyctl": 1,
        "mknod": 1,
        "fork": 7,
        "thread": ["thread"],
    }


def test_unknown_architectures_are_refused() -> None:
    assert not supported("sparc64")
    with pytest.raises(ValueError, match="sparc64"):
        filter_program("sparc64")
    assert len(filter_program("aarch64")) % 8 == 0
