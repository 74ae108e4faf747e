"""Benchmark of the local runner's per-datum overhead: 8,000 trivial datums through ``run``.

Each datum copies one small file (the runner's own test stage ``tests.runner.stages.copy``,
run warm) with ``parallelismSpec.constant`` 2. Three measurements, in one state folder:

1. ``first``: put 8,000 files, run: every datum processed;
2. ``nothing_changed``: put the same files again (no new commit) and run (nothing to do);
3. ``one_changed``: change one file, put, run: 1 datum processed, 7,999 skipped.

``measure(workdir, n_datums) -> dict`` returns the numbers; ``python -m bench.runner_datums``
prints them (``make bench-runner``). Goal on 2 cores: first <= 20 s, nothing_changed <= 3 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from bench.trash import empty_trash, set_aside
from runner.cli import main as runner_main

SPEC = {
    "pipeline": {"name": "copy"},
    "description": "benchmark: copy one small file per datum",
    "input": {"pfs": {"repo": "files", "glob": "/*", "name": "files"}},
    "transform": {
        "image": "stockpipe/bench:0.1.0",
        "cmd": ["python3", "-m", "tests.runner.stages.copy", "/pfs/out", "/pfs/files"],
    },
    "parallelismSpec": {"constant": 2},
}


def _runner(state: Path, *argv: str) -> float:
    """Run one runner verb in-process (its output swallowed); returns seconds; raises on failure."""
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = runner_main(["--state", str(state), *argv])
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"runner {' '.join(argv)} exited {code}: {out.getvalue()[-500:]}")
    return seconds


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (the workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> float | None:
    with contextlib.suppress(OSError):
        return os.getloadavg()[0]
    return None


def measure(workdir: Path, n_datums: int = 8000, empty_after: bool = True) -> dict[str, Any]:
    """Run the three measurements in ``workdir`` (emptied first); returns seconds and datums/s.

    ``empty_after=False`` leaves the old files set aside for the caller to delete (``make bench``
    deletes them after its last case: bench/trash.py)."""
    set_aside(workdir)  # deleted after the measurements (bench/trash.py says why)
    data, state = workdir / "data", workdir / "pfs"
    data.mkdir(parents=True)
    for i in range(n_datums):
        (data / f"f{i:05d}.txt").write_text(f"datum {i}\n")
    spec = workdir / "copy.json"
    spec.write_text(json.dumps(SPEC))
    load_before = _load()  # the machine is shared: a high load average slows every wall-clock number
    put_first = _runner(state, "put", "file", "-r", "files@master:/", "-f", str(data))
    _runner(state, "create", "pipeline", "-f", str(spec))  # after its input repo exists
    cpu_before = _cpu_seconds()
    run_first = _runner(state, "run")
    cpu_first = _cpu_seconds() - cpu_before
    put_same = _runner(state, "put", "file", "-r", "files@master:/", "-f", str(data))
    run_same = _runner(state, "run")
    (data / "f00000.txt").write_text("changed\n")
    put_one = _runner(state, "put", "file", "-r", "files@master:/", "-f", str(data))
    run_one = _runner(state, "run")
    out_files = sum(1 for _ in (state / "copy" / "master").iterdir())
    if out_files != n_datums:
        raise RuntimeError(f"expected {n_datums} output files, found {out_files}")
    result = {
        "n_datums": n_datums,
        "cpu_count": os.cpu_count(),
        "load_before": load_before,
        "load_after": _load(),
        "put_first_s": round(put_first, 3),
        "first_run_s": round(run_first, 3),
        "first_datums_per_s": round(n_datums / run_first, 1),
        # CPU time of the first run (runner + workers): the cost per datum whatever the machine's load
        "first_cpu_s": round(cpu_first, 3),
        "cpu_ms_per_datum": round(1000 * cpu_first / n_datums, 3),
        "nothing_changed_put_s": round(put_same, 3),
        "nothing_changed_run_s": round(run_same, 3),
        "nothing_changed_s": round(put_same + run_same, 3),
        "one_changed_put_s": round(put_one, 3),
        "one_changed_run_s": round(run_one, 3),
        "goal_first_s": 20.0,
        "goal_nothing_changed_s": 3.0,
    }
    if empty_after:
        empty_trash(workdir.parent)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/runner-bench"))
    parser.add_argument("-n", "--datums", type=int, default=8000)
    parser.add_argument("--json", action="store_true", help="print the numbers as one JSON object")
    args = parser.parse_args(argv)
    r = measure(args.workdir, args.datums)
    if args.json:
        print(json.dumps(r))
        return 0
    print(
        f"runner datums: {r['n_datums']} datums, {r['cpu_count']} cores,"
        f" load average {r['load_before']:.1f} -> {r['load_after']:.1f}"
    )
    print(
        f"  first run           {r['first_run_s']:7.2f} s  {r['first_datums_per_s']:8.0f} datums/s"
        f"  (goal <= {r['goal_first_s']:.0f} s; put file took {r['put_first_s']:.2f} s)"
    )
    print(
        f"  first run CPU       {r['first_cpu_s']:7.2f} s  {r['cpu_ms_per_datum']:8.2f} ms per datum"
        "  (runner + workers, user + system: independent of the machine's load)"
    )
    print(
        f"  nothing changed     {r['nothing_changed_s']:7.2f} s  (put {r['nothing_changed_put_s']:.2f} s"
        f" + run {r['nothing_changed_run_s']:.2f} s; goal <= {r['goal_nothing_changed_s']:.0f} s)"
    )
    print(
        f"  one file changed    {r['one_changed_put_s'] + r['one_changed_run_s']:7.2f} s"
        f"  (put {r['one_changed_put_s']:.2f} s + run {r['one_changed_run_s']:.2f} s:"
        " 1 processed, the rest skipped)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
