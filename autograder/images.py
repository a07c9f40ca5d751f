"""The grading images of the docker back end: build them, and check one before grading.

An image is built from a small context assembled here: the Dockerfile, this package's
source and a wheelhouse that this machine's own pip fills with the pinned stack (so
the image gets exactly the versions the grader runs, from wherever this machine's pip
takes them, and the build itself needs no package index). The image is labelled with
a fingerprint of the Dockerfile, the base and the pinned stack; a build with an
unchanged fingerprint is skipped, and grading refuses an image whose fingerprint is
not the current one. The package itself is not part of it: the back end mounts this
grader's own copy over the image's (see :mod:`autograder.docker_backend`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import CourseError

PACKAGE_DIR = Path(__file__).resolve().parent
CONTAINER_DIR = PACKAGE_DIR / "container"
PROJECT_FILE = PACKAGE_DIR.parent / "pyproject.toml"
CPU_IMAGE = "intro-dl-autograder:cpu"
GPU_IMAGE = "intro-dl-autograder:gpu"
DEFAULT_BASE = "python:3.11-slim"
FINGERPRINT_LABEL = "autograder.fingerprint"
# What the package builds with when pip installs it without an index.
BUILD_REQUIREMENTS = ("setuptools>=68", "wheel")


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    size_bytes: int
    seconds: float
    reused: bool


def pinned_requirements() -> list[str]:
    """The package's pinned dependencies, as pyproject.toml lists them."""
    project = tomllib.loads(PROJECT_FILE.read_text())["project"]
    return list(project["dependencies"])


def fingerprint(dockerfile: Path, base: str) -> str:
    """What an image is built from: the Dockerfile, the base and the pinned stack."""
    digest = hashlib.sha256()
    digest.update(f"{dockerfile.name}\n{base}\n".encode())
    digest.update(dockerfile.read_bytes())
    digest.update("\n".join(pinned_requirements()).encode())
    return digest.hexdigest()


def _docker(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *arguments], capture_output=True, text=True, check=check)
    except FileNotFoundError as error:
        raise CourseError("no docker command: install a Docker engine (README.md)") from error
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or error.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CourseError(f"docker {arguments[0]} failed: {detail[0]}") from error


def image_labels(tag: str) -> dict[str, str] | None:
    """The labels of a local image, or None when there is no such image."""
    result = _docker("image", "inspect", "--format", "{{json .Config.Labels}}", tag, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout) or {}


def require_current_image(tag: str) -> None:
    """Refuse to grade with an image that is missing or built from other sources."""
    labels = image_labels(tag)
    rebuild = "build it with `autograder image build`"
    if labels is None:
        raise CourseError(f"no docker image {tag!r}: {rebuild}")
    built_from = labels.get(FINGERPRINT_LABEL)
    dockerfile = Path(labels.get("autograder.dockerfile", "Dockerfile.cpu")).name
    current = fingerprint(CONTAINER_DIR / dockerfile, labels.get("autograder.base", ""))
    if built_from != current:
        raise CourseError(
            f"docker image {tag!r} was built from another Dockerfile or another version of "
            f"the pinned stack (its kernels would not match this grader's): {rebuild}"
        )


def base_python_version(base: str) -> str:
    """The version of Python 3 in ``base`` (pulled first if it is not here)."""
    script = "import platform; print(platform.python_version())"
    result = _docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python3", base, "-c", script
    )
    return result.stdout.strip()


def _fill_wheelhouse(folder: Path, python_version: str, say: Callable[[str], None]) -> None:
    say(f"collecting the pinned stack for Python {python_version} with this machine's pip")
    # Wheels only: the image's Python may be older than this one (Debian 12 has 3.11.2),
    # and a dependency's newest release may not support it.
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder)]
    command += ["--only-binary=:all:", "--python-version", python_version]
    result = subprocess.run(
        [*command, *pinned_requirements(), *BUILD_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise CourseError(f"pip could not collect the pinned stack:\n{tail}")


def _context(folder: Path, dockerfile: Path) -> None:
    """The build context: the Dockerfile and the package's source, nothing else."""
    source = folder / "source"
    source.mkdir()
    shutil.copy2(PROJECT_FILE, source / "pyproject.toml")
    (source / "README.md").write_text("The autograder package, installed in a grading image.\n")
    shutil.copytree(
        PACKAGE_DIR, source / "autograder", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(dockerfile, folder / "Dockerfile")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` served read-only on this machine's loopback while the block runs; its URL.

    The build reaches it through ``--network host``: the wheels never become an image
    layer, so neither a copy of them nor a second build stage is needed.
    """
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def build(
    gpu: bool = False,
    base: str | None = None,
    tag: str | None = None,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> BuiltImage:
    """Build the CPU image (or the GPU one) unless an image of the same fingerprint exists."""
    dockerfile = CONTAINER_DIR / ("Dockerfile.gpu" if gpu else "Dockerfile.cpu")
    tag = tag or (GPU_IMAGE if gpu else CPU_IMAGE)
    base = base or ("" if gpu else DEFAULT_BASE)
    wanted = fingerprint(dockerfile, base)
    labels = image_labels(tag)
    if not force and labels is not None and labels.get(FINGERPRINT_LABEL) == wanted:
        return BuiltImage(tag, image_size(tag), 0.0, reused=True)
    started = time.perf_counter()
    arguments = ["build", "--force-rm", "--tag", tag, "--label", f"{FINGERPRINT_LABEL}={wanted}"]
    arguments += ["--label", f"autograder.dockerfile={dockerfile.name}"]
    arguments += ["--label", f"autograder.base={base}"]
    if base:
        arguments += ["--build-arg", f"BASE_IMAGE={base}"]
    with tempfile.TemporaryDirectory(prefix="autograder-image-") as folder:
        context, wheels = Path(folder) / "context", Path(folder) / "wheels"
        context.mkdir()
        wheels.mkdir()
        _context(context, dockerfile)
        if not gpu:  # the GPU image installs CUDA builds from the package index
            _fill_wheelhouse(wheels, base_python_version(base), say)
        with served(wheels) as url:
            say(f"building {tag} from {dockerfile.name}" + (f" on {base}" if base else ""))
            arguments += ["--network", "host", "--build-arg", f"WHEELS={url}", str(context)]
            result = subprocess.run(
                ["docker", *arguments],
                env=_legacy_builder_environment(),
                capture_output=True,
                text=True,
                check=False,
            )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise CourseError(f"docker build of {tag} failed:\n{tail}")
    return BuiltImage(tag, image_size(tag), time.perf_counter() - started, reused=False)


def _legacy_builder_environment() -> dict[str, str]:
    # The classic builder needs no buildx plug-in, which Debian's engine lacks.
    return {**os.environ, "DOCKER_BUILDKIT": "0"}


def image_size(tag: str) -> int:
    return int(_docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
