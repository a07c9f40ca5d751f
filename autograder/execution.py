"""Running a notebook top to bottom with nbclient, timed."""

from __future__ import annotations

import time
from pathlib import Path

from nbclient import NotebookClient
from nbformat import NotebookNode


def execute(
    notebook: NotebookNode, cwd: Path, timeout: int = 600, allow_errors: bool = False
) -> float:
    """Execute ``notebook`` in place with ``cwd`` as working folder; returns wall seconds."""
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=notebook.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(cwd)}},
        allow_errors=allow_errors,
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start
