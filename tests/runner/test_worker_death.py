"""Stage processes die with the runner: after SIGKILL of ``run`` during a long datum, no worker,
subprocess datum or child of one outlives it by more than a few seconds, and the state lock
stays held until the last of them has exited (runner/workers.py ``GroupGuard``,
``die_with_parent``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, runner_argv, stage_cmd, write_files, write_spec

#: How long leftovers may outlive the runner.
GRACE_S = 3.0


def _start(state: Path, repo_root: Path, *argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        runner_argv(state, *argv),
        cwd=repo_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _descendants_when(
    proc: subprocess.Popen[bytes], enough: int, timeout: float = 20.0
) -> list[psutil.Process]:
    """The runner's descendants, once at least ``enough`` are up (the datums have started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            found = psutil.Process(proc.pid).children(recursive=True)
            if len(found) >= enough:
                time.sleep(0.3)  # let the datums' own children start
                return psutil.Process(proc.pid).children(recursive=True)
        time.sleep(0.05)
    raise AssertionError(f"fewer than {enough} stage processes started in {timeout}s")


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
    return left


def _setup(runner: Runner, tmp_path: Path, cmd: list[str]) -> None:
    write_files(tmp_path / "data", {f"f{i}.txt": f"{i}\n" for i in range(4)})
    spec = write_spec(
        tmp_path / "specs", "long", pfs("raw", "/*", "in"), cmd, parallelismSpec={"constant": 2}
    )
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    runner("create", "pipeline", "-f", str(spec))


@pytest.mark.parametrize(
    "kind",
    [
        "warm",  # python3 -m module: the datum runs inside the worker
        "subprocess",  # a shell datum whose child (sleep) is a grandchild of the worker
    ],
)
def test_stage_processes_die_with_a_killed_runner(
    runner: Runner, tmp_path: Path, repo_root: Path, kind: str
) -> None:
    cmd = stage_cmd("slow", "/pfs/out", "/pfs/in", "60") if kind == "warm" else ["sh", "-c", "sleep 60; true"]
    _setup(runner, tmp_path, cmd)
    proc = _start(runner.state, repo_root, "run")
    stage = _descendants_when(proc, enough=3 if kind == "warm" else 5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + GRACE_S
    while _alive(stage) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _alive(stage)
    assert not left, f"still running {GRACE_S}s after the runner died: {[p.cmdline() for p in left]}"


def test_a_new_run_never_starts_beside_a_leftover(runner: Runner, tmp_path: Path, repo_root: Path) -> None:
    """SIGKILL the runner during a long datum, then start `run` at once: it either finds the state in
    use (a leftover still holds the lock) or, once it gets the lock, no old stage process is left."""
    _setup(runner, tmp_path, ["sh", "-c", "sleep 60; true"])
    proc = _start(runner.state, repo_root, "run")
    stage = _descendants_when(proc, enough=5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + GRACE_S
    while True:
        probe = subprocess.run(
            [sys.executable, "-c", "import fcntl,sys; fh=open(sys.argv[1],'a'); "
             "fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(runner.state / ".lock")],
            capture_output=True, check=False,
        )  # fmt: skip
        if probe.returncode == 0:  # the lock is free: nothing of the killed run may be left
            assert not _alive(stage), [p.cmdline() for p in _alive(stage)]
            break
        assert time.monotonic() < deadline, "the lock is still held by leftovers"
        time.sleep(0.02)


def test_a_stage_process_that_leaves_the_group_keeps_the_lock(
    runner: Runner, tmp_path: Path, repo_root: Path
) -> None:
    """A datum's child that escapes the job's process group (setsid) is not killed with it, but it
    holds the state lock until it exits: the next changing verb waits for it."""
    _setup(runner, tmp_path, ["sh", "-c", "setsid sleep 4 > /dev/null 2>&1 < /dev/null & true"])
    started = time.monotonic()
    runner("run")
    busy = runner("run", expect=1).err
    assert "is in use" in busy, busy
    while runner("run", expect=None).code != 0:
        assert time.monotonic() - started < 20
        time.sleep(0.2)
    assert time.monotonic() - started >= 3.5
