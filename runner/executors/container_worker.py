"""The worker loop inside a pipeline's container (the docker executor's far end).

Started once per worker as the container's command (``docker.py``, ``CONTAINER_COMMAND``), with
the runner's package mounted read-only and the worker's staging folder mounted at ``/pfs``. It
reads a :class:`Start` (the job's ``JobConfig``), then one :class:`Run` per datum, and answers each
with a :class:`Done`; it runs each datum through ``runner.workers.execute`` exactly as a local
worker does (warm for ``python3 -m module``, else a subprocess) but with the image's Python, files,
user and environment, ``/pfs`` being the real path. It stops when the channel closes (the runner's
worker stopped or died).

The channel is a Unix socket the runner listens on, in a folder mounted into the container
(``CHANNEL_ENV`` names it), so the messages go from process to process through the kernel and not
through the docker daemon's stdio attach (measured in docs/running.md, "The channel"). Without
the variable the protocol runs over stdin and stdout. A datum's fds 1 and 2 go to its log, and
anything else written to fd 1 lands on stderr (the docker client's stderr, kept by the runner).

The folder of the job's pause record (runner/pause_clock.py) is mounted read-only at
``CONTAINER_PAUSE_FOLDER``: ``datumTimeout`` counts only the time the job was not paused
(``docker pause``) by ``runner up``, as on the local executor.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from runner.datum_log import LOG_TAIL_BYTES, DatumLog
from runner.executors import frames
from runner.pause_clock import PAUSE_FILE
from runner.warm import WarmRunner, streams_on_fds
from runner.workers import JobConfig, Task, execute

#: Where the runner's worker staging folder is mounted: the cmd's /pfs, unchanged.
PFS_ROOT = "/pfs"
#: The variable naming the Unix socket (in a folder the runner mounts) the protocol runs over.
CHANNEL_ENV = "STOCKPIPE_CHANNEL"
#: Where the folder of the job's pause record is mounted (read-only).
CONTAINER_PAUSE_FOLDER = "/opt/stockpipe-pauses"


@dataclass(frozen=True)
class Start:
    config: JobConfig
    #: the runner's uid: when not root, outputs are opened up so it can move them into its store
    runner_uid: int


@dataclass(frozen=True)
class Run:
    task: Task
    #: keyword arguments of ``execute`` (e.g. which of the spec's commands)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    ok: bool
    #: ``execute`` started a new datum log (the runner's side starts one too)
    began: bool
    #: what the datum logged during this call (its last ``LOG_TAIL_BYTES`` at most)
    log: str


@dataclass(frozen=True)
class Hello:
    """The container's first answer: who runs the datums."""

    uid: int
    gid: int
    python: str
    cwd: str


class _TrackedLog(DatumLog):
    """The container's datum log; remembers whether ``execute`` began a new datum in it."""

    began = False

    def begin(self) -> None:
        self.began = True
        super().begin()


def open_up(out: str) -> None:
    """Let another uid (the runner) move what the datum wrote: folders 0777, files readable."""
    pending = [out]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    os.chmod(entry.path, 0o777)
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    os.chmod(entry.path, os.stat(entry.path).st_mode | 0o444)


def _run(config: JobConfig, message: Run, log: _TrackedLog, warm: WarmRunner, runner_uid: int) -> Done:
    log.began = False
    size = os.fstat(log.fd).st_size
    try:
        ok = execute(config, message.task, PFS_ROOT, log, warm, **message.options)
    except Exception as exc:  # a runner-side failure in the container, reported as the datum's
        log.write(f"runner: {type(exc).__name__}: {exc}\n")
        ok = False
    if runner_uid != 0 and runner_uid != os.getuid() and os.path.isdir(f"{PFS_ROOT}/out"):
        try:
            open_up(f"{PFS_ROOT}/out")
        except OSError as exc:
            log.write(f"runner: cannot open /pfs/out to the runner (uid {runner_uid}): {exc}\n")
            ok = False
    start = log.start if log.began else size
    end = os.fstat(log.fd).st_size
    start = max(start, end - LOG_TAIL_BYTES)
    text = os.pread(log.fd, end - start, start).decode("utf-8", "replace")
    return Done(ok, log.began, text)


def serve(requests: BinaryIO, answers: BinaryIO) -> int:
    """Answer the runner until it closes ``requests``; returns the exit status."""
    try:
        start = frames.receive(requests)
    except frames.ChannelClosed:
        return 0
    if not isinstance(start, Start):
        print(f"runner container worker: expected Start, got {type(start).__name__}", file=sys.stderr)
        return 2
    pauses = f"{CONTAINER_PAUSE_FOLDER}/{PAUSE_FILE}" if start.config.pause_file else ""
    config = dataclasses.replace(start.config, cwd=os.getcwd(), pause_file=pauses)
    frames.send(answers, Hello(os.getuid(), os.getgid(), sys.version.split()[0], os.getcwd()))
    log = _TrackedLog(Path(tempfile.mkdtemp(prefix="stockpipe-worker-")) / "datum.log")
    warm = WarmRunner.for_this_process()
    while True:
        try:
            message = frames.receive(requests)
        except frames.ChannelClosed:
            return 0
        if message is None:
            return 0
        frames.send(answers, _run(config, message, log, warm, start.runner_uid))


def _channel() -> tuple[BinaryIO, BinaryIO]:
    """The protocol's two streams: the runner's socket when it names one (``CHANNEL_ENV``), else the
    container's stdin and stdout."""
    path = os.environ.pop(CHANNEL_ENV, "")
    if path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return sock.makefile("rb", buffering=0), sock.makefile("wb")
    return os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb")


def main() -> int:
    """The container's entry: take the channel for the protocol, keep datums off stdin and stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides what Ctrl-C stops
    requests, answers = _channel()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout, sys.stderr = streams_on_fds()
    return serve(requests, answers)


if __name__ == "__main__":
    sys.exit(main())
