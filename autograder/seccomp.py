"""A seccomp filter for student kernels, as the classic BPF program bubblewrap loads.

Denied with EPERM: mounting and pivoting, device nodes, tracing other processes,
kernel keyrings, eBPF, perf events, module loading, new namespaces (``unshare``,
``setns``, ``clone`` with a ``CLONE_NEW*`` flag), io_uring (which would bypass this
filter) and similar calls no notebook needs. ``clone3`` answers ENOSYS: its flags sit
in memory a filter cannot read, and the C library then falls back to ``clone``.
System calls of another ABI (32-bit x86 through ``int 0x80``, x32) are denied too,
since their numbers differ.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# struct sock_filter opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_AT_LEAST = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_ANY_BIT = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
# Offsets in struct seccomp_data: nr, arch, instruction pointer, then args[6].
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
# CLONE_NEWNS | CLONE_NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NEW_FLAGS = 0x7E020000


@dataclass(frozen=True)
class _Abi:
    audit_arch: int
    numbers: dict[str, int]
    foreign_from: int | None  # numbers from here on belong to another ABI


# Denied calls by number; "clone" and "clone3" are checked on their own.
_X86_64_NUMBERS = {
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "move_mount": 429,
    "open_tree": 428,
    "mount_setattr": 442,
    "mknod": 133,
    "mknodat": 259,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "unshare": 272,
    "setns": 308,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "acct": 163,
    "quotactl": 179,
    "syslog": 103,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "lookup_dcookie": 212,
    "clone": 56,
    "clone3": 435,
}
_AARCH64_NUMBERS = {
    "mount": 40,
    "umount2": 39,
    "pivot_root": 41,
    "chroot": 51,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "move_mount": 429,
    "open_tree": 428,
    "mount_setattr": 442,
    "mknodat": 33,
    "ptrace": 117,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "kcmp": 272,
    "keyctl": 219,
    "add_key": 217,
    "request_key": 218,
    "bpf": 280,
    "perf_event_open": 241,
    "userfaultfd": 282,
    "unshare": 97,
    "setns": 268,
    "open_by_handle_at": 265,
    "name_to_handle_at": 264,
    "init_module": 105,
    "finit_module": 273,
    "delete_module": 106,
    "kexec_load": 104,
    "kexec_file_load": 294,
    "reboot": 142,
    "swapon": 224,
    "swapoff": 225,
    "acct": 89,
    "quotactl": 60,
    "syslog": 116,
    "sethostname": 161,
    "setdomainname": 162,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "lookup_dcookie": 18,
    "clone": 220,
    "clone3": 435,
}
_X86_64 = _Abi(0xC000003E, _X86_64_NUMBERS, foreign_from=0x40000000)  # x32 sets this bit
_AARCH64 = _Abi(0xC00000B7, _AARCH64_NUMBERS, foreign_from=None)
_ABIS = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}


def _op(code: int, k: int, jump_true: int = 0, jump_false: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jump_true, jump_false, k)


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()).lower() in _ABIS


def filter_program(machine: str | None = None) -> bytes:
    """The filter for this machine's ABI, as bytes for ``bwrap --seccomp FD``."""
    machine = (machine or platform.machine()).lower()
    if machine not in _ABIS:
        raise ValueError(f"no seccomp filter for the {machine} architecture")
    abi = _ABIS[machine]
    denied = [n for name, n in abi.numbers.items() if name not in ("clone", "clone3")]
    deny = _op(_RETURN, _ERRNO | errno.EPERM)
    no_such_call = _op(_RETURN, _ERRNO | errno.ENOSYS)
    allow = _op(_RETURN, _ALLOW)
    # Layout: checks, then [allow, deny, no_such_call, clone check]; jumps count forward.
    checks: list[tuple[int, int, str]] = [(_JUMP_EQUAL, n, "deny") for n in denied]
    checks.append((_JUMP_EQUAL, abi.numbers["clone3"], "no_such_call"))
    checks.append((_JUMP_EQUAL, abi.numbers["clone"], "clone"))
    if abi.foreign_from is not None:
        checks.insert(0, (_JUMP_AT_LEAST, abi.foreign_from, "deny"))
    head = [_op(_LOAD_WORD, _ARCH), None, _op(_LOAD_WORD, _NR)]
    after_checks = {"allow": 0, "deny": 1, "no_such_call": 2, "clone": 3}
    body = []
    for index, (code, value, target) in enumerate(checks):
        remaining = len(checks) - index - 1
        body.append(_op(code, value, jump_true=remaining + after_checks[target]))
    tail = [allow, deny, no_such_call]
    clone_check = [
        _op(_LOAD_WORD, _ARG0_LOW),
        _op(_JUMP_ANY_BIT, CLONE_NEW_FLAGS, jump_true=1),
        allow,
        deny,
    ]
    # A foreign architecture jumps straight to the deny after the checks.
    head[1] = _op(_JUMP_EQUAL, abi.audit_arch, jump_false=1 + len(body) + 1)
    return b"".join([*head, *body, *tail, *clone_check])  # type: ignore[list-item]
