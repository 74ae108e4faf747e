"""Content-addressed object store: every file version once, at ``<root>/<hash[:2]>/<hash[2:]>``.

Objects are read-only (mode 0444); commit trees and datum staging folders are hard links to
them, so a 2.7 GB repo costs 2.7 GB once, whatever the number of commits.
Every write goes to a temporary name in the store first and is renamed into place, so an
interrupted write never leaves a truncated object under a real hash.

A hard link is the object itself: a write through a branch head (as root, or after a chmod)
would change the object in every commit. So every object gets the modification time
``OBJECT_MTIME_NS`` when it is installed, and ``check`` compares an object's size (recorded in
every manifest) and mtime with what was installed: one ``stat``, no read. A write sets the
mtime to the current time, so any edit made through the file system shows; ``runner fsck``
re-hashes everything (runner/fsck.py). A damaged object is replaced when its content is
added again (``put file`` of the original).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

BUF_SIZE = 1 << 20
#: bytes per sendfile call when copying from a descriptor: small enough to notice a stop request
#: within a few milliseconds, large enough to cost nothing
COPY_CHUNK = 16 << 20
#: The mtime of every object (2000-01-01T00:00:00Z, whole seconds for every file system).
OBJECT_MTIME_NS = 946_684_800 * 10**9
#: Present in a store whose objects were all installed with ``OBJECT_MTIME_NS``; a store made by
#: an older runner lacks it until ``runner fsck --repair`` has re-hashed and stamped its objects.
STAMPED_MARKER = ".stamped"
#: (hash, size) of one file version.
Blob = tuple[str, int]


#: ``<root>/.put-<pid>-<random>``: digests a running ``put file`` installed (``ObjectStore.journal``).
JOURNAL_PREFIX = ".put-"
_DIGEST_RE = re.compile(r"[0-9a-f]{40}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def _rewrite_in_place(tmp: str | Path, final: str) -> bool:
    """Put the bytes of ``tmp`` back into the damaged object ``final`` (same inode, so every hard
    link to it is repaired too); False when the object cannot be opened for writing."""
    try:
        os.chmod(final, 0o644)
        with open(tmp, "rb") as src, open(final, "r+b") as dst:
            dst.truncate(0)
            shutil.copyfileobj(src, dst, BUF_SIZE)
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.chmod(final, 0o444)
    os.utime(final, ns=(OBJECT_MTIME_NS, OBJECT_MTIME_NS))
    os.unlink(tmp)
    return True


class ObjectStore:
    """The store under ``root`` (``$PFS_STATE/.objects``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)  # path() is called once per file per verb: no Path.__str__ each time
        self._stamped: bool | None = None
        #: digests this instance installed (not found already stored), while ``journal`` is on
        self._journal: list[str] | None = None
        self._journal_fh: TextIO | None = None
        self._journal_lock = threading.Lock()

    @property
    def stamped(self) -> bool:
        """Every object carries ``OBJECT_MTIME_NS`` (so ``check`` compares mtimes too)."""
        if self._stamped is None:
            self._stamped = os.path.exists(f"{self.root}/{STAMPED_MARKER}")
        return self._stamped

    def mark_stamped(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / STAMPED_MARKER).touch()
        self._stamped = True

    def check(self, digest: str, size: int) -> str | None:
        """None when the object is as installed (its size, and its install mtime), else what is wrong."""
        try:
            st = os.stat(self.path(digest))
        except FileNotFoundError:
            return "its stored bytes are missing"
        if st.st_size != size:
            return f"changed after it was committed ({st.st_size} bytes, committed {size})"
        if st.st_mtime_ns != OBJECT_MTIME_NS and self.stamped:
            return "changed after it was committed (modified in place)"
        return None

    def intact(self, digest: str, size: int) -> bool:
        return self.check(digest, size) is None

    def path(self, digest: str) -> str:
        """Where the object lies (a string, not a Path: called once per file per datum and commit)."""
        return f"{self._root}/{digest[:2]}/{digest[2:]}"

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def _tmp(self) -> Path:
        if not self.root.is_dir():
            self.mark_stamped()  # a new store: every object will be stamped
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

    def _install(self, tmp: str | Path, digest: str, size: int) -> None:
        """Make the complete file ``tmp`` the object ``digest`` (dropped if that object exists intact;
        it replaces a damaged one)."""
        final = self.path(digest)
        why = self.check(digest, size)
        if why is None:
            os.unlink(tmp)
            return
        if os.path.exists(final) and _rewrite_in_place(tmp, final):
            return  # the damaged inode got its bytes back: so did every tree linking to it
        os.chmod(tmp, 0o444)
        os.utime(tmp, ns=(OBJECT_MTIME_NS, OBJECT_MTIME_NS))
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # the first object of its two-letter folder
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        self._journal_add(digest)

    @contextlib.contextmanager
    def journal(self, path: Path) -> Iterator[list[str]]:
        """Record the digests installed in the block, in memory and in ``path`` (one per line, for
        the next verb to remove if this process dies: runner/gc.py). The file is removed at the end;
        the caller decides what to do with the list when the block fails."""
        self._journal = []
        self._journal_fh = open(path, "a", encoding="ascii")  # noqa: SIM115 - closed below
        try:
            yield self._journal
        finally:
            self._journal_fh.close()
            self._journal, self._journal_fh = None, None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _journal_add(self, digest: str) -> None:
        if self._journal is None:
            return
        with self._journal_lock:
            self._journal.append(digest)
            if self._journal_fh is not None:
                self._journal_fh.write(digest + "\n")
                self._journal_fh.flush()

    def remove(self, digest: str) -> bool:
        """Delete an object; False if it was not there."""
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def restore(self, digest: str, size: int, copy: str | Path) -> bool:
        """Reinstall object ``digest`` from ``copy`` when the copy holds exactly its bytes."""
        if hash_file(copy) != (digest, size):
            return False
        with self._temporary() as tmp:
            shutil.copyfile(copy, tmp)
            self._install(tmp, digest, size)
        return True

    def add_copy(self, src: str | Path) -> Blob:
        """Add a file by copying it (the source stays the user's, untouched)."""
        digest, size = hash_file(src)
        if not self.intact(digest, size):
            with self._temporary() as tmp:
                shutil.copyfile(src, tmp)
                self._install(tmp, digest, size)
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
        if not self.intact(digest, size):
            with self._temporary() as tmp:
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                try:
                    _copy_fd(fd, out, size, stop)
                finally:
                    os.close(out)
                if not _same_version(before, os.fstat(fd)):
                    raise SourceChanged
                self._install(tmp, digest, size)
        elif not _same_version(before, os.fstat(fd)):
            raise SourceChanged
        return digest, size

    def add_move(self, src: str | Path) -> Blob:
        """Add a file by moving it in (for datum outputs, which are discarded afterwards)."""
        if os.path.islink(src):
            return self.add_copy(src)
        digest, size = hash_file(src)
        self._install(src, digest, size)
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
            self._install(tmp, digest, size)
        return digest, size

    def add_bytes(self, data: bytes) -> Blob:
        """Add a small in-memory content."""
        digest = _new_hasher()
        digest.update(data)
        hexd = digest.hexdigest()
        if not self.intact(hexd, len(data)):
            with self._temporary() as tmp:
                tmp.write_bytes(data)
                self._install(tmp, hexd, len(data))
        return hexd, len(data)

    def journal_path(self) -> Path:
        if not self.root.is_dir():
            self.mark_stamped()
        return self.root / f"{JOURNAL_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"

    def remove_journaled(self) -> int:
        """Delete the objects listed in journals of processes that died during a ``journal`` block
        (a killed ``put file``: nothing references what it installed); returns how many."""
        if not self.root.is_dir():
            return 0
        count = 0
        for journal in self.root.glob(f"{JOURNAL_PREFIX}*"):
            pid = journal.name[len(JOURNAL_PREFIX) :].split("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
                continue
            with contextlib.suppress(FileNotFoundError):
                for line in journal.read_text(encoding="ascii", errors="replace").split():
                    count += self.remove(line) if _DIGEST_RE.fullmatch(line) else 0
                journal.unlink()
        return count

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
