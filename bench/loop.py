"""``make bench``'s live-loop case: ``runner up`` from an empty state to a served model, then one
changed symbol file to the reloaded model, under a bounded load.

(a) first run: from the start of ``put file`` of the whole dataset until ``/model`` reports the
    train commit made from that raw commit and ``/predict`` answers from it;
(b) with the loop running, right after (a) (the first run's background jobs, evaluate, may
    still be running), one changed symbol file put into raw until ``/model`` reports the train
    commit made from the new raw commit (and that model file's sha256) and ``/predict`` answers
    what that model predicts;
(c) every request of a bounded load (``LOAD_CONNECTIONS`` clients on loopback, each one request
    at a time) from before the put of (b) until after the swap: none may fail or be refused.

Then, once the load has stopped, (b) again with a second change to the same file and no load:
not a goal, it splits (b)'s time between the loop itself and the load's share of the cores. Both
(b)s report the seconds of each job made from their raw commit (ingest, features, train).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import Load
from bench.pipeline import INCREMENTAL_CANDIDATES, REPO_ROOT, change_last_volume
from bench.report import FEATURES_POLARS_LIMIT, INGEST_DUCKDB_LIMIT, Goal, stage
from bench.sampler import ProcessTreeSampler
from bench.stage_caches import empty_stage_caches
from bench.trash import set_aside
from runner.children import die_with_parent
from runner.records import JobState
from runner.spec import load_specs
from runner.state import State

LOAD_CONNECTIONS = 16
QUERY = "/predict?vol_moving_avg=2500000&adj_close_rolling_med=41.5"
QUERY_VALUES = (2500000.0, 41.5)
#: Bounds of the waits (not goals): a run that takes longer is reported as failed.
FIRST_RUN_TIMEOUT = 1800.0
CHANGE_TIMEOUT = 900.0
#: Seconds the load goes on after the swap was seen (requests the old workers were finishing).
AFTER_SWAP = 2.0


class LoopBenchFailed(RuntimeError):
    """The loop did not reach a served model in time; the message says where it stopped."""


def _get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def made_from(state: State, repo: str, commit: str, source_repo: str, source_commit: str) -> bool:
    """Whether ``repo@commit`` was made (through its provenance, at any depth) from ``source_commit``."""
    if repo == source_repo:
        return commit == source_commit
    return any(
        made_from(state, p["repo"], p["commit"], source_repo, source_commit)
        for p in state.commit(repo, commit).provenance
    )


@functools.lru_cache(maxsize=8)
def expected_answer(model_dir: Path) -> int:
    """What /predict must answer for QUERY from the model in ``model_dir`` (LightGBM directly)."""
    import lightgbm
    import numpy as np

    meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    booster = lightgbm.Booster(model_file=str(model_dir / meta.get("model_file", "model.txt")))
    raw = float(booster.predict(np.array([QUERY_VALUES]), num_threads=1)[0])
    volume = float(np.expm1(raw)) if meta.get("target_transform") == "log1p" else raw
    return round(max(0.0, volume))


def wait_served(
    state: State, port: int, raw_commit: str, timeout: float, loop: subprocess.Popen[bytes] | None = None
) -> dict[str, Any]:
    """Wait until the API serves the train commit made from ``raw_commit`` and answers from it
    (failing at once if the ``loop`` process exits)."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if loop is not None and loop.poll() is not None:
            raise LoopBenchFailed(f"runner up exited with status {loop.returncode} ({last})")
        head = state.head("train") if state.has_repo("train") else None
        if head is None or not made_from(state, "train", head, "raw", raw_commit):
            last = "no train commit from that raw commit yet"
            continue
        try:
            status, body = _get(port, "/model", timeout=2)
        except OSError as exc:
            last = f"/model: {exc}"
            continue
        info = json.loads(body) if status == 200 else {}
        tree = state.tree("train", head)
        model_sha = hashlib.sha256((tree / "model.txt").read_bytes()).hexdigest()
        if info.get("train_commit") != head or info.get("model_sha256") != model_sha:
            last = f"/model still shows train commit {info.get('train_commit')}"
            continue
        status, body = _get(port, QUERY)
        expected = expected_answer(tree)
        if status == 200 and int(body) == expected:
            return {"train_commit": head, "answer": expected}
        last = f"/predict answered {status} {body[:80]!r}, the new model says {expected}"
    raise LoopBenchFailed(f"not served within {timeout:.0f}s: {last}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runner(state: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "--state", str(state), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise LoopBenchFailed(f"runner {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def _running_jobs(state: State) -> list[str]:
    return [j.pipeline for j in state.list_jobs() if j.state is JobState.RUNNING]


def provenance_chain(state: State, repo: str, commit: str, source_repo: str) -> set[tuple[str, str]]:
    """``repo@commit`` and every commit of its provenance down to ``source_repo`` (which is left out)."""
    if repo == source_repo:
        return set()
    chain = {(repo, commit)}
    for p in state.commit(repo, commit).provenance:
        chain |= provenance_chain(state, p["repo"], p["commit"], source_repo)
    return chain


def jobs_serving(state: State, train_commit: str) -> dict[str, float]:
    """The seconds of the jobs that made ``train_commit`` and the commits it was made from, back to
    raw, by pipeline (a pipeline's output repo has its name), in the order they started."""
    chain = provenance_chain(state, "train", train_commit, "raw")
    return {
        job.pipeline: job.seconds
        for job in state.list_jobs()
        if job.seconds is not None and (job.pipeline, job.output_commit) in chain
    }


@dataclass(frozen=True)
class ChangeServed:
    """One changed file put into raw until the API answers from the model made from it."""

    seconds: float
    put_seconds: float
    train_commit: str
    jobs: dict[str, float]


def put_change_until_served(
    state: State, state_dir: Path, port: int, up: subprocess.Popen[bytes], symbol: str, changed: Path
) -> ChangeServed:
    """``put file`` of ``changed`` as ``raw@master:/<symbol>``, then wait until it is served."""
    started = time.monotonic()
    _runner(state_dir, "put", "file", f"raw@master:/{symbol}", "-f", str(changed))
    put_seconds = time.monotonic() - started
    served = wait_served(state, port, state.head("raw") or "", CHANGE_TIMEOUT, up)
    seconds = time.monotonic() - started
    train_commit = served["train_commit"]
    return ChangeServed(seconds, put_seconds, train_commit, jobs_serving(state, train_commit))


def _service_root(loop_pid: int, marker: str = "gunicorn") -> int | None:
    """The pid of the service's first process among ``runner up``'s children (its cmd names ``marker``)."""
    import psutil

    for child in psutil.Process(loop_pid).children():
        try:
            if any(marker in part for part in child.cmdline()):
                return child.pid
        except psutil.Error:
            continue
    return None


@dataclass
class WindowCpu:
    """CPU seconds of window (b), split by who used them: the loop's jobs, the service (its tree),
    the load's clients (the load's thread), the rest of this process (its CPU samplers and the
    polling of /model), and what the machine left idle."""

    loop: ProcessTreeSampler
    service: ProcessTreeSampler | None
    load: Load
    load_before: float
    own_before: float
    started: float

    @classmethod
    def start(cls, loop_pid: int, service_pid: int | None, load: Load) -> WindowCpu:
        """Start sampling; the window opens once both trees have a first sample (CPU used before
        it is not counted)."""
        loop = ProcessTreeSampler(loop_pid).start()
        service = ProcessTreeSampler(service_pid).start() if service_pid else None
        time.sleep(0.3)  # a few sampling intervals
        return cls(loop, service, load, load.cpu_seconds(), _own_cpu(), time.monotonic())

    def result(self) -> dict[str, float]:
        ended = time.monotonic()
        self.loop.stop()
        service = 0.0
        if self.service is not None:
            self.service.stop()
            service = self.service.cpu_seconds(self.started, ended)
        loop = self.loop.cpu_seconds(self.started, ended)
        return {
            "window_s": ended - self.started,
            "jobs_cpu_s": max(0.0, loop - service),
            "service_cpu_s": service,
            "load_client_cpu_s": (load_cpu := self.load.cpu_seconds() - self.load_before),
            "bench_other_cpu_s": max(0.0, _own_cpu() - self.own_before - load_cpu),
            "machine_idle_s": self.loop.machine_idle_seconds(self.started, ended),
            "machine_steal_s": self.loop.machine_steal_seconds(self.started, ended),
        }


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def has_service(specs: Path) -> bool:
    """Whether the specs hold a service pipeline (the loop's case needs one to serve a model)."""
    return any(spec.is_service for spec in load_specs(specs))


def measure_loop(data_dir: Path, work_dir: Path, specs: Path, echo: Callable[[str], None]) -> dict[str, Any]:
    """Run the live-loop case; returns its numbers (``goals`` lists them against their limits)."""
    root = work_dir / "loop"
    set_aside(root)  # deleted when make bench ends (bench/trash.py)
    empty_stage_caches(specs, echo)  # (a) is a first run
    root.mkdir(parents=True)
    state_dir, port = root / "pfs", _free_port()
    state = State(state_dir)
    _runner(state_dir, "create", "repo", "raw")  # empty: the pipelines over it wait for the put
    _runner(state_dir, "update", "pipeline", "-f", str(specs))
    log_path = root / "up.log"
    result: dict[str, Any] = {"connections": LOAD_CONNECTIONS, "up_log": str(log_path)}
    with open(log_path, "wb") as log_fh:
        up = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "--state",
                str(state_dir),
                "up",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO_ROOT,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # a killed bench leaves no loop behind
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    load: Load | None = None
    try:
        echo(f"== live loop: runner up on 127.0.0.1:{port}; put file of the whole dataset")
        started = time.monotonic()
        _runner(state_dir, "put", "file", "-r", "raw@master:/", "-f", str(data_dir))
        result["first_put_s"] = time.monotonic() - started
        served = wait_served(state, port, state.head("raw") or "", FIRST_RUN_TIMEOUT, up)
        result["first_run_s"] = time.monotonic() - started
        echo(
            f"    (a) served train commit {served['train_commit'][:12]} "
            f"{result['first_run_s']:.1f}s after the put"
        )

        symbol = next(
            (c for c in INCREMENTAL_CANDIDATES if (data_dir / c).is_file()), INCREMENTAL_CANDIDATES[0]
        )
        change = change_last_volume((data_dir / symbol).read_text(encoding="utf-8"))
        changed = root / Path(symbol).name
        changed.write_text(change.text, encoding="utf-8")
        result["changed_file"], result["change"] = symbol, change.description
        load = Load(port, QUERY, LOAD_CONNECTIONS).start()
        time.sleep(1.0)  # the load is on before the put
        result["running_at_change"] = _running_jobs(state)
        echo(
            f"    (b) put {symbol} ({change.description}); "
            f"jobs running: {result['running_at_change'] or 'none'}"
        )
        service_pid = _service_root(up.pid)
        window = WindowCpu.start(up.pid, service_pid, load)
        requests_before = load.ok
        loaded = put_change_until_served(state, state_dir, port, up, symbol, changed)
        result["change_s"], result["change_put_s"] = loaded.seconds, loaded.put_seconds
        result["change_jobs_s"] = loaded.jobs
        result["change_cpu"] = window.result()
        result["change_requests_per_s"] = (load.ok - requests_before) / loaded.seconds
        echo(f"    (b) served train commit {loaded.train_commit[:12]} {loaded.seconds:.1f}s after the put")
        time.sleep(AFTER_SWAP)
        _stop_load(load, result, echo)
        load = None

        again = change_last_volume(change.text)
        changed.write_text(again.text, encoding="utf-8")
        result["unloaded_change"] = again.description
        result["unloaded_running_at_change"] = _running_jobs(state)
        echo(
            f"    (b) again with no load: put {symbol} ({again.description}); "
            f"jobs running: {result['unloaded_running_at_change'] or 'none'}"
        )
        unloaded = put_change_until_served(state, state_dir, port, up, symbol, changed)
        result["unloaded_change_s"], result["unloaded_put_s"] = unloaded.seconds, unloaded.put_seconds
        result["unloaded_jobs_s"] = unloaded.jobs
        echo(
            f"    (b) with no load: served train commit {unloaded.train_commit[:12]} "
            f"{unloaded.seconds:.1f}s after the put"
        )
    finally:
        if load is not None:
            _stop_load(load, result, echo)
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    return result


def _stop_load(load: Load, result: dict[str, Any], echo: Callable[[str], None]) -> None:
    """Stop (c)'s load and put its counts in ``result``."""
    load.stop()
    result["swap_requests"] = load.ok + len(load.failures)
    result["swap_failed_requests"] = len(load.failures)
    result["swap_failures_sample"] = load.failures[:5]
    result["swap_slowest_request_s"] = load.slowest
    echo(
        f"    (c) {result['swap_requests']} requests from {LOAD_CONNECTIONS} connections during the swap, "
        f"{len(load.failures)} failed; slowest {load.slowest:.2f}s"
    )


def loop_goals(loop: dict[str, Any]) -> list[Goal]:
    return [
        Goal(
            "live loop (a): put of the dataset -> /predict from its model", loop.get("first_run_s"), 45.0, "s"
        ),
        Goal(
            "live loop (b): one changed file -> /predict from the new model", loop.get("change_s"), 20.0, "s"
        ),
        Goal(
            f"live loop (c): failed requests during the swap ({LOAD_CONNECTIONS} connections)",
            loop.get("swap_failed_requests"),
            0,
            "requests",
            exact=True,
        ),
    ]


def bulk_path_line(results: dict[str, Any]) -> str | None:
    """(a)'s path timed with the same run's bulk baselines in place of ingest and features, one
    after the other as the DAG runs them: put, DuckDB, polars, then train's job of the first run;
    (a) against it, and the path with ingest and features at their own goals' limits. None when the
    run lacks one of them."""
    loop = results.get("loop") or {}
    put = loop.get("first_put_s")
    baselines = results.get("baselines") or {}
    duckdb, polars = (baselines.get(name, {}).get("seconds") for name in ("duckdb", "polars"))
    train = stage(results, "train").get("seconds")
    parts = (put, duckdb, polars, train)
    if any(part is None for part in parts):
        return None
    bulk = sum(parts)
    line = (
        "For scale, (a)'s path with this run's bulk baselines in place of ingest and features, one "
        f"after the other as the DAG runs them: the put {put:.1f} s + DuckDB {duckdb:.1f} s + polars "
        f"{polars:.1f} s + train's job of the first run {train:.1f} s = {bulk:.1f} s"
    )
    first = loop.get("first_run_s")
    if first is None:
        return line + "."
    at_limits = put + INGEST_DUCKDB_LIMIT * duckdb + FEATURES_POLARS_LIMIT * polars + train
    return (
        f"{line}; (a) took {first / bulk:.2f}x that. With ingest at {INGEST_DUCKDB_LIMIT}x DuckDB and "
        f"features at {FEATURES_POLARS_LIMIT}x polars (their own goals' limits) the path would take "
        f"{at_limits:.1f} s."
    )


def _jobs_text(jobs: dict[str, float]) -> str:
    return ", ".join(f"{pipeline} {seconds:.1f} s" for pipeline, seconds in jobs.items()) or "none found"


def change_split_line(loop: dict[str, Any]) -> str:
    """(b)'s time split into the put, the jobs made from its raw commit and the rest (the loop's
    waits, the service's reload), under the load and, when measured, again with no load."""

    def split(total: float, put: float, jobs: dict[str, float]) -> str:
        rest = total - put - sum(jobs.values())
        jobs_text = _jobs_text(jobs)
        return f"the put {put:.1f} s, the jobs {jobs_text}, the rest (scheduling, the reload) {rest:.1f} s"

    line = (
        f"(b) under (c)'s load: {loop['change_s']:.1f} s = "
        f"{split(loop['change_s'], loop.get('change_put_s', 0.0), loop['change_jobs_s'])}."
    )
    if loop.get("unloaded_change_s") is not None:
        unloaded_jobs = loop.get("unloaded_jobs_s") or {}
        line += (
            f" The same right after, once the load had stopped, with a second change to the file "
            f"({loop.get('unloaded_change')}; jobs running when it was put: "
            f"{', '.join(loop.get('unloaded_running_at_change') or []) or 'none'}), not a goal: "
            f"{loop['unloaded_change_s']:.1f} s = "
            f"{split(loop['unloaded_change_s'], loop.get('unloaded_put_s', 0.0), unloaded_jobs)}."
        )
    return line


def loop_section(loop: dict[str, Any]) -> str:
    """The report's section on the live loop (markdown; its goals are in the goals table)."""
    lines = ["## The live loop (`runner up`)", ""]
    if loop.get("error"):
        return "\n".join([*lines, f"Not measured to the end: {loop['error']}", ""])
    first, change = loop.get("first_run_s"), loop.get("change_s")
    lines.append(
        "From an empty state with `runner up` running: (a) `put file` of the whole dataset until `/model` "
        f"shows the train commit made from it and `/predict` answers from that model: {first:.1f} s "
        f"(of which the put {loop.get('first_put_s', 0):.1f} s); (b) right after, one changed file "
        f"(`{loop.get('changed_file')}`, {loop.get('change')}) until the same for the new train commit: "
        f"{change:.1f} s; jobs still running when it was put: "
        f"{', '.join(loop.get('running_at_change') or []) or 'none'}."
        if first is not None and change is not None
        else "Incomplete: see the up log."
    )
    if loop.get("change_jobs_s") is not None and change is not None:
        lines += ["", change_split_line(loop)]
    if "swap_requests" in loop:
        lines += [
            "",
            f"(c) {loop['connections']} clients on loopback, one request at a time each, "
            "from before the put of (b) "
            f"to {AFTER_SWAP:g} s after the swap: {loop['swap_requests']} requests, "
            f"{loop['swap_failed_requests']} failed or refused; "
            f"the slowest took {loop['swap_slowest_request_s']:.2f} s "
            "(the running workers load the new model in the background and swap it in: api/hot_swap.py).",
        ]
    cpu = loop.get("change_cpu")
    if cpu:
        cores = (os.cpu_count() or 1) * cpu["window_s"]
        lines += [
            "",
            f"Where the CPU of (b) went ({cpu['window_s']:.1f} s x {os.cpu_count()} cores = {cores:.1f} "
            "CPU s): "
            f"the loop's jobs {cpu['jobs_cpu_s']:.1f} s, the service {cpu['service_cpu_s']:.1f} s, "
            f"the load's clients (one thread of the bench: bench/load.py) {cpu['load_client_cpu_s']:.1f} s, "
            f"the rest of the bench (its CPU samplers, the polling of /model) "
            f"{cpu.get('bench_other_cpu_s', 0.0):.1f} s, idle "
            f"{cpu['machine_idle_s']:.1f} s, taken by the hypervisor (steal) "
            f"{cpu.get('machine_steal_s', 0.0):.1f} s, the rest other processes; the load got "
            f"{loop.get('change_requests_per_s', 0):,.0f} answers a second meanwhile.",
        ]
    return "\n".join(lines) + "\n"
