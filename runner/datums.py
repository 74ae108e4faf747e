"""Datums: which files each run of a pipeline's code sees, from globs, ``cross`` and ``union``.

A glob is matched against the files of the input commit. Each matched path (a file, or a
directory with every file below it) is one datum of that input. Globs are split on ``/`` and
matched segment by segment with shell rules (``*``, ``?``, ``[...]``; ``*`` never crosses a
``/``); a ``**`` segment matches any number of segments, so ``/**`` gives one datum for every
file and every directory at any depth. ``/`` is one datum holding the whole commit.
``cross`` forms every combination of its children's datums, ``union`` lists them all.

A datum's id depends only on its input names and matched paths (it stays the same when a
file's content changes); its hash also covers the content of every file and the spec, and is
what the runner compares to skip a datum that already succeeded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
from dataclasses import dataclass

from runner.spec import Input, PfsInput
from runner.state import Manifest


class UnsupportedInput(ValueError):
    """An input the local runner cannot expand (join, group, cron)."""


#: (path, hash, size) of one input file.
FileRef = tuple[str, str, int]


@dataclass(frozen=True)
class DatumInput:
    """The part of a datum coming from one pfs input."""

    name: str
    repo: str
    commit: str
    matched: str
    files: tuple[FileRef, ...]


@dataclass(frozen=True)
class Datum:
    id: str
    hash: str
    inputs: tuple[DatumInput, ...]

    def describe(self) -> str:
        """``prices:/stocks/A.csv, meta:/symbols_valid_meta.csv``"""
        return ", ".join(f"{i.name}:{i.matched}" for i in self.inputs)


def _segments_match(pattern: list[str], segs: list[str]) -> bool:
    if not pattern:
        return not segs
    head = pattern[0]
    if head == "**":
        return any(_segments_match(pattern[1:], segs[i:]) for i in range(len(segs) + 1))
    return bool(segs) and fnmatch.fnmatchcase(segs[0], head) and _segments_match(pattern[1:], segs[1:])


def match_glob(glob: str, paths: list[str]) -> dict[str, list[str]]:
    """Matched path → the files it holds, for every match of ``glob`` among file ``paths``."""
    pattern = [s for s in glob.strip("/").split("/") if s]
    groups: dict[str, list[str]] = {}
    if not pattern:
        return {"/": sorted(paths)} if paths else {}
    if "**" not in pattern:
        k = len(pattern)
        verdicts: dict[tuple[str, ...], bool] = {}
        for path in paths:
            segs = path[1:].split("/")
            if len(segs) < k:
                continue
            prefix = tuple(segs[:k])
            ok = verdicts.get(prefix)
            if ok is None:
                ok = verdicts[prefix] = all(
                    fnmatch.fnmatchcase(s, p) for s, p in zip(prefix, pattern, strict=True)
                )
            if ok:
                groups.setdefault("/" + "/".join(prefix), []).append(path)
    else:
        for path in paths:
            segs = path[1:].split("/")
            for n in range(1, len(segs) + 1):
                if _segments_match(pattern, segs[:n]):
                    groups.setdefault("/" + "/".join(segs[:n]), []).append(path)
    return {m: sorted(files) for m, files in sorted(groups.items())}


def _pfs_datums(pfs: PfsInput, commit: str, manifest: Manifest) -> list[tuple[DatumInput, ...]]:
    matches = match_glob(pfs.glob, list(manifest))
    return [
        (
            DatumInput(
                name=pfs.name,
                repo=pfs.repo,
                commit=commit,
                matched=matched,
                files=tuple((p, manifest[p][0], manifest[p][1]) for p in files),
            ),
        )
        for matched, files in matches.items()
    ]


def _expand(
    node: Input, commits: dict[str, str], manifests: dict[str, Manifest]
) -> list[tuple[DatumInput, ...]]:
    if node.pfs is not None:
        return _pfs_datums(node.pfs, commits[node.pfs.repo], manifests[node.pfs.repo])
    parts = [_expand(child, commits, manifests) for child in node.children]
    if node.operator == "cross":
        return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts)]
    if node.operator == "union":
        return [d for part in parts for d in part]
    raise UnsupportedInput(
        f"{node.operator} inputs are not supported by the local runner (pfs, cross, union are)"
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
    node: Input, commits: dict[str, str], manifests: dict[str, Manifest], spec_hash: str
) -> list[Datum]:
    """Every datum of ``node`` for the input commits (repo → commit id, repo → manifest)."""
    datums = []
    seen: set[str] = set()
    for inputs in _expand(node, commits, manifests):
        did = datum_id(inputs)
        if did in seen:  # a union listing the same files twice: Pachyderm processes them once
            continue
        seen.add(did)
        datums.append(Datum(id=did, hash=datum_hash(spec_hash, inputs), inputs=inputs))
    return datums
