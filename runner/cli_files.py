"""The file verbs of ``python -m runner``: ``put file``, ``list file`` (a folder, or a glob pattern as pachctl
takes one), ``glob file``, ``inspect file``, ``diff file`` and ``get file``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from runner import pipelines
from runner.archive import ZipLimits
from runner.cli_output import human_size, print_json, table
from runner.cli_parser import parse_target
from runner.files import diff_files, glob_files, has_glob_characters, inspect_file
from runner.gc import removing_failed_put
from runner.putfile import PutOptions
from runner.records import FileEntry
from runner.state import State, StateError


def _print_entries(entries: list[FileEntry]) -> None:
    print(table([["NAME", "TYPE", "SIZE"]] + [[e.path, e.kind, human_size(e.size)] for e in entries]), end="")


def _glob(state: State, target: str) -> list[FileEntry]:
    repo, ref, pattern = parse_target(target)
    return glob_files(state.manifest(repo, state.resolve_commit(repo, ref)), pattern)


def list_file(args: argparse.Namespace, state: State) -> None:
    repo, ref, path = parse_target(args.target)
    _print_entries(
        _glob(state, args.target) if has_glob_characters(path) else state.list_folder(repo, ref, path)
    )


def glob_file(args: argparse.Namespace, state: State) -> int:
    entries = _glob(state, args.target)
    if args.json:
        print_json([{"path": e.path, "type": e.kind, "size_bytes": e.size} for e in entries])
    else:
        _print_entries(entries)
    return 0


def inspect_file_verb(args: argparse.Namespace, state: State) -> int:
    repo, ref, path = parse_target(args.target)
    commit = state.resolve_commit(repo, ref)
    info = inspect_file(state.manifest(repo, commit), path, args.target)
    doc = {"path": info.path, "type": info.kind, "size_bytes": info.size, "hash": info.hash,
           "files": info.files, "repo": repo, "commit": commit}  # fmt: skip
    if args.json:
        print_json(doc)
        return 0
    for key, value in doc.items():
        shown = human_size(value) if key == "size_bytes" else ("-" if value is None else value)
        print(f"{key + ':':<12} {shown}")
    return 0


def diff_file(args: argparse.Namespace, state: State) -> int:
    """``diff file NEW OLD`` as pachctl orders them; OLD defaults to NEW's parent commit."""
    repo, ref, path = parse_target(args.new)
    new_id = state.resolve_commit(repo, ref)
    if args.old:
        old_repo, old_ref, _ = parse_target(args.old)
        old_id: str | None = state.resolve_commit(old_repo, old_ref)
    else:
        old_repo, parents = repo, state.commit(repo, new_id).parents
        old_id = parents[0] if parents else None
    old = state.manifest(old_repo, old_id) if old_id else {}
    diffs = diff_files(old, state.manifest(repo, new_id), path)
    if args.json:
        print_json([{"path": d.path, "change": d.change.value, "old_size": d.old_size,
                     "new_size": d.new_size} for d in diffs])  # fmt: skip
        return 0
    rows = [["CHANGE", "PATH", "OLD SIZE", "NEW SIZE"]]
    for d in diffs:
        rows.append([d.change.value, d.path, "-" if d.old_size is None else human_size(d.old_size),
                     "-" if d.new_size is None else human_size(d.new_size)])  # fmt: skip
    print(table(rows), end="")
    print(f"{len(diffs)} paths differ between {old_repo}@{old_id or '(empty)'} and {repo}@{new_id}")
    return 0


def _put_progress(files: int, total: int, size: int) -> None:
    print(f"put file: {files:,} of {total:,} files stored ({human_size(size)})", file=sys.stderr, flush=True)


def put_file(args: argparse.Namespace, state: State) -> int:
    repo, branch, path = parse_target(args.target)
    with state.locked(), removing_failed_put(state):
        limits = ZipLimits.resolve(args.zip_max_bytes, args.zip_max_files, os.environ)
        options = PutOptions(args.recursive, args.follow_links, args.replace, limits, progress=_put_progress)
        created, result = pipelines.put_input_file(state, repo, branch, path, args.file, options)
    if created:
        print(f"created repo {repo}")
    commit = result.commit
    if commit is None:
        print(f"{repo}@{branch}: no change, content identical to the head; no new commit ({result.changes})")
    else:
        size = human_size(commit.size_bytes)
        print(f"{repo}@{branch}: commit {commit.id} ({commit.files} files, {size}): {result.changes}")
    return 0


def get_file(args: argparse.Namespace, state: State) -> int:
    repo, ref, path = parse_target(args.target)
    commit_id = state.resolve_commit(repo, ref)
    manifest = state.manifest(repo, commit_id)
    if path not in manifest:
        folder = any(p.startswith(path.rstrip("/") + "/") for p in manifest)
        why = "is a folder (see: python -m runner list file)" if folder else "no such file"
        raise StateError(f"{args.target}: {why}")
    state.verify(repo, commit_id, {path: manifest[path]})
    src = state.objects.path(manifest[path][0])
    if args.output:
        shutil.copyfile(src, args.output)
    else:
        with open(src, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return 0
