"""Read the repository's Dockerfiles the way `docker build` does, for the scale-out tests.

Small on purpose: instructions with line continuations, what COPY puts where in the image
(for a build context at the repository root), and .dockerignore matching (Go filepath.Match
patterns with `**` and `!` exceptions, last match wins, as in Docker's moby/patternmatcher).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: Folders that are never part of a build context worth scanning for Dockerfiles.
SKIPPED_DIRS = {".git", ".venv", ".pfs", "build", "node_modules", "__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def find_dockerfiles(root: Path) -> list[Path]:
    """Every `Dockerfile` and `*.Dockerfile` of the repository, outside local state folders."""
    found = []
    for path in root.rglob("*"):
        if any(part in SKIPPED_DIRS for part in path.relative_to(root).parts):
            continue
        if path.is_file() and (path.name == "Dockerfile" or path.name.endswith(".Dockerfile")):
            found.append(path)
    return sorted(found)


def instructions(dockerfile: Path) -> list[Instruction]:
    """The instructions in order, continuation lines joined, comments dropped."""
    result: list[Instruction] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
    return result


def _words(arguments: str) -> list[str]:
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: str  # absolute path in the image
    flags: tuple[str, ...]


def copies(dockerfile: Path) -> list[Copy]:
    """Every COPY/ADD from the build context, destinations resolved against WORKDIR."""
    workdir = PurePosixPath("/")
    found: list[Copy] = []
    for instruction in instructions(dockerfile):
        if instruction.keyword == "WORKDIR":
            workdir = workdir / instruction.arguments
        elif instruction.keyword in ("COPY", "ADD"):
            words = _words(instruction.arguments)
            flags = tuple(w for w in words if w.startswith("--"))
            paths = [w for w in words if not w.startswith("--")]
            if any(flag.startswith("--from") for flag in flags):
                continue
            *sources, destination = paths
            target = str(workdir / destination) + ("/" if destination.endswith("/") else "")
            if destination in (".", "./"):
                target = str(workdir) + "/"
            found.append(Copy(tuple(sources), target, flags))
    return found


def image_files(dockerfile: Path, context: Path) -> dict[str, str]:
    """Image path -> repo-relative path of every context file the Dockerfile copies in."""
    ignore = effective_dockerignore(dockerfile, context)
    placed: dict[str, str] = {}
    for copy in copies(dockerfile):
        for source_path in (path for source in copy.sources for path in expand_source(context, source)):
            if source_path.is_dir():
                files = _walk(source_path, context, ignore)
                for file in files:
                    relative = file.relative_to(context).as_posix()
                    if ignore.excludes(relative):
                        continue
                    inside = file.relative_to(source_path).as_posix()
                    placed[str(PurePosixPath(copy.destination.rstrip("/") or "/") / inside)] = relative
            elif source_path.is_file():
                relative = source_path.relative_to(context).as_posix()
                if ignore.excludes(relative):
                    continue
                if copy.destination.endswith("/"):
                    placed[str(PurePosixPath(copy.destination) / source_path.name)] = relative
                else:
                    placed[copy.destination] = relative
    return placed


def expand_source(context: Path, source: str) -> list[Path]:
    """The context paths a COPY source names: itself, or the matches of its wildcards."""
    if source in (".", "./"):
        return [context]
    if any(char in source for char in "*?["):
        return sorted(context.glob(source))
    return [context / source]


def _walk(folder: Path, context: Path, ignore: DockerIgnore) -> list[Path]:
    """Files under ``folder``, not descending into folders the ignore file excludes for good."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        base = Path(root)
        dirs[:] = [d for d in dirs if not ignore.prunable((base / d).relative_to(context).as_posix())]
        found.extend(base / name for name in names if (base / name).is_file())
    return found


def env_values(dockerfile: Path) -> dict[str, str]:
    """The ENV variables the image sets (KEY=VALUE form)."""
    values: dict[str, str] = {}
    for instruction in instructions(dockerfile):
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.arguments):
                key, sep, value = word.partition("=")
                if sep:
                    values[key] = value
    return values


def workdir(dockerfile: Path) -> str:
    current = PurePosixPath("/")
    for instruction in instructions(dockerfile):
        if instruction.keyword == "WORKDIR":
            current = current / instruction.arguments
    return str(current)


# --- .dockerignore ---------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go filepath.Match plus `**` (any number of path segments), anchored at the context root."""
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + "$")


@dataclass(frozen=True)
class DockerIgnore:
    path: Path | None
    rules: tuple[tuple[bool, re.Pattern[str]], ...]  # (is_exception, pattern)
    exception_patterns: tuple[str, ...] = ()

    def prunable(self, relative_dir: str) -> bool:
        """True if the folder is excluded and no `!` exception can bring back anything under it."""
        if not self.excludes(relative_dir):
            return False
        return not any(
            "*" in pattern or pattern.startswith(relative_dir + "/") for pattern in self.exception_patterns
        )

    def excludes(self, relative: str) -> bool:
        """True if the context path (or a folder above it) is excluded; the last matching rule wins."""
        parts = PurePosixPath(relative).parts
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for is_exception, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not is_exception
        return excluded


def parse_dockerignore(path: Path | None) -> DockerIgnore:
    rules: list[tuple[bool, re.Pattern[str]]] = []
    exceptions: list[str] = []
    if path is not None and path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            is_exception = line.startswith("!")
            pattern = line[1:].strip() if is_exception else line
            pattern = str(PurePosixPath(pattern.strip("/"))) if pattern.strip("/") else "."
            rules.append((is_exception, _pattern_regex(pattern)))
            if is_exception:
                exceptions.append(pattern)
    return DockerIgnore(path, tuple(rules), tuple(exceptions))


def effective_dockerignore(dockerfile: Path, context: Path) -> DockerIgnore:
    """BuildKit's choice: `<Dockerfile>.dockerignore` beside the Dockerfile, else the context's."""
    beside = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if beside.is_file():
        return parse_dockerignore(beside)
    return parse_dockerignore(context / ".dockerignore")
