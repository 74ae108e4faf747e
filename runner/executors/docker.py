"""The docker executor: each pipeline's datums run inside its ``transform.image``, as Pachyderm's
worker runs them, with warm workers.

Per job, on the runner's side (:class:`DockerExecutor`): the daemon and the image are checked
once (one line naming what is missing), and the spec's resources become ``docker run`` options
(``resources.py``). Per worker process (:class:`ContainerRunner`): one long-lived container,
started at the worker's first datum::

    docker run --rm --mount <worker staging>/pfs:/pfs --mount runner/:/opt/stockpipe-runner/runner:ro
        --mount <channel folder>:/opt/stockpipe-channel
        --mount .jobs/<job>/pauses:/opt/stockpipe-pauses:ro <resources> <image>
        python3 -c <start the container worker>

This is how a Pachyderm worker pod runs (src/server/pps/server/worker_rc.go): the user container
is the pipeline's image, its command the worker binary (copied in by an init container, under
dumb-init), which runs every datum of the pod in that one container; ``/pfs`` is a volume, the
spec's requests and limits are the user container's, and it runs as the image's USER (a numeric
``transform.user`` instead, as here). So the container runs as the image's own user in the
image's working directory, with the image's environment, and serves the worker's datums one after
another (``container_worker.py``, over a Unix socket the worker listens on in the mounted channel
folder: not through the daemon's stdio attach), so a job of 8,049 datums costs one
container start per worker, not per datum. Staging (hard links from the object store) and
collecting the outputs stay on the runner's side, in the worker folder the container sees at
``/pfs``: the cmd's ``/pfs/<input>`` and ``/pfs/out`` are the real paths, and the object store
itself is never mounted. ``/pfs/out`` is opened to every uid before each datum so the image's
user (UID 1000 in this project's images) can write it; files it writes are moved into the store
by the runner (as root directly; as another uid, after the container opened their folders and
the runner took a copy of its own).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from runner.datum_log import DatumLog
from runner.executors import frames
from runner.executors.container_worker import CHANNEL_ENV, CONTAINER_PAUSE_FOLDER, Done, Hello, Run, Start
from runner.executors.docker_client import (
    DOCKER,
    ImageFacts,
    image_facts,
    remove_containers,
    require_daemon,
    signal_containers,
)
from runner.executors.kinds import ExecutorKind
from runner.executors.resources import niced, resource_options
from runner.spec import Spec
from runner.warm import TIMED_OUT_WORKER_EXIT
from runner.workers import DatumRunner, JobConfig, Stager, StartRunner, Task

log = logging.getLogger(__name__)
#: The runner's package (standard library only), mounted read-only into every datum container.
RUNNER_PACKAGE = Path(__file__).resolve().parent.parent
#: Where it is mounted: the parent goes first on the container's sys.path (only ``runner`` is there).
CONTAINER_RUNNER_ROOT = "/opt/stockpipe-runner"
CONTAINER_COMMAND = (
    "python3",
    "-c",
    f"import sys; sys.path.insert(0, {CONTAINER_RUNNER_ROOT!r}); "
    "from runner.executors.container_worker import main; sys.exit(main())",
)
#: Where a container sees the folder of its channel's socket, and the socket's name in it.
CONTAINER_CHANNEL = "/opt/stockpipe-channel"
CHANNEL_SOCKET = "worker.sock"
#: Seconds a container has to connect to its channel after ``docker run`` (an image start).
CONNECT_TIMEOUT = 300.0
#: Labels of every datum container, for ``docker ps --filter label=...``.
JOB_LABEL = "stockpipe.job"
PIPELINE_LABEL = "stockpipe.pipeline"
#: Seconds a container may take to stop after its stdin closed, before it is killed.
STOP_TIMEOUT = 10.0
#: Variables of the runner's environment passed on to datum containers: the thread budget that
#: ``up`` sets per job (a local datum inherits it), when set.
PASSED_ENV = ("OMP_NUM_THREADS",)


def channel_prefix(job_id: str) -> str:
    """The name every channel folder of job ``job_id`` starts with (in the system's temp folder)."""
    return f"stockpipe-channel-{job_id[:12]}-"


def remove_channels(job_id: str) -> int:
    """Remove the channel folders of job ``job_id`` that are left: a worker killed with SIGKILL (a
    stopped loop's last resort) never removes its own. Returns how many were removed."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(channel_prefix(job_id) + "*"):
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def bind(source: str | Path, target: str, read_only: bool = False) -> list[str]:
    """A ``--mount`` of a host folder (symlinks resolved: docker mounts what they point to)."""
    option = f"type=bind,source={os.path.realpath(source)},target={target}"
    return ["--mount", option + (",readonly" if read_only else "")]


@dataclass(frozen=True)
class ContainerPlan:
    """What every datum container of one job shares (made on the runner's side, used in workers)."""

    image: ImageFacts
    pipeline: str
    job_id: str
    resources: tuple[str, ...]
    runner_package: Path = RUNNER_PACKAGE
    #: ``--user`` options: empty (the image's USER) unless the spec's ``transform.user`` is a uid
    user: tuple[str, ...] = ()
    #: ``--env`` options of the runner's own environment that a local datum would inherit too
    env: tuple[str, ...] = ()

    def command(self, name: str, pfs: Path, channel: Path, pauses: Path | None = None) -> list[str]:
        """The ``docker run`` of one worker's container, its staging folder ``pfs`` at /pfs, the
        folder of its channel's socket (``channel``) at ``CONTAINER_CHANNEL`` and the folder of the
        job's pause record (``pauses``, read-only: runner/pause_clock.py) at ``CONTAINER_PAUSE_FOLDER``."""
        return [
            DOCKER,
            "run",
            "--rm",
            "--init",  # a minimal init as PID 1, as the worker pod's dumb-init
            "--sig-proxy=false",
            "--name",
            name,
            "--label",
            f"{JOB_LABEL}={self.job_id}",
            "--label",
            f"{PIPELINE_LABEL}={self.pipeline}",
            *bind(pfs, "/pfs"),
            *bind(self.runner_package, f"{CONTAINER_RUNNER_ROOT}/runner", read_only=True),
            *bind(channel, CONTAINER_CHANNEL),
            *(bind(pauses, CONTAINER_PAUSE_FOLDER, read_only=True) if pauses is not None else []),
            "--env",
            f"{CHANNEL_ENV}={CONTAINER_CHANNEL}/{CHANNEL_SOCKET}",
            *self.resources,
            *self.user,
            *self.env,
            self.image.reference,
            *CONTAINER_COMMAND,
        ]

    def __call__(self, config: JobConfig, stager: Stager) -> DatumRunner:
        return ContainerRunner(self, stager)


def _stderr_tail(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def adopt_outputs(out: Path) -> None:
    """Make the files under ``out`` the runner's own (copy, then rename over), for a runner that is not
    root: the store makes objects read-only, which only a file's owner may do."""
    uid = os.geteuid()
    pending = [str(out)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid != uid:
                    copy = f"{entry.path}.stockpipe-adopt"
                    shutil.copyfile(entry.path, copy)
                    os.replace(copy, entry.path)


def user_options(spec: Spec) -> tuple[str, ...]:
    """``transform.user`` as worker_rc.go reads it: a numeric uid runs the user container as that
    uid and gid; anything else is logged and ignored (the image's USER)."""
    user = str((spec.raw.get("transform") or {}).get("user") or "")
    if not user:
        return ()
    if not user.isdigit():
        log.warning("%s: transform.user %r is not a uid; the image's user runs the datums", spec.name, user)
        return ()
    return ("--user", f"{user}:{user}")


class ContainerRunner:
    """One worker's container: started at its first datum, then fed one datum at a time.

    A container that dies (OOM-killed past ``resourceLimits.memory``, an image without Python...)
    fails the datum it was running, with the reason in the datum's log; the next datum starts a new one.
    """

    def __init__(self, plan: ContainerPlan, stager: Stager) -> None:
        self.plan = plan
        self.stager = stager
        self.stderr_path = stager.root / "container.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self.hello: Hello | None = None
        self.starts = 0
        #: the channel: the socket's folder, the connection and its two streams
        self.channel: Path | None = None
        self.conn: socket.socket | None = None
        self.requests: IO[bytes] | None = None
        self.answers: IO[bytes] | None = None

    @property
    def name(self) -> str:
        return f"stockpipe-{self.plan.pipeline}-{self.plan.job_id[:12]}-{os.getpid()}-{self.starts}"

    def _start(self, config: JobConfig) -> Hello:
        self.starts += 1
        self.stderr = open(self.stderr_path, "ab")  # noqa: SIM115 (open for the container's life)
        # A short path of its own: a socket's path is limited to 107 bytes, and the staging
        # folder's can be longer.
        self.channel = Path(tempfile.mkdtemp(prefix=channel_prefix(self.plan.job_id)))
        os.chmod(self.channel, 0o755)
        # The pause record's folder exists before the container starts (a later one would not be
        # seen); ``runner up`` writes the record in it when it resumes the job.
        pauses = Path(config.pause_file).parent if config.pause_file else None
        if pauses is not None:
            pauses.mkdir(mode=0o755, parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            path = self.channel / CHANNEL_SOCKET
            listener.bind(str(path))
            os.chmod(path, 0o777)  # the image's user connects to it
            listener.listen(1)
            self.proc = subprocess.Popen(
                self.plan.command(self.name, self.stager.pfs, self.channel, pauses),
                stdin=subprocess.DEVNULL,
                stdout=self.stderr,
                stderr=self.stderr,
            )
            self.conn = self._accept(listener)
        finally:
            listener.close()
        self.requests, self.answers = self.conn.makefile("wb"), self.conn.makefile("rb")
        frames.send(self.requests, Start(config, os.geteuid()))
        hello = frames.receive(self.answers)
        if not isinstance(hello, Hello):
            raise frames.ChannelClosed(f"unexpected first answer {type(hello).__name__}")
        return hello

    def _accept(self, listener: socket.socket) -> socket.socket:
        """The container's connection, or ChannelClosed when it exits (or never connects) first."""
        assert self.proc is not None
        listener.settimeout(0.2)
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if self.proc.poll() is not None:
                    raise frames.ChannelClosed("the container exited before it connected") from None
                continue
            conn.settimeout(None)
            return conn
        raise frames.ChannelClosed(f"the container did not connect within {CONNECT_TIMEOUT:g} s")

    def _exit_reason(self) -> str:
        code = self._stop()
        if code == 137:
            how = "killed (exit status 137: out of memory past resourceLimits.memory, or docker kill)"
        elif code == TIMED_OUT_WORKER_EXIT:
            how = f"exit status {code}: the datum ran past its datumTimeout and did not stop when told"
        else:
            how = f"exit status {code}" if code is not None else "still running"
        tail = _stderr_tail(self.stderr_path)
        return how + (f": {tail}" if tail else "")

    def execute(self, config: JobConfig, task: Task, pfs_root: str, log: DatumLog, **options: Any) -> bool:
        started_now = self.proc is None
        if started_now:
            try:
                self.hello = self._start(config)
            except (frames.ChannelClosed, OSError) as exc:
                log.begin()
                log.write(
                    f"runner: container {self.name} of image {self.plan.image.reference} did not start "
                    f"({self._exit_reason() or exc})\n"
                )
                return False
        assert self.proc is not None and self.requests is not None and self.answers is not None
        os.chmod(self.stager.out, 0o777)  # the image's user writes /pfs/out
        try:
            frames.send(self.requests, Run(task, options))
            done = frames.receive(self.answers)
        except (frames.ChannelClosed, OSError):
            log.begin()
            log.write(
                f"runner: container {self.name} stopped while running this datum ({self._exit_reason()})\n"
            )
            return False
        if not isinstance(done, Done):
            raise RuntimeError(f"container {self.name} answered {type(done).__name__}, expected Done")
        if done.began:
            log.begin()
        if started_now and self.hello is not None:
            log.write(
                f"runner: worker container {self.name} ({self.plan.image.reference}) started: uid "
                f"{self.hello.uid}, gid {self.hello.gid}, cwd {self.hello.cwd}, Python {self.hello.python}\n"
            )
        log.write(done.log)
        if done.ok and os.geteuid() != 0:
            adopt_outputs(self.stager.out)
        return done.ok

    def _stop(self) -> int | None:
        """Close the channel (the container exits), wait, kill if needed; returns its exit status."""
        proc, self.proc = self.proc, None
        for stream in (self.requests, self.answers, self.conn):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.requests = self.answers = self.conn = None
        if self.channel is not None:
            shutil.rmtree(self.channel, ignore_errors=True)
            self.channel = None
        if proc is None:
            return None
        try:
            code = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            subprocess.run([DOCKER, "rm", "-f", self.name], capture_output=True, timeout=60, check=False)
            proc.kill()
            code = proc.wait()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None
        return code

    def close(self) -> None:
        self._stop()


class DockerExecutor:
    """Runs each pipeline's datums in its image (see the module docstring)."""

    kind = ExecutorKind.DOCKER

    def __init__(self, runner_package: Path = RUNNER_PACKAGE) -> None:
        self.runner_package = runner_package
        self._images: dict[str, ImageFacts] = {}
        self._daemon_checked = False

    def _image(self, spec: Spec) -> ImageFacts:
        if not self._daemon_checked:
            require_daemon()
            self._daemon_checked = True
        if spec.image not in self._images:
            self._images[spec.image] = image_facts(spec.image, spec.name)
        return self._images[spec.image]

    def check(self, specs: list[Spec]) -> None:
        if not self._daemon_checked:
            require_daemon()
            self._daemon_checked = True
        for spec in specs:
            self._image(spec)
            resource_options(spec)

    def prepare(self, spec: Spec, job_id: str) -> StartRunner:
        """The job's container plan. A niced job (``up``'s background jobs) gets the CPU weight of its
        niceness: its containers are not its children, so the niceness itself does not reach them."""
        env = tuple(f"{key}={os.environ[key]}" for key in PASSED_ENV if os.environ.get(key))
        return ContainerPlan(
            self._image(spec),
            spec.name,
            job_id,
            tuple(niced(resource_options(spec), os.getpriority(os.PRIO_PROCESS, 0))),
            self.runner_package,
            user_options(spec),
            tuple(option for pair in env for option in ("--env", pair)),
        )

    def finish(self, job_id: str) -> None:
        left = remove_containers(f"{JOB_LABEL}={job_id}")
        if left:
            log.info("removed %d container(s) left by job %s", left, job_id)
        channels = remove_channels(job_id)
        if channels:
            log.info("removed %d channel folder(s) left by job %s", channels, job_id)

    def pause(self, job_id: str) -> None:
        signal_containers(f"{JOB_LABEL}={job_id}", "pause")

    def resume(self, job_id: str) -> None:
        signal_containers(f"{JOB_LABEL}={job_id}", "unpause")
