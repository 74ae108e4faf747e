"""Executors: where a job's datums run. ``local`` (the default): in the runner's worker processes, on
this machine's Python. ``docker``: each pipeline's datums inside its ``transform.image``, one
long-lived container per worker (``runner/executors/docker.py``).

``run_pipelines``/``run_job`` take an :class:`Executor`; ``executor_for(kind)`` makes one from the
name the command line takes (``run --executor docker``).
"""

from __future__ import annotations

from typing import Protocol

from runner.executors.docker import DockerExecutor
from runner.executors.kinds import ExecutorKind, ExecutorUnavailable
from runner.spec import Spec
from runner.workers import StartRunner, start_local_runner


class Executor(Protocol):
    """Prepares each job: checks once, on the runner's side, what its datums need, and returns what
    each worker process calls to get its datum runner."""

    kind: ExecutorKind

    def check(self, specs: list[Spec]) -> None:
        """Raise :class:`ExecutorUnavailable` when any of ``specs`` cannot run (before any job starts)."""
        ...

    def prepare(self, spec: Spec, job_id: str) -> StartRunner:
        """What a worker of this job calls to get its runner (may raise :class:`ExecutorUnavailable`)."""
        ...

    def finish(self, job_id: str) -> None:
        """After the job's workers stopped (also when killed): release what the job left."""
        ...

    def pause(self, job_id: str) -> None:
        """Freeze what runs the job's datums outside the job's process groups (they get SIGSTOP)."""
        ...

    def resume(self, job_id: str) -> None:
        """Undo :meth:`pause`."""
        ...


class LocalExecutor:
    """Datums run in the runner's own worker processes (``runner/workers.py``, warm or subprocess)."""

    kind = ExecutorKind.LOCAL

    def check(self, specs: list[Spec]) -> None:
        return None

    def prepare(self, spec: Spec, job_id: str) -> StartRunner:
        return start_local_runner

    def finish(self, job_id: str) -> None:
        return None

    def pause(self, job_id: str) -> None:
        return None  # the datums are in the job's process groups: SIGSTOP reaches them

    def resume(self, job_id: str) -> None:
        return None


def executor_for(kind: ExecutorKind | str) -> Executor:
    """The executor named ``kind`` (``local`` or ``docker``)."""
    kind = ExecutorKind(kind)
    if kind is ExecutorKind.DOCKER:
        return DockerExecutor()
    return LocalExecutor()


__all__ = ["Executor", "ExecutorKind", "ExecutorUnavailable", "LocalExecutor", "executor_for"]
