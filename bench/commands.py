"""Run a command as a child process while sampling its memory and timestamping its output lines."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.sampler import ProcessTreeSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Line:
    at: float  # time.monotonic() when the line was read
    text: str


@dataclass
class CommandRun:
    """A finished command: its exit code, wall time, output lines and memory samples."""

    argv: list[str]
    returncode: int
    started: float  # time.monotonic()
    finished: float
    lines: list[Line]
    sampler: ProcessTreeSampler
    pids: set[int] = field(default_factory=set)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def output(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def peak_rss(self, start: float | None = None, end: float | None = None) -> int:
        return self.sampler.peak(start, end)


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero; the message quotes its last output lines."""


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    echo: Callable[[str], None] | None = None,
    interval: float = 0.1,
    check: bool = True,
) -> CommandRun:
    """Run ``argv`` (stdout and stderr merged), sampling the RSS of its process tree.

    Each output line is timestamped as it arrives and passed to ``echo``.
    """
    full_env = {**os.environ, **(env or {})}
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=cwd,
        text=True,
        bufsize=1,
    )
    lines: list[Line] = []
    sampler = ProcessTreeSampler(proc.pid, interval)
    with sampler:
        assert proc.stdout is not None
        for text in proc.stdout:
            text = text.rstrip("\n")
            lines.append(Line(time.monotonic(), text))
            if echo is not None:
                echo(text)
        returncode = proc.wait()
    run = CommandRun(list(argv), returncode, started, time.monotonic(), lines, sampler, set(sampler.pids))
    if check and returncode != 0:
        tail = "\n".join(line.text for line in lines[-5:])
        raise CommandFailed(f"{' '.join(argv)} exited {returncode}:\n{tail}")
    return run


def python_module(module: str, *args: str) -> list[str]:
    """``[python, -m, module, args...]`` with this interpreter."""
    return [sys.executable, "-m", module, *args]
