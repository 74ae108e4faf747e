"""Datums: which files each run of a pipeline's code sees, from globs, cross, union, join, group.

A pfs input's glob (runner/glob.py, Pachyderm's matcher) is matched against every file and
folder of the input commit; each match is one datum of that input: the file, or the folder with
every file below it. ``/`` is one datum holding the whole commit. Over those, as Pachyderm's
worker combines them (src/server/worker/datum/create.go, worker.go ``processKeyTask`` /
``processMergeTask``):

- ``cross`` forms every combination of its children's datums; ``union`` lists them all;
- ``join`` keys every input by its ``joinOn`` (the glob's capture groups expanded into the
  template, ``$1$2``) and, for each key, crosses the inputs of each child holding it. A key held
  by every child gives those combinations; a key some child lacks gives only the inputs marked
  ``outerJoin`` (nothing if none is): a file with no partner and no ``outerJoin`` yields no datum;
- ``group`` keys every input by its ``groupBy`` and gives one datum per key holding all of them
  (children in spec order, each child's inputs in path order); a child with no file for a key adds
  nothing to that key's datum;
- ``cron`` is the pfs input ``<pipeline>_<name>@master`` with glob ``/*`` (create.go
  ``createCron``; the repo name is set in src/server/pps/server/api_server.go): one datum per tick
  file. ``cron_tick_files`` builds the file set of a tick commit.

Pachyderm lists the datums of a job in the order of their hashed ids, so no order is part of its
contract; here pfs datums come in path order, join and group datums in the order of their keys.
``lazy`` changes how a datum's files are fetched on a cluster, not which files it holds.

A datum's id depends only on its input names and matched paths (it stays the same when a
file's content changes); its hash also covers the content of every file and the spec, and is
what the runner compares to skip a datum that already succeeded.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runner.glob import Glob, GlobError, compile_glob, match_paths
from runner.objects import Blob
from runner.spec import Input, Spec
from runner.state import Manifest

#: The glob Pachyderm gives a cron input (create.go ``createCron``): one datum per tick file.
CRON_GLOB = "/*"


class UnsupportedInput(ValueError):
    """An input whose datums cannot be listed: a glob that does not compile, a cron input
    before its first tick. The message names the input."""


#: (path, hash, size) of one input file.
FileRef = tuple[str, str, int]


@dataclass(frozen=True)
class PfsSource:
    """A pfs input with what decides its datums (``joinOn``, ``groupBy``, ``outerJoin``)."""

    name: str
    repo: str
    glob: str
    branch: str = "master"
    join_on: str = ""
    group_by: str = ""
    outer_join: bool = False


@dataclass(frozen=True)
class CronSource:
    """A cron input: its tick repo (``<pipeline>_<name>`` unless the spec names one)."""

    name: str
    repo: str
    schedule: str
    overwrite: bool = False


@dataclass(frozen=True)
class InputNode:
    """One node of a pipeline's input: a pfs or cron source, or an operator over children."""

    pfs: PfsSource | None = None
    cron: CronSource | None = None
    operator: str = ""
    children: tuple[InputNode, ...] = ()

    def sources(self) -> list[PfsSource | CronSource]:
        """Every pfs and cron source below this node, depth first."""
        if self.pfs is not None:
            return [self.pfs]
        if self.cron is not None:
            return [self.cron]
        return [s for child in self.children for s in child.sources()]


def cron_repo(pipeline: str, input_name: str) -> str:
    """The repo pachd creates for a cron input (api_server.go: ``<pipeline>_<input name>``)."""
    return f"{pipeline}_{input_name}"


def _node(spec: Spec, node: Input, raw: Any) -> InputNode:
    raw = raw if isinstance(raw, dict) else {}
    if node.pfs is not None:
        opts = raw.get("pfs") or {}
        return InputNode(
            pfs=PfsSource(
                name=node.pfs.name,
                repo=node.pfs.repo,
                glob=node.pfs.glob,
                branch=node.pfs.branch,
                join_on=opts.get("joinOn") or "",
                group_by=opts.get("groupBy") or "",
                outer_join=bool(opts.get("outerJoin")),
            )
        )
    if node.operator == "cron":
        cron = raw.get("cron") or {}
        name = cron.get("name") or "cron"
        return InputNode(
            cron=CronSource(
                name=name,
                repo=cron.get("repo") or cron_repo(spec.name, name),
                schedule=cron.get("spec") or "",
                overwrite=bool(cron.get("overwrite")),
            )
        )
    op = node.operator or ""
    raw_children = raw.get(op) if isinstance(raw.get(op), list) else []
    padded = list(raw_children) + [None] * (len(node.children) - len(raw_children))
    return InputNode(
        operator=op, children=tuple(_node(spec, c, r) for c, r in zip(node.children, padded, strict=False))
    )


def input_tree(spec: Spec) -> InputNode | None:
    """The input of ``spec`` with the join, group and cron fields the datums depend on.

    The structure comes from ``spec.input``; ``joinOn``, ``groupBy``, ``outerJoin`` and
    the cron fields from the validated document ``spec.raw`` (runner/spec.py keeps only the pfs
    fields in its records).
    """
    if spec.input is None:
        return None
    return _node(spec, spec.input, spec.raw.get("input"))


@dataclass(frozen=True)
class DatumInput:
    """The part of a datum coming from one pfs input, with its join and group keys."""

    name: str
    repo: str
    commit: str
    matched: str
    files: tuple[FileRef, ...]
    join_on: str = ""
    group_by: str = ""
    outer_join: bool = False


@dataclass(frozen=True)
class Datum:
    id: str
    hash: str
    inputs: tuple[DatumInput, ...]

    def describe(self) -> str:
        """``prices:/stocks/A.csv, meta:/symbols_valid_meta.csv``"""
        return ", ".join(f"{i.name}:{i.matched}" for i in self.inputs)


def match_glob(glob: str, paths: list[str]) -> dict[str, list[str]]:
    """Matched path → the files it holds, for every match of ``glob`` among file ``paths``."""
    return match_paths(compile_glob(glob), paths)


Combo = tuple[DatumInput, ...]


def _source_datums(pfs: PfsSource, glob: Glob, commit: str, manifest: Manifest) -> list[Combo]:
    """One datum per match; ``joinOn``/``groupBy`` expanded from the match's capture groups
    (worker.go ``processPFSTask``: the glob compiled from the cleaned pattern, the path without
    its trailing ``/``)."""
    out = []
    for matched, files in match_paths(glob, list(manifest)).items():
        out.append(
            (
                DatumInput(
                    name=pfs.name,
                    repo=pfs.repo,
                    commit=commit,
                    matched=matched,
                    files=tuple((p, manifest[p][0], manifest[p][1]) for p in files),
                    join_on=glob.replace(matched, pfs.join_on),
                    group_by=glob.replace(matched, pfs.group_by),
                    outer_join=pfs.outer_join,
                ),
            )
        )
    return out


def _keyed(
    parts: list[list[Combo]], key_of: Callable[[DatumInput], str]
) -> dict[str, list[list[DatumInput]]]:
    """key → per child, the inputs holding that key (each input of a datum keyed on its own, as
    ``processKeyTask`` does)."""
    by_key: dict[str, list[list[DatumInput]]] = {}
    for index, part in enumerate(parts):
        for combo in part:
            for item in combo:
                by_key.setdefault(key_of(item), [[] for _ in parts])[index].append(item)
    return by_key


def _join_key(item: DatumInput) -> str:
    return item.join_on


def _group_key(item: DatumInput) -> str:
    return item.group_by


def _join(parts: list[list[Combo]]) -> list[Combo]:
    out: list[Combo] = []
    for _key, per_child in sorted(_keyed(parts, _join_key).items()):
        present = [items for items in per_child if items]
        for combo in itertools.product(*present):
            if len(present) == len(parts):
                out.append(combo)
            else:
                outer = tuple(i for i in combo if i.outer_join)
                if outer:
                    out.append(outer)
    return out


def _group(parts: list[list[Combo]]) -> list[Combo]:
    return [
        tuple(itertools.chain.from_iterable(per_child))
        for _key, per_child in sorted(_keyed(parts, _group_key).items())
    ]


def _pfs_datums(pfs: PfsSource, commits: dict[str, str], manifests: dict[str, Manifest]) -> list[Combo]:
    try:
        glob = compile_glob(pfs.glob)
    except GlobError as exc:  # pachd accepts the spec; the job fails when the glob is compiled
        raise UnsupportedInput(f"input {pfs.name!r}: {exc}") from exc
    return _source_datums(pfs, glob, commits[pfs.repo], manifests[pfs.repo])


def _cron_datums(cron: CronSource, commits: dict[str, str], manifests: dict[str, Manifest]) -> list[Combo]:
    if cron.repo not in commits:
        raise UnsupportedInput(
            f"cron input {cron.name!r}: its repo {cron.repo!r} has no tick commit yet "
            "(`runner run` makes one tick per run; `runner up` ticks on schedule)"
        )
    return _pfs_datums(PfsSource(name=cron.name, repo=cron.repo, glob=CRON_GLOB), commits, manifests)


def _expand(node: InputNode, commits: dict[str, str], manifests: dict[str, Manifest]) -> list[Combo]:
    if node.pfs is not None:
        return _pfs_datums(node.pfs, commits, manifests)
    if node.cron is not None:
        return _cron_datums(node.cron, commits, manifests)
    parts = [_expand(child, commits, manifests) for child in node.children]
    if node.operator == "cross":
        return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts)]
    if node.operator == "union":
        return [d for part in parts for d in part]
    if node.operator == "join":
        return _join(parts)
    if node.operator == "group":
        return _group(parts)
    raise UnsupportedInput(
        f"input operator {node.operator!r} is not one of pfs, cross, union, join, group, cron"
    )


def datum_id(inputs: tuple[DatumInput, ...]) -> str:
    key = "\0".join(f"{i.name}\0{i.matched}" for i in inputs)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def datum_hash(spec_hash: str, inputs: tuple[DatumInput, ...]) -> str:
    h = hashlib.sha256(spec_hash.encode())
    for i in inputs:
        h.update(f"\0{i.name}\0{i.matched}".encode())
        for path, digest, _size in i.files:
            h.update(f"\0{path}\0{digest}".encode())
    return h.hexdigest()[:32]


def compute_datums(
    tree: InputNode | None, commits: dict[str, str], manifests: dict[str, Manifest], spec_hash: str
) -> list[Datum]:
    """Every datum of ``tree`` (see ``input_tree``) for the input commits (repo → commit id,
    repo → manifest)."""
    if tree is None:
        return []
    datums = []
    seen: set[str] = set()
    for inputs in _expand(tree, commits, manifests):
        did = datum_id(inputs)
        if did in seen:  # the same inputs listed twice (a union, an outer join): processed once
            continue
        seen.add(did)
        datums.append(Datum(id=did, hash=datum_hash(spec_hash, inputs), inputs=inputs))
    return datums


# --- cron ticks --------------------------------------------------------------------------------


def cron_tick_name(tick: datetime) -> str:
    """The file a tick writes: its time in Go's RFC 3339 layout (src/server/pps/server/monitor.go
    ``cronTick``: ``now.Format(time.RFC3339)``), whole seconds, ``Z`` for UTC, else ``+hh:mm``."""
    if tick.tzinfo is None or tick.utcoffset() is None:
        raise ValueError(f"cron tick time {tick.isoformat()} has no time zone")
    offset = tick.utcoffset() or timedelta(0)
    stamp = tick.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta(0):
        return "/" + stamp + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"/{stamp}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def cron_tick_files(previous: Manifest, tick: datetime, overwrite: bool, empty: Blob) -> Manifest:
    """The file set of the tick commit at ``tick`` on top of the repo's ``previous`` head.

    monitor.go ``cronTick``: an empty file named by the tick's time is added; with ``overwrite``
    every earlier file is deleted first. ``empty`` is the stored empty file.
    """
    files: Manifest = {} if overwrite else dict(previous)
    files[cron_tick_name(tick)] = empty
    return files
