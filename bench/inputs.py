"""Size of a stage's input: bytes and rows of a folder of CSV or Parquet files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq


@dataclass(frozen=True)
class FolderSize:
    files: int
    bytes: int
    rows: int | None  # None when not counted


def _visible_files(root: Path, suffix: str) -> list[Path]:
    """Files ending in ``suffix`` under ``root``, skipping names and folders starting with '_' or '.'."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        found.extend(
            Path(dirpath, f) for f in sorted(filenames) if f.endswith(suffix) and not f.startswith(("_", "."))
        )
    return found


def csv_folder(root: Path, count_rows: bool = False) -> FolderSize:
    """Bytes (and, if asked, data lines) of every CSV under ``root``."""
    files = _visible_files(Path(root), ".csv")
    rows = None
    if count_rows:
        rows = 0
        for path in files:
            with open(path, "rb") as f:
                rows += max(
                    0, sum(chunk.count(b"\n") for chunk in iter(lambda f=f: f.read(1 << 20), b"")) - 1
                )
    return FolderSize(len(files), sum(p.stat().st_size for p in files), rows)


def parquet_folder(root: Path) -> FolderSize:
    """Bytes and rows (from the footers) of every Parquet file under ``root``."""
    files = _visible_files(Path(root), ".parquet")
    rows = sum(pq.read_metadata(p).num_rows for p in files)
    return FolderSize(len(files), sum(p.stat().st_size for p in files), rows)
