"""CPU a Dask grading cluster takes while idle: Dask's defaults against the grading
settings of ``autograder/dask_settings.py``, same run (not a test).

A scheduler and ``--workers`` single-threaded workers (with their nannies) are started
as separate processes, as in the tests, once with each configuration, in alternating
rounds; each process's CPU time over ``--seconds`` of idling is read from /proc and
printed as a share of one core. On a machine of two cores, what this takes is taken
from the kernels. Usage: ``python benchmarks/dask_overhead.py [--workers N]
[--seconds S] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from autograder.dask_settings import environment_variables

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import dask_processes  # noqa: E402

CONFIGURATIONS = {"Dask's defaults": {}, "grading settings": environment_variables()}
SETTLE_SECONDS = 5


def process_times() -> dict[int, tuple[str, float]]:
    """CPU seconds of each Dask process by pid, with its kind."""
    ticks = os.sysconf("SC_CLK_TCK")
    times = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = (
            "scheduler" if " scheduler " in command
            else "nanny" if " worker " in command
            else "worker" if "multiprocessing" in command and "spawn_main" in command
            else None
        )  # fmt: skip
        if kind:
            times[int(entry.name)] = (kind, (int(fields[11]) + int(fields[12])) / ticks)
    return times


def idle_share(environment: dict[str, str], workers: int, seconds: float) -> dict[str, float]:
    """Per kind of process, the share of one core it took over ``seconds`` of idling."""
    with tempfile.TemporaryDirectory(prefix="autograder-dask-idle-") as folder:
        hidden = Path(folder) / "hidden"
        hidden.mkdir()
        cluster = Path(folder) / "cluster"
        with dask_processes.dask_processes(cluster, workers, [hidden], settings=environment):
            time.sleep(SETTLE_SECONDS)
            before = process_times()
            time.sleep(seconds)
            after = process_times()
    shares: dict[str, float] = defaultdict(float)
    for pid, (kind, spent) in after.items():
        shares[kind] += (spent - before.get(pid, (kind, spent))[1]) / seconds
    return dict(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    if reason := dask_processes.can_hide_folders():
        sys.exit(f"cannot start the cluster here: {reason}")
    shares: dict[str, list[dict[str, float]]] = defaultdict(list)
    for round_number in range(1, arguments.rounds + 1):
        for label, environment in CONFIGURATIONS.items():
            measured = idle_share(environment, arguments.workers, arguments.seconds)
            shares[label].append(measured)
            total = sum(measured.values())
            print(f"round {round_number}, {label}: {total:.1%} of a core", flush=True)
    print(f"\nA scheduler and {arguments.workers} idle workers, {arguments.seconds:g} s, "
          f"median of {arguments.rounds} rounds (share of one core):")  # fmt: skip
    print(f"| {'configuration':<17} | scheduler | nannies | workers | total |")
    print(f"|{'-' * 19}|-----------|---------|---------|-------|")
    for label, rounds in shares.items():
        column = {
            kind: statistics.median(measured.get(kind, 0.0) for measured in rounds)
            for kind in ("scheduler", "nanny", "worker")
        }
        total = statistics.median(sum(measured.values()) for measured in rounds)
        print(
            f"| {label:<17} | {column['scheduler']:9.1%} | {column['nanny']:7.1%} "
            f"| {column['worker']:7.1%} | {total:5.1%} |"
        )


if __name__ == "__main__":
    main()
