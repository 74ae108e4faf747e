"""Bounded load test of the real API on loopback, and the report docs/load-test.md written from it.

    python -m api.devtools.loadtest --model MODEL_DIR [--out docs/load-test.md] [--duration 6]

What it does, in order (9 minutes on a busy 2-core machine; the slow-client round against the
stock sync worker alone waits up to 5 s for each of its normal requests):
1. records the machine (cores, memory, CPU, Python, versions) and what else is using the CPU;
2. starts gunicorn (api/gunicorn_conf.py; WORKERS/THREADS as given) on a free 127.0.0.1 port and
   runs wrk (one thread, keep-alive) against /healthz (the server's ceiling: no model, no
   parsing) and /predict (64 different rows, cycled) at 1, 16 and 64 connections;
3. a sweep of worker settings at 16 connections: the API's worker (api/worker.py) with 1, 2 and 4
   threads, and gunicorn's stock sync and gthread workers (the configuration before it);
4. the slow-client round: 50 clients trickle request headers (one byte every 2 s) while normal
   /predict requests run, one after another and under wrk, against the API's worker and against
   gunicorn's sync worker (the old default): answered within 1 s, and requests/s; and the
   throughput cost of the fix without slow clients: both servers up at once, wrk alternating
   between them, requests/s of each run;
5. a profile of the workers under /predict load (cProfile on each thread's CPU clock, enabled
   by API_PROFILE_DIR in the gunicorn config), split into inference, validation, Flask,
   gunicorn and socket time, plus an in-process timing of one prediction without profiler;
6. writes the Markdown report, every number taken from this run's output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from api.devtools.server import Server, running_server
from api.devtools.slow_clients import SlowClients
from api.model import load_model

log = logging.getLogger("loadtest")

WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")
CONNECTIONS = (1, 16, 64)
#: gunicorn's command-line override that restores the worker class used before api/worker.py.
OLD_WORKER = ("--worker-class", "sync")
#: Worker settings compared at 16 connections: (label, workers, threads, extra gunicorn arguments).
SWEEP: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("API worker 2x1", 2, 1, ()),
    ("API worker 2x2", 2, 2, ()),
    ("API worker 2x4", 2, 4, ()),
    ("stock sync, 2 workers (before)", 2, 1, OLD_WORKER),
    ("stock gthread 2x4", 2, 4, ("--worker-class", "gthread")),
)
#: The slow-client round: trickling connections, their pace, and the normal requests beside them.
SLOW_CLIENTS = 50
SLOW_INTERVAL_S = 2.0
SLOW_NORMAL_REQUESTS = 20
SLOW_GOAL_S = 1.0
GOAL_RATIO = 0.70
GOAL_P99_MS = 10.0


@dataclass(frozen=True)
class WrkResult:
    endpoint: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int


def predict_paths(n: int = 64) -> list[str]:
    """n different /predict rows, spread over realistic feature ranges."""
    rng = np.random.default_rng(7)
    vols = np.exp(rng.uniform(np.log(1e3), np.log(1e8), n))
    prices = np.exp(rng.uniform(np.log(1.0), np.log(2e3), n))
    return [
        f"/predict?vol_moving_avg={v:.1f}&adj_close_rolling_med={p:.4f}"
        for v, p in zip(vols, prices, strict=True)
    ]


def run_wrk(base_url: str, paths: list[str], connections: int, seconds: int) -> WrkResult:
    """One wrk run (one thread, keep-alive) cycling through ``paths``."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(WRK_SCRIPT)]
    cmd += [base_url + paths[0], "--", *paths]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    match = re.search(r"^WRK_JSON (.*)$", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(match.group(1))
    secs = raw["duration_us"] / 1e6
    errors = sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    endpoint = paths[0].split("?")[0]
    return WrkResult(
        endpoint,
        connections,
        raw["requests"],
        round(secs, 2),
        raw["requests"] / secs,
        raw["p50_us"] / 1e3,
        raw["p95_us"] / 1e3,
        raw["p99_us"] / 1e3,
        raw["max_us"] / 1e3,
        errors,
    )


def machine_info() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    from importlib.metadata import version

    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu.group(1).strip() if cpu else "unknown",
        "memory_gib": round(total_kb / 2**20, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "versions": ", ".join(
            f"{name} {version(name)}" for name in ("gunicorn", "flask", "lightgbm", "numpy")
        ),
        "wrk": wrk_version[0] if wrk_version else "wrk",
    }


def other_load(exclude: set[int]) -> dict[str, Any]:
    """Load average and the processes (not ours) using the most CPU over one second."""
    import psutil

    procs = [p for p in psutil.process_iter(["pid", "name", "cmdline"]) if p.pid not in exclude]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    time.sleep(1.0)
    busy = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= 5:
            cmd = " ".join(p.info["cmdline"] or [p.info["name"] or "?"])
            busy.append((pct, re.sub(r"\s+", " ", cmd)[:90]))
    busy.sort(reverse=True)
    return {"loadavg": os.getloadavg(), "busy": busy[:8]}


def _key_matches(key: tuple[str, int, str], file_suffix: str, func: str) -> bool:
    return key[0].endswith(file_suffix) and key[2] == func


def profile_split(prof_dir: Path) -> dict[str, Any]:
    """Split the workers' CPU time under /predict load into where it goes, per request."""
    import pstats

    files = sorted(prof_dir.glob("worker-*.prof"))
    stats = pstats.Stats(*map(str, files)).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    total = sum(v[2] for v in stats.values())

    def cum(file_suffix: str, func: str) -> float:
        return sum(v[3] for k, v in stats.items() if _key_matches(k, file_suffix, func))

    def calls(file_suffix: str, func: str) -> int:
        return sum(v[1] for k, v in stats.items() if _key_matches(k, file_suffix, func))

    socket_names = (
        "recv",
        "recv_into",
        "send",
        "sendall",
        "accept",
        "_accept",
        "shutdown",
        "close",
        "setsockopt",
    )
    waits = ("poll", "select", "acquire", "wait")
    socket_time = sum(
        v[2]
        for k, v in stats.items()
        if k[0] == "~" and any(f"method '{n}' of '_socket.socket'" in k[2] for n in socket_names)
    )
    wait_time = sum(
        v[2] for k, v in stats.items() if k[0] == "~" and any(f"method '{n}' of " in k[2] for n in waits)
    )
    handoff = sum(
        v[2]
        for k, v in stats.items()
        if k[0] == "~"
        and (
            "of '_queue.SimpleQueue'" in k[2]
            or k[2] in ("<built-in method posix.write>", "<built-in method posix.read>")
        )
    )
    requests = calls("api/app.py", "predict_one")
    inference = cum("api/model.py", "predict_one")
    validation = cum("api/params.py", "parse_query")
    view = cum("api/app.py", "predict_one")
    flask_all = cum("flask/app.py", "wsgi_app")
    parts = {
        "inference (LightGBM predict, inverse transform, rounding)": inference,
        "validation (query parsing and checks)": validation,
        "query string decoding (request.args) and Response object": view - inference - validation,
        "Flask/Werkzeug (request context, routing, environ, response headers)": flask_all - view,
        "socket system calls (recv, send, accept, close)": socket_time,
        "waiting (poll, locks; ~0 on a CPU clock)": wait_time,
        "gthread hand-off (pool queue get, wake-up pipe writes)": handoff,
    }
    parts["gunicorn (HTTP parsing, worker loop, WSGI glue)"] = total - sum(parts.values())
    return {"requests": requests, "total_s": total, "parts": parts, "workers": len(files)}


def time_single_prediction(model_dir: Path, repeats: int = 3000) -> float:
    """Microseconds per one-row prediction in process, without a profiler (the serving path)."""
    model = load_model(model_dir)
    row = np.array([2.5e6, 41.5])
    model.predict_one(row)
    start = time.perf_counter()
    for _ in range(repeats):
        model.predict_one(row)
    return (time.perf_counter() - start) / repeats * 1e6


def _fmt_row(r: WrkResult) -> str:
    return (
        f"| `{r.endpoint}` | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p95_ms:.2f} | "
        f"{r.p99_ms:.2f} | {r.max_ms:.1f} | {r.requests:,} | {r.errors} |"
    )


def render(ctx: dict[str, Any]) -> str:
    m = ctx["machine"]
    header = (
        "| endpoint | connections | requests/s | p50 ms | p95 ms | p99 ms | max ms | requests | errors "
        "| req/s, all rounds | p99 ms, all rounds |"
    )
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    lines = [
        "# Load test of the API",
        "",
        f"Generated by `make loadtest` (`python -m api.devtools.loadtest`) on {ctx['when']}. Every number",
        "below is this run's output; rerun the target to refresh them. Numbers from a shared machine are",
        "noisy: compare endpoints and settings within one run, not across runs.",
        "",
        "## Method",
        "",
        f"- Server: the real API under gunicorn ({ctx['settings']}), started on a free 127.0.0.1 port",
        "  by `api.devtools.server.running_server`, with the image's config (`api/gunicorn_conf.py`).",
        f"- Model: `{ctx['model_dir']}` ({ctx['model_note']}).",
        f"- Load: {m['wrk']}, one thread, HTTP/1.1 keep-alive, {ctx['duration']} s per run, on the same",
        "  cores as the server (loopback only). `/healthz` is the ceiling (no model, no parsing, a prebuilt",
        "  body); `/predict` cycles through 64 different rows (`api/devtools/wrk_report.lua`): no caching.",
        f"- {ctx['rounds']} rounds per endpoint and connection count, alternating `/healthz` and `/predict`",
        "  so both see the same background load; the table shows the median round (by requests/s) and the",
        "  range over all rounds. Latencies are wrk's (client side, including queueing in the client);",
        "  errors = connect, read, write, timeout and non-2xx answers.",
        "",
        "## Machine",
        "",
        f"- {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB memory, Python {m['python']}, {m['os']}",
        f"- {m['versions']}",
        f"- Load average before the test: {', '.join(f'{x:.2f}' for x in ctx['before']['loadavg'])}; "
        f"after: {', '.join(f'{x:.2f}' for x in ctx['after']['loadavg'])}.",
        "- Other processes using the CPU just before the test (the machine is shared with other work):",
        "",
    ]
    busy = ctx["before"]["busy"]
    lines += [f"  - {pct:.0f}% `{cmd}`" for pct, cmd in busy] or ["  - none above 5%"]
    lines += ["", "## Results", "", header, rule]
    for r in ctx["main"]:
        low, high, p99_low, p99_high = ctx["spread"][(r.endpoint, r.connections)]
        lines.append(f"{_fmt_row(r)} {low:,.0f} to {high:,.0f} | {p99_low:.2f} to {p99_high:.2f} |")
    goal = ctx["goal"]
    median_ratio = float(np.median([g["ratio"] for g in ctx["goal_rounds"]]))
    median_p99 = float(np.median([g["p99_ms"] for g in ctx["goal_rounds"]]))
    rounds_met = sum(g["met"] for g in ctx["goal_rounds"])
    lines += [
        "",
        f"Speed goal at 16 connections: `/predict` at least {GOAL_RATIO:.0%} of `/healthz` requests/s, "
        f"p99 at most {GOAL_P99_MS:.0f} ms.",
        f"Median rounds of the table: {goal['ratio']:.0%} of the ceiling ({goal['predict_rps']:,.0f} vs "
        f"{goal['healthz_rps']:,.0f} requests/s), p99 {goal['p99_ms']:.2f} ms: "
        f"**{'met' if goal['met'] else 'not met'}**" + ("." if goal["met"] else f" ({goal['why']})."),
        "Round by round (each `/healthz` run paired with the `/predict` run right after it): "
        + "; ".join(
            f"{g['ratio']:.0%}, p99 {g['p99_ms']:.2f} ms ({'met' if g['met'] else 'not met'})"
            for g in ctx["goal_rounds"]
        )
        + f"; median round: {median_ratio:.0%}, p99 {median_p99:.2f} ms "
        + f"(**{'met' if median_ratio >= GOAL_RATIO and median_p99 <= GOAL_P99_MS else 'not met'}**). "
        + f"Rounds meeting the goal: {rounds_met} of {len(ctx['goal_rounds'])}.",
        "",
        "### Worker settings at 16 connections",
        "",
        "| settings | `/healthz` req/s | `/predict` req/s | ratio | `/predict` p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, health, pred in ctx["sweep"]:
        lines.append(
            f"| {label} | {health.rps:,.0f} | {pred.rps:,.0f} | {pred.rps / health.rps:.0%} | "
            f"{pred.p99_ms:.2f} | {health.errors + pred.errors} |"
        )
    lines += _render_slow(ctx)
    lines += [
        "",
        "## Where a request's time goes",
        "",
        f"cProfile in each worker thread (API_PROFILE_DIR, each thread's CPU clock) in a {ctx['duration']} s",
        "`/predict` run at 16 connections, for the served settings and for gunicorn's stock sync worker",
        "(before). The sync worker runs each request on its one thread; the API worker reads it in the",
        "event loop and hands it to a pool thread and back. Microseconds of worker CPU per request, and",
        "share. The profiler inflates Python-heavy parts more than C calls; the split, not the total,",
        "is the point.",
        "",
        "| part | " + " | ".join(f"{label}: us | share" for label, _ in ctx["profiles"]) + " |",
        "|---|" + "---:|---:|" * len(ctx["profiles"]),
    ]
    per_request = []
    for _, prof in ctx["profiles"]:
        n = max(prof["requests"], 1)
        per_request.append(({k: v / n * 1e6 for k, v in prof["parts"].items()}, prof["total_s"] / n * 1e6))
    for name in sorted(per_request[0][0], key=lambda k: -per_request[0][0][k]):
        cells = " | ".join(f"{parts[name]:.1f} | {parts[name] / total:.0%}" for parts, total in per_request)
        lines.append(f"| {name} | {cells} |")
    totals = " | ".join(f"{total:.0f} | 100%" for _, total in per_request)
    counts = ", ".join(f"{prof['requests']:,}" for _, prof in ctx["profiles"])
    lines.append(f"| **total** ({counts} requests) | {totals} |")
    inference_share = max(
        parts[next(k for k in parts if k.startswith("inference"))] / total for parts, total in per_request
    )
    health16 = next(r for r in ctx["main"] if r.endpoint == "/healthz" and r.connections == 16)
    cpu_us_per_request = m["cores"] / health16.rps * 1e6
    lines += [
        "",
        f"Without a profiler, one prediction (`LoadedModel.predict_one`, in process) takes "
        f"{ctx['single_us']:.1f} us; the server's ceiling at 16 connections is "
        f"{health16.rps:,.0f} requests/s on {m['cores']} cores, i.e. about {cpu_us_per_request:.0f} us",
        "of CPU per request, wrk's own share included.",
        "",
        "## Bottlenecks and suggestions",
        "",
        f"- Inference is not the bottleneck: at most {inference_share:.0%} of a request's worker CPU under "
        f"the profiler, {ctx['single_us']:.0f} us alone. One row goes through LightGBM's prepared",
        "  single-row C path (`LGBM_BoosterPredictForMatSingleRowFast`, one config per thread, prepared",
        "  once, `num_threads=1`) instead of `Booster.predict` (20-40 us of Python set-up per call); batches",
        "  use `Booster.predict(num_threads=1)`. OpenMP is pinned to one thread per worker",
        "  (`OMP_NUM_THREADS=1`): no model thread pool fights the workers for the cores.",
        "- The cost is the HTTP and WSGI stack: gunicorn's pure-Python HTTP parser and worker loop, Flask's",
        "  request context and routing, and the socket calls. They cost the same for `/healthz`, which is",
        "  why `/predict` stays close to the ceiling; what `/predict` adds is decoding the query string,",
        "  validating two numbers and the prediction itself.",
        "- Tail latency: p99 at 16 connections depends mostly on what else runs on the 2 cores (see the",
        "  per-round numbers and the process list above); with gthread workers a request can also wait",
        "  for the GIL behind another thread of its worker (`GIL_SWITCH_INTERVAL` sets Python's switch",
        "  interval, 5 ms by default).",
        "- Worker class: every configuration serves with `api/worker.py`, gunicorn's gthread worker with",
        "  each request read whole in its selector loop before a pool thread runs the app (keep-alive,",
        "  `THREADS` pool threads, default 1). A slow or idle client costs a buffer on the selector, not",
        "  a worker: see the slow-client round. gunicorn's stock sync worker (the default before) never",
        "  hands a request between threads, but one client that trickles its headers holds a whole",
        "  worker; the sweep and the profile show what the hand-off costs against it.",
        "- wrk runs on the same cores: part of every number is the load generator's CPU; on a dedicated",
        "  server the ceiling is higher.",
        "- Next steps, in order of expected gain: gunicorn's C HTTP parser (`pip install gunicorn[fast]`,",
        "  picked up automatically by `http_parser = auto`); batching on the client side (`POST /predict`",
        "  with up to 1000 rows costs one HTTP round trip); a leaner WSGI layer for the one hot route",
        "  (a plain WSGI callable in front of Flask for `GET /predict`); more workers only with more cores.",
        "",
    ]
    return "\n".join(lines)


def _render_slow(ctx: dict[str, Any]) -> list[str]:
    served, before = ctx["slow"]
    cost: CostRounds = ctx["cost"]
    median_ratio = float(np.median(cost.ratios))
    change = f"{1 - median_ratio:.0%} fewer" if median_ratio < 1 else f"{median_ratio - 1:.0%} more"
    lines = [
        "",
        "### Slow clients",
        "",
        f"{SLOW_CLIENTS} connections send a request head one byte every {SLOW_INTERVAL_S:.0f} s "
        "(`api/devtools/slow_clients.py`; a connection the server closes is opened again), while "
        f"{SLOW_NORMAL_REQUESTS} normal `/predict` requests run one after another (a new connection each, "
        f"5 s timeout), then wrk for {ctx['duration']} s at 16 connections. Goal: every normal request "
        f"answered within {SLOW_GOAL_S:.0f} s.",
        "",
        "| server | slow connections open | answered within 1 s | worst s | wrk `/predict` req/s "
        "| wrk errors | slow reconnects (408/closed) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in (served, before):
        lines.append(
            f"| {r.label} | {r.slow_open} | {r.answered_in_goal} of {r.asked} | {r.worst_s:.2f} | "
            f"{r.wrk.rps:,.0f} | {r.wrk.errors} | {r.slow_reconnects} |"
        )
    met = served.answered_in_goal == served.asked
    lines += [
        "",
        f"Goal with the served configuration: **{'met' if met else 'not met'}**.",
        "",
        "Throughput cost of the fix, without slow clients: both servers running at once, wrk "
        f"(16 connections, {ctx['duration']} s, `/predict`) alternating between them {len(cost.ratios)} "
        "times so both see the same background load. Requests/s, served worker against stock sync: "
        + "; ".join(
            f"{new:,.0f} vs {old:,.0f}" for new, old in zip(cost.served_rps, cost.before_rps, strict=True)
        )
        + f". Ratios {min(cost.ratios):.2f} to {max(cost.ratios):.2f}, median {median_ratio:.2f}: in the "
        f"median round the served configuration answers {change} requests/s"
        + (
            " (the rounds disagree on the sign: on this shared machine the difference is within the noise)."
            if min(cost.ratios) < 1 < max(cost.ratios)
            else "."
        ),
    ]
    return lines


def _goal(main: list[WrkResult]) -> dict[str, Any]:
    health = next(r for r in main if r.endpoint == "/healthz" and r.connections == 16)
    pred = next(r for r in main if r.endpoint == "/predict" and r.connections == 16)
    ratio = pred.rps / health.rps
    why = []
    if ratio < GOAL_RATIO:
        why.append(f"ratio {ratio:.0%} < {GOAL_RATIO:.0%}")
    if pred.p99_ms > GOAL_P99_MS:
        why.append(f"p99 {pred.p99_ms:.2f} ms > {GOAL_P99_MS:.0f} ms")
    return {
        "ratio": ratio,
        "predict_rps": pred.rps,
        "healthz_rps": health.rps,
        "p99_ms": pred.p99_ms,
        "met": not why,
        "why": "; ".join(why),
    }


@dataclass(frozen=True)
class SlowRound:
    """Normal requests beside trickling clients, for one server configuration."""

    label: str
    answered_in_goal: int
    asked: int
    worst_s: float
    wrk: WrkResult
    slow_open: int
    slow_reconnects: int


def _timed_requests(server: Server, paths: list[str], count: int) -> list[float]:
    """Seconds each of ``count`` sequential GETs took (a new connection each; 5 s timeout = 5 s)."""
    import urllib.error
    import urllib.request

    took = []
    for i in range(count):
        start = time.monotonic()
        try:
            with urllib.request.urlopen(server.url + paths[i % len(paths)], timeout=5) as answer:
                answer.read()
            took.append(time.monotonic() - start)
        except (OSError, urllib.error.URLError):
            took.append(max(5.0, time.monotonic() - start))
    return took


@dataclass(frozen=True)
class CostRounds:
    """``/predict`` requests/s of the served worker and of the stock sync worker, run by run, alternating."""

    served_rps: list[float]
    before_rps: list[float]

    @property
    def ratios(self) -> list[float]:
        return [new / old for new, old in zip(self.served_rps, self.before_rps, strict=True)]


def throughput_cost(model_dir: Path, workers: int, threads: int, duration: int, rounds: int) -> CostRounds:
    """Both servers up at once; wrk at 16 connections alternates between them ``rounds`` times."""
    paths = predict_paths()
    served: list[float] = []
    before: list[float] = []
    with (
        running_server(model_dir, workers=workers, threads=threads) as new,
        running_server(model_dir, workers=workers, threads=1, gunicorn_args=OLD_WORKER) as old,
    ):
        for _ in range(rounds):
            served.append(run_wrk(new.url, paths, 16, duration).rps)
            before.append(run_wrk(old.url, paths, 16, duration).rps)
            log.info(
                "throughput cost round: served %.0f req/s, stock sync %.0f req/s", served[-1], before[-1]
            )
    return CostRounds(served, before)


def slow_client_round(
    model_dir: Path, label: str, workers: int, threads: int, gunicorn_args: tuple[str, ...], duration: int
) -> SlowRound:
    """50 trickling clients, then sequential normal requests, then a wrk run, all while they trickle."""
    paths = predict_paths()
    hold_s = 3 + SLOW_NORMAL_REQUESTS * 5 + duration + 10  # ends on its own even if every request waits
    with (
        running_server(model_dir, workers=workers, threads=threads, gunicorn_args=gunicorn_args) as server,
        SlowClients(
            "127.0.0.1", server.port, count=SLOW_CLIENTS, interval=SLOW_INTERVAL_S, duration=hold_s
        ) as slow,
    ):
        time.sleep(SLOW_INTERVAL_S + 0.5)  # every slow client has begun and sent another byte
        slow_open = slow.open_now()
        took = _timed_requests(server, paths, SLOW_NORMAL_REQUESTS)
        wrk = run_wrk(server.url, paths, 16, duration)
        reconnects = slow.reconnects
    result = SlowRound(
        label, sum(t < SLOW_GOAL_S for t in took), len(took), max(took), wrk, slow_open, reconnects
    )
    log.info(
        "slow clients, %s: %d of %d within %.0f s (worst %.2f s), wrk %.0f req/s, %d errors",
        label,
        result.answered_in_goal,
        result.asked,
        SLOW_GOAL_S,
        result.worst_s,
        wrk.rps,
        wrk.errors,
    )
    return result


def run(
    model_dir: Path, out: Path, duration: int, workers: int, threads: int, model_note: str, rounds: int = 3
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("loadtest: wrk not found (make loadtest installs it with apt-get)")
    paths = {"/healthz": ["/healthz"], "/predict": predict_paths()}
    ctx: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "model_dir": str(model_dir),
        "model_note": model_note,
        "duration": duration,
        "settings": f"{workers} workers x {threads} thread{'s' if threads > 1 else ''} (api/worker.py)",
    }
    ctx["before"] = other_load({os.getpid()})
    main: list[WrkResult] = []
    spread: dict[tuple[str, int], tuple[float, float, float, float]] = {}
    with running_server(model_dir, workers=workers, threads=threads) as server:
        for connections in CONNECTIONS:
            by_endpoint: dict[str, list[WrkResult]] = {"/healthz": [], "/predict": []}
            for _ in range(rounds):  # alternate endpoints so both see the same background load
                for endpoint, results in by_endpoint.items():
                    results.append(run_wrk(server.url, paths[endpoint], connections, duration))
                    log.info("%s", _fmt_row(results[-1]))
            for endpoint, results in by_endpoint.items():
                main.append(sorted(results, key=lambda r: r.rps)[len(results) // 2])
                rps = [r.rps for r in results]
                p99 = [r.p99_ms for r in results]
                spread[(endpoint, connections)] = (min(rps), max(rps), min(p99), max(p99))
            if connections == 16:
                ctx["goal_rounds"] = [
                    _goal([h, p])
                    for h, p in zip(by_endpoint["/healthz"], by_endpoint["/predict"], strict=True)
                ]
    ctx["main"] = main
    ctx["workers"] = workers
    ctx["threads"] = threads
    ctx["spread"] = spread
    ctx["rounds"] = rounds
    ctx["goal"] = _goal(main)
    sweep = []
    for label, sweep_workers, sweep_threads, extra in SWEEP:
        with running_server(
            model_dir, workers=sweep_workers, threads=sweep_threads, gunicorn_args=extra
        ) as server:
            health = run_wrk(server.url, paths["/healthz"], 16, max(3, duration // 2))
            pred = run_wrk(server.url, paths["/predict"], 16, max(3, duration // 2))
        log.info("%s: healthz %.0f/s, predict %.0f/s, p99 %.2f ms", label, health.rps, pred.rps, pred.p99_ms)
        sweep.append((label, health, pred))
    ctx["sweep"] = sweep
    ctx["cost"] = throughput_cost(model_dir, workers, threads, duration, rounds)
    ctx["slow"] = [
        slow_client_round(model_dir, f"served: {ctx['settings']}", workers, threads, (), duration),
        slow_client_round(
            model_dir, f"before: stock sync, {workers} workers", workers, 1, OLD_WORKER, duration
        ),
    ]
    profiles = []
    # The served settings, and gunicorn's stock sync worker (the configuration before) for contrast.
    other = (f"before: {workers} workers, stock sync", 1, OLD_WORKER)
    for label, prof_threads, extra in ((f"served: {ctx['settings']}", threads, ()), other):
        with tempfile.TemporaryDirectory(prefix="api-profile-") as prof_dir:
            env = {"API_PROFILE_DIR": prof_dir, "API_PROFILE_CLOCK": "thread"}
            with running_server(
                model_dir, workers=workers, threads=prof_threads, env=env, gunicorn_args=extra
            ) as server:
                run_wrk(server.url, paths["/predict"], 16, duration)
            profiles.append((label, profile_split(Path(prof_dir))))
    ctx["profiles"] = profiles
    ctx["single_us"] = time_single_prediction(model_dir)
    ctx["after"] = other_load({os.getpid()})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(ctx), encoding="utf-8")
    goal = ctx["goal"]
    print(
        f"loadtest: /predict {goal['predict_rps']:,.0f} req/s = {goal['ratio']:.0%} of /healthz "
        f"at 16 connections, p99 {goal['p99_ms']:.2f} ms, "
        f"goal {'met' if goal['met'] else 'NOT met'}; wrote {out}"
    )
    return ctx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="model folder (model.json, model.txt)")
    parser.add_argument("--model-note", default="", help="where the model comes from, for the report")
    parser.add_argument("--out", type=Path, default=Path("docs/load-test.md"))
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="runs per endpoint and connections (median kept)"
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", 1)))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="loadtest: %(message)s", stream=sys.stderr, force=True)
    meta = json.loads((args.model / "model.json").read_text())
    note = args.model_note or (
        f"{meta.get('training_rows', '?')} training rows, trained {meta.get('trained_at', '?')}, "
        f"input commit {meta.get('input_commit')}"
    )
    run(args.model, args.out, args.duration, args.workers, args.threads, note, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
