"""The Docker daemon, the base image and the project's images, for the container tests.

Images are built with tools/images/build.sh (what `make images` runs), so a warm layer cache makes
the build a few seconds. The base is $BASE_IMAGE when set, else the Dockerfiles' pinned official
image when the daemon holds it, else the stand-in of `make base-image`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.deploy import dockerfiles as df

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_BASE_IMAGE = "stockpipe/base:bookworm-py3.11"
#: The UID of the runtime user of every image (Pachyderm 2.x's worker UID).
RUNTIME_UID = 1000


@dataclass(frozen=True)
class DockerUnavailable:
    """Why the container tests cannot run here, in one line."""

    reason: str


def docker_unavailable() -> DockerUnavailable | None:
    """None when a daemon answers, else the one-line reason."""
    if shutil.which("docker") is None:
        return DockerUnavailable("no docker client on PATH")
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return DockerUnavailable("the Docker daemon did not answer `docker info` within 20 s")
    if result.returncode != 0:
        return DockerUnavailable("no Docker daemon reachable (`docker info` failed; .ci/run starts one)")
    return None


def image_exists(reference: str) -> bool:
    result = subprocess.run(["docker", "image", "inspect", reference], capture_output=True, check=False)
    return result.returncode == 0


def pinned_base() -> str:
    """The default of ARG BASE_IMAGE, the same in every Dockerfile."""
    for instruction in df.instructions(REPO_ROOT / "stages" / "ingest" / "Dockerfile"):
        if instruction.keyword == "ARG" and instruction.arguments.startswith("BASE_IMAGE="):
            return instruction.arguments.partition("=")[2]
    raise AssertionError("stages/ingest/Dockerfile has no ARG BASE_IMAGE=<default>")


def choose_base() -> str | None:
    """The base to build on, or None when the daemon has none of them."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    for candidate in (pinned_base(), LOCAL_BASE_IMAGE):
        if image_exists(candidate):
            return candidate
    return None


def build(dockerfile: str, tag: str, base: str) -> None:
    """Build one image from the repository root (cached layers reused), failing with its log."""
    result = subprocess.run(
        ["tools/images/build.sh", dockerfile, tag],
        cwd=REPO_ROOT,
        env={**os.environ, "BASE_IMAGE": base},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, f"building {tag} failed:\n{result.stdout}\n{result.stderr}"


def run(
    image: str, *args: str, timeout: float = 600, **options: list[str]
) -> subprocess.CompletedProcess[str]:
    """`docker run --rm` with extra docker options (mounts, env) and the image's command ``args``."""
    command = ["docker", "run", "--rm", *options.get("docker_args", []), image, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def image_user(image: str) -> str:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def image_members(image: str) -> Iterator[tarfile.TarInfo]:
    """Every file of the image's filesystem (from `docker export` of a created, never started container)."""
    created = subprocess.run(["docker", "create", image], capture_output=True, text=True, check=True)
    container = created.stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        assert export.stdout is not None
        with tarfile.open(fileobj=export.stdout, mode="r|") as archive:
            yield from archive
        export.wait(timeout=120)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def image_file_bytes(image: str, wanted: set[str]) -> dict[str, bytes]:
    """The content of the named files (image paths without the leading /) that are in the image."""
    created = subprocess.run(["docker", "create", image], capture_output=True, text=True, check=True)
    container = created.stdout.strip()
    found: dict[str, bytes] = {}
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        assert export.stdout is not None
        with tarfile.open(fileobj=export.stdout, mode="r|") as archive:
            for member in archive:
                if member.name in wanted and member.isfile():
                    handle = archive.extractfile(member)
                    assert handle is not None
                    found[member.name] = handle.read()
        export.wait(timeout=120)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    return found
