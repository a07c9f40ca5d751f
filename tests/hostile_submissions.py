"""Hostile submissions of the tiny course, each with the outcome grading must give it.

Each attack replaces solution cells of the tiny assignment (``relu``: 3 points,
``double``: 2 points) and may plant files in its submission folder. Attacks that probe
the sandbox define ``double`` only when the probe found the sandbox closed, so a
measure that is missing costs them 2 points instead of attacking the host for real.
Attacks on the trusted side (links, FIFOs, floods, feedback injection) are checked
by hashes and by the pages written. ``{root}`` in a cell is the course folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

RELU = "def relu(z):\n    return np.maximum(0, z)"
DOUBLE = "def double(x):\n    return 2 * x"
SECRET_ENVIRONMENT = "HOSTILE_SUITE_SECRET"
MEMORY = "memory: the memory limit was hit"
OUTPUT_PREFIX = "output: "
VICTIMS = ("victim-1", "victim-2", "victim-3", "victim-4")
VICTIM_NOTEBOOK = "{root}/submitted/{victim}/tiny/tiny.ipynb"
# What no feedback page may contain: hidden tests, the answer key, live (unescaped) script.
FORBIDDEN_IN_FEEDBACK = (
    "HIDDEN-RELU-SECRET",
    "HIDDEN-DOUBLE-SECRET",
    "BEGIN SOLUTION",
    "<script>alert",
    "<img src=x onerror",
    '<svg xmlns="http://www.w3.org/2000/svg" onload',
    "javascript:alert",
)


@dataclass(frozen=True)
class Attack:
    """Cells of the submission, files planted beside it, and the outcome expected."""

    cells: dict[str, str]
    score: float = 5
    reasons: tuple[str, ...] = ()
    files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    status: str = "graded"


def probe(code: str) -> dict[str, str]:
    """``code`` sets ``escaped = True`` when it got through; ``double`` only if it did not."""
    body = f"import ctypes, os, socket, stat, sys\nescaped = False\n{code}\nif not escaped:\n"
    return {"relu": RELU, "double": body + "    " + DOUBLE.replace("\n", "\n    ")}


def then_double(code: str) -> dict[str, str]:
    """``code`` runs, then ``double`` is defined: the damage is checked outside."""
    return {"relu": RELU, "double": f"import os, socket\n{code}\n{DOUBLE}"}


def tried(statement: str) -> str:
    """``statement`` in a ``try``: it escaped when it raised nothing."""
    return f"try:\n    {statement}\n    escaped = True\nexcept Exception:\n    pass"


# A device node made is removed at once: the probe only needs to know it could be made.
DISCARD_NODE = (
    "\nfor node in ('disk', 'mem'):\n    if os.path.lexists(node):\n        os.remove(node)"
)
CONNECTION_FILE = (
    "from ipykernel.kernelapp import IPKernelApp\ncf = IPKernelApp.instance().abs_connection_file\n"
)
LIBC = "libc = ctypes.CDLL(None, use_errno=True)\n"
STATUS = "status = open('/proc/self/status').read()\n"
ALL_ENVIRONMENTS = (
    "texts = [str(os.environ)]\n"
    "for pid in os.listdir('/proc'):\n"
    "    try:\n"
    "        texts.append(open(f'/proc/{pid}/environ', errors='replace').read())\n"
    "    except Exception:\n"
    "        pass\n"
    f"escaped = any('{SECRET_ENVIRONMENT}' in text for text in texts)"
)


def fill(folder: str, megabytes: int, cap_megabytes: int) -> str:
    """Write ``megabytes`` into the folder the expression ``folder`` names; escaped when
    more than the cap fit."""
    return (
        f"sink_path = os.path.join({folder}, 'fill.bin')\n"
        "written = 0\n"
        "try:\n"
        "    with open(sink_path, 'wb') as sink:\n"
        f"        for _ in range({megabytes}):\n"
        "            sink.write(b'x' * 2**20)\n"
        "            sink.flush()\n"
        "            written += 1\n"
        "except OSError:\n"
        "    pass\n"
        f"escaped = written > {cap_megabytes}\n"
        "os.remove(sink_path) if os.path.exists(sink_path) else None"
    )


MEMORY_BY_CHILDREN = (
    "import os\n"
    "children = []\n"
    "for _ in range(3):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        try:\n"
    "            hog = bytearray(b'\\x01') * (600 * 2**20)\n"
    "        finally:\n"
    "            os._exit(0)\n"
    "    children.append(pid)\n"
    "for pid in children:\n"
    "    os.waitpid(pid, 0)\n"
)
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
XSS_MARKDOWN = XSS + "\n\n[a link](javascript:alert(1))"
HTML_FILE_NAME = "<img src=x onerror=alert(1)>.ipynb"


def attacks(scratch_mb: int) -> dict[str, Attack]:
    """Every hostile submission by name; ``scratch_mb`` is the size of a kernel's tmpfs."""
    victim = VICTIM_NOTEBOOK.format(root="{root}", victim="{victim}")
    return {
        # Privilege: the kernel is nobody, with no capabilities and no way to gain any.
        "runs-as-root": Attack(probe("escaped = os.geteuid() == 0 or os.getuid() == 0")),
        "has-capabilities": Attack(
            probe(
                STATUS + "escaped = any(line.split()[1].strip('0') for line in "
                "status.splitlines() if line.startswith(('CapEff', 'CapPrm', 'CapBnd')))"
            )
        ),
        "setuid-root": Attack(probe(tried("os.setuid(0)"))),
        "reads-accuracy-thresholds": Attack(
            probe(
                "from autograder.thresholds import THRESHOLDS_FILE\n"
                "try:\n    escaped = 'cnn_mnist' in THRESHOLDS_FILE.read_text()\n"
                "except OSError:\n    pass"
            )
        ),
        "reads-etc-shadow": Attack(
            probe(
                "try:\n    escaped = ':' in open('/etc/shadow').read()\nexcept OSError:\n    pass"
            )
        ),
        "no-seccomp-filter": Attack(probe(STATUS + "escaped = 'Seccomp:\\t2' not in status")),
        "grader-environment": Attack(probe(ALL_ENVIRONMENTS)),
        # Mounts, namespaces and devices.
        "mounts-tmpfs": Attack(
            probe(LIBC + "escaped = libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0")
        ),
        "new-mount-namespace": Attack(probe(LIBC + "escaped = libc.unshare(0x00020000) == 0")),
        "makes-block-device": Attack(
            probe(tried("os.mknod('disk', stat.S_IFBLK | 0o600, os.makedev(8, 0))") + DISCARD_NODE)
        ),
        "makes-char-device": Attack(
            probe(tried("os.mknod('mem', stat.S_IFCHR | 0o600, os.makedev(1, 1))") + DISCARD_NODE)
        ),
        "host-paths-in-mountinfo": Attack(
            probe("escaped = '{root}' in open('/proc/self/mountinfo').read()")
        ),
        "sees-cgroups": Attack(
            probe(
                "escaped = any(os.path.exists(p) for p in ('/sys/fs/cgroup/pids', "
                "'/sys/fs/cgroup/memory', '/sys/fs/cgroup/cgroup.controllers'))"
            )
        ),
        "ptrace-attach": Attack(
            probe(
                LIBC + "escaped = libc.ptrace(16, 1, 0, 0) == 0\nif escaped:\n"
                "    libc.ptrace(17, 1, 0, 0)"
            )
        ),
        # What only root, or a process with capabilities, could do.
        "chowns-to-root": Attack(
            probe("open('owned', 'w').close()\n" + tried("os.chown('owned', 0, 0)"))
        ),
        "binds-privileged-port": Attack(probe(tried("socket.socket().bind(('127.0.0.1', 80))"))),
        "sets-hostname": Attack(probe(tried("socket.sethostname('owned')"))),
        "reads-kernel-log": Attack(
            probe(
                LIBC + "buffer = ctypes.create_string_buffer(4096)\n"
                "escaped = libc.klogctl(3, buffer, 4096) >= 0"
            )
        ),
        # The grading process's kernel files: its kernelspec and connection file.
        "kernelspec-reachable": Attack(
            probe(
                CONNECTION_FILE + "escaped = any(os.path.isdir(os.path.join(folder, 'jupyter')) "
                "for folder in (os.path.dirname(cf), os.path.dirname(os.path.dirname(cf))))"
            )
        ),
        "replaces-connection-file": Attack(
            probe(
                CONNECTION_FILE
                + tried("os.rename(cf, cf + '.moved')\n    os.rename(cf + '.moved', cf)")
            )
        ),
        # Links and special files left in the working folder for the trusted side.
        "symlink-notebook-to-classmate": Attack(
            then_double(
                "try:\n    os.remove('tiny.ipynb')\nexcept OSError:\n    pass\n"
                f"try:\n    os.symlink('{victim.format(victim='victim-3', root='{root}')}', "
                "'tiny.ipynb')\nexcept OSError:\n    pass"
            )
        ),
        "symlink-answer-key-into-feedback": Attack(
            then_double(
                "try:\n    os.symlink('{root}/source/tiny/tiny.ipynb', 'answers.txt')\n"
                "except OSError:\n    pass"
            )
        ),
        "fifo-in-working-folder": Attack(
            then_double("try:\n    os.mkfifo('zz.ipynb')\nexcept OSError:\n    pass")
        ),
        "socket-in-working-folder": Attack(
            then_double("socket.socket(socket.AF_UNIX).bind('zz-socket.ipynb')")
        ),
        "extra-broken-notebook": Attack(then_double("open('zz-extra.ipynb', 'w').write('{')")),
        # Files planted in the submission folder itself (an upload, a collect).
        "submitted-symlink-to-classmate": Attack(
            probe(
                "try:\n    escaped = 'cells' in open('data.txt').read()\nexcept OSError:\n    pass"
            ),
            reasons=("dropped: data.txt is a symbolic link",),
            files={"data.txt": ("symlink", "victim-1")},
        ),
        "submitted-notebook-is-symlink": Attack(
            {},
            score=0,
            status="error",
            reasons=(
                "dropped: tiny.ipynb is a symbolic link",
                "missing notebook: tiny.ipynb",
                "crash: nbgrader could not grade the submission",
            ),
            files={"tiny.ipynb": ("symlink", "victim-1")},
        ),
        "submitted-fifo": Attack(
            {"relu": RELU, "double": DOUBLE},
            reasons=("dropped: pipe.ipynb is a FIFO",),
            files={"pipe.ipynb": ("fifo",)},
        ),
        "submitted-huge-file": Attack(
            probe("escaped = os.path.exists('big.bin')"),
            reasons=(f"dropped: big.bin is too large ({80 * 2**20} bytes)",),
            files={"big.bin": ("sparse", str(80 * 2**20))},
        ),
        "submitted-html-file-name": Attack(
            {"relu": RELU, "double": DOUBLE},
            reasons=(f"dropped: {HTML_FILE_NAME!a} has characters a file name may not have",),
            files={HTML_FILE_NAME: ("notebook",)},
        ),
        # Disk: every writable folder is a size-capped tmpfs.
        "fills-working-folder": Attack(probe(fill("'.'", 4 * scratch_mb, scratch_mb))),
        "fills-tmp": Attack(probe(fill("'/tmp'", 4 * scratch_mb, scratch_mb))),
        "fills-dev-shm": Attack(probe(fill("'/dev/shm'", 4 * scratch_mb, scratch_mb))),
        # The IPC folder is the one host folder a kernel writes: a tmpfs of 1 MiB, which
        # only a grader run as root can mount (README, Trust).
        "fills-ipc-folder": Attack(
            probe(CONNECTION_FILE + fill("os.path.dirname(cf)", 16, 2)),
            score=5 if os.geteuid() == 0 else 3,
        ),
        # Memory: the whole sandbox is one memory cgroup.
        "memory-by-children": Attack(then_double(MEMORY_BY_CHILDREN), reasons=(MEMORY,)),
        # Output floods are cut before nbgrader or the feedback sees them.
        "one-huge-line": Attack(then_double("print('x' * 16 * 2**20)"), reasons=(OUTPUT_PREFIX,)),
        "many-prints": Attack(
            then_double("for i in range(300_000):\n    print(i)"), reasons=(OUTPUT_PREFIX,)
        ),
        "huge-html-display": Attack(
            then_double(
                "from IPython.display import HTML, display\ndisplay(HTML('<b>x</b>' * 2_000_000))"
            ),
            reasons=(OUTPUT_PREFIX,),
        ),
        "flood-inside-a-test": Attack(
            {
                "relu": RELU,
                "double": "def double(x):\n    print('y' * 10_000_000)\n    return 2 * x",
            },
            reasons=(OUTPUT_PREFIX,),
        ),
        "huge-error-message": Attack(
            {"relu": RELU + "\nraise ValueError('e' * 20_000_000)", "double": DOUBLE},
            reasons=(OUTPUT_PREFIX,),
        ),
        # Feedback: nothing hidden leaks, nothing student-written runs in a TA's browser.
        "script-in-outputs": Attack(
            then_double(
                "from IPython.display import HTML, SVG, Javascript, display\n"
                f"print('{XSS}')\n"
                f"display(HTML('{XSS}'))\n"
                "display(Javascript('alert(1)'))\n"
                'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>\'))'
            )
        ),
        "script-in-free-response": Attack(
            {"relu": RELU, "double": DOUBLE, "explain": f"Because.\n\n{XSS_MARKDOWN}"}
        ),
        "hidden-test-marker-in-solution": Attack(
            {"relu": "### BEGIN HIDDEN TESTS\n" + RELU, "double": DOUBLE}
        ),
        "prints-input-history": Attack(then_double("print(In)\nprint(_ih)")),
        "quotes-the-test-in-its-error": Attack(
            {
                "relu": "def relu(z):\n    raise AssertionError(get_ipython().user_ns['In'][-1])",
                "double": DOUBLE,
            },
            score=2,
        ),
    }
