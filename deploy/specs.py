"""The pipeline specs as pachd receives them: their JSON text, input repos and DAG order.

Nothing here talks to a cluster; :mod:`deploy.cluster` sends what this module reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner import spec as runner_spec


class SpecError(Exception):
    """A spec file cannot be deployed as it is; the message names the file and field, one line each."""


@dataclass(frozen=True)
class PipelineSpec:
    """One spec file: the text sent to pachd unchanged, and what deploying it depends on."""

    path: Path
    text: str
    name: str
    input_repos: tuple[str, ...]
    is_service: bool


def load_specs(source: Path) -> list[PipelineSpec]:
    """Load one spec file, or every ``*.json`` of a folder, validated as strictly as the local runner does.

    The runner's validator (``runner.spec``) is the one both paths share: a spec that the local
    runner refuses is never sent to a cluster either.
    """
    try:
        validated = runner_spec.load_specs(source)
    except runner_spec.SpecError as exc:
        raise SpecError("\n".join(exc.problems)) from exc
    return [
        PipelineSpec(
            path=Path(spec.path),
            text=Path(spec.path).read_text(encoding="utf-8"),
            name=spec.name,
            input_repos=tuple(spec.input_repos),
            is_service=spec.is_service,
        )
        for spec in validated
    ]


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
