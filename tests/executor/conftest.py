"""Fixtures of the docker executor's tests: the images, and the bundled sample run by both executors.

The specs are the project's own, copied unchanged but for one argument: evaluate's reference
forest is fit on 2,000 rows (``--rf-sample 2000``) instead of its default, so the two runs of the
sample take seconds, not a minute each; both executors run the same copied specs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.executors.docker_client import docker_problem, image_facts
from runner.executors.kinds import ExecutorUnavailable
from runner.spec import load_specs
from tests.conftest import REPO_ROOT, SAMPLE_DIR

#: Why the container tests cannot run here (None: a daemon answers).
DOCKER_PROBLEM = docker_problem()
#: The stand-in base of `make base-image`, used where the Dockerfiles' pinned base is absent.
LOCAL_BASE_IMAGE = "stockpipe/base:bookworm-py3.11"
BUILD_SCRIPT = REPO_ROOT / "tools" / "images" / "build.sh"
#: The reference forest's training rows in the tests' copy of specs/evaluate.json.
TEST_RF_SAMPLE = "2000"
#: The pipelines `run` runs (every spec but the service), compared between the executors.
BATCH_PIPELINES = tuple(sorted(spec.name for spec in load_specs(REPO_ROOT / "specs") if not spec.is_service))


def needs_docker() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        DOCKER_PROBLEM is not None, reason=f"docker executor tests skipped: {DOCKER_PROBLEM}"
    )


@dataclass(frozen=True)
class Completed:
    code: int
    out: str
    err: str


def run_runner(state: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> Completed:
    """``python -m runner --state STATE ARGS`` from the repository root, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--state", str(state), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Completed(result.returncode, result.stdout, result.stderr)


def copy_specs(folder: Path) -> Path:
    """specs/ copied to ``folder``, evaluate's forest sample made small (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((REPO_ROOT / "specs").glob("*.json")):
        doc = json.loads(source.read_text())
        if doc["pipeline"]["name"] == "evaluate":
            doc["transform"]["cmd"] += ["--rf-sample", TEST_RF_SAMPLE]
        (folder / source.name).write_text(json.dumps(doc, indent=2))
    return folder


def _base_image() -> str:
    """BASE_IMAGE, else the local stand-in when the daemon holds it, else "" (the Dockerfile's default)."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    try:
        image_facts(LOCAL_BASE_IMAGE, "(base)")
    except ExecutorUnavailable:
        return ""
    return LOCAL_BASE_IMAGE


def _dockerfile_of(image: str) -> Path:
    name = image.split("/")[-1].split(":")[0]
    for candidate in (REPO_ROOT / "stages" / name / "Dockerfile", REPO_ROOT / name / "Dockerfile"):
        if candidate.is_file():
            return candidate
    raise AssertionError(f"no Dockerfile for {image} under stages/ or the repository root")


@pytest.fixture(scope="session")
def stage_images() -> list[str]:
    """The images the specs name, built from this tree where `make images`' script exists (cached
    layers: seconds), else as the daemon holds them (skipped with the reason when one is missing)."""
    if DOCKER_PROBLEM is not None:
        pytest.skip(f"docker executor tests skipped: {DOCKER_PROBLEM}")
    images = sorted({spec.image for spec in load_specs(REPO_ROOT / "specs")})
    for image in images:
        if BUILD_SCRIPT.is_file():
            built = subprocess.run(
                [str(BUILD_SCRIPT), str(_dockerfile_of(image).relative_to(REPO_ROOT)), image],
                cwd=REPO_ROOT,
                env={**os.environ, "BASE_IMAGE": _base_image()},
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            assert built.returncode == 0, f"building {image} failed:\n{built.stdout}\n{built.stderr}"
        try:
            image_facts(image, "(test)")
        except ExecutorUnavailable as exc:
            pytest.skip(f"docker executor tests skipped: {exc}")
    return images


@dataclass(frozen=True)
class SampleRuns:
    local: Path
    docker: Path
    docker_output: str


def _run_sample(state: Path, specs: Path, executor: str) -> Completed:
    for args in (
        ("put", "file", "-r", "raw@master:/", "-f", str(SAMPLE_DIR)),
        ("update", "pipeline", "-f", str(specs)),
    ):
        done = run_runner(state, *args)
        assert done.code == 0, done.err
    done = run_runner(state, "run", "--executor", executor)
    assert done.code == 0, f"run --executor {executor} failed:\n{done.out}\n{done.err}"
    return done


@pytest.fixture(scope="session")
def sample_runs(stage_images: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleRuns]:
    """The bundled sample through ingest, features and train: once locally, once in the images."""
    root = tmp_path_factory.mktemp("executor-sample")
    specs = copy_specs(root / "specs")
    _run_sample(root / "local", specs, "local")
    docker = _run_sample(root / "docker", specs, "docker")
    yield SampleRuns(root / "local", root / "docker", docker.out + docker.err)
    shutil.rmtree(root, ignore_errors=True)
