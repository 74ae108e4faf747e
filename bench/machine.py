"""What the benchmark ran on, and what else was using the CPU meanwhile."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata

import psutil


def machine_facts() -> dict:
    """Cores, memory, Python and library versions, OS, and the date (UTC)."""
    versions = {}
    for name in ("pyarrow", "polars", "duckdb", "numpy", "lightgbm", "scikit-learn", "psutil"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "libraries": versions,
    }


#: Steps of the speed probe's pure-Python loop, and bytes of its fresh-memory probe.
PROBE_LOOP_STEPS = 10_000_000
PROBE_MEMORY_BYTES = 512 * 2**20


def speed_probe() -> dict:
    """Seconds of two fixed pieces of work, so that runs on the same machine at different times
    can be compared: a pure-Python loop (the interpreter's speed) and writing ``PROBE_MEMORY_BYTES``
    of memory just taken from the system (page faults; on a virtual machine the host's own faults
    too). This machine's speed changed by about 2x within one day for the same code
    (docs/benchmarks.md, notes). The probes did not follow the change they were added for: from the
    22:58 to the 23:17 run on 2026-12-01 DuckDB's CPU seconds fell from 29.3 to 18.2 while the loop
    went from 0.40 to 0.37 s and the memory probe from 0.45 to 0.40 s; they are kept as a record."""
    started = time.perf_counter()
    total = 0
    for step in range(PROBE_LOOP_STEPS):
        total += step
    loop_s = time.perf_counter() - started
    started = time.perf_counter()
    block = bytearray(PROBE_MEMORY_BYTES)  # calloc'd: the pages are touched by the writes below
    for at in range(0, PROBE_MEMORY_BYTES, 4096):
        block[at] = 1
    touch_s = time.perf_counter() - started
    del block
    return {"python_loop_s": round(loop_s, 3), "fresh_memory_s": round(touch_s, 3)}


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by every process, by pid, with a short name."""

    taken: float
    loadavg: tuple[float, float, float]
    busy: float  # CPU seconds of the whole machine (all but idle and iowait)
    own: float  # CPU seconds of this process and its waited-for children
    cpu: dict[int, tuple[str, float]]
    steal: float = 0.0  # CPU seconds the hypervisor gave this machine's cores to others (all cores)


def cpu_snapshot() -> CpuSnapshot:
    cpu: dict[int, tuple[str, float]] = {}
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
        info = proc.info
        times = info.get("cpu_times")
        if times is None:
            continue
        cmd = " ".join(info.get("cmdline") or [])[:80] or (info.get("name") or "?")
        cpu[info["pid"]] = (cmd, times.user + times.system)
    machine = psutil.cpu_times()
    # guest time is already inside user time on Linux, steal is not this machine's work
    busy = sum(getattr(machine, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))
    me = psutil.Process().cpu_times()
    own = me.user + me.system + me.children_user + me.children_system
    loadavg = tuple(round(x, 2) for x in os.getloadavg())
    return CpuSnapshot(time.time(), loadavg, busy, own, cpu, getattr(machine, "steal", 0.0))


def other_cpu_use(before: CpuSnapshot, after: CpuSnapshot, own_pids: set[int], top: int = 6) -> dict:
    """CPU used between two snapshots by everything but this benchmark.

    ``share_of_machine`` is the machine's busy CPU time minus the benchmark's own (its process
    and waited-for children), over the time available on all cores (1.0 = every core busy with
    other work all along). ``top`` names the busiest other processes alive at both snapshots.
    """
    elapsed = max(after.taken - before.taken, 1e-9)
    used = []
    for pid, (cmd, seconds) in after.cpu.items():
        if pid in own_pids:
            continue
        start = before.cpu.get(pid, (cmd, 0.0))[1]
        if seconds - start > 0.5:
            used.append((seconds - start, cmd))
    used.sort(reverse=True)
    others = max(0.0, (after.busy - before.busy) - (after.own - before.own))
    return {
        "seconds": round(elapsed, 1),
        "own_cpu_seconds": round(after.own - before.own, 1),
        "other_cpu_seconds": round(others, 1),
        "share_of_machine": round(others / (elapsed * (os.cpu_count() or 1)), 2),
        "steal_cpu_seconds": round(after.steal - before.steal, 1),
        "steal_share": round((after.steal - before.steal) / (elapsed * (os.cpu_count() or 1)), 3),
        "loadavg_before": list(before.loadavg),
        "loadavg_after": list(after.loadavg),
        "top": [{"cpu_seconds": round(s, 1), "command": c} for s, c in used[:top]],
    }
