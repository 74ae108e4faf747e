"""Whether an image holds what a module imports (the images themselves: tools/image_list.py)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tests.deploy import dockerfiles as df
from tests.deploy.imports import (
    distributions_of,
    import_closure,
    installed_closure,
    requirement_names,
)


def image_requirements(dockerfile: Path, repo_root: Path) -> set[str]:
    """Distributions pip installs in the image: its requirements files and what they require."""
    copied = [s for c in df.copies(dockerfile) for s in c.sources if s.endswith((".txt", ".lock"))]
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
