"""Content-addressed object store: every file version once, at ``<root>/<hash[:2]>/<hash[2:]>``.

Objects are read-only (mode 0444) and immutable; commit trees and datum staging folders are
hard links to them, so a 2.7 GB repo costs 2.7 GB once, whatever the number of commits.
Every write goes to a temporary name in the store first and is renamed into place, so an
interrupted write never leaves a truncated object under a real hash.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

BUF_SIZE = 1 << 20
#: (hash, size) of one file version.
Blob = tuple[str, int]


def _new_hasher() -> hashlib._Hash:
    return hashlib.blake2b(digest_size=20)


def hash_file(path: str | Path) -> Blob:
    """Hash a file's content with large reads; returns (hex digest, size)."""
    hasher = _new_hasher()
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunk_size = min(BUF_SIZE, os.fstat(fd).st_size + 1)  # a small file in one read, no 1 MB buffer
        while chunk := os.read(fd, chunk_size):
            hasher.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return hasher.hexdigest(), size


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """Hard-link ``src`` at ``dst``; copy when linking is impossible (other device, link limit)."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP):
            raise
        shutil.copyfile(src, dst)


class ObjectStore:
    """The store under ``root`` (``$PFS_STATE/.objects``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> str:
        """Where the object lies (a string, not a Path: called once per file per datum and commit)."""
        return f"{self.root}/{digest[:2]}/{digest[2:]}"

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def _tmp(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".tmp-{os.getpid()}-{os.urandom(6).hex()}"

    @contextlib.contextmanager
    def _temporary(self) -> Iterator[Path]:
        """A temporary path in the store, removed if the block fails before it is installed."""
        tmp = self._tmp()
        try:
            yield tmp
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def _install(self, tmp: str | Path, digest: str) -> None:
        """Make the complete file ``tmp`` the object ``digest`` (dropped if that object exists)."""
        final = self.path(digest)
        if os.path.exists(final):
            os.unlink(tmp)
            return
        os.chmod(tmp, 0o444)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # the first object of its two-letter folder
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)

    def add_copy(self, src: str | Path) -> Blob:
        """Add a file by copying it (the source stays the user's, untouched)."""
        digest, size = hash_file(src)
        if not self.has(digest):
            with self._temporary() as tmp:
                shutil.copyfile(src, tmp)
                self._install(tmp, digest)
        return digest, size

    def add_move(self, src: str | Path) -> Blob:
        """Add a file by moving it in (for datum outputs, which are discarded afterwards)."""
        if os.path.islink(src):
            return self.add_copy(src)
        digest, size = hash_file(src)
        self._install(src, digest)
        return digest, size

    def add_stream(self, stream: BinaryIO) -> Blob:
        """Add the bytes of an open stream (a zip member), hashing while writing."""
        hasher = _new_hasher()
        size = 0
        with self._temporary() as tmp:
            with open(tmp, "wb") as out:
                while chunk := stream.read(BUF_SIZE):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = hasher.hexdigest()
            self._install(tmp, digest)
        return digest, size

    def add_bytes(self, data: bytes) -> Blob:
        """Add a small in-memory content."""
        digest = _new_hasher()
        digest.update(data)
        hexd = digest.hexdigest()
        if not self.has(hexd):
            with self._temporary() as tmp:
                tmp.write_bytes(data)
                self._install(tmp, hexd)
        return hexd, len(data)

    def remove_temporaries(self, keep: Callable[[int], bool] = lambda _pid: False) -> int:
        """Delete ``.tmp-<pid>-*`` leftovers of interrupted writes, except those of pids ``keep``
        says are alive (a put running in another process); returns how many were deleted."""
        if not self.root.is_dir():
            return 0
        count = 0
        for tmp in self.root.glob(".tmp-*"):
            pid = tmp.name.split("-")[1]
            if pid.isdigit() and keep(int(pid)):
                continue
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                count += 1
        return count
