"""Service pipelines under ``runner up``: started from their spec, kept running, reloaded on a new
input commit.

A service pipeline (``service`` in the spec, e.g. specs/serve.json) has one datum, its whole
input: Pachyderm runs its ``transform.cmd`` over the input's latest commit and, when a newer commit
is ready, cancels the running code and starts it again on that commit (pachyderm
src/server/worker/pipeline/service/service.go, ``forLatestCommit``; "services must have a single
datum"). Here the command runs as a local process group over a folder that stands for ``/pfs``,
and a new commit is handed over with a graceful reload instead of a restart, so that no request
is dropped (the one deliberate difference)::

    $PFS_STATE/.services/<name>/
      <commit>/pfs/<input name> -> $PFS_STATE/<repo>/trees/<commit>   the input commit's files
      <commit>/env.json          the service's variables for that commit (see below)
      current -> <commit>        swapped atomically when the input moves
      service.log                the command's stdout and stderr, appended

The command's environment is the spec's ``transform.env`` with ``/pfs`` mapped to the commit's
folder, the overrides given to ``up`` (HOST, PORT), and what Pachyderm sets: ``<input>`` (the
input's path), ``<input>_COMMIT``, ``PPS_PIPELINE_NAME``. ``RUNNER_SERVICE_ENV`` names
``current/env.json``. On a new input commit the new commit's folder is written, ``current`` is
swapped, and the process gets SIGHUP. What the service does with it is its own; the API's gunicorn
master forwards it to its running workers, and each one re-reads ``RUNNER_SERVICE_ENV`` in a
background thread, loads that commit's model and swaps it in with one assignment (api/hot_swap.py):
the same processes and listening socket, requests in flight finishing on the old model, one file
read so a worker never mixes two commits, and a model that fails to load leaving the old one
serving. A worker gunicorn starts later reads the same file when it starts (api/gunicorn_conf.py
``post_fork``). Before, SIGHUP was gunicorn's graceful reload (new workers, each importing the app
and loading the model; ``MODEL_RELOAD=restart`` keeps it): 0.26-0.99 s from SIGHUP to ``/model``
naming the new commit under 16 connections of load against 0.06-0.18 s swapping (docs/serving.md,
"Reloading a new model"). A service that exits is started again, after a pause that doubles up to
``MAX_RESTART_DELAY``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from runner.children import die_with_parent, stop_group
from runner.cpu_weight import lower_own_weight
from runner.spec import Spec
from runner.state import State, write_json_atomic
from runner.warm import PYTHON_RE
from runner.workers import map_pfs

log = logging.getLogger(__name__)

#: Seconds between restarts of a service that keeps exiting (doubling from 1 s).
MAX_RESTART_DELAY = 30.0
#: Seconds a stopping service has to finish its requests before it is killed.
STOP_TIMEOUT = 10.0
#: Commit folders kept besides the current one (old workers may still be finishing requests).
KEEP_COMMITS = 2


def _service_child_setup(cpu_nice: int) -> None:
    """In the service's first process, after ``setsid``: die with the loop, take the CPU weight."""
    die_with_parent()
    lower_own_weight(cpu_nice)


class ServiceError(RuntimeError):
    """A service spec the local runner cannot run, with the reason."""


@dataclass
class _Input:
    name: str
    repo: str
    branch: str


def service_input(spec: Spec) -> _Input:
    """The one pfs input of a service pipeline, over its whole commit (glob ``/``)."""
    inputs = spec.input.pfs_inputs() if spec.input else []
    if len(inputs) != 1 or spec.input is None or spec.input.pfs is None:
        raise ServiceError(f"{spec.name}: a service pipeline needs exactly one pfs input here")
    if inputs[0].glob != "/":
        raise ServiceError(f"{spec.name}: a service input's glob must be '/' here, not {inputs[0].glob!r}")
    return _Input(inputs[0].name, inputs[0].repo, inputs[0].branch)


class Service:
    """One service pipeline's process, kept running over the head of its input."""

    def __init__(
        self, state: State, spec: Spec, cwd: str, overrides: dict[str, str], out: TextIO, cpu_nice: int = 0
    ) -> None:
        self.state, self.spec, self.cwd, self.out = state, spec, cwd, out
        #: the nice value of the service's session: its CPU weight (runner/cpu_weight.py)
        self.cpu_nice = cpu_nice
        self.overrides = dict(overrides)
        #: what the overrides change in the service's own variables (all of them, for a local process)
        self.env_overrides = dict(overrides)
        self.input = service_input(spec)
        self.root = state.root / ".services" / spec.name
        self.log_path = self.root / "service.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: the input commit the running process serves (or will, once its new workers are up)
        self.commit: str | None = None
        self.restarts = 0
        self.next_start = 0.0
        self.started_at = 0.0

    # -- the commit folders ------------------------------------------------------------------
    def _pfs(self, commit: str) -> str:
        """The folder that stands for ``/pfs`` in the commit's variables, as the service sees it."""
        return str(self.root / commit / "pfs")

    def _env_file(self) -> str:
        """``current/env.json`` as the service sees it (``RUNNER_SERVICE_ENV``)."""
        return str(self.root / "current" / "env.json")

    def _commit_env(self, commit: str) -> dict[str, str]:
        pfs = self._pfs(commit)
        env = {k: map_pfs(v, pfs) for k, v in self.spec.env.items()}
        env.update(self.env_overrides)
        env.update(
            {
                self.input.name: f"{pfs}/{self.input.name}",
                f"{self.input.name}_COMMIT": commit,
                "PPS_PIPELINE_NAME": self.spec.name,
                "PACH_PIPELINE_NAME": self.spec.name,
            }
        )
        return env

    def _prepare(self, commit: str) -> None:
        """Write the commit's folder (idempotent) and point ``current`` at it."""
        folder = self.root / commit
        link = folder / "pfs" / self.input.name
        # Relative (../../../../<repo>/trees/<commit>): it resolves wherever the state folder is seen
        # with the same layout, also inside a service container (runner/executors/service.py).
        target = os.path.relpath(self.state.tree(self.input.repo, commit), link.parent)
        if not link.is_symlink() or os.readlink(link) != target:
            link.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            os.symlink(target, link)
        write_json_atomic(folder / "env.json", self._commit_env(commit))
        tmp = self.root / f".current.tmp-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(commit, tmp)
        os.replace(tmp, self.root / "current")
        self._prune(keep={commit, self.commit})

    def _prune(self, keep: set[str | None]) -> None:
        folders = sorted(
            (
                p
                for p in self.root.iterdir()
                if p.is_dir() and not p.is_symlink() and p.name not in keep and not p.name.startswith(".")
            ),
            key=lambda p: p.stat().st_mtime,
        )
        for old in folders[: max(0, len(folders) - KEEP_COMMITS)]:
            shutil.rmtree(old, ignore_errors=True)

    # -- the process -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = self.overrides.get("HOST") or self.spec.env.get("HOST", "127.0.0.1")
        port = self.overrides.get("PORT") or self.spec.env.get("PORT", "")
        return f"http://{host}:{port}" if port else f"(see {self.log_path})"

    def _launch(self, commit: str, log_fh: BinaryIO) -> subprocess.Popen[bytes]:
        """Start the service's process on ``commit`` (prepared), its output to ``log_fh``."""
        pfs = self._pfs(commit)
        cmd = [map_pfs(a, pfs) for a in self.spec.cmd]
        if PYTHON_RE.match(os.path.basename(cmd[0])):
            cmd[0] = sys.executable
        env = {**os.environ, **self._commit_env(commit), "RUNNER_SERVICE_ENV": self._env_file()}
        return subprocess.Popen(
            cmd,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one, not by the terminal's Ctrl-C
            preexec_fn=functools.partial(_service_child_setup, self.cpu_nice),
        )

    def _where(self) -> str:
        assert self.process is not None
        weight = f", CPU weight of nice {self.cpu_nice}" if self.cpu_nice else ""
        return f"pid {self.process.pid}{weight}"

    def _start(self, commit: str) -> None:
        self._prepare(commit)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_fh:
            self.process = self._launch(commit, log_fh)
        self.commit = commit
        self.started_at = time.monotonic()
        self.out.write(
            f"{self.spec.name}: started on {self.input.repo}@{commit} at {self.url} "
            f"({self._where()}, log {self.log_path})\n"
        )

    def _send_reload(self) -> None:
        """Ask the running service for a graceful reload (gunicorn: SIGHUP to its master)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def _reload(self, commit: str) -> None:
        assert self.process is not None
        self._prepare(commit)
        self._send_reload()
        self.out.write(f"{self.spec.name}: reloading on {self.input.repo}@{commit} (graceful: SIGHUP)\n")
        self.commit = commit

    def _last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, self.log_path.stat().st_size - 4096))
                lines = [ln.strip() for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
            if lines:
                return lines[-1]
        return "(empty log)"

    def sync(self) -> None:
        """Called on every turn of the loop: start, restart or reload the service as its input says."""
        head = (
            self.state.head(self.input.repo, self.input.branch)
            if self.state.has_repo(self.input.repo)
            else None
        )
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            if time.monotonic() - self.started_at > 60:
                self.restarts = 0  # it had been up a while: start again at once
            delay = min(MAX_RESTART_DELAY, 2.0**self.restarts)
            self.restarts += 1
            self.next_start = time.monotonic() + delay
            self.out.write(
                f"{self.spec.name}: exited with status {code} ({self._last_log_line()}); "
                f"starting it again in {delay:.0f}s\n"
            )
        if head is None:
            return
        if self.process is None:
            if time.monotonic() >= self.next_start or head != self.commit:
                self._start(head)
        elif head != self.commit:
            self._reload(head)

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        """Stop ``process`` and every process of its group (workers included)."""

        def exited(seconds: float) -> bool:
            try:
                process.wait(seconds)
            except subprocess.TimeoutExpired:
                return False
            return True

        stop_group(process.pid, exited, STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop the service and everything it started."""
        if self.process is None:
            return
        process = self.process
        self._terminate(process)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(1)
        self.out.write(f"{self.spec.name}: stopped\n")
        self.process = None
