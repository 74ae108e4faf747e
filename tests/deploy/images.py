"""The images `make images` builds, and whether an image holds what a module imports."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path, PurePosixPath

from tests.deploy import dockerfiles as df
from tests.deploy.imports import (
    distributions_of,
    import_closure,
    installed_closure,
    requirement_names,
)

_DOCKER_BUILD = re.compile(r"^docker build .*$", re.MULTILINE)


def make_images_plan(repo_root: Path, version: str | None = None) -> dict[str, Path]:
    """Image tag -> Dockerfile, from the commands `make -n images` would run."""
    command = ["make", "--no-print-directory", "-n", "images"]
    if version is not None:
        command.append(f"VERSION={version}")
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, check=True)
    plan: dict[str, Path] = {}
    for line in _DOCKER_BUILD.findall(result.stdout):
        words = shlex.split(line)
        tag = words[words.index("-t") + 1]
        dockerfile = words[words.index("-f") + 1]
        assert words[-1] == ".", f"build context is not the repository root: {line}"
        plan[tag] = repo_root / dockerfile
    return plan


def image_requirements(dockerfile: Path, repo_root: Path) -> set[str]:
    """Distributions pip installs in the image: its requirements files and what they require."""
    copied = [s for c in df.copies(dockerfile) for s in c.sources if s.endswith(".txt")]
    names: set[str] = set()
    for source in copied:
        names |= requirement_names(repo_root / source)
    return installed_closure(names)


def missing_for_module(dockerfile: Path, module: str, repo_root: Path) -> list[str]:
    """What ``python3 -m <module>`` would miss in the image: files not copied, packages not installed."""
    files, third_party = import_closure(repo_root, module)
    if not files:  # a third-party entry point, such as gunicorn
        providers = distributions_of(module.split(".")[0])
        if providers & image_requirements(dockerfile, repo_root):
            return []
        return [f"{module}: neither in the repository nor installed by the image's requirements"]
    placed = df.image_files(dockerfile, repo_root)
    env = df.env_values(dockerfile)
    search_roots = [df.workdir(dockerfile), *filter(None, env.get("PYTHONPATH", "").split(":"))]
    problems: list[str] = []
    for file in sorted(files):
        relative = file.relative_to(repo_root).as_posix()
        if not any(str(PurePosixPath(root) / relative) in placed for root in search_roots):
            problems.append(f"{relative} is not copied to {search_roots[0]}/{relative}")
    installed = image_requirements(dockerfile, repo_root)
    for top in sorted(third_party):
        providers = distributions_of(top)
        if not providers:
            problems.append(f"import {top}: not installed in the dev venv either, cannot tell its package")
        elif not providers & installed:
            problems.append(
                f"import {top}: its package ({', '.join(sorted(providers))}) is not in the image requirements"
            )
    return problems
