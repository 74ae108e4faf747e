"""The files a `put-raw` sends: a folder in the Kaggle layout, or the Kaggle zip unpacked on the fly.

Each file is named by its path in the repo (``/stocks/AAPL.csv``) and read in chunks, so
2.7 GB go through one commit without being held in memory or unpacked to disk.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

#: pachd's gRPC messages are capped at 20 MiB; the SDK sends 19 MiB chunks, so do we.
CHUNK_BYTES = 19 * 1024 * 1024


@dataclass(frozen=True)
class RawFile:
    """One file to put: its path in the repo, its size and how to open it for reading."""

    repo_path: str
    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]]


def _repo_path(destination: str, relative: str) -> str:
    path = PurePosixPath("/") / destination.lstrip("/") / relative
    return str(path)


def folder_files(folder: Path, destination: str = "/") -> list[RawFile]:
    """Every regular file under ``folder``, sorted by repo path (as ``pachctl put file -r``)."""
    found: list[RawFile] = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            full = Path(root) / name
            if not full.is_file():
                continue
            relative = full.relative_to(folder).as_posix()
            found.append(
                RawFile(
                    repo_path=_repo_path(destination, relative),
                    size=full.stat().st_size,
                    open=lambda full=full: full.open("rb"),
                )
            )
    return sorted(found, key=lambda f: f.repo_path)


def zip_files(archive: zipfile.ZipFile, destination: str = "/") -> list[RawFile]:
    """Every file member of an open zip, unpacked while it is sent (the zip's root is ``destination``).

    The members share the one open archive: the Kaggle zip has 8,049 members, and opening the
    archive again for each would re-read its whole central directory every time.
    """
    found = [
        RawFile(
            repo_path=_repo_path(destination, info.filename),
            size=info.file_size,
            open=lambda info=info: archive.open(info),
        )
        for info in archive.infolist()
        if not info.is_dir()
    ]
    return sorted(found, key=lambda f: f.repo_path)


@contextmanager
def open_source(source: Path, destination: str = "/") -> Iterator[list[RawFile]]:
    """The files of a folder or of a ``.zip`` archive, readable while the context is open."""
    if source.is_dir():
        yield folder_files(source, destination)
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            yield zip_files(archive, destination)
    else:
        raise ValueError(f"{source}: neither a folder nor a zip archive")


def read_chunks(raw: RawFile, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's bytes in chunks of at most ``chunk_bytes``."""
    with raw.open() as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk
