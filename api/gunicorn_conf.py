"""gunicorn settings of the API, from environment variables.

HOST (default 127.0.0.1; the image sets 0.0.0.0), PORT (8000), WORKERS (2), THREADS (1: each
worker runs one request at a time; more threads overlap requests), TIMEOUT (30 s), BACKLOG (2048),
ACCESS_LOG (set to 1 to log each request to stderr; off by default, it costs throughput).
API_PROFILE_DIR: when set, each worker runs cProfile from its start to its exit and writes
``<dir>/worker-<pid>.prof`` (used by the load test to show where a request's time goes).

Every worker is api.worker.BufferedThreadWorker, whatever THREADS says: gthread's selector loop
and keep-alive, with each request read whole (head and body) in the loop before a thread runs the
app, so slow or idle clients hold no thread and cannot stall normal requests (docs/serving.md).

The app is not preloaded: each worker imports ``api.wsgi`` and so loads the model once, at
start. Under ``runner up`` (RUNNER_SERVICE_ENV set) a SIGHUP swaps the new commit's model into the
running workers instead of restarting them (``when_ready`` below, api/hot_swap.py); MODEL_RELOAD=restart
keeps gunicorn's restart of the workers. Every worker pins OpenMP to one thread (the booster also
predicts with num_threads=1): a model thread pool per worker on a small machine makes the workers
fight for the cores.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import signal
import sys
import threading
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _int_env(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    try:
        return int(text) if text else default
    except ValueError:
        raise SystemExit(f"gunicorn_conf: {name}={text!r} is not a whole number") from None


bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_int_env('PORT', 8000)}"
workers = _int_env("WORKERS", 2)
threads = _int_env("THREADS", 1)
worker_class = "api.worker.BufferedThreadWorker"
timeout = _int_env("TIMEOUT", 30)
backlog = _int_env("BACKLOG", 2048)
keepalive = 5
limit_request_line = 8190  # gunicorn's maximum; longer request lines answer 414 (api/openapi.py says so)
preload_app = False
accesslog = "-" if os.environ.get("ACCESS_LOG") == "1" else None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
proc_name = "stockpipe-api"
# gunicorn's control socket sits at one path per user ($HOME/.gunicorn/gunicorn.ctl): two servers
# (tests, a load test beside `make serve`) would fight over it. Off unless CONTROL_SOCKET names one.
control_socket_disable = not os.environ.get("CONTROL_SOCKET")
if os.environ.get("CONTROL_SOCKET"):
    control_socket = os.environ["CONTROL_SOCKET"]

_PROFILE_DIR = os.environ.get("API_PROFILE_DIR")
#: This worker's profilers, one per thread that handled requests (cProfile sees one thread each).
_PROFILERS: dict[int, cProfile.Profile] = {}


def _profile_this_thread() -> None:
    thread = threading.get_ident()
    if thread not in _PROFILERS:
        # API_PROFILE_CLOCK=thread: each thread's CPU time (no waits, no other threads' time).
        clock = time.thread_time if os.environ.get("API_PROFILE_CLOCK") == "thread" else time.perf_counter
        profiler = cProfile.Profile(clock)
        _PROFILERS[thread] = profiler
        profiler.enable()


def on_starting(server: Any) -> None:
    """In the master, before any worker: check the model folder, stop at once with one line if wrong."""
    from api.app import API_FEATURES, DEFAULTS, config_from_env
    from api.hot_swap import reload_mode
    from api.model import ModelLoadError, read_metadata

    try:
        model_dir = config_from_env().get("MODEL_DIR", DEFAULTS["MODEL_DIR"])
        read_metadata(model_dir, API_FEATURES)
        reload_mode()
    except (ModelLoadError, ValueError) as exc:
        server.log.error("api: cannot serve: %s", exc)
        raise SystemExit(3) from None
    if os.environ.get("RUNNER_SERVICE_ENV"):
        # Under `runner up` a worker that gunicorn starts (a restart, a crashed worker) imports
        # LightGBM before it can answer: importing it once here, inherited by the fork, saves
        # that in each of them (docs/architecture.md).
        import lightgbm  # noqa: F401


def when_ready(server: Any) -> None:
    """In swap mode (api/hot_swap.py) make SIGHUP a model swap in the running workers.

    gunicorn 27's master queues SIGHUP and calls ``Arbiter.handle_hup`` from its main loop (arbiter.py
    ``run``, looked up by name as ``handle_<signal>``), which calls ``reload``: new workers are forked
    and the old ones stopped. Here the instance's ``handle_hup`` is replaced by one that forwards the
    signal to every worker (``Arbiter.kill_workers``, which skips a worker that is gone); each
    worker's handler (api/worker.py ``init_signals``) queues a swap. ``when_ready`` runs at the end
    of ``Arbiter.start``, before the main loop takes any signal, so no HUP is handled the old way.
    """
    from api.hot_swap import ReloadMode, reload_mode
    from api.worker import BufferedThreadWorker

    if reload_mode() is not ReloadMode.SWAP:
        return
    if not issubclass(server.worker_class, BufferedThreadWorker):
        # another worker class (the load test's --worker-class sync) would die of the signal
        worker_class = server.cfg.worker_class_str
        server.log.info("api: %s cannot swap models: SIGHUP restarts the workers", worker_class)
        return

    def forward_hup() -> None:
        server.log.info("Hang up: swapping the model in workers %s", sorted(server.WORKERS))
        server.kill_workers(signal.SIGHUP)

    server.handle_hup = forward_hup


def post_fork(server: Any, worker: Any) -> None:
    """Under the local runner's ``up`` (runner/services.py), a new worker first takes the variables
    of the input commit being served (MODEL_DIR, train_COMMIT...) from the JSON file named by
    RUNNER_SERVICE_ENV, so a worker started later (a crash, a timeout, MODEL_RELOAD=restart's
    reload) serves the commit being served. gunicorn calls it in the child right after the fork,
    before ``Worker.init_process`` (arbiter.py ``spawn_worker``)."""
    path = os.environ.get("RUNNER_SERVICE_ENV")
    if path:
        from api.hot_swap import remember_start_env

        with open(path, encoding="utf-8") as fh:
            overrides = json.load(fh)
        remember_start_env(overrides)  # api/wsgi.py falls back to it if this commit's model fails
        os.environ.update(overrides)


def post_worker_init(worker: Any) -> None:
    """Set the GIL switch interval; start profiling the worker's main loop when API_PROFILE_DIR is set."""
    if os.environ.get("GIL_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["GIL_SWITCH_INTERVAL"]))
    if _PROFILE_DIR:
        _profile_this_thread()


def pre_request(worker: Any, req: Any) -> None:
    """Under gthread workers requests run in pool threads: profile each of them too."""
    if _PROFILE_DIR:
        _profile_this_thread()


def worker_exit(server: Any, worker: Any) -> None:
    """Write the worker's profile (all its threads merged), if profiling."""
    if not _PROFILERS:
        return
    for profiler in _PROFILERS.values():
        profiler.disable()
    stats = pstats.Stats(*_PROFILERS.values())
    _PROFILERS.clear()
    os.makedirs(_PROFILE_DIR, exist_ok=True)
    stats.dump_stats(os.path.join(_PROFILE_DIR, f"worker-{os.getpid()}.prof"))
