"""Interrupted runs (Ctrl-C, a killed runner, a killed worker) leave a consistent state, and the
next ``run`` finishes the job, reusing the datums that had finished."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, runner_argv, stage_cmd, write_files, write_spec

N_FILES = 12


def _setup(runner: Runner, tmp_path: Path, seconds: str = "0.15") -> None:
    write_files(tmp_path / "data", {f"f{i:02d}.txt": f"file {i}\n" for i in range(N_FILES)})
    spec = write_spec(
        tmp_path / "specs",
        "slow",
        pfs("raw", "/*", "in"),
        stage_cmd("slow", "/pfs/out", "/pfs/in", seconds),
        parallelismSpec={"constant": 2},
    )
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    runner("create", "pipeline", "-f", str(spec))


def _start_run(state: Path, repo_root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        runner_argv(state, "run"),
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for_datums(state: Path, at_least: int, timeout: float = 20.0) -> None:
    cache = state / ".pipelines" / "slow.datums.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cache.exists() and len(cache.read_text().splitlines()) >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} datums finished in {timeout}s")


def _check_finished_correctly(runner: Runner) -> str:
    out = runner("run").out
    assert runner.head_files("slow") == {f"f{i:02d}.txt": f"file {i}\n" for i in range(N_FILES)}
    assert [j["state"] for j in runner.jobs("slow")] == ["success", "killed"]
    assert not any((runner.state / ".work").glob("*"))
    assert not list((runner.state / ".objects").glob(".tmp-*"))
    return out


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_interrupted_run_resumes(runner: Runner, tmp_path: Path, repo_root: Path, how: str) -> None:
    _setup(runner, tmp_path)
    proc = _start_run(runner.state, repo_root)
    _wait_for_datums(runner.state, 3)
    if how == "sigint":  # Ctrl-C reaches the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
    else:  # the runner itself dies; its workers notice and stop
        os.kill(proc.pid, signal.SIGKILL)
    _out, err = proc.communicate(timeout=20)
    if how == "sigint":
        assert proc.returncode == 130 and b"interrupted" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not (runner.state / "slow" / "master").exists(), "no output commit from an interrupted job"
    out = _check_finished_correctly(runner)
    skipped = int(out.split(" skipped")[0].rsplit(" ", 1)[1])
    assert skipped >= 3, out


def test_killed_worker_is_replaced_and_its_datum_retried(
    runner: Runner, tmp_path: Path, repo_root: Path
) -> None:
    _setup(runner, tmp_path, seconds="0.3")
    proc = _start_run(runner.state, repo_root)
    _wait_for_datums(runner.state, 1)
    busy = None
    deadline = time.monotonic() + 10
    while busy is None and time.monotonic() < deadline:  # a worker in the middle of a datum (its log open)
        for worker in psutil.Process(proc.pid).children():
            with contextlib.suppress(psutil.Error):
                if any(f.path.endswith("datum.log") for f in worker.open_files()):
                    busy = worker
                    break
    assert busy is not None, "no worker was seen running a datum"
    busy.kill()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"12 datums, 12 processed" in out
    log = runner("logs", "-p", "slow").out
    assert "worker process running this datum died (signal 9)" in log


def test_leftovers_of_a_killed_run_are_cleaned(runner: Runner, tmp_path: Path) -> None:
    """What a SIGKILL can leave at any instant: partial objects, a torn cache line, a running job."""
    _setup(runner, tmp_path, seconds="0")
    runner("run")
    state = runner.state
    (state / ".objects" / ".tmp-123-abc").write_bytes(b"partial")
    (state / ".work" / "somejob" / "worker-1" / "pfs").mkdir(parents=True)
    (state / "slow" / "trees" / ".tmp-deadbeef").mkdir()
    with open(state / ".pipelines" / "slow.datums.jsonl", "a") as fh:
        fh.write('{"hash": "abc", "id": "x", "outp')
    job = {"id": "0" * 32, "pipeline": "slow", "state": "running", "started": "2026-01-01T00:00:00Z"}
    (state / ".jobs" / job["id"]).mkdir(parents=True)
    (state / ".jobs" / job["id"] / "job.json").write_text(json.dumps(job))
    write_files(tmp_path / "data", {"new.txt": "new\n"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    assert f"{N_FILES + 1} datums, 1 processed, {N_FILES} skipped" in runner("run").out
    assert not (state / ".objects" / ".tmp-123-abc").exists()
    assert not (state / "slow" / "trees" / ".tmp-deadbeef").exists()
    assert runner("inspect", "job", "0000", "--json").out.count('"killed"') == 1


def test_a_second_runner_waits_its_turn(runner: Runner, tmp_path: Path, repo_root: Path) -> None:
    _setup(runner, tmp_path)
    proc = _start_run(runner.state, repo_root)
    _wait_for_datums(runner.state, 1)
    assert "is in use by runner run (pid" in runner("run", expect=1).err
    proc.communicate(timeout=30)
    assert proc.returncode == 0
