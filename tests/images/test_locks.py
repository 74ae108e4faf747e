"""Every image installs exact, hashed versions: its requirements.lock matches its requirements.txt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy import dockerfiles as df
from tools.image_list import Image, read_images
from tools.locks import check_lock, pinned_versions, requirement_names

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = read_images()
IDS = [image.name for image in IMAGES]


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_lock_is_compiled_from_the_current_requirements(image: Image) -> None:
    problems = check_lock(image)
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_lock_pins_every_requirement_exactly_with_hashes(image: Image) -> None:
    lock = REPO_ROOT / image.lock
    pins = pinned_versions(lock)
    assert requirement_names(REPO_ROOT / image.requirements) <= set(pins)
    lines = lock.read_text(encoding="utf-8").splitlines()
    pin_lines = [n for n, line in enumerate(lines) if "==" in line and not line.startswith((" ", "#"))]
    assert len(pin_lines) == len(pins)
    unhashed = [lines[n] for n in pin_lines if not lines[n + 1].strip().startswith("--hash=sha256:")]
    assert not unhashed, f"{image.lock}: pins without a hash: {unhashed}"


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_image_installs_from_its_lock_with_require_hashes(image: Image) -> None:
    dockerfile = REPO_ROOT / image.dockerfile
    copied = [s for c in df.copies(dockerfile) for s in c.sources if s.endswith((".txt", ".lock"))]
    assert copied == [image.lock], f"{image.dockerfile} copies {copied}, not its lock"
    runs = " ".join(i.arguments for i in df.instructions(dockerfile) if i.keyword == "RUN")
    assert "pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock" in runs


def _copy_image_files(image: Image, root: Path) -> None:
    for relative in (image.requirements, image.lock):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, root / relative)


def test_an_edited_requirements_file_makes_its_lock_stale(tmp_path: Path) -> None:
    """Found by content, not modification time (git checkouts reset mtimes)."""
    image = IMAGES[0]
    _copy_image_files(image, tmp_path)
    assert check_lock(image, tmp_path) == []
    requirements = tmp_path / image.requirements
    requirements.write_text(requirements.read_text(encoding="utf-8") + "requests>=2.0\n", encoding="utf-8")
    messages = [str(p) for p in check_lock(image, tmp_path)]
    assert (
        f"{image.name}: {image.lock} was compiled from another {image.requirements}; run `make lock`"
        in messages
    )
    assert any("pins no version of requests" in m for m in messages)


def test_a_lock_without_header_or_hashes_is_refused(tmp_path: Path) -> None:
    image = IMAGES[0]
    _copy_image_files(image, tmp_path)
    lock = tmp_path / image.lock
    lock.write_text("numpy==2.4.6\npyarrow==26.0.1\n", encoding="utf-8")
    messages = " ".join(str(p) for p in check_lock(image, tmp_path))
    assert "has no `# requirements-sha256:` header" in messages and "has no hashes" in messages
    lock.unlink()
    assert [str(p) for p in check_lock(image, tmp_path)] == [
        f"{image.name}: {image.lock} is missing; run `make lock`"
    ]
