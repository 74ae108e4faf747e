"""The ``docker`` command line as the docker executor uses it: is a daemon there, what an image holds.

Every problem is one line saying what is missing and how to get it (raised as
``ExecutorUnavailable``), so ``run --executor docker`` fails before any job starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

from runner.executors.kinds import ExecutorUnavailable

DOCKER = "docker"
#: How long ``docker version`` may take to answer before the daemon counts as unreachable.
DAEMON_TIMEOUT = 20.0
START_DAEMON_HINT = "start it (`sudo systemctl start docker`, or `sudo dockerd &`; .ci/run starts one in CI)"
BUILD_IMAGES_HINT = (
    "`make images` builds the project's images (where Docker Hub is unreachable, `make base-image` "
    "first, then `make images BASE_IMAGE=stockpipe/base:bookworm-py3.11`); `docker pull` fetches others"
)


@dataclass(frozen=True)
class ImageFacts:
    """What the executor needs from an image's config."""

    reference: str
    #: ``USER`` of the image ("" = root), the user its datums run as
    user: str
    #: ``WORKDIR`` of the image ("" = /), where its datums run
    working_dir: str


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def docker_problem() -> str | None:
    """None when a Docker daemon answers, else the one-line reason and what to do."""
    if shutil.which(DOCKER) is None:
        return (
            "docker executor: no `docker` client on PATH; install Docker (Debian: apt-get install docker.io)"
        )
    try:
        result = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=DAEMON_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return (
            f"docker executor: the Docker daemon did not answer within {DAEMON_TIMEOUT:g} s; "
            + START_DAEMON_HINT
        )
    if result.returncode != 0:
        return (
            f"docker executor: no Docker daemon reachable ({_first_line(result.stderr)}); {START_DAEMON_HINT}"
        )
    return None


def require_daemon() -> None:
    problem = docker_problem()
    if problem is not None:
        raise ExecutorUnavailable(problem)


def image_facts(image: str, pipeline: str) -> ImageFacts:
    """The config of ``image`` in the daemon; one line naming it and how to build it when it is absent."""
    if not image:
        raise ExecutorUnavailable(
            f"docker executor: pipeline {pipeline} has no transform.image; name the image its datums run in"
        )
    result = subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{json .Config}}", image],
        capture_output=True,
        text=True,
        timeout=DAEMON_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        if "no such image" in result.stderr.lower():
            raise ExecutorUnavailable(
                f"docker executor: image {image} of pipeline {pipeline} is not in the Docker daemon; "
                + BUILD_IMAGES_HINT
            )
        raise ExecutorUnavailable(
            f"docker executor: cannot inspect image {image} of pipeline {pipeline}: "
            + _first_line(result.stderr)
        )
    config = json.loads(result.stdout) or {}
    return ImageFacts(image, config.get("User") or "", config.get("WorkingDir") or "")


def containers(label: str, running_only: bool = False) -> list[str]:
    """Ids of the containers carrying ``label`` (``key=value``)."""
    listed = subprocess.run(
        [DOCKER, "ps", "-q" if running_only else "-aq", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        timeout=DAEMON_TIMEOUT,
        check=False,
    )
    return listed.stdout.split()


def remove_containers(label: str) -> int:
    """Force-remove the containers carrying ``label`` (``key=value``); returns how many there were."""
    ids = containers(label)
    if ids:
        subprocess.run([DOCKER, "rm", "-f", *ids], capture_output=True, timeout=60, check=False)
    return len(ids)


def signal_containers(label: str, verb: str) -> int:
    """``docker pause`` or ``docker unpause`` (``verb``) the running containers carrying ``label``;
    returns how many there were (one already in that state is left as it is)."""
    ids = containers(label, running_only=True)
    if ids:
        subprocess.run([DOCKER, verb, *ids], capture_output=True, timeout=60, check=False)
    return len(ids)
