"""Dask settings of a grading cluster: diagnostics that grading has no use for cost
CPU that the kernels need.

A worker's profiler samples the grading thread's stack every 10 ms, and every Dask
server (scheduler, nanny, worker) wakes every 20 ms to check its event loop. Measured
here, a scheduler and two idle workers on two cores: 17% of a core with Dask's
defaults, 5% with these (``python benchmarks/dask_overhead.py``).
"""

from __future__ import annotations

GRADING_CLUSTER_CONFIG: dict[str, object] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
}


def environment_variables() -> dict[str, str]:
    """The settings as the ``DASK_...`` environment variables a Dask process reads at start."""
    return {
        "DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
        for key, value in GRADING_CLUSTER_CONFIG.items()
    }
