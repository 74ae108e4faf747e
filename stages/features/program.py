"""The features stage program: ingest Parquet files in, the same files plus rolling features out.

    python3 -m stages.features --ingest /pfs/ingest --out /pfs/out

Every ``*.parquet`` file under ``--ingest`` (one symbol file per datum under Pachyderm, or a
whole ingest output when run by hand) is written to the same relative path under ``--out``.
Folders whose name starts with ``_`` (the ingest stage's ``_quality/`` records) or ``.``
and every other file are ignored.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.common.parquet import write_parquet_atomic
from stages.common.per_datum import log_to_stderr, parse_args_once
from stages.common.schema import FEATURES_SCHEMA
from stages.features.table import FeaturesInputError, add_features

log = logging.getLogger("stages.features")

#: Parquet write settings, chosen by measurement (docs/features.md, "Speed"): snappy, dictionary
#: encoding for the two repeated strings only, BYTE_STREAM_SPLIT for the floats (a quarter less
#: CPU than plain + snappy and a fifth smaller), statistics for Date only.
PARQUET_WRITE_OPTIONS: dict[str, object] = {
    "compression": "snappy",
    "use_dictionary": ["Symbol", "Security Name"],
    "use_byte_stream_split": [field.name for field in FEATURES_SCHEMA if pa.types.is_floating(field.type)],
    "write_statistics": ["Date"],
}

#: Seconds between two progress lines when many files are processed in one call.
PROGRESS_EVERY_S = 10.0


class FeaturesError(Exception):
    """A failure the user can act on; its message is the stage's one-line error."""


def iter_input_files(root: Path) -> Iterator[Path]:
    """Yield the ``*.parquet`` files under ``root``, sorted; skip names starting with ``_`` or ``.``."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(("_", ".")))
        for name in sorted(files):
            if name.endswith(".parquet") and not name.startswith(("_", ".")):
                yield Path(folder) / name


def process_file(source: Path, target: Path) -> int:
    """Compute the features of one symbol file and write them atomically; return its row count."""
    try:
        with pq.ParquetFile(source, pre_buffer=False) as parquet:
            table = parquet.read(use_threads=False)
    except (OSError, pa.ArrowException) as exc:
        raise FeaturesError(f"features: {source}: not a readable Parquet file: {exc}") from None
    try:
        result = add_features(table)
    except FeaturesInputError as exc:
        raise FeaturesError(f"features: {source}: {exc}") from None
    try:
        write_parquet_atomic(result, target, **PARQUET_WRITE_OPTIONS)
    except OSError as exc:
        raise FeaturesError(f"features: {target}: cannot write the output: {exc}") from None
    return result.num_rows


def run(ingest_root: Path, out_root: Path) -> tuple[int, int]:
    """Process every input file under ``ingest_root``; return (files, rows)."""
    if not ingest_root.is_dir():
        raise FeaturesError(f"features: --ingest {ingest_root}: no such folder")
    files = rows = 0
    started = last_progress = time.monotonic()
    for source in iter_input_files(ingest_root):
        rows += process_file(source, out_root / source.relative_to(ingest_root))
        files += 1
        now = time.monotonic()
        if now - last_progress >= PROGRESS_EVERY_S:
            log.info("features: %d files, %d rows so far (%.0f s)", files, rows, now - started)
            last_progress = now
    return files, rows


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The command line parser, built once per process (warm workers call main per datum)."""
    parser = argparse.ArgumentParser(
        prog="python3 -m stages.features",
        description="Append vol_moving_avg (30-row mean of Volume) and adj_close_rolling_med "
        "(30-row median of Adj Close) to every ingest Parquet file under --ingest.",
    )
    parser.add_argument(
        "--ingest", type=Path, default=Path("/pfs/ingest"), help="ingest output root (default /pfs/ingest)"
    )
    parser.add_argument("--out", type=Path, default=Path("/pfs/out"), help="output root (default /pfs/out)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_args_once(_parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_to_stderr("%(message)s")
    started = time.monotonic()
    try:
        files, rows = run(args.ingest, args.out)
    except FeaturesError as exc:
        print(" ".join(str(exc).splitlines()), file=sys.stderr)  # one line, whatever the cause said
        return 1
    log.info(
        "features: %d file(s), %d rows from %s to %s in %.2f s",
        files,
        rows,
        args.ingest,
        args.out,
        time.monotonic() - started,
    )
    return 0
