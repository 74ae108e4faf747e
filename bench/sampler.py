"""Peak memory of a process and all its children: sum of RSS, sampled in a thread.

    with ProcessTreeSampler(proc.pid) as sampler:
        ...                                    # the process runs
    sampler.peak()                             # bytes, over the whole run
    sampler.peak(t0, t1)                       # bytes, over a window of time.monotonic()

RSS is summed over the root process and every descendant alive at each sample (every 0.1 s by
default), so pages shared between workers count once per process: an upper bound of what
the tree holds, and the number a container's memory limit is closest to.

Each sample also carries the CPU seconds (user + system) the tree has used so far, counting
exited processes at their last sampled value, so ``cpu_seconds(t0, t1)`` says how much CPU a
window took whatever else the machine was doing (the last < 0.1 s of a process that exits
between samples is missed).
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
    cpu: float = 0.0  # CPU seconds used by the tree so far (exited processes included)
    root_cpu: float = 0.0  # of which the root process itself
    machine_idle: float = 0.0  # the machine's idle + iowait CPU seconds so far (all cores)
    machine_steal: float = 0.0  # CPU seconds the hypervisor ran something else on our cores so far


def tree_usage(root: psutil.Process) -> tuple[int, dict[int, float]]:
    """(total RSS in bytes, {pid: CPU seconds so far}) of ``root`` and its descendants now."""
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, {}
    total, cpu = 0, {}
    for proc in members:
        try:
            with proc.oneshot():
                rss, times = proc.memory_info().rss, proc.cpu_times()
        except psutil.Error:
            continue  # exited between listing and reading
        total += rss
        cpu[proc.pid] = times.user + times.system
    return total, cpu


class ProcessTreeSampler:
    """Sample the summed RSS of a process tree every ``interval`` seconds until stopped."""

    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        self.root = psutil.Process(root_pid)
        self.interval = interval
        self.samples: list[Sample] = []
        self.pids: set[int] = set()  # every pid seen in the tree
        self._cpu: dict[int, float] = {}  # last CPU seconds seen, by pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        rss, cpu = tree_usage(self.root)
        if cpu:
            self._cpu.update(cpu)
            machine = psutil.cpu_times()
            idle = machine.idle + getattr(machine, "iowait", 0.0)
            sample = Sample(
                time.monotonic(),
                rss,
                len(cpu),
                sum(self._cpu.values()),
                self._cpu[self.root.pid],
                idle,
                getattr(machine, "steal", 0.0),
            )
            self.samples.append(sample)
            self.pids |= cpu.keys()

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
        self._sample()  # what the root's tree used up to now (nothing if it has exited)

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

    def _at(self, t: float | None, default: Sample | None) -> Sample | None:
        """The last sample at or before ``t`` (``default`` when ``t`` is None)."""
        if t is None:
            return default
        before = [s for s in self.samples if s.at <= t]
        return before[-1] if before else None

    def _delta(self, field: str, start: float | None, end: float | None) -> float:
        last = self._at(end, self.samples[-1] if self.samples else None)
        first = self._at(start, None)
        return (getattr(last, field) if last else 0.0) - (getattr(first, field) if first else 0.0)

    def cpu_seconds(self, start: float | None = None, end: float | None = None) -> float:
        """CPU seconds the tree used between the last samples at or before ``start`` and ``end``."""
        return self._delta("cpu", start, end)

    def root_cpu_seconds(self, start: float | None = None, end: float | None = None) -> float:
        """CPU seconds of the root process alone (the runner; the rest is its workers)."""
        return self._delta("root_cpu", start, end)

    def machine_idle_seconds(self, start: float | None = None, end: float | None = None) -> float:
        """Idle + iowait CPU seconds of the whole machine (all cores) over the window."""
        return self._machine_delta("machine_idle", start, end)

    def machine_steal_seconds(self, start: float | None = None, end: float | None = None) -> float:
        """Steal over the window: CPU seconds the hypervisor gave this machine's cores to other
        guests (/proc/stat's steal; 0 on bare metal). One cause of a shared VM's slow phases, not the
        only one: the 05:07 UTC run of 2026-12-02 was slow with 1 % steal (docs/benchmarks.md)."""
        return self._machine_delta("machine_steal", start, end)

    def _machine_delta(self, field: str, start: float | None, end: float | None) -> float:
        first = self._at(start, None) or next(
            (s for s in self.samples if start is None or s.at >= start), None
        )
        last = self._at(end, self.samples[-1] if self.samples else None)
        return getattr(last, field) - getattr(first, field) if first and last else 0.0
