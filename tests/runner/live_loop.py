"""``runner up`` as a real subprocess for the tests: start it, read its output, stop it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil

from runner.children import die_with_parent
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
