"""``put file`` and ``delete file``: new commits of an input repo from a file, a folder or a zip.

As ``pachctl put file`` does, files are added to (or overwrite files of) the branch head; files
not named stay. With ``replace`` (a runner extension, ``put file --replace``) the target path
ends up holding exactly the source: what lies under it and is absent from the source is deleted
in the same commit, as ``pachctl start commit`` + ``delete file REPO@BRANCH:PATH`` + ``put file``
+ ``finish commit`` would do in one commit. A commit identical to the head is not made. Every put
reports what changed (added, changed, deleted, unchanged).

What is read is checked first (sources.py: regular files only; archive.py: a zip's entries and
caps; paths.py: names Pachyderm refuses), so a refused put stores nothing. Folder and file
sources are hashed and copied into the object store once, by a few threads reading from the
descriptors sources.py opened; a Ctrl-C stops them within one chunk and commits nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from runner.archive import ZipLimits, open_zip, store_entries, zip_entries
from runner.objects import Blob, ObjectStore, SourceChanged
from runner.paths import printable
from runner.sources import LocalFile, SourceRefused, folder_files, normalise, open_regular, single_file
from runner.state import Commit, Manifest, State, StateError

log = logging.getLogger(__name__)
#: hashing (blake2b) and copying (sendfile) release the GIL: a few threads use every core
COPY_THREADS = 4


#: called now and then during a long put with (files stored, files in all, bytes stored)
ProgressCallback = Callable[[int, int, int], None]


class PutInterrupted(KeyboardInterrupt):
    """Ctrl-C during a put; the message says whether the branch moved."""


@dataclass(frozen=True)
class PutOptions:
    """How ``put file`` reads its source."""

    recursive: bool = False  #: a folder: put every file below it
    follow_links: bool = False  #: follow symbolic links that stay inside the source folder
    replace: bool = False  #: delete what lies under the target path and is absent from the source
    zip_limits: ZipLimits = field(default_factory=ZipLimits)
    progress: ProgressCallback | None = None  #: told how far a put is, every ``progress_seconds``
    progress_seconds: float = 5.0


class _Ticker:
    """Counts stored files and calls the progress callback at most every ``seconds``."""

    def __init__(self, total: int, options: PutOptions) -> None:
        self.total, self.files, self.bytes = total, 0, 0
        self.callback, self.seconds = options.progress, options.progress_seconds
        self.last = time.monotonic()

    def stored(self, size: int) -> None:
        self.files += 1
        self.bytes += size
        now = time.monotonic()
        if self.callback is not None and now - self.last >= self.seconds:
            self.last = now
            self.callback(self.files, self.total, self.bytes)


@dataclass(frozen=True)
class Changes:
    """What a put changes at the branch head."""

    added: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    kept: int = 0  #: files of the head an adding put does not name (they stay)

    def __str__(self) -> str:
        text = (
            f"{self.added} added, {self.changed} changed, {self.deleted} deleted, {self.unchanged} unchanged"
        )
        if self.kept:
            text += f"; {self.kept} other file(s) of the head kept (--replace deletes them)"
        return text


@dataclass(frozen=True)
class PutResult:
    """The commit a put made (None: identical to the head) and what it changed."""

    commit: Commit | None
    changes: Changes


def compare(current: Manifest, added: Manifest, scope: str | None) -> tuple[Manifest, Changes]:
    """The new manifest and its changes; ``scope`` (a normalised path) is replaced, None adds."""

    def in_scope(path: str) -> bool:
        return scope is not None and (scope == "/" or path == scope or path.startswith(scope + "/"))

    merged = {p: b for p, b in current.items() if p in added or not in_scope(p)}
    deleted = len(current) - len(merged)
    counts = {"added": 0, "changed": 0, "unchanged": 0}
    for path, blob in added.items():
        old = current.get(path)
        counts["added" if old is None else "unchanged" if old == blob else "changed"] += 1
    merged.update(added)
    kept = len(merged) - len(added) if scope is None else 0
    return merged, Changes(deleted=deleted, kept=kept, **counts)


def _store_one(store: ObjectStore, file: LocalFile, stop: threading.Event) -> Blob:
    fd, st = open_regular(file.local, file.shown)
    shown = printable(file.shown)
    try:
        return store.add_fd(fd, st, stop)
    except SourceChanged:
        raise SourceRefused(f"{shown}: changed while it was being put; put it again") from None
    finally:
        os.close(fd)


def store_files(store: ObjectStore, files: list[LocalFile], options: PutOptions) -> Manifest:
    """Hash and copy ``files`` with a few threads; any failure or Ctrl-C stops them all promptly."""
    stop = threading.Event()
    ticker = _Ticker(len(files), options)
    pool = ThreadPoolExecutor(max_workers=COPY_THREADS, thread_name_prefix="put")
    futures: list[Future[Blob]] = []
    try:
        futures = [pool.submit(_store_one, store, f, stop) for f in files]
        manifest: Manifest = {}
        for file, future in zip(files, futures, strict=True):
            manifest[file.repo_path] = future.result()
            ticker.stored(manifest[file.repo_path][1])
        return manifest
    except BaseException:
        stop.set()  # the running reads end within one chunk (objects.py), the queued never start
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def collect_source(store: ObjectStore, source: Path, target: str, options: PutOptions) -> Manifest:
    """Check the files of ``source``, then store them and return their manifest under ``target``."""
    if os.path.isfile(source) and source.suffix.lower() == ".zip":
        fd, _ = open_regular(os.path.realpath(source), str(source))  # a link the user names is followed
        with os.fdopen(fd, "rb") as fh, open_zip(fh, str(source)) as zf:
            entries = zip_entries(zf, str(source), target, options.zip_limits)
            return store_entries(store, zf, entries, str(source), _Ticker(len(entries), options).stored)
    if os.path.isdir(source):
        if not options.recursive:
            raise StateError(f"{source} is a folder: add -r to put every file below it")
        return store_files(store, folder_files(source, target, options.follow_links), options)
    dest = f"{target}/{source.name}" if target.endswith("/") else target
    if normalise(dest) == "/":
        dest = f"/{source.name}"
    return store_files(store, [single_file(source, normalise(dest))], options)


def put_file(
    state: State, repo: str, branch: str, target: str, source: Path, options: PutOptions
) -> PutResult:
    """Put ``source`` at ``target`` of ``repo@branch``; the result's commit is None if nothing changed."""
    state.require_repo(repo)
    head = state.head(repo, branch)
    try:
        current = state.manifest(repo, head)
        added = collect_source(state.objects, source, target, options)
        merged, changes = compare(current, added, normalise(target) if options.replace else None)
        _check_file_dir_clash(merged)
        if head is not None:  # the files kept from the head must be as committed (a re-put restores them)
            state.verify(repo, head, merged)
        if merged == current:
            return PutResult(None, changes)
        description = f"put file {'--replace ' if options.replace else ''}{source}"
        return PutResult(state.make_commit(repo, branch, merged, description=description), changes)
    except KeyboardInterrupt:
        now = state.head(repo, branch)
        if now != head:
            raise PutInterrupted(f"put interrupted after making commit {now} of {repo}@{branch}") from None
        raise PutInterrupted(f"put interrupted: nothing committed, {repo}@{branch} is unchanged") from None


def _check_file_dir_clash(manifest: Manifest) -> None:
    paths = set(manifest)
    for path in manifest:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in paths:
                raise StateError(f"{printable(parent)} would be both a file and a folder")
            parent = parent.rpartition("/")[0]


def delete_file(state: State, repo: str, branch: str, target: str) -> Commit:
    """Remove a file, or a folder with everything below it, from ``repo@branch``.

    ``target`` may also be a path as the runner prints it (``\\xff`` for a byte that is not
    UTF-8), so a name an older version accepted can be removed by copying it from the message.
    """
    state.require_repo(repo)
    head = state.head(repo, branch)
    current = state.manifest(repo, head)
    path = normalise(target)
    for shown in (lambda p: p, printable):
        kept = {p: b for p, b in current.items() if not _at_or_below(shown(p), path)}
        if len(kept) < len(current):
            return state.make_commit(repo, branch, kept, description=f"delete file {printable(path)}")
    raise StateError(f"{repo}@{branch}:{printable(path)}: no such file or folder")


def _at_or_below(path: str, target: str) -> bool:
    return path == target or target == "/" or path.startswith(target.rstrip("/") + "/")
