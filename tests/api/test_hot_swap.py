"""SIGHUP under ``runner up`` swaps the new commit's model into the running gunicorn workers.

Real parts: gunicorn with api/gunicorn_conf.py on 127.0.0.1, two real model folders fit on the
bundled sample (40 and 8 boosting rounds: different answers), and the service layout runner/services.py
writes (``<commit>/env.json``, ``current``, RUNNER_SERVICE_ENV; api/devtools/service_env.py). The
gunicorn behaviour replaced or kept is gunicorn 27's arbiter.py (``handle_hup`` -> ``reload``: new
workers) and workers/base.py (``init_signals``: SIGHUP reset to its default in each worker), as cited
in api/gunicorn_conf.py and api/worker.py. The bounds are generous: speed is measured by
api/devtools/reload_timing.py, not here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import lightgbm
import numpy as np
import pytest
import requests

from api.app import DEFAULTS, served_loader
from api.devtools.reload_timing import run, summary, table
from api.devtools.sample_model import build_sample_model
from api.devtools.server import Server, ServerStartError, running_server
from api.devtools.service_env import ServiceEnvDir, send_reload
from api.hot_swap import ModelSwapper, ReloadMode, reload_mode
from api.served import ModelHolder, ModelSource, ServedModel
from bench.load import Load

QUERY = {"vol_moving_avg": "2500000", "adj_close_rolling_med": "41.5"}
QUERY_PATH = "/predict?vol_moving_avg=2500000&adj_close_rolling_med=41.5"
#: Seconds a swap may take here: a model loads in tens of milliseconds, a busy machine is slower.
SWAP_BOUND = 60.0


@pytest.fixture(scope="module")
def other_model_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second real model folder: 8 rounds instead of 40, so /predict answers differently."""
    return build_sample_model(sample_dir, tmp_path_factory.mktemp("model-8"), rounds=8)


@pytest.fixture(scope="module")
def broken_model_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder whose model.json is fine and whose model.txt is not a LightGBM model."""
    broken = tmp_path_factory.mktemp("model-broken")
    for path in model_dir.iterdir():
        shutil.copy2(path, broken / path.name)
    (broken / "model.txt").write_text("not a booster\n", encoding="utf-8")
    return broken


def sha256(model_dir: Path) -> str:
    return hashlib.sha256((model_dir / "model.txt").read_bytes()).hexdigest()


def answer_of(model_dir: Path) -> int:
    """What /predict must answer for QUERY from ``model_dir``'s booster (LightGBM directly)."""
    booster = lightgbm.Booster(model_file=str(model_dir / "model.txt"))
    raw = booster.predict(np.array([[2500000.0, 41.5]]), num_threads=1)[0]
    return round(max(0.0, float(np.expm1(raw))))


def model_info(server: Server) -> tuple[str, str]:
    """(train_commit, model_sha256) of one /model answer, on a new connection."""
    info = requests.get(f"{server.url}/model", timeout=10, headers={"Connection": "close"}).json()
    return info["train_commit"], info["model_sha256"]


def wait_all_serve(server: Server, commit: str, in_a_row: int = 20, bound: float = SWAP_BOUND) -> float:
    """Wait until ``in_a_row`` /model answers in a row (new connections, any worker) name ``commit``;
    returns the seconds it took."""
    start = time.monotonic()
    seen = 0
    while seen < in_a_row:
        assert time.monotonic() - start < bound, f"/model did not settle on {commit} in {bound}s"
        seen = seen + 1 if model_info(server)[0] == commit else 0
        if not seen:
            time.sleep(0.02)
    return time.monotonic() - start


def wait_log(server: Server, text: str, count: int = 1, bound: float = SWAP_BOUND) -> str:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        log = server.log_path.read_text(errors="replace")
        if log.count(text) >= count:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not {count} times in the log within {bound}s:\n{log}")


def wait_replaced(server: Server, pid: int, count: int = 2, bound: float = SWAP_BOUND) -> None:
    """Wait until gunicorn has started a worker in place of the killed ``pid``."""
    deadline = time.monotonic() + bound
    while pid in (now := server.worker_pids()) or len(now) != count:
        assert time.monotonic() < deadline, f"no new worker in place of {pid}: {now}"
        time.sleep(0.05)


@pytest.fixture
def service(tmp_path: Path) -> ServiceEnvDir:
    return ServiceEnvDir(tmp_path / "services" / "serve")


@pytest.fixture
def swap_server(model_dir: Path, service: ServiceEnvDir, tmp_path: Path) -> Iterator[Server]:
    """gunicorn as ``runner up`` starts it: RUNNER_SERVICE_ENV naming ``current/env.json``, on commit a1."""
    service.point("a1", model_dir)
    env = {"RUNNER_SERVICE_ENV": str(service.env_file)}
    with running_server(model_dir, log_path=tmp_path / "gunicorn.log", env=env) as live:
        wait_all_serve(live, "a1", in_a_row=4)
        yield live


def wait_workers(server: Server, count: int = 2, bound: float = SWAP_BOUND) -> list[int]:
    deadline = time.monotonic() + bound
    while len(pids := server.worker_pids()) != count:
        assert time.monotonic() < deadline, f"{count} workers expected, {pids}"
        time.sleep(0.05)
    return sorted(pids)


def test_sighup_swaps_the_new_model_into_the_same_worker_processes(
    swap_server: Server, service: ServiceEnvDir, model_dir: Path, other_model_dir: Path
) -> None:
    pids = wait_workers(swap_server)
    assert model_info(swap_server) == ("a1", sha256(model_dir))
    assert requests.get(swap_server.url + QUERY_PATH, timeout=10).json() == answer_of(model_dir)

    service.point("b2", other_model_dir)
    send_reload(swap_server.process.pid)
    wait_all_serve(swap_server, "b2")

    assert model_info(swap_server) == ("b2", sha256(other_model_dir))
    answers = {requests.get(swap_server.url + QUERY_PATH, timeout=10).json() for _ in range(10)}
    assert answers == {answer_of(other_model_dir)} != {answer_of(model_dir)}
    info = requests.get(swap_server.url + "/model", timeout=10).json()
    assert info["model_dir"] == str(other_model_dir)
    assert requests.get(swap_server.url + "/openapi.json", timeout=10).status_code == 200
    log = wait_log(swap_server, "api: swapped in train@b2", count=2)  # once per worker
    assert sorted(swap_server.worker_pids()) == pids, "the workers were restarted, not swapped"
    assert "Booting worker" not in log.split("Hang up: swapping the model")[1]
    assert "Traceback" not in log


def test_no_request_fails_and_no_answer_mixes_two_commits_during_swaps_under_load(
    swap_server: Server, service: ServiceEnvDir, model_dir: Path, other_model_dir: Path
) -> None:
    pairs = {"a1": sha256(model_dir), "b2": sha256(other_model_dir)}
    pids = wait_workers(swap_server)
    load = Load(swap_server.port, QUERY_PATH, connections=4).start()
    mixed: list[tuple[str, str]] = []
    stop = threading.Event()

    def watch_model() -> None:
        while not stop.is_set():
            commit, sha = model_info(swap_server)
            if pairs.get(commit) != sha:
                mixed.append((commit, sha))

    watcher = threading.Thread(target=watch_model, daemon=True)
    watcher.start()
    try:
        for _round in range(3):
            for commit in ("b2", "a1"):
                service.point(commit, other_model_dir if commit == "b2" else model_dir)
                send_reload(swap_server.process.pid)
                wait_all_serve(swap_server, commit, in_a_row=10)
    finally:
        stop.set()
        watcher.join(30)
        load.stop()
    assert load.failures == [], f"{len(load.failures)} of {load.ok + len(load.failures)} failed"
    assert load.ok > 0
    assert mixed == []
    assert sorted(swap_server.worker_pids()) == pids


def test_a_model_that_fails_to_load_keeps_the_old_one_and_the_next_good_commit_is_taken(
    swap_server: Server,
    service: ServiceEnvDir,
    model_dir: Path,
    other_model_dir: Path,
    broken_model_dir: Path,
) -> None:
    pids = wait_workers(swap_server)
    service.point("c3", broken_model_dir)
    send_reload(swap_server.process.pid)
    log = wait_log(swap_server, f"api: cannot load {broken_model_dir}, still serving train@a1", count=2)
    line = next(ln for ln in log.splitlines() if "api: cannot load" in ln)
    assert "model.txt: not a LightGBM model" in line, line
    assert "Traceback" not in log
    assert {model_info(swap_server) for _ in range(10)} == {("a1", sha256(model_dir))}
    assert requests.get(swap_server.url + QUERY_PATH, timeout=10).json() == answer_of(model_dir)

    service.point("d4", other_model_dir)
    send_reload(swap_server.process.pid)
    wait_all_serve(swap_server, "d4")
    assert model_info(swap_server) == ("d4", sha256(other_model_dir))
    assert sorted(swap_server.worker_pids()) == pids


def test_a_second_hup_right_after_the_first_ends_on_the_newest_commit(
    swap_server: Server, service: ServiceEnvDir, model_dir: Path, other_model_dir: Path
) -> None:
    """Two commits in quick succession: whatever each worker was doing, it ends on the second."""
    pids = wait_workers(swap_server)
    for _round in range(3):
        service.point("e5", other_model_dir)
        send_reload(swap_server.process.pid)
        service.point("f6", model_dir)
        send_reload(swap_server.process.pid)
        wait_all_serve(swap_server, "f6")
        time.sleep(0.5)  # nothing later may move a worker back to e5
        assert {model_info(swap_server) for _ in range(20)} == {("f6", sha256(model_dir))}
        service.point("a1", model_dir)
        send_reload(swap_server.process.pid)
        wait_all_serve(swap_server, "a1")
    assert sorted(swap_server.worker_pids()) == pids


def test_a_worker_gunicorn_starts_later_serves_the_current_commit(
    swap_server: Server, service: ServiceEnvDir, other_model_dir: Path
) -> None:
    pids = wait_workers(swap_server)
    service.point("b2", other_model_dir)
    send_reload(swap_server.process.pid)
    wait_all_serve(swap_server, "b2")
    os.kill(pids[0], signal.SIGKILL)  # as a crash, or the master's timeout kill
    wait_replaced(swap_server, pids[0])
    wait_all_serve(swap_server, "b2", in_a_row=30)
    assert model_info(swap_server) == ("b2", sha256(other_model_dir))


def test_a_worker_started_while_a_bad_commit_is_named_serves_the_start_commit(
    swap_server: Server,
    service: ServiceEnvDir,
    model_dir: Path,
    other_model_dir: Path,
    broken_model_dir: Path,
) -> None:
    """A worker replaced while env.json names a model that cannot load starts on the commit the
    service started on (api/wsgi.py) instead of failing to boot, which would stop the whole server
    (gunicorn's exit code 3); the next good commit reaches it as it reaches the others."""
    pids = wait_workers(swap_server)
    wait_all_serve(swap_server, "a1")
    service.point("c3", broken_model_dir)
    os.kill(pids[0], signal.SIGKILL)  # replaced by gunicorn: its post_fork reads env.json (c3)
    wait_replaced(swap_server, pids[0])
    wait_log(swap_server, "api: cannot load the served commit at start")
    wait_log(swap_server, f"api: cannot load {broken_model_dir}, still serving")
    assert swap_server.process.poll() is None
    # the start commit's files (this fixture's master names no train commit, only its folder)
    assert {model_info(swap_server)[1] for _ in range(20)} == {sha256(model_dir)}
    service.point("d4", other_model_dir)
    send_reload(swap_server.process.pid)
    wait_all_serve(swap_server, "d4", in_a_row=30)


def _restart_reload(server: Server) -> list[int]:
    """SIGHUP, then wait until both workers are new processes; returns their pids."""
    old = set(wait_workers(server))
    send_reload(server.process.pid)
    deadline = time.monotonic() + SWAP_BOUND
    while True:
        now = set(server.worker_pids())
        if len(now) == 2 and not now & old:
            return sorted(now)
        assert time.monotonic() < deadline, f"workers {sorted(old)} not replaced: {sorted(now)}"
        time.sleep(0.05)


def test_without_runner_service_env_sighup_keeps_gunicorns_full_reload(
    model_dir: Path, tmp_path: Path
) -> None:
    with running_server(model_dir, log_path=tmp_path / "g.log") as server:
        _restart_reload(server)
        assert requests.get(server.url + QUERY_PATH, timeout=10).json() == answer_of(model_dir)
        assert "swapping the model" not in server.log_path.read_text()


def test_model_reload_restart_keeps_gunicorns_reload_under_runner_up(
    model_dir: Path, other_model_dir: Path, service: ServiceEnvDir, tmp_path: Path
) -> None:
    service.point("a1", model_dir)
    env = {"RUNNER_SERVICE_ENV": str(service.env_file), "MODEL_RELOAD": "restart"}
    with running_server(model_dir, log_path=tmp_path / "g.log", env=env) as server:
        service.point("b2", other_model_dir)
        _restart_reload(server)
        wait_all_serve(server, "b2")
        assert model_info(server) == ("b2", sha256(other_model_dir))


def test_another_worker_class_keeps_the_restart_in_swap_mode(
    model_dir: Path, other_model_dir: Path, service: ServiceEnvDir, tmp_path: Path
) -> None:
    """gunicorn's sync worker keeps SIGHUP's default (the end of the process): it is not forwarded one."""
    service.point("a1", model_dir)
    env = {"RUNNER_SERVICE_ENV": str(service.env_file)}
    args = ["--worker-class", "sync"]
    with running_server(model_dir, log_path=tmp_path / "g.log", env=env, gunicorn_args=args) as server:
        service.point("b2", other_model_dir)
        _restart_reload(server)
        wait_all_serve(server, "b2")
        assert "api: sync cannot swap models: SIGHUP restarts the workers" in server.log_path.read_text()


def test_a_wrong_model_reload_value_stops_gunicorn_with_one_line(model_dir: Path, tmp_path: Path) -> None:
    with (
        pytest.raises(ServerStartError) as caught,
        running_server(model_dir, log_path=tmp_path / "g.log", env={"MODEL_RELOAD": "sometimes"}),
    ):
        pass
    line = "api: cannot serve: MODEL_RELOAD='sometimes' is not one of ['restart', 'swap']"
    assert line in str(caught.value)
    assert "Traceback" not in (tmp_path / "g.log").read_text()


@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        ({}, ReloadMode.RESTART),
        ({"MODEL_RELOAD": "swap"}, ReloadMode.RESTART),  # nothing to swap to without runner up's file
        ({"RUNNER_SERVICE_ENV": "/x/env.json"}, ReloadMode.SWAP),
        ({"RUNNER_SERVICE_ENV": "/x/env.json", "MODEL_RELOAD": "restart"}, ReloadMode.RESTART),
    ],
)
def test_reload_mode(environ: dict[str, str], mode: ReloadMode) -> None:
    assert reload_mode(environ) is mode


# -- the loader thread's order of events, in this process, with the real loader -------------------
class GatedLoader:
    """The real loader (api/served.py ``load_served``), held at its start until ``release`` for the
    sources listed in ``hold``: a load is then certainly running when the test moves env.json."""

    def __init__(self, hold: set[str]) -> None:
        self.real: Callable[[ModelSource], ServedModel] = served_loader(DEFAULTS)
        self.hold = hold
        self.started = threading.Event()
        self.gate = threading.Event()
        self.loaded: list[str | None] = []

    def __call__(self, source: ModelSource) -> ServedModel:
        if source.train_commit in self.hold:
            self.started.set()
            assert self.gate.wait(SWAP_BOUND)
        self.loaded.append(source.train_commit)
        return self.real(source)


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SWAP_BOUND
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_hup_during_a_load_ends_on_the_newest_commit(
    model_dir: Path, other_model_dir: Path, service: ServiceEnvDir
) -> None:
    service.point("a1", model_dir)
    loader = GatedLoader(hold={"b2"})
    holder = ModelHolder(loader(ModelSource(str(model_dir), None, "a1")))
    swapper = ModelSwapper(holder, service.env_file, loader, base_env={}).start()
    service.point("b2", other_model_dir)
    swapper.request()
    assert loader.started.wait(SWAP_BOUND)  # b2's load is running
    service.point("c3", model_dir)
    swapper.request()
    assert holder.current.source.train_commit == "a1"  # nothing half-swapped while b2 loads
    loader.gate.set()
    _wait(lambda: holder.current.source.train_commit == "c3", "c3 not served")
    # b2 was swapped in when its load ended, then c3: env.json read again after the load
    assert loader.loaded == ["a1", "b2", "c3"]
    assert holder.current.model.model_sha256 == sha256(model_dir)


def test_the_loader_skips_the_source_that_failed_until_env_json_names_another(
    model_dir: Path, broken_model_dir: Path, other_model_dir: Path, service: ServiceEnvDir
) -> None:
    service.point("a1", model_dir)
    loader = GatedLoader(hold=set())
    holder = ModelHolder(loader(ModelSource(str(model_dir), None, "a1")))
    swapper = ModelSwapper(holder, service.env_file, loader, base_env={})
    service.point("c3", broken_model_dir)
    assert swapper.swap_to_newest().source.train_commit == "a1"
    assert swapper.swap_to_newest().source.train_commit == "a1"
    assert loader.loaded == ["a1", "c3"], "the failed source was tried again with nothing new"
    service.point("d4", other_model_dir)
    assert swapper.swap_to_newest().source.train_commit == "d4"


def test_an_unreadable_env_json_keeps_the_model(
    model_dir: Path, service: ServiceEnvDir, caplog: pytest.LogCaptureFixture
) -> None:
    service.point("a1", model_dir)
    loader = GatedLoader(hold=set())
    holder = ModelHolder(loader(ModelSource(str(model_dir), None, "a1")))
    swapper = ModelSwapper(holder, service.env_file, loader, base_env={})
    service.env_file.resolve().write_text("{half", encoding="utf-8")
    assert swapper.swap_to_newest().source.train_commit == "a1"
    assert loader.loaded == ["a1"]
    assert "api: not reloading, still serving train@a1" in caplog.text
    assert "the service's variables are not readable JSON" in caplog.text


def test_the_reload_timing_tool_measures_both_modes(
    model_dir: Path, other_model_dir: Path, tmp_path: Path
) -> None:
    """api/devtools/reload_timing.py, whose numbers docs/serving.md quotes, on a short real run."""
    reloads = run((model_dir, other_model_dir), tmp_path, rounds=1, connections=2, in_a_row=2)
    assert [(r.mode, r.connections) for r in reloads] == [
        (ReloadMode.RESTART, 0),
        (ReloadMode.SWAP, 0),
        (ReloadMode.RESTART, 2),
        (ReloadMode.SWAP, 2),
    ]
    assert all(0 < r.first_new <= r.all_new for r in reloads)
    assert all(r.requests_ok > 0 and r.requests_failed == 0 for r in reloads if r.connections)
    assert table(reloads, 2).count("\n| swap |") == 2
    assert "swap, 2 connections: first new answer" in summary(reloads)
