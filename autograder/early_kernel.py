"""Start a submission's kernel while nbgrader still prepares its notebook.

Before its Execute step starts a kernel, nbgrader records the submission in the
gradebook, copies the course files and sanitises the notebook (restores locked
cells, checks metadata). :class:`EarlyKernel` starts the kernel from nbgrader's
pre-convert hook instead, so that its boot (about 0.4 s sandboxed) overlaps that
preparation, and :class:`~autograder.guarded_execute.GuardedExecute` runs the
notebook on it. Its manager also notices the killed kernel's exit sooner.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets import Integer
from traitlets.config import Config


class PromptKernelManager(AsyncKernelManager):
    """Notices a killed kernel's exit within 10 ms instead of jupyter_client's 100 ms.

    A kernel that runs as another user reads its connection file, which jupyter_client
    writes readable by its owner only, through its group (``kernel_gid``); the file
    stays this process's, so in the sticky IPC folder the kernel cannot replace it.
    """

    kernel_gid = Integer(-1, help="Group that may read the connection file; -1 for none.").tag(
        config=True
    )

    async def _async_wait(self, pollinterval: float = 0.01) -> None:
        await super()._async_wait(pollinterval)

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.kernel_gid >= 0:
            os.chown(self.connection_file, -1, self.kernel_gid, follow_symlinks=False)
            os.chmod(self.connection_file, 0o640)


class EarlyKernel:
    """One kernel started ahead for the first notebook of one submission."""

    def __init__(self, config: Config, kernel_name: str, workdir: Path) -> None:
        self.config = config
        self.kernel_name = kernel_name
        self.workdir = workdir
        self.manager: PromptKernelManager | None = None

    def __deepcopy__(self, memo: dict) -> EarlyKernel:
        # traitlets deep-copies configured values; hook and source must share this one.
        return self

    def start(self, **_hook_arguments: object) -> None:
        """nbgrader's pre-convert hook: boot the kernel in the new working copy."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        manager = PromptKernelManager(kernel_name=self.kernel_name, config=self.config)
        run_sync(manager.start_kernel)(cwd=str(self.workdir))
        self.manager = manager

    def take(self) -> PromptKernelManager | None:
        """The started kernel, once; later notebooks of the submission start their own."""
        manager, self.manager = self.manager, None
        return manager

    def discard(self) -> None:
        """Kill a kernel nobody took, when nbgrader failed before executing."""
        manager = self.take()
        if manager is None:
            return
        with contextlib.suppress(RuntimeError):
            run_sync(manager.shutdown_kernel)(now=True)
        run_sync(manager.cleanup_resources)()
