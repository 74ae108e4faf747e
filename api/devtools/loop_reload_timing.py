"""Time the model reload inside the live loop: ``make up`` on the bundled sample, one changed CSV at a time.

For each ``MODEL_RELOAD`` mode given (``restart``: gunicorn's new workers; ``swap``: the model swapped
into the running workers, api/hot_swap.py) it runs ``make up`` on a fresh state, waits for the first
model to be served, then ``--changes`` times: starts ``--connections`` clients of bench/load.py's
``Load``, puts ``data/sample/stocks/A.csv`` with its last volume raised into raw, and records the
seconds from the new train commit appearing in the state (train's job has ended) to ``/model``
naming it, with the slowest request and the failures of the load. Between changes it waits
``--settle`` seconds (evaluate's job). docs/serving.md quotes it.

    python -m api.devtools.loop_reload_timing [--modes restart swap] [--changes 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from api.devtools.server import REPO_ROOT, free_port
from api.hot_swap import ReloadMode
from bench.load import Load
from bench.loop import QUERY, _get
from bench.pipeline import change_last_volume
from runner.state import State

log = logging.getLogger(__name__)

#: Seconds the first run (ingest, features, train on the sample) may take.
FIRST_RUN_BOUND = 900.0
#: Seconds a change may take to reach a new train commit, then the served model.
CHANGE_BOUND = 600.0
CHANGED_FILE = "stocks/A.csv"


@dataclass(frozen=True)
class LoopReload:
    mode: ReloadMode
    seconds: float
    slowest_request: float
    requests_ok: int
    requests_failed: int


def _served_commit(port: int) -> str | None:
    try:
        status, body = _get(port, "/model", timeout=10)
    except OSError:
        return None
    return json.loads(body).get("train_commit") if status == 200 else None


def _train_moved(state: State, before: str | None) -> bool:
    return state.head("train") != before


def _serves(port: int, commit: str | None) -> bool:
    return _served_commit(port) == commit


def _wait(what: str, bound: float, process: subprocess.Popen[bytes], done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + bound
    while not done():
        if process.poll() is not None:
            raise RuntimeError(f"make up exited with status {process.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {bound:.0f} s")
        time.sleep(0.005)


@contextlib.contextmanager
def _make_up(mode: ReloadMode, work: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``make up`` on a fresh state under ``work`` with MODEL_RELOAD=mode; stopped with SIGINT (Ctrl-C)."""
    state = work / "state"
    command = ["make", "--no-print-directory", "up", "VENV_STAMP=", f"PFS_STATE={state}", f"PORT={port}"]
    with open(work / "up.log", "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "MODEL_RELOAD": mode.value},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def measure_mode(
    mode: ReloadMode, work: Path, changes: int, connections: int, settle: float
) -> list[LoopReload]:
    """``changes`` changed CSVs through ``make up`` with MODEL_RELOAD=mode, each one measured."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    reloads = []
    with _make_up(mode, work, port) as process:
        _wait("first served model", FIRST_RUN_BOUND, process, lambda: _served_commit(port) is not None)
        time.sleep(settle)
        state = State(work / "state")
        text = (REPO_ROOT / "data" / "sample" / CHANGED_FILE).read_text(encoding="utf-8")
        for number in range(1, changes + 1):
            text = change_last_volume(text).text
            changed = work / "changed.csv"
            changed.write_text(text, encoding="utf-8")
            before = state.head("train")
            load = Load(port, QUERY, connections).start()
            try:
                time.sleep(1.0)  # the load is on before the change
                put = [sys.executable, "-m", "runner", "--state", str(work / "state"), "put", "file"]
                subprocess.run(
                    [*put, f"raw@master:/{CHANGED_FILE}", "-f", str(changed)],
                    cwd=REPO_ROOT,
                    check=True,
                    capture_output=True,
                )
                _wait("new train commit", CHANGE_BOUND, process, partial(_train_moved, state, before))
                head = state.head("train")
                start = time.monotonic()
                _wait(f"/model naming {head}", CHANGE_BOUND, process, partial(_serves, port, head))
                seconds = time.monotonic() - start
                time.sleep(1.0)  # requests the swap delayed finish under the load
            finally:
                load.stop()
            reloads.append(LoopReload(mode, seconds, load.slowest, load.ok, len(load.failures)))
            log.info(
                "%s, change %d/%d: train commit to /model naming it %.3f s, slowest request %.3f s, "
                "%d ok, %d failed",
                mode.value,
                number,
                changes,
                seconds,
                load.slowest,
                load.ok,
                len(load.failures),
            )
            time.sleep(settle)
    return reloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    modes = [m.value for m in ReloadMode]
    parser.add_argument("--modes", nargs="+", choices=modes, default=["restart", "swap"])
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--settle", type=float, default=15.0, help="seconds between changes (evaluate's job)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    reloads: list[LoopReload] = []
    with tempfile.TemporaryDirectory(prefix="loop-reload-timing-") as tmp:
        for mode in args.modes:
            work = Path(tmp) / mode
            reloads += measure_mode(ReloadMode(mode), work, args.changes, args.connections, args.settle)
    print(
        f"{started}, {os.cpu_count()} cores, load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after; {args.connections} connections of load:"
    )
    for mode in args.modes:
        these = [r for r in reloads if r.mode.value == mode]
        print(
            f"{mode}: train commit to /model naming it {min(r.seconds for r in these):.2f}-"
            f"{max(r.seconds for r in these):.2f} s, slowest request "
            f"{min(r.slowest_request for r in these):.2f}-{max(r.slowest_request for r in these):.2f} s, "
            f"{sum(r.requests_failed for r in these)} of "
            f"{sum(r.requests_ok + r.requests_failed for r in these)} requests failed ({len(these)} changes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
