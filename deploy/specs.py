"""The pipeline specs as pachd receives them: their JSON text, input repos and DAG order.

Nothing here talks to a cluster; :mod:`deploy.cluster` sends what this module reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Keys of an input node that hold a list of child inputs (Pachyderm 2.x, camelCase and snake_case).
_COMBINING_INPUTS = ("cross", "union", "join", "group")


class SpecError(Exception):
    """A spec file cannot be deployed as it is; the message names the file and why."""


@dataclass(frozen=True)
class PipelineSpec:
    """One spec file: the text sent to pachd unchanged, and what deploying it depends on."""

    path: Path
    text: str
    name: str
    input_repos: tuple[str, ...]
    is_service: bool


def _input_repos(node: Any, where: str) -> list[str]:
    """Every ``pfs.repo`` under an input node, in document order."""
    if not isinstance(node, dict):
        raise SpecError(f"{where}: an input must be an object")
    repos: list[str] = []
    if "pfs" in node:
        pfs = node["pfs"]
        repo = pfs.get("repo") if isinstance(pfs, dict) else None
        if not isinstance(repo, str) or not repo:
            raise SpecError(f"{where}.pfs.repo: required")
        repos.append(repo)
    for key in _COMBINING_INPUTS:
        for index, child in enumerate(node.get(key) or []):
            repos.extend(_input_repos(child, f"{where}.{key}[{index}]"))
    return repos


def parse_spec(path: Path, text: str) -> PipelineSpec:
    """Read what deploying needs from one spec's JSON text (pachd does the full validation)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{path}: a pipeline spec must be a JSON object")
    pipeline = document.get("pipeline")
    name = pipeline.get("name") if isinstance(pipeline, dict) else None
    if not isinstance(name, str) or not name:
        raise SpecError(f"{path}: pipeline.name: required")
    if "input" not in document:
        raise SpecError(f"{path}: input: required")
    repos = tuple(dict.fromkeys(_input_repos(document["input"], f"{path}: input")))
    return PipelineSpec(path=path, text=text, name=name, input_repos=repos, is_service="service" in document)


def load_specs(source: Path) -> list[PipelineSpec]:
    """Load one spec file, or every ``*.json`` of a folder (sorted by file name)."""
    files = sorted(source.glob("*.json")) if source.is_dir() else [source]
    if not files:
        raise SpecError(f"{source}: no *.json pipeline specs in this folder")
    specs = [parse_spec(path, path.read_text(encoding="utf-8")) for path in files]
    seen: dict[str, Path] = {}
    for spec in specs:
        if spec.name in seen:
            raise SpecError(f"{spec.path}: pipeline {spec.name!r} is also defined in {seen[spec.name]}")
        seen[spec.name] = spec.path
    return specs


def dag_order(specs: list[PipelineSpec]) -> list[PipelineSpec]:
    """The specs so that every pipeline comes after the pipelines whose output repos it reads.

    pachd refuses a pipeline whose input repo does not exist yet, so this is the order to
    create them in. Ties are broken by pipeline name, so the order is stable.
    """
    by_name = {spec.name: spec for spec in specs}
    ordered: list[PipelineSpec] = []
    placed: set[str] = set()
    visiting: list[str] = []

    def visit(spec: PipelineSpec) -> None:
        if spec.name in placed:
            return
        if spec.name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(spec.name) :], spec.name])
            raise SpecError(f"{spec.path}: the pipelines form a cycle: {cycle}")
        visiting.append(spec.name)
        for repo in sorted(spec.input_repos):
            if repo in by_name:
                visit(by_name[repo])
        visiting.pop()
        placed.add(spec.name)
        ordered.append(spec)

    for spec in sorted(specs, key=lambda s: s.name):
        visit(spec)
    return ordered


def source_repos(specs: list[PipelineSpec]) -> list[str]:
    """Input repos that no pipeline writes: the repos a user fills (here: ``raw``)."""
    outputs = {spec.name for spec in specs}
    repos = {repo for spec in specs for repo in spec.input_repos if repo not in outputs}
    return sorted(repos)
