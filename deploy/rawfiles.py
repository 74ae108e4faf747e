"""The files a `put-raw` sends: a folder in the Kaggle layout, or the Kaggle zip unpacked on the fly.

Each file is named by its path in the repo (``/stocks/AAPL.csv``) and read in chunks, so
2.7 GB go through one commit without being held in memory or unpacked to disk.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
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


def zip_files(archive: Path, destination: str = "/") -> list[RawFile]:
    """Every file member of a zip, unpacked while it is sent (the zip's root is ``destination``)."""
    with zipfile.ZipFile(archive) as zf:
        members = [info for info in zf.infolist() if not info.is_dir()]

    def opener(member: str) -> Callable[[], AbstractContextManager[BinaryIO]]:
        def open_member() -> AbstractContextManager[BinaryIO]:
            return _ZipMember(archive, member)

        return open_member

    found = [
        RawFile(
            repo_path=_repo_path(destination, info.filename), size=info.file_size, open=opener(info.filename)
        )
        for info in members
    ]
    return sorted(found, key=lambda f: f.repo_path)


class _ZipMember(AbstractContextManager):
    """A zip member opened for reading, closing its archive with it."""

    def __init__(self, archive: Path, member: str) -> None:
        self._zip = zipfile.ZipFile(archive)
        self._file = self._zip.open(member)

    def __enter__(self) -> BinaryIO:
        return self._file  # type: ignore[return-value]

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()
        self._zip.close()


def source_files(source: Path, destination: str = "/") -> list[RawFile]:
    """The files of a folder or of a ``.zip`` archive."""
    if source.is_dir():
        return folder_files(source, destination)
    if zipfile.is_zipfile(source):
        return zip_files(source, destination)
    raise ValueError(f"{source}: neither a folder nor a zip archive")


def read_chunks(raw: RawFile, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's bytes in chunks of at most ``chunk_bytes``."""
    with raw.open() as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk
