"""images.txt is the one list of stages and images: what derives from it, and what is checked against it.

The Makefile (REQUIREMENTS, make images, make kind-load) and tools/image_list.py read the file;
the root Dockerfile and requirements-dev.txt cannot, so these tests fail when they disagree, and
say which line to add. A new stage is a line in images.txt plus the lines these tests name.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.deploy import dockerfiles as df
from tools.image_list import IMAGE_LIST, Image, ImageListError, read_images

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = read_images()
IDS = [image.name for image in IMAGES]
VERSION = "0.1.0"  # the Makefile's VERSION, as the specs' tags


def _make(*args: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def _make_variable(name: str) -> list[str]:
    return _make(f"--eval=print-variable: ; @echo $({name})", "print-variable").split()


def test_the_list_names_each_stage_and_the_api() -> None:
    assert [image.name for image in IMAGES][:3] == ["ingest", "features", "train"]
    assert "api" in IDS
    assert len(set(IDS)) == len(IDS), "an image is listed twice"


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_every_listed_image_has_its_build_files(image: Image) -> None:
    for relative in (image.dockerfile, image.requirements, image.lock):
        assert (REPO_ROOT / relative).is_file(), f"images.txt lists {image.name}: {relative} is missing"


def test_every_spec_image_is_listed_and_every_listed_image_is_used_by_a_spec() -> None:
    spec_images = {
        json.loads(p.read_text(encoding="utf-8"))["transform"]["image"]
        for p in (REPO_ROOT / "specs").glob("*.json")
    }
    listed = {image.tag(VERSION) for image in IMAGES}
    assert spec_images == listed, f"specs name {sorted(spec_images)}, images.txt lists {sorted(listed)}"


def test_stage_folders_are_all_listed() -> None:
    """A stages/<name>/ with a Dockerfile that images.txt does not list would never be built."""
    folders = {
        p.parent.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "stages").glob("*/Dockerfile")
    }
    assert folders <= {image.folder for image in IMAGES}, (
        f"add to images.txt: {folders - {i.folder for i in IMAGES}}"
    )


def test_makefile_requirements_derive_from_the_list() -> None:
    derived = _make_variable("REQUIREMENTS")
    assert derived == ["requirements-dev.txt", "requirements-runner.txt", *(i.requirements for i in IMAGES)]
    assert _make_variable("IMAGE_NAMES") == IDS


def test_requirements_dev_includes_every_image_requirements_file() -> None:
    lines = (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    included = [line.split(maxsplit=1)[1] for line in lines if line.startswith("-r ")]
    expected = ["requirements-runner.txt", *(image.requirements for image in IMAGES)]
    missing = [f"-r {path}" for path in expected if path not in included]
    assert not missing, f"requirements-dev.txt lacks {missing} (images.txt lists them)"
    assert included == expected, f"requirements-dev.txt includes {included}; images.txt gives {expected}"


def test_root_dockerfile_copies_every_image_requirements_file_before_make_venv() -> None:
    found = df.instructions(REPO_ROOT / "Dockerfile")
    venv_at = next(n for n, i in enumerate(found) if i.keyword == "RUN" and "make venv" in i.arguments)
    copied = {s for i in found[:venv_at] if i.keyword == "COPY" for s in shlex.split(i.arguments)[:-1]}
    needed = ["Makefile", "images.txt", "requirements-dev.txt", "requirements-runner.txt"]
    needed += [image.requirements for image in IMAGES]
    missing = [path for path in needed if path not in copied]
    assert not missing, "the root Dockerfile must COPY before `make venv`: " + ", ".join(
        f"COPY {path} {path}" for path in missing
    )


def test_make_images_builds_every_listed_image_from_its_dockerfile() -> None:
    plan = re.findall(r"tools/images/build\.sh (\S+) \"?([^\s\";]+)\"?", _make("-n", "images"))
    assert plan[: len(IMAGES)] == [(image.dockerfile, image.tag(VERSION)) for image in IMAGES]
    assert plan[len(IMAGES) :] == [("Dockerfile", f"stockpipe/pipeline:{VERSION}")]


def test_kind_load_loads_every_listed_image() -> None:
    assert f"for name in {' '.join(IDS)}; do" in _make("-n", "kind-load")


def test_a_malformed_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "images.txt"
    bad.write_text("ingest stages/ingest\nfeatures\n", encoding="utf-8")
    with pytest.raises(ImageListError, match=r"images.txt:2: expected `<name> <folder>`"):
        read_images(bad)
    assert IMAGE_LIST.is_file()
