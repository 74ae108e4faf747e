"""A service pipeline (``service`` in its spec) run from its image: the ``docker run`` that starts it.

The long-running mode starts it with :func:`docker_service_command`; as a Pachyderm service pod,
the container runs the spec's ``cmd`` and ``env`` in ``transform.image`` as the image's user, with
each input's commit mounted read-only at ``/pfs/<input name>`` and ``service.internalPort``
published, here on 127.0.0.1 only (Pachyderm's NodePort ``externalPort`` is a cluster port; the
caller picks the local one). Stop it with :func:`docker_service_stop_command` (``--rm`` removes it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from runner.executors.docker import bind
from runner.executors.docker_client import DOCKER
from runner.executors.kinds import ExecutorUnavailable
from runner.executors.resources import resource_options
from runner.spec import Spec
from runner.state import State, StateError

SERVICE_LABEL = "stockpipe.service"
LOOPBACK = "127.0.0.1"


def service_container_name(spec: Spec) -> str:
    return f"stockpipe-service-{spec.name}"


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


def docker_service_command(
    spec: Spec, inputs: Mapping[str, Path], host_port: int, bind_address: str = LOOPBACK
) -> list[str]:
    """``docker run`` of the service ``spec``: ``inputs`` (name → host folder) mounted read-only at
    /pfs/<name>, ``service.internalPort`` published on ``bind_address:host_port``, foreground."""
    if spec.service is None:
        raise ExecutorUnavailable(f"pipeline {spec.name} is not a service (its spec has no `service`)")
    internal = spec.service.get("internalPort")
    if not internal:
        raise ExecutorUnavailable(f"{spec.path}: service.internalPort: required to publish the service")
    command = [
        DOCKER,
        "run",
        "--rm",
        "--name",
        service_container_name(spec),
        "--label",
        f"{SERVICE_LABEL}={spec.name}",
        "--publish",
        f"{bind_address}:{host_port}:{internal}",
    ]
    for name, folder in inputs.items():
        command += bind(folder, f"/pfs/{name}", read_only=True)
    for key, value in {"PPS_PIPELINE_NAME": spec.name, **spec.env}.items():
        command += ["--env", f"{key}={value}"]
    return [*command, *resource_options(spec), spec.image, *spec.cmd]


def docker_service_stop_command(spec: Spec) -> list[str]:
    """Stop and remove the service's container (started by :func:`docker_service_command`)."""
    return [DOCKER, "rm", "--force", service_container_name(spec)]


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
