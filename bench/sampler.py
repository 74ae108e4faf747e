"""Peak memory of a process and all its children: sum of RSS, sampled in a thread.

    with ProcessTreeSampler(proc.pid) as sampler:
        ...                                    # the process runs
    sampler.peak()                             # bytes, over the whole run
    sampler.peak(t0, t1)                       # bytes, over a window of time.monotonic()

RSS is summed over the root process and every descendant alive at each sample (every 0.1 s by
default), so pages shared between workers count once per process: an upper bound of what
the tree holds, and the number a container's memory limit is closest to.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

import psutil


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    rss: int  # bytes, summed over the tree
    processes: int


def tree_rss(root: psutil.Process) -> tuple[int, int, set[int]]:
    """(total RSS in bytes, number of processes, their pids) of ``root`` and its descendants now."""
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0, set()
    total, pids = 0, set()
    for proc in members:
        try:
            total += proc.memory_info().rss
            pids.add(proc.pid)
        except psutil.Error:
            continue  # exited between listing and reading
    return total, len(pids), pids


class ProcessTreeSampler:
    """Sample the summed RSS of a process tree every ``interval`` seconds until stopped."""

    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        self.root = psutil.Process(root_pid)
        self.interval = interval
        self.samples: list[Sample] = []
        self.pids: set[int] = set()  # every pid seen in the tree
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        rss, count, pids = tree_rss(self.root)
        if count:
            self.samples.append(Sample(time.monotonic(), rss, count))
            self.pids |= pids

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def start(self) -> ProcessTreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> ProcessTreeSampler:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        """Largest summed RSS (bytes) sampled within [start, end] (whole run when omitted)."""
        values = [
            s.rss for s in self.samples if (start is None or s.at >= start) and (end is None or s.at <= end)
        ]
        return max(values, default=0)

    def peak_processes(self, start: float | None = None, end: float | None = None) -> int:
        """Most processes seen at once in the tree within [start, end]."""
        values = [
            s.processes
            for s in self.samples
            if (start is None or s.at >= start) and (end is None or s.at <= end)
        ]
        return max(values, default=0)
