"""Locked image requirements: each image's requirements.txt compiled to requirements.lock.

    python -m tools.locks compile    (make lock) recompile every lock with uv: exact versions, hashes
    python -m tools.locks check      exit 1, one line per stale lock, when a lock disagrees with its file

A lock's first line records the SHA-256 of the requirements.txt it was compiled from, so a stale
lock is found by content (git checkouts reset modification times). The images install from the
lock with `pip install --require-hashes`; the lock targets the images' platform (Linux, Python 3.11),
whatever machine compiles it.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools.image_list import REPO_ROOT, Image, read_images

log = logging.getLogger(__name__)

#: The images' interpreter and platform (python:3.11-slim-bookworm on amd64).
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-unknown-linux-gnu"
HEADER = re.compile(r"^# requirements-sha256: ([0-9a-f]{64}) \((?P<source>[^)]+)\)$")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
REQUIREMENT_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


class LockError(RuntimeError):
    """A lock could not be compiled (uv missing or failed)."""


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_digest(requirements: Path) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def requirement_names(requirements: Path) -> set[str]:
    """Names the requirements file asks for (comments and options skipped)."""
    names = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = REQUIREMENT_NAME.match(line)
        if match and not line.startswith("-"):
            names.add(canonical(match.group(1)))
    return names


def pinned_versions(lock: Path) -> dict[str, str]:
    """Distribution -> exact version of every `name==version` line of the lock."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


@dataclass(frozen=True)
class LockProblem:
    image: str
    message: str

    def __str__(self) -> str:
        return f"{self.image}: {self.message}; run `make lock`"


def check_lock(image: Image, root: Path = REPO_ROOT) -> list[LockProblem]:
    """Why the image's lock does not match its requirements file (empty when it does)."""
    requirements, lock = root / image.requirements, root / image.lock
    if not lock.is_file():
        return [LockProblem(image.name, f"{image.lock} is missing")]
    first = lock.read_text(encoding="utf-8").partition("\n")[0]
    header = HEADER.match(first)
    problems = []
    if header is None:
        problems.append(LockProblem(image.name, f"{image.lock} has no `# requirements-sha256:` header"))
    elif header.group(1) != requirements_digest(requirements):
        problems.append(
            LockProblem(image.name, f"{image.lock} was compiled from another {image.requirements}")
        )
    unpinned = sorted(requirement_names(requirements) - set(pinned_versions(lock)))
    if unpinned:
        problems.append(LockProblem(image.name, f"{image.lock} pins no version of {', '.join(unpinned)}"))
    if "--hash=sha256:" not in lock.read_text(encoding="utf-8"):
        problems.append(LockProblem(image.name, f"{image.lock} has no hashes"))
    return problems


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise LockError("uv is not installed: make venv (requirements-dev.txt lists it)")
    return found


def compile_lock(image: Image, root: Path = REPO_ROOT) -> Path:
    """Compile the image's requirements.txt into its requirements.lock (written atomically)."""
    requirements, lock = root / image.requirements, root / image.lock
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "requirements.lock"
        command = [
            _uv(),
            "pip",
            "compile",
            "--quiet",
            "--no-config",
            "--no-header",
            "--generate-hashes",
            "--python-version",
            PYTHON_VERSION,
            "--python-platform",
            PYTHON_PLATFORM,
            "--output-file",
            str(output),
            str(requirements),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root)
        if result.returncode != 0:
            raise LockError(f"{image.requirements}: uv pip compile failed: {result.stderr.strip()}")
        body = output.read_text(encoding="utf-8")
    header = (
        f"# requirements-sha256: {requirements_digest(requirements)} ({image.requirements})\n"
        f"# Compiled by `make lock` (python -m tools.locks compile) for Python {PYTHON_VERSION} on Linux;"
        " do not edit.\n"
    )
    partial = lock.with_name(lock.name + ".partial")
    partial.write_text(header + body, encoding="utf-8")
    partial.replace(lock)
    return lock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.locks", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("compile", "check"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    images = read_images()
    if args.action == "check":
        problems = [problem for image in images for problem in check_lock(image)]
        for problem in problems:
            log.error("%s", problem)
        log.info("%d of %d locks up to date", len(images) - len({p.image for p in problems}), len(images))
        return 1 if problems else 0
    try:
        for image in images:
            lock = compile_lock(image)
            log.info("%s: %d packages pinned", lock.relative_to(REPO_ROOT), len(pinned_versions(lock)))
    except LockError as error:
        log.error("make lock: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
