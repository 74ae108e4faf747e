"""What the local runner does with the spec fields that change what a datum sees or writes.

Every such field is either honoured or refused at ``create/update pipeline`` with a message;
none is silently ignored (Pachyderm's behaviour for each: docs/conformance.md).

- honoured: ``transform.workingDir``, ``transform.errCmd``/``errStdin``, ``outputBranch``,
  a pfs input's ``emptyFiles`` (and ``lazy``, which only changes when bytes are read);
- refused: a pfs input's ``s3`` and ``s3Out`` (both go through Pachyderm's S3 gateway, which a
  local run has no counterpart of);
- noted: ``egress`` changes nothing a datum sees or writes; the copy to the external store is
  not made locally, and create/update and run say so.

``LocalOptions.of(spec)`` reads the honoured fields from the spec as read (``Spec.raw``, keys in
camelCase), so the spec parser needs no field of its own for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runner.spec import Spec, SpecError

#: Pachyderm's default project (src/pfs/pfs.go DefaultProjectName), for PPS_PROJECT_NAME.
DEFAULT_PROJECT = "default"
#: Fields the runner acts on that the spec parser lists as cluster-only (``Spec.ignored``).
HONOURED = frozenset({"transform.workingDir", "transform.errCmd", "transform.errStdin", "egress", "s3Out"})


@dataclass(frozen=True)
class LocalOptions:
    """The honoured fields of one spec, as the worker and the job use them."""

    project: str
    err_cmd: tuple[str, ...]
    err_stdin: tuple[str, ...]
    #: ``transform.workingDir``; "" = where the runner was started
    working_dir: str
    output_branch: str
    #: names of the pfs inputs with ``emptyFiles``: their files are staged empty
    empty_files: frozenset[str]

    @classmethod
    def of(cls, spec: Spec) -> LocalOptions:
        raw = spec.raw
        transform = raw.get("transform") or {}
        project = ((raw.get("pipeline") or {}).get("project") or {}).get("name") or DEFAULT_PROJECT
        empty = frozenset(
            pfs.get("name") or pfs.get("repo", "") for _where, pfs in _pfs_nodes(raw.get("input"), "input")
            if pfs.get("emptyFiles")
        )  # fmt: skip
        return cls(
            project=project,
            err_cmd=tuple(transform.get("errCmd") or ()),
            err_stdin=tuple(transform.get("errStdin") or ()),
            working_dir=transform.get("workingDir") or "",
            output_branch=raw.get("outputBranch") or "master",
            empty_files=empty,
        )


def _pfs_nodes(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field path, pfs object) of every pfs input below ``node`` of a spec as read."""
    if not isinstance(node, dict):
        return
    for op, value in node.items():
        if op == "pfs" and isinstance(value, dict):
            yield f"{where}.pfs", value
        elif isinstance(value, list):
            for i, child in enumerate(value):
                yield from _pfs_nodes(child, f"{where}.{op}[{i}]")


def refusals(spec: Spec) -> list[str]:
    """``<file>: <field>: <why>`` for every field of ``spec`` the local runner cannot honour."""
    problems = []
    for where, pfs in _pfs_nodes(spec.raw.get("input"), "input"):
        if pfs.get("s3"):
            problems.append(
                f"{spec.path}: {where}.s3: an s3 input is served by Pachyderm's S3 gateway, which a "
                "local run does not have; use a pfs input (files under /pfs/<name>) to run it here"
            )
    if spec.raw.get("s3Out"):
        problems.append(
            f"{spec.path}: s3Out: the output is written through Pachyderm's S3 gateway, which a "
            "local run does not have; write to /pfs/out to run it here"
        )
    return problems


def check_supported(specs: list[Spec]) -> None:
    """Raise ``SpecError`` listing every field of ``specs`` the local runner would have to ignore."""
    problems = [p for spec in specs for p in refusals(spec)]
    if problems:
        raise SpecError(problems)


def notes(spec: Spec) -> list[str]:
    """Lines about fields taken but not acted on locally, printed by create/update and run."""
    egress = spec.raw.get("egress")
    if not egress:
        return []
    target = egress.get("URL") or egress.get("url") or ", ".join(sorted(egress)) or "its target"
    return [
        f"{spec.name}: egress to {target} is not made by the local runner; "
        f"the output stays in {spec.name}@{LocalOptions.of(spec).output_branch}"
    ]
