"""The project's images, read from images.txt (the one list of stages and images).

mk/images.mk reads the same file with awk; this module is what Python code and tests import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGE_LIST = REPO_ROOT / "images.txt"
#: Repository of every image: stockpipe/<name>:<version>.
IMAGE_REPOSITORY = "stockpipe"


class ImageListError(ValueError):
    """images.txt has a line that is not `<name> <folder>`."""


@dataclass(frozen=True)
class Image:
    """One image: its name and the folder (relative to the repository) of its build files."""

    name: str
    folder: str

    @property
    def dockerfile(self) -> str:
        return f"{self.folder}/Dockerfile"

    @property
    def requirements(self) -> str:
        return f"{self.folder}/requirements.txt"

    @property
    def lock(self) -> str:
        return f"{self.folder}/requirements.lock"

    @property
    def is_stage(self) -> bool:
        return self.folder.startswith("stages/")

    def tag(self, version: str) -> str:
        return f"{IMAGE_REPOSITORY}/{self.name}:{version}"


def read_images(path: Path = IMAGE_LIST) -> list[Image]:
    """The images in file order; raises ImageListError naming the line that is malformed."""
    images: list[Image] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise ImageListError(f"{path}:{number}: expected `<name> <folder>`, got {line.strip()!r}")
        images.append(Image(name=words[0], folder=words[1].rstrip("/")))
    return images
