"""Decode threads: one per physical core, fewer while other processes keep cores busy.

Decode runs short parallel regions back to back. When another process holds a core, a thread of ours that
waits for it stalls every region at its barrier, and decode collapses (measured: 2 threads on 2 cores with a
busy neighbour ran several times slower than 1 thread). So the engine measures, about once a second, how much
CPU the rest of the machine used (/proc/stat minus this process's own time) and runs on the cores left.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads share a core's memory port: they add nothing to
    bandwidth-bound decode)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        cores, key = set(), [None, None]
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "physical id":
                key[0] = value.strip()
            elif name.strip() == "core id":
                key[1] = value.strip()
                cores.add(tuple(key))
        per_core = max(1, (os.cpu_count() or 1) // max(1, len(cores))) if cores else 1
    except OSError:
        per_core = 1
    return max(1, allowed // per_core)


def _busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat; None where there is none."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class ThreadGovernor:
    """Sets torch's thread count to the physical cores minus the cores other processes keep busy."""

    def __init__(self, cores: int | None = None, interval: float = 1.0):
        self.cores = cores or physical_cores()
        self.interval = interval
        self.threads = self.cores
        torch.set_num_threads(self.threads)
        self._last = (time.monotonic(), _busy_seconds(), time.process_time())

    def update(self) -> int:
        """Call between steps; re-decides at most once per interval. -> the thread count in force."""
        now = time.monotonic()
        last_time, last_busy, last_own = self._last
        if now - last_time < self.interval or last_busy is None:
            return self.threads
        busy, own = _busy_seconds(), time.process_time()
        self._last = (now, busy, own)
        others = max(0.0, (busy - last_busy) - (own - last_own)) / (now - last_time)  # cores in use elsewhere
        # A core counts as taken when others use more than 0.4 of it: a busy neighbour sharing two cores with our
        # two threads gets only ~2/3 of one, and that must already count; a shell's blips do not.
        wanted = max(1, min(self.cores, int(self.cores - others + 0.6)))
        if wanted != self.threads:
            self.threads = wanted
            torch.set_num_threads(wanted)
        return self.threads
