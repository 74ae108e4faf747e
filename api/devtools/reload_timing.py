"""Time a model reload under ``runner up``'s layout: SIGHUP until ``/model`` names the new commit.

Two gunicorns (api/gunicorn_conf.py, 2 workers each) serve the same two real model folders, one
with ``MODEL_RELOAD=restart`` (gunicorn's reload: new workers, each importing the app and loading
the model) and one in swap mode (api/hot_swap.py: the running workers load the model and swap it
in). Each round reloads the restart server then the swap server, one at a time (the other one idle),
once with no load and once under ``--connections`` clients of bench/load.py's ``Load``. For each
reload it records the seconds from SIGHUP to the first ``/model`` answer naming the new commit, to
``--in-a-row`` answers in a row naming it (both workers serve it, most likely), the slowest request
of the load and its failures. Prints a Markdown table and a summary (docs/serving.md quotes it).

    python -m api.devtools.reload_timing [--rounds 4] [--connections 16] [--models A B]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from api.devtools.sample_model import build_sample_model
from api.devtools.server import Server, running_server
from api.devtools.service_env import ServiceEnvDir, send_reload
from api.hot_swap import ReloadMode
from bench.load import Load
from bench.loop import QUERY, _get

log = logging.getLogger(__name__)

#: Seconds a reload may take before the round counts it as failed.
RELOAD_BOUND = 120.0
#: Seconds of load before the SIGHUP (the server is busy when the reload starts).
WARM_UP = 1.0


@dataclass(frozen=True)
class Reload:
    """One measured reload."""

    mode: ReloadMode
    connections: int
    first_new: float
    all_new: float
    slowest_request: float
    requests_ok: int
    requests_failed: int


def _commit_served(port: int) -> str | None:
    try:
        status, body = _get(port, "/model", timeout=10)
    except OSError:
        return None
    return json.loads(body).get("train_commit") if status == 200 else None


def measure_reload(
    server: Server, service: ServiceEnvDir, commit: str, model_dir: Path, connections: int, in_a_row: int
) -> tuple[float, float, Load | None]:
    """Point ``current`` at ``commit``, send SIGHUP, poll /model; returns (first, all, the load)."""
    load = Load(server.port, QUERY, connections).start() if connections else None
    try:
        if load:
            time.sleep(WARM_UP)
        service.point(commit, model_dir)
        start = time.monotonic()
        send_reload(server.process.pid)
        first = None
        seen = 0
        while seen < in_a_row:
            if time.monotonic() - start > RELOAD_BOUND:
                raise RuntimeError(f"{server.url}: /model did not name {commit} within {RELOAD_BOUND}s")
            served = _commit_served(server.port)
            if served == commit:
                first = time.monotonic() - start if first is None else first  # when the answer came
                seen += 1
            else:
                seen = 0
                time.sleep(0.005)
        return first or 0.0, time.monotonic() - start, load
    finally:
        if load:
            load.stop()


@contextlib.contextmanager
def _servers(
    models: tuple[Path, Path], work: Path
) -> Iterator[dict[ReloadMode, tuple[Server, ServiceEnvDir]]]:
    with contextlib.ExitStack() as stack:
        servers = {}
        for mode in (ReloadMode.RESTART, ReloadMode.SWAP):
            service = ServiceEnvDir(work / mode.value / "services" / "serve")
            service.point(f"{mode.value}-0", models[0])
            env = {"RUNNER_SERVICE_ENV": str(service.env_file), "MODEL_RELOAD": mode.value}
            log_path = work / mode.value / "gunicorn.log"
            server = stack.enter_context(running_server(models[0], log_path=log_path, env=env))
            servers[mode] = (server, service)
        yield servers


def run(models: tuple[Path, Path], work: Path, rounds: int, connections: int, in_a_row: int) -> list[Reload]:
    """Every round: restart then swap, idle then under load. Returns every reload measured."""
    reloads: list[Reload] = []
    with _servers(models, work) as servers:
        step = 0
        for round_no in range(1, rounds + 1):
            for load_connections in (0, connections):
                for mode, (server, service) in servers.items():
                    step += 1
                    commit = f"{mode.value}-{step}"
                    first, whole, load = measure_reload(
                        server, service, commit, models[step % 2], load_connections, in_a_row
                    )
                    reload = Reload(
                        mode=mode,
                        connections=load_connections,
                        first_new=first,
                        all_new=whole,
                        slowest_request=load.slowest if load else 0.0,
                        requests_ok=load.ok if load else 0,
                        requests_failed=len(load.failures) if load else 0,
                    )
                    reloads.append(reload)
                    log.info(
                        "round %d/%d, %s, %d connections: first %.3f s, %d in a row %.3f s%s",
                        round_no,
                        rounds,
                        mode.value,
                        load_connections,
                        first,
                        in_a_row,
                        whole,
                        f", slowest request {reload.slowest_request:.3f} s, {reload.requests_failed} failed"
                        if load
                        else "",
                    )
    return reloads


def table(reloads: list[Reload], in_a_row: int) -> str:
    lines = [
        f"| mode | connections | SIGHUP to first new /model (s) | to {in_a_row} in a row (s) "
        "| slowest request (s) | requests ok / failed |",
        "|---|---|---|---|---|---|",
    ]
    for r in reloads:
        load = "- | -"
        if r.connections:
            load = f"{r.slowest_request:.3f} | {r.requests_ok} / {r.requests_failed}"
        lines.append(f"| {r.mode.value} | {r.connections} | {r.first_new:.3f} | {r.all_new:.3f} | {load} |")
    return "\n".join(lines)


def summary(reloads: list[Reload]) -> str:
    """One line per (mode, connections): range and median of SIGHUP to the first new answer."""
    lines = []
    for connections in sorted({r.connections for r in reloads}):
        for mode in ReloadMode:
            these = [r for r in reloads if r.mode is mode and r.connections == connections]
            if not these:
                continue
            first = [r.first_new for r in these]
            whole = [r.all_new for r in these]
            slow = f", slowest request {max(r.slowest_request for r in these):.2f} s" if connections else ""
            failed = f", {sum(r.requests_failed for r in these)} failed requests" if connections else ""
            lines.append(
                f"{mode.value}, {connections} connections: "
                f"first new answer {min(first):.3f}-{max(first):.3f} s "
                f"(median {statistics.median(first):.3f}), all new {min(whole):.3f}-{max(whole):.3f} s"
                f"{slow}{failed} ({len(these)} reloads)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--in-a-row", type=int, default=10)
    parser.add_argument(
        "--models", type=Path, nargs=2, help="two model folders (default: fit two on data/sample)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    with tempfile.TemporaryDirectory(prefix="reload-timing-") as tmp:
        work = Path(tmp)
        if args.models:
            models = (args.models[0].resolve(), args.models[1].resolve())
        else:
            sample = Path(__file__).resolve().parents[2] / "data" / "sample"
            models = (
                build_sample_model(sample, work / "model-40", rounds=40),
                build_sample_model(sample, work / "model-8", rounds=8),
            )
        load_before = os.getloadavg()[0]
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        reloads = run(models, work, args.rounds, args.connections, args.in_a_row)
        load_after = os.getloadavg()[0]
    print(table(reloads, args.in_a_row))
    print()
    print(
        f"{started}, {os.cpu_count()} cores, "
        f"load average {load_before:.1f} before and {load_after:.1f} after, "
        f"{args.rounds} rounds (restart then swap, idle then {args.connections} connections):"
    )
    print(summary(reloads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
