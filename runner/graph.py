"""The DAG of a set of specs as Mermaid ``flowchart`` text (no code fence around it).

Input repos that no pipeline writes are cylinders, pipelines (and so their output repos) are
boxes, service pipelines hexagons; each edge carries the input's glob, and its name when the
name differs from the repo's. Inputs under a ``cross`` or ``union`` say so on their edge.
"""

from __future__ import annotations

from runner.spec import Input, Spec


def _edges(node: Input, operator: str | None = None) -> list[tuple[str, str]]:
    """(repo, label) of every pfs input below ``node``."""
    if node.pfs is not None:
        p = node.pfs
        label = p.glob if p.name == p.repo else f"{p.glob} as {p.name}"
        if p.branch != "master":
            label += f" @{p.branch}"
        return [(p.repo, f"{operator}: {label}" if operator else label)]
    return [edge for child in node.children for edge in _edges(child, node.operator)]


def _node_id(name: str) -> str:
    return "n_" + name.replace("-", "_")


def mermaid(specs: list[Spec]) -> str:
    """Mermaid ``flowchart TD`` text of the pipelines in ``specs``."""
    pipelines = {s.name for s in specs}
    lines = ["flowchart TD"]
    repos = sorted({repo for s in specs for repo in s.input_repos} - pipelines)
    lines += [f"    {_node_id(r)}[({r})]" for r in repos]
    for s in sorted(specs, key=lambda s: s.name):
        if s.is_service:
            port = (s.service or {}).get("externalPort") or (s.service or {}).get("internalPort")
            lines.append(f'    {_node_id(s.name)}{{{{"{s.name} (service :{port})"}}}}')
        else:
            lines.append(f"    {_node_id(s.name)}[[{s.name}]]")
    for s in sorted(specs, key=lambda s: s.name):
        for repo, label in _edges(s.input) if s.input else []:
            lines.append(f'    {_node_id(repo)} -->|"{label}"| {_node_id(s.name)}')
    return "\n".join(lines) + "\n"
