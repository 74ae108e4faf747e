"""What a program module needs at run time: its first-party files and its third-party distributions.

Found by reading the source (ast), not by importing it: every `import` and `from ... import`,
also inside functions (lazy imports run too), followed through first-party modules.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from pathlib import Path

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def module_file(root: Path, module: str) -> Path | None:
    """The source file of a first-party module (`pkg.mod` -> pkg/mod.py or pkg/mod/__init__.py)."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, module: str) -> set[str]:
    """Absolute names of every module the file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.add(target)
            # `from pkg import sub` may name a submodule
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def import_closure(root: Path, entry_module: str) -> tuple[set[Path], set[str]]:
    """(first-party files, third-party top-level module names) that ``python -m entry`` imports.

    First-party means the top-level name is a package or module at the repository root. Parent
    packages' ``__init__.py`` count as needed, as Python imports them first.
    """
    files: set[Path] = set()
    third_party: set[str] = set()
    pending = [entry_module]
    entry = module_file(root, entry_module)
    if entry is not None and entry.name == "__init__.py":
        pending.append(f"{entry_module}.__main__")  # python -m <package> runs <package>.__main__
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or not name:
            continue
        seen.add(name)
        top = name.split(".")[0]
        if module_file(root, top) is None:
            if top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            parent = ".".join(parts[:depth])
            path = module_file(root, parent)
            if path is not None and path not in files:
                files.add(path)
                pending.extend(_imported_names(path, parent))
    return files, third_party


def requirement_names(requirements: Path) -> set[str]:
    """Distribution names of a requirements file (following `-r` includes), normalised."""
    names: set[str] = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement")):
            names |= requirement_names(requirements.parent / line.split(maxsplit=1)[1])
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match:
            names.add(normalise(match.group(1)))
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_closure(distributions: set[str]) -> set[str]:
    """The distributions plus everything they require (unconditional requirements), as installed."""
    closure: set[str] = set()
    pending = list(distributions)
    while pending:
        name = normalise(pending.pop())
        if name in closure:
            continue
        closure.add(name)
        for requirement in _requires(name):
            if "extra ==" in requirement:
                continue
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                pending.append(match.group(1))
    return closure


def distributions_of(top_level_module: str) -> set[str]:
    """The installed distributions that provide a top-level module (e.g. sklearn -> scikit-learn)."""
    return {normalise(d) for d in _packages_distributions().get(top_level_module, [])}


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def _requires(name: str) -> tuple[str, ...]:
    try:
        return tuple(importlib.metadata.requires(name) or ())
    except importlib.metadata.PackageNotFoundError:
        return ()
