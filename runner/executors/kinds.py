"""The executors' names and their one error (shared by every executor module)."""

from __future__ import annotations

from enum import StrEnum


class ExecutorKind(StrEnum):
    """Where a job's datums run (``run --executor``)."""

    LOCAL = "local"
    DOCKER = "docker"


class ExecutorUnavailable(RuntimeError):
    """The executor cannot run a pipeline here (no daemon, no image); the message is one line saying
    what is missing and how to get it."""
