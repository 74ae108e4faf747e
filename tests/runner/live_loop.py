"""``runner up`` as a real subprocess for the tests: start it, read its output, stop it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench.load import Load
from bench.loop import QUERY, _get, expected_answer, made_from, wait_served
from runner.children import die_with_parent
from runner.state import State
from tests.runner.helpers import runner_argv

REPO_ROOT = Path(__file__).resolve().parents[2]


class LiveLoop:
    """``python -m runner --state STATE up ARGS`` (or ``command``) in its own session, its output
    in a file."""

    def __init__(self, state: Path, log: Path, *args: str, command: list[str] | None = None) -> None:
        self.log = log
        self._log_fh = open(log, "ab")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            command or runner_argv(state, "up", *args),
            cwd=REPO_ROOT,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # a killed test run leaves no loop behind
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float, after: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the output past offset ``after``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.compile(pattern, re.M).search(self.output(), after)
            if found:
                return found
            if self.process.poll() is not None:
                raise AssertionError(f"runner up exited {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout}s in the output of runner up:\n{self.output()}")

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(
        self, sig: int = signal.SIGTERM, timeout: float = 60, group: bool = False
    ) -> tuple[int, list[psutil.Process]]:
        """Send ``sig`` (to the whole foreground group when ``group``, as a terminal's Ctrl-C does);
        returns the exit status and the processes it had started that survive it."""
        if self.process.poll() is not None:
            self._log_fh.close()
            return self.process.returncode, []
        children = self.descendants()
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        finally:
            self._log_fh.close()
        _gone, alive = psutil.wait_procs(children, timeout=5)
        survivors = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        return code, survivors

    def kill(self) -> None:
        """Kill what is left (a test that failed midway), the loop and its children."""
        if self.process.poll() is None:
            for p in self.descendants():
                p.kill()
            self.process.kill()
            self.process.wait()
        self._log_fh.close()


def swap_under_load(
    loop: LiveLoop,
    state: State,
    port: int,
    first: dict[str, Any],
    put: Callable[[], None],
    timeout: float,
    connections: int,
) -> dict[str, Any]:
    """``put`` a changed raw file while ``connections`` clients load the API, wait until the model
    made from the new raw commit is served, and check the swap: a new train commit made from that
    raw commit, a graceful reload (not a restart), ``/predict`` answering what the new model
    predicts, and not one failed request. Returns what ``wait_served`` returned for it."""
    first_raw = state.head("raw")
    load = Load(port, QUERY, connections).start()
    try:
        put()
        new_raw = state.head("raw")
        assert new_raw and new_raw != first_raw
        second = wait_served(state, port, new_raw, timeout)
        _get(port, "/healthz")  # one more round trip after the swap, on the new workers
    finally:
        load.stop()
    assert second["train_commit"] != first["train_commit"]
    assert made_from(state, "train", second["train_commit"], "raw", new_raw)
    loop.wait_for(rf"serve: reloading on train@{second['train_commit']} \(graceful: SIGHUP\)", 10)
    assert "serve: started" not in loop.output().split("serve: reloading")[1], "restarted instead of reloaded"
    status, body = _get(port, QUERY)
    assert (status, int(body)) == (200, expected_answer(state.tree("train", second["train_commit"])))
    assert load.failures == [], (
        f"{len(load.failures)} of {load.ok + len(load.failures)} failed: {load.failures[:3]}"
    )
    assert load.ok > 0
    return second
