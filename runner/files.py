"""What pachctl's file verbs answer, computed from commit manifests: ``glob file``, ``inspect
file`` and ``diff file`` (``list file`` is ``State.list_folder``).

A manifest holds files only; a folder is every path below it, its size the total of theirs
(as pachctl reports a directory's size).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runner.datums import match_glob
from runner.records import FileEntry
from runner.state import Manifest, StateError


class FileChange(StrEnum):
    ADDED = "added"
    DELETED = "deleted"
    CHANGED = "changed"


@dataclass(frozen=True)
class FileDiff:
    """One path that differs between two commits (``diff file``)."""

    path: str
    change: FileChange
    old_size: int | None
    new_size: int | None


@dataclass(frozen=True)
class FileInfo:
    """``inspect file``: a file with its content hash, or a folder with its file count."""

    path: str
    kind: str
    size: int
    hash: str | None
    files: int


def folder_size(manifest: Manifest, folder: str) -> tuple[int, int]:
    """(file count, total bytes) below ``folder``."""
    prefix = folder.rstrip("/") + "/"
    sizes = [size for path, (_, size) in manifest.items() if path.startswith(prefix)]
    return len(sizes), sum(sizes)


def glob_files(manifest: Manifest, pattern: str) -> list[FileEntry]:
    """Every file and folder matching ``pattern``, as pfs's glob matches them (runner/datums.py)."""
    entries = []
    for matched in sorted(match_glob(pattern, list(manifest))):
        if matched in manifest:
            entries.append(FileEntry(matched, "file", manifest[matched][1]))
        else:
            entries.append(FileEntry(matched, "dir", folder_size(manifest, matched)[1]))
    return entries


def has_glob_characters(path: str) -> bool:
    """A ``list file`` argument with a pattern in it is answered as ``glob file`` (as pachctl does)."""
    return any(ch in path for ch in "*?[{")


def inspect_file(manifest: Manifest, path: str, where: str) -> FileInfo:
    if path in manifest:
        digest, size = manifest[path]
        return FileInfo(path, "file", size, digest, 1)
    count, size = folder_size(manifest, path)
    if path == "/" or count:
        return FileInfo(path, "dir", size, None, count)
    raise StateError(f"{where}: no such file or folder")


def diff_files(old: Manifest, new: Manifest, path: str = "/") -> list[FileDiff]:
    """Files added, deleted or changed (by content) from ``old`` to ``new``, below ``path``."""
    prefix = path.rstrip("/") + "/"

    def below(p: str) -> bool:
        return path in ("", "/") or p == path or p.startswith(prefix)

    diffs = []
    for p in sorted(set(old) | set(new)):
        if not below(p):
            continue
        before, after = old.get(p), new.get(p)
        if before is None and after is not None:
            diffs.append(FileDiff(p, FileChange.ADDED, None, after[1]))
        elif after is None and before is not None:
            diffs.append(FileDiff(p, FileChange.DELETED, before[1], None))
        elif before is not None and after is not None and before[0] != after[0]:
            diffs.append(FileDiff(p, FileChange.CHANGED, before[1], after[1]))
    return diffs
