"""Write an output file under a temporary name and rename it into place on success."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` if the block succeeds.

    The temporary name starts with a dot, so dataset readers (pyarrow, pandas) never
    pick it up, and it is removed if the block raises: nothing half-written is left.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(temporary_name(str(final)))
    with _renamed_into_place(tmp, final):
        yield tmp


@contextlib.contextmanager
def _renamed_into_place(tmp: str | Path, final: str | Path) -> Iterator[None]:
    """Rename ``tmp`` to ``final`` when the block succeeds; remove ``tmp`` when it raises."""
    try:
        yield
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def temporary_name(final: str) -> str:
    """The temporary name beside ``final``: hidden (readers skip dot files), unique per process."""
    head, name = os.path.split(final)
    return os.path.join(head, f".{name}.tmp-{os.getpid()}")


def write_bytes_atomic(final: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Write ``data`` (anything with the buffer protocol) to ``final`` atomically, in one ``write``.

    Plain ``os`` calls, and the parent folder created only when the first open says it is
    missing: ``open()`` and ``mkdir(exist_ok=True)`` add five system calls a file, which add
    up over the 16,000 small files of an ingest job.
    """
    final = os.fspath(final)
    tmp = temporary_name(final)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(final), exist_ok=True)
        fd = os.open(tmp, flags, 0o644)
    with _renamed_into_place(tmp, final):
        try:
            write_all(fd, data)
        finally:
            os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def write_text_atomic(final: Path, text: str) -> None:
    """Write ``text`` to ``final`` atomically (UTF-8)."""
    write_bytes_atomic(final, text.encode("utf-8"))
