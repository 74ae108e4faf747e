"""``put file`` and ``delete file``: new commits of an input repo from a file, a folder or a zip.

As ``pachctl put file`` does, files are added to (or overwrite files of) the branch head; files
not named stay. A commit identical to the head is not made. Folder and file sources are
hashed and copied into the object store once (a file whose content is already stored is only
hashed); a ``.zip`` archive is unpacked into the target path, member by member.
"""

from __future__ import annotations

import logging
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runner.objects import Blob, ObjectStore
from runner.state import Commit, Manifest, State, StateError

log = logging.getLogger(__name__)
COPY_THREADS = 4


def _norm(path: str) -> str:
    """``stocks//A.csv`` → ``/stocks/A.csv``."""
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise StateError(f"path {path!r} may not contain '..'")
    return "/" + "/".join(parts)


def _zip_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [
        info
        for info in zf.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not info.filename.endswith("/.DS_Store")
    ]


def collect_source(store: ObjectStore, source: Path, target: str, recursive: bool) -> Manifest:
    """Store the files of ``source`` and return their manifest under ``target``."""
    files: Manifest = {}
    if source.is_file() and source.suffix.lower() == ".zip":
        with zipfile.ZipFile(source) as zf:
            for info in _zip_members(zf):
                with zf.open(info) as member:
                    files[_norm(f"{target}/{info.filename}")] = store.add_stream(member)
        return files
    if source.is_dir():
        if not recursive:
            raise StateError(f"{source} is a folder: add -r to put every file below it")
        base = len(str(source).rstrip("/")) + 1
        sources = []
        for dirpath, dirs, names in os.walk(source):
            dirs.sort()
            sources += [os.path.join(dirpath, name) for name in sorted(names)]
        # hashing (blake2b) and copying (sendfile) release the GIL: a few threads use every core
        pool = ThreadPoolExecutor(max_workers=COPY_THREADS)
        try:
            blobs = list(pool.map(store.add_copy, sources))
        finally:  # on Ctrl-C, don't wait for the files not started yet
            pool.shutdown(wait=True, cancel_futures=True)
        for full, blob in zip(sources, blobs, strict=True):
            files[_norm(f"{target}/{full[base:]}")] = blob
        return files
    if source.is_file():
        dest = f"{target}/{source.name}" if target.endswith("/") else target
        if _norm(dest) == "/":
            dest = f"/{source.name}"
        return {_norm(dest): store.add_copy(source)}
    raise StateError(f"{source}: no such file or folder")


def put_file(
    state: State, repo: str, branch: str, target: str, source: Path, recursive: bool
) -> Commit | None:
    """Add ``source`` at ``target`` of ``repo@branch``; None when nothing would change."""
    state.require_repo(repo)
    head = state.head(repo, branch)
    current = state.manifest(repo, head)
    added = collect_source(state.objects, source, target, recursive)
    merged: dict[str, Blob] = dict(current)
    merged.update(added)
    _check_file_dir_clash(merged)
    if head is not None:  # the files kept from the head must be as committed (a re-put restores them)
        state.verify(repo, head, merged)
    if merged == current:
        return None
    return state.make_commit(repo, branch, merged, description=f"put file {source}")


def _check_file_dir_clash(manifest: Manifest) -> None:
    paths = set(manifest)
    for path in manifest:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in paths:
                raise StateError(f"{parent} would be both a file and a folder")
            parent = parent.rpartition("/")[0]


def delete_file(state: State, repo: str, branch: str, target: str) -> Commit:
    """Remove a file, or a folder with everything below it, from ``repo@branch``."""
    state.require_repo(repo)
    head = state.head(repo, branch)
    current = state.manifest(repo, head)
    path = _norm(target)
    kept = {p: b for p, b in current.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
    if len(kept) == len(current):
        raise StateError(f"{repo}@{branch}:{path}: no such file or folder")
    return state.make_commit(repo, branch, kept, description=f"delete file {path}")
