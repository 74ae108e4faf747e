"""A service pipeline (``service`` in its spec) run from its image.

As a Pachyderm service pod, the container runs the spec's ``cmd`` and ``env`` in
``transform.image`` as the image's user (or a numeric ``transform.user``), with its input at
``/pfs/<input name>`` read-only and ``service.internalPort`` published, here on 127.0.0.1 only
(Pachyderm's NodePort ``externalPort`` is a cluster port; the caller picks the local one).

Two ways to start it:

- :func:`docker_service_command`: one container over the inputs' head commits, mounted read-only
  at ``/pfs/<name>`` (``python -m runner.executors.service serve`` prints it; stop it with
  :func:`docker_service_stop_command`).
- :class:`DockerService`: what ``runner up --executor docker`` keeps running. It is
  runner/services.py's ``Service`` (commit folders, ``current``, ``env.json``, restarts) with the
  process being the container. So that a new input commit reaches the running container, the
  mounts are of folders that hold every commit, not of one commit's tree (a bind mount pins the
  folder it was given; entries created later *inside* a mounted folder do show)::

      <state>/.services/<name>  -> /stockpipe-state/.services/<name>   (ro) commit folders, current
      <state>/<repo>/trees      -> /stockpipe-state/<repo>/trees       (ro) every commit's files
      <state>/.services/<name>/.container-pfs -> /pfs                  (ro) /pfs/<input> -> current

  The commit folders' links are relative (``../../../../<repo>/trees/<commit>``), so they resolve
  in the container as on the host; ``/pfs/<input>`` is an absolute link in the container's paths
  to ``current``'s input (as Pachyderm's worker links ``/pfs/<input>`` to the active data:
  src/server/worker/driver/driver_unix.go ``WithActiveData``). The service's variables
  (``env.json``, and ``--env`` at the start) name the pinned commit's folder
  (``/stockpipe-state/.services/<name>/<commit>/pfs/<input>``), so a worker reads one commit's
  files even when ``current`` moves while it loads them. On a new input
  commit, ``current`` is swapped and ``docker kill --signal HUP`` reaches gunicorn's master
  through the container's init (``--init``, which passes it to its child only): the same model
  swap as for a local service (api/hot_swap.py: the master forwards it to its workers, which
  re-read ``RUNNER_SERVICE_ENV`` and swap the new model in), the listening socket and the
  published port staying up, so no request fails. Stopping is ``docker stop`` (SIGTERM: gunicorn
  finishes its requests) then ``docker rm --force``; the container's name carries a digest of the
  state folder, and any container of that name is removed before a start, so a loop that was
  killed leaves nothing that blocks the next one (the ``docker run`` client also gets SIGTERM when
  the loop dies, and forwards it to the container).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, TextIO

from runner.children import die_with_parent
from runner.executors.docker import bind, user_options
from runner.executors.docker_client import DAEMON_TIMEOUT, DOCKER, image_facts, require_daemon
from runner.executors.kinds import ExecutorUnavailable
from runner.executors.resources import resource_options
from runner.services import STOP_TIMEOUT, Service
from runner.spec import Spec
from runner.state import State, StateError
from runner.workers import map_pfs

log = logging.getLogger(__name__)

SERVICE_LABEL = "stockpipe.service"
#: The real path of the state folder a container of ``runner up`` serves from.
STATE_LABEL = "stockpipe.state"
LOOPBACK = "127.0.0.1"
#: Where a service container sees the parts of the state folder it reads (DockerService).
CONTAINER_STATE = "/stockpipe-state"
#: The folder mounted at /pfs in a service container: one link per input, to ``current``'s.
CONTAINER_PFS = ".container-pfs"


def service_container_name(spec: Spec, state_root: Path | None = None) -> str:
    """The container's name; with ``state_root``, one name per state folder (two loops on two
    state folders do not take each other's container)."""
    if state_root is None:
        return f"stockpipe-service-{spec.name}"
    digest = hashlib.blake2b(os.path.realpath(state_root).encode(), digest_size=5).hexdigest()
    return f"stockpipe-service-{spec.name}-{digest}"


def internal_port(spec: Spec) -> int:
    """``service.internalPort``: the port the service listens on inside its container."""
    if spec.service is None:
        raise ExecutorUnavailable(f"pipeline {spec.name} is not a service (its spec has no `service`)")
    internal = spec.service.get("internalPort")
    if not internal:
        raise ExecutorUnavailable(f"{spec.path}: service.internalPort: required to publish the service")
    return int(internal)


def service_inputs(state: State, spec: Spec) -> dict[str, Path]:
    """Input name → the folder of its branch's head commit (what the service mounts at /pfs/<name>)."""
    folders = {}
    for pfs in spec.input.pfs_inputs() if spec.input else []:
        head = state.head(pfs.repo, pfs.branch)
        if head is None:
            raise ExecutorUnavailable(
                f"service {spec.name}: {pfs.repo}@{pfs.branch} has no commit yet; run the pipelines first"
            )
        folders[pfs.name] = state.tree(pfs.repo, head)
    return folders


def _run_options(spec: Spec, name: str, publish: str, labels: Mapping[str, str]) -> list[str]:
    """The options every service container shares: its name, labels and published port."""
    command = [DOCKER, "run", "--rm", "--name", name, "--label", f"{SERVICE_LABEL}={spec.name}"]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    return [*command, "--publish", publish]


def docker_service_command(
    spec: Spec, inputs: Mapping[str, Path], host_port: int, bind_address: str = LOOPBACK
) -> list[str]:
    """``docker run`` of the service ``spec``: ``inputs`` (name → host folder) mounted read-only at
    /pfs/<name>, ``service.internalPort`` published on ``bind_address:host_port``, foreground."""
    publish = f"{bind_address}:{host_port}:{internal_port(spec)}"
    command = _run_options(spec, service_container_name(spec), publish, {})
    for name, folder in inputs.items():
        command += bind(folder, f"/pfs/{name}", read_only=True)
    for key, value in {"PPS_PIPELINE_NAME": spec.name, **spec.env}.items():
        command += ["--env", f"{key}={value}"]
    return [*command, *resource_options(spec), spec.image, *spec.cmd]


def docker_service_stop_command(spec: Spec) -> list[str]:
    """Stop and remove the service's container (started by :func:`docker_service_command`)."""
    return [DOCKER, "rm", "--force", service_container_name(spec)]


def _docker(*args: str, timeout: float = DAEMON_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``docker ARGS``; a daemon that does not answer within ``timeout`` is a failed call, not an error."""
    try:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([DOCKER, *args], 1, "", f"no answer within {timeout:g} s")


class DockerService(Service):
    """A service pipeline kept running by ``runner up --executor docker``: its container, reloaded in
    place on a new input commit (see the module docstring). ``HOST``/``PORT`` given to ``up`` are
    where the container's ``internalPort`` is published; inside, the spec's own env applies."""

    def __init__(
        self, state: State, spec: Spec, cwd: str, overrides: dict[str, str], out: TextIO, cpu_nice: int = 0
    ) -> None:
        # The container's CPU weight is its --cpu-shares (resource_options), as on Kubernetes;
        # ``cpu_nice`` is the local process's stand-in for it and is not used here.
        super().__init__(state, spec, cwd, overrides, out, cpu_nice=0)
        self.env_overrides = {}
        self.internal_port = internal_port(spec)
        self.host = overrides.get("HOST") or LOOPBACK
        self.host_port = int(overrides.get("PORT") or self.internal_port)
        require_daemon()
        self.image = image_facts(spec.image, spec.name)
        self.options = [*resource_options(spec), *user_options(spec)]
        self.name = service_container_name(spec, state.root)
        self.container_root = f"{CONTAINER_STATE}/.services/{spec.name}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.host_port}"

    def _pfs(self, commit: str) -> str:
        return f"{self.container_root}/{commit}/pfs"

    def _env_file(self) -> str:
        return f"{self.container_root}/current/env.json"

    def _pfs_view(self) -> Path:
        """The folder mounted at /pfs: ``<input> -> /stockpipe-state/.services/<name>/current/pfs/<input>``
        (a link that resolves in the container only)."""
        view = self.root / CONTAINER_PFS
        link = view / self.input.name
        target = f"{self.container_root}/current/pfs/{self.input.name}"
        view.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink() or os.readlink(link) != target:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            os.symlink(target, link)
        return view

    def command(self, commit: str) -> list[str]:
        """The ``docker run`` of the container serving ``commit`` (its folder prepared)."""
        publish = f"{self.host}:{self.host_port}:{self.internal_port}"
        labels = {STATE_LABEL: os.path.realpath(self.state.root)}
        command = [*_run_options(self.spec, self.name, publish, labels), "--init"]
        command += bind(self.root, self.container_root, read_only=True)
        trees = self.state.repo_dir(self.input.repo) / "trees"
        command += bind(trees, f"{CONTAINER_STATE}/{self.input.repo}/trees", read_only=True)
        command += bind(self._pfs_view(), "/pfs", read_only=True)
        env = {**self._commit_env(commit), "RUNNER_SERVICE_ENV": self._env_file()}
        for key, value in env.items():
            command += ["--env", f"{key}={value}"]
        pfs = self._pfs(commit)
        return [*command, *self.options, self.image.reference, *(map_pfs(a, pfs) for a in self.spec.cmd)]

    def remove_container(self) -> bool:
        """Remove this state folder's container of the service, if one is there (a stale one of a
        killed loop, or one that is stopping); True when one was."""
        listed = _docker("ps", "--all", "--quiet", "--filter", f"name=^/{self.name}$").stdout.split()
        if listed:
            _docker("rm", "--force", *listed, timeout=60)
        return bool(listed)

    def _launch(self, commit: str, log_fh: BinaryIO) -> subprocess.Popen[bytes]:
        if self.remove_container():
            self.out.write(f"{self.spec.name}: removed a stale container {self.name} (of an earlier run)\n")
        return subprocess.Popen(
            self.command(commit),
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C: the loop stops it
            preexec_fn=die_with_parent,  # SIGTERM if the loop dies; the client forwards it (sig-proxy)
        )

    def _where(self) -> str:
        return f"container {self.name} of {self.image.reference}"

    def _send_reload(self) -> None:
        done = _docker("kill", "--signal", "HUP", self.name)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            self.out.write(f"{self.spec.name}: could not signal container {self.name}: {why}\n")

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        # SIGTERM (gunicorn: a graceful stop), SIGKILL after STOP_TIMEOUT; then make sure it is gone
        _docker("stop", "--time", str(int(STOP_TIMEOUT)), self.name, timeout=STOP_TIMEOUT + 60)
        self.remove_container()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    """``python -m runner.executors.service PIPELINE --port N``: print the service's ``docker run``."""
    parser = argparse.ArgumentParser(
        prog="python -m runner.executors.service",
        description="Print the `docker run` that serves a service pipeline from its image, its inputs' "
        "head commits mounted read-only, its port published on 127.0.0.1.",
    )
    parser.add_argument("pipeline", help="a created service pipeline (e.g. serve)")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    parser.add_argument("--state", default=os.environ.get("PFS_STATE") or ".pfs", help="state folder")
    args = parser.parse_args(argv)
    state = State(args.state)
    try:
        spec = state.pipeline(args.pipeline).spec
        command = docker_service_command(spec, service_inputs(state, spec), args.port)
    except (ExecutorUnavailable, StateError) as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 1
    print(shlex.join(command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
