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
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

BUF_SIZE = 1 << 20
#: bytes per sendfile call when copying from a descriptor: small enough to notice a stop request
#: within a few milliseconds, large enough to cost nothing
COPY_CHUNK = 16 << 20
#: (hash, size) of one file version.
Blob = tuple[str, int]


class Stopped(Exception):
    """A read or copy gave up because its stop event was set (Ctrl-C in the main thread)."""


class SourceChanged(Exception):
    """The source file changed size or modification time while it was read."""


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


def hash_fd(fd: int, expected_size: int, stop: threading.Event | None = None) -> Blob:
    """Hash an open file from its start (``pread``, the offset is untouched), checking ``stop``."""
    hasher = _new_hasher()
    size = 0
    chunk_size = min(BUF_SIZE, expected_size + 1)  # a small file in one read
    while chunk := os.pread(fd, chunk_size, size):
        if stop is not None and stop.is_set():
            raise Stopped
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def _copy_fd(src_fd: int, dst_fd: int, size: int, stop: threading.Event | None) -> None:
    """Copy ``size`` bytes from the start of ``src_fd`` to ``dst_fd`` in stoppable chunks."""
    offset = 0
    while offset < size:
        if stop is not None and stop.is_set():
            raise Stopped
        try:
            sent = os.sendfile(dst_fd, src_fd, offset, min(COPY_CHUNK, size - offset))
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                raise
            sent = os.write(dst_fd, os.pread(src_fd, min(BUF_SIZE, size - offset), offset))
        if sent == 0:
            raise SourceChanged
        offset += sent


def _same_version(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)


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

    def add_fd(self, fd: int, before: os.stat_result, stop: threading.Event | None = None) -> Blob:
        """Add the regular file open at ``fd``, whose ``fstat`` was ``before`` (it stays open).

        Reading from the descriptor, never by name again, means what is stored is the file the
        caller checked. A file that changes while it is read raises SourceChanged; ``stop`` set by
        another thread raises Stopped within one chunk, leaving no temporary behind.
        """
        digest, size = hash_fd(fd, before.st_size, stop)
        if size != before.st_size:
            raise SourceChanged
        if not self.has(digest):
            with self._temporary() as tmp:
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                try:
                    _copy_fd(fd, out, size, stop)
                finally:
                    os.close(out)
                if not _same_version(before, os.fstat(fd)):
                    raise SourceChanged
                self._install(tmp, digest)
        elif not _same_version(before, os.fstat(fd)):
            raise SourceChanged
        return digest, size

    def add_move(self, src: str | Path) -> Blob:
        """Add a file by moving it in (for datum outputs, which are discarded afterwards)."""
        if os.path.islink(src):
            return self.add_copy(src)
        digest, size = hash_file(src)
        self._install(src, digest)
        return digest, size

    def add_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> Blob:
        """Add the bytes of an open stream (a zip member), hashing while writing.

        More than ``max_bytes`` raises ValueError (a zip entry larger than it declared).
        """
        hasher = _new_hasher()
        size = 0
        with self._temporary() as tmp:
            with open(tmp, "wb") as out:
                while chunk := stream.read(BUF_SIZE):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ValueError(f"more than {max_bytes} bytes")
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

    def remove_temporaries(self) -> int:
        """Delete ``.tmp-*`` leftovers of interrupted writes; returns how many."""
        if not self.root.is_dir():
            return 0
        count = 0
        for tmp in self.root.glob(".tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                count += 1
        return count
