"""The ingest program: price CSVs + metadata -> one Parquet file and one quality record per symbol.

    python3 -m stages.ingest --prices /pfs/prices --meta /pfs/meta --out /pfs/out

``--prices`` is a folder in the Kaggle layout (``<stocks|etfs>/<SYM>.csv``; one file in a
Pachyderm datum, any number by hand) or one price file. ``--meta`` is the metadata file or
a folder holding ``symbols_valid_meta.csv``. Writes ``<out>/<stocks|etfs>/<SYM>.parquet`` and
``<out>/_quality/<stocks|etfs>/<SYM>.json``, each atomically.

A file under ``--prices`` that is not a price file (``stocks/X.CSV``, ``bonds/X.csv``,
``stocks/sub/X.csv``, a hidden file) or lies in the folder the metadata's ETF flag contradicts
gets no Parquet file but a record ``<out>/_quality/_not_ingested/<path>.json`` with its reason
and row count (stages/ingest/not_ingested.py), and a warning line; the summary lists them.

An unreadable price file (wrong header, bytes not UTF-8, wrong field count) is quarantined:
no Parquet file, a quality record with status ``rejected`` naming the file and line, an
error line in the log, and a line in the summary; the datum succeeds so the other 8,000
symbols go on. ``--strict`` fails instead (exit 1, one line on stderr). A missing or
unusable metadata file always fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from stages.common.atomic import write_text_atomic
from stages.common.parquet import write_parquet_atomic
from stages.common.per_datum import log_to_stderr, parse_args_once
from stages.common.schema import PRICE_COLUMNS
from stages.ingest.metadata import (
    META_FILE_NAME,
    Metadata,
    MetadataCache,
    MetadataError,
    resolve_metadata_path,
)
from stages.ingest.not_ingested import NotIngested, Reason, not_ingested, record_path
from stages.ingest.quality import QualityRecord
from stages.ingest.symbol_file import SymbolResult, ingest_bytes, nasdaq_symbol_of

log = logging.getLogger("stages.ingest")

CATEGORIES: tuple[str, ...] = ("stocks", "etfs")
QUALITY_DIR = "_quality"
#: Parquet settings measured fastest for these files (see docs/data-quality.md, "Speed").
PARQUET_OPTIONS: dict[str, object] = {
    "compression": "snappy",
    "use_dictionary": ["Symbol", "Security Name"],
    "write_statistics": ["Date"],
    # BYTE_STREAM_SPLIT lets snappy compress the float64 prices better and cheaper (the features
    # stage writes them the same way): 0.74 instead of 0.85 ms of CPU a file, 10 % smaller files.
    "use_byte_stream_split": list(PRICE_COLUMNS),
}

#: Parsed metadata kept across the datums a warm worker runs (keyed by file identity/content).
_METADATA_CACHE = MetadataCache()


class IngestError(Exception):
    """A failure that ends the program with one line on stderr."""


@dataclass(frozen=True)
class PriceFile:
    path: Path  # where to read it
    rel_path: str  # "<stocks|etfs>/<SYM>.csv"
    input_name: str = "prices"  # the prices root's folder name: /pfs/<input name> in a datum

    @property
    def shown(self) -> str:
        """How records name the file: ``<input>:/<path>``, the same in every run and every datum
        (the folder a datum is staged in changes from run to run; its path under the input does not)."""
        return f"{self.input_name}:/{self.rel_path}"


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The command line parser, built once per process (warm workers call main per datum)."""
    parser = argparse.ArgumentParser(
        prog="python -m stages.ingest",
        description="Kaggle price CSVs + symbols_valid_meta.csv -> per-symbol Parquet and quality records.",
    )
    parser.add_argument("--prices", type=Path, default=Path("/pfs/prices"), help="price folder or file")
    parser.add_argument("--meta", type=Path, default=Path("/pfs/meta"), help="metadata file or its folder")
    parser.add_argument("--out", type=Path, default=Path("/pfs/out"), help="output folder")
    parser.add_argument(
        "--strict", action="store_true", help="fail on an unreadable price file instead of quarantining it"
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_args_once(_parser, argv)


@dataclass(frozen=True)
class Inventory:
    """Everything under the prices root: the price files to ingest and the files that are not."""

    price_files: list[PriceFile]
    not_ingested: list[NotIngested]


def _files_below(folder: str, rel_folder: str) -> list[tuple[Path, str]]:
    """Every non-folder entry below ``folder`` (any depth), with its path under the prices root."""
    found = []
    for here, dirs, names in os.walk(folder):
        dirs.sort()
        rel_here = os.path.relpath(here, folder)
        rel_base = rel_folder if rel_here == "." else f"{rel_folder}/{Path(rel_here).as_posix()}"
        found += [(Path(here, name), f"{rel_base}/{name}") for name in sorted(names)]
    return found


def _judge(path: Path, rel_path: str, name: str) -> Reason | None:
    """Why the entry directly in stocks/ or etfs/ is not a price file, or None if it is one."""
    if name.startswith("."):
        return Reason.HIDDEN
    if not path.is_file():
        return Reason.NOT_REGULAR
    if name.endswith(".csv"):
        return None
    return Reason.EXTENSION_CASE if name.lower().endswith(".csv") else Reason.NOT_CSV


def find_price_files(prices: Path) -> Inventory:
    """Every ``<stocks|etfs>/*.csv`` under ``prices`` (or ``prices`` itself if it is a file), and
    every other file under it with the reason it is not ingested."""
    if prices.is_file():
        return Inventory(
            [PriceFile(prices, f"{prices.parent.name}/{prices.name}", prices.parent.parent.name)], []
        )
    if not prices.is_dir():
        raise IngestError(f"{prices}: price folder not found")
    found: list[PriceFile] = []
    skipped: list[NotIngested] = []
    with os.scandir(prices) as top:
        for entry in sorted(top, key=lambda e: e.name):
            if entry.name == META_FILE_NAME and not entry.is_dir():
                continue  # the metadata lies beside stocks/ and etfs/ when run on a raw folder
            if not entry.is_dir():
                reason = Reason.HIDDEN if entry.name.startswith(".") else Reason.UNKNOWN_FOLDER
                skipped.append(not_ingested(Path(entry.path), entry.name, reason))
                continue
            if entry.name not in CATEGORIES:
                skipped += [
                    not_ingested(path, rel, Reason.UNKNOWN_FOLDER)
                    for path, rel in _files_below(entry.path, entry.name)
                ]
                continue
            with os.scandir(entry.path) as files:
                for f in sorted(files, key=lambda e: e.name):
                    rel = f"{entry.name}/{f.name}"
                    if f.is_dir():
                        skipped += [not_ingested(p, r, Reason.TOO_DEEP) for p, r in _files_below(f.path, rel)]
                        continue
                    reason = _judge(Path(f.path), rel, f.name)
                    if reason is None:
                        found.append(PriceFile(Path(f.path), rel, prices.name))
                    else:
                        skipped.append(not_ingested(Path(f.path), rel, reason))
    return Inventory(found, skipped)


def write_not_ingested(record: NotIngested, out: Path) -> None:
    """Write the record of a file not ingested (atomically) and say so in the log."""
    log.warning("%s", record.detail)
    write_text_atomic(record_path(out, QUALITY_DIR, record.file), record.to_json())


def folder_contradiction(price_file: PriceFile, metadata: Metadata) -> NotIngested | None:
    """The record of a price file whose folder the metadata's ETF flag contradicts, or None.

    One series per symbol (docs/data-quality.md): the flag names the one folder a symbol is
    read from, so a copy in both stocks/ and etfs/ is never ingested twice, whichever datum
    runs first and without a datum seeing the other's file.
    """
    category, name = price_file.rel_path.split("/", 1)
    info = metadata.lookup(nasdaq_symbol_of(name))
    if category not in CATEGORIES or info is None or info.folder is None or info.folder == category:
        return None
    flag = "Y" if info.etf else "N"
    return not_ingested(
        price_file.path,
        price_file.rel_path,
        Reason.FOLDER_CONTRADICTS_METADATA,
        why=f"the metadata says ETF={flag} for {nasdaq_symbol_of(name)}, so its series is read from "
        f"{info.folder}/{name} only",
    )


def write_outputs(result: SymbolResult, category: str, out: Path) -> None:
    """Write (or remove a stale) Parquet file, then the quality record; never half of them."""
    record = result.record
    stem = record.nasdaq_symbol
    parquet_path = out / category / f"{stem}.parquet"
    if result.table is None:
        with contextlib.suppress(FileNotFoundError):
            parquet_path.unlink()  # a stale output of an earlier run of this folder
    else:
        record.output = f"{category}/{stem}.parquet"
        write_parquet_atomic(
            result.table, parquet_path, row_group_size=max(result.table.num_rows, 1), **PARQUET_OPTIONS
        )
    try:
        write_text_atomic(out / QUALITY_DIR / category / f"{stem}.json", record.to_json())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            parquet_path.unlink()
        raise


def ingest_file(price_file: PriceFile, metadata: Metadata, out: Path, *, strict: bool) -> QualityRecord:
    category = price_file.rel_path.split("/", 1)[0]
    if category not in CATEGORIES:
        raise IngestError(f"{price_file.path}: a price file must lie in stocks/ or etfs/, not {category}/")
    data = price_file.path.read_bytes()
    result = ingest_bytes(data, price_file.rel_path, metadata, shown_path=price_file.shown)
    record = result.record
    if record.status == "rejected":
        if strict:
            raise IngestError(record.error)
        log.error("REJECTED (quarantined, no output): %s", record.error)
    if not record.metadata_row:
        log.warning(
            "%s: no metadata row for NASDAQ Symbol %r (Security Name left null)",
            price_file.path,
            record.nasdaq_symbol,
        )
    write_outputs(result, category, out)
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_to_stderr("ingest: %(message)s")
    started = time.perf_counter()
    try:
        metadata = _METADATA_CACHE.load(resolve_metadata_path(args.meta))
        inventory = find_price_files(args.prices)
        files = inventory.price_files
        skipped = list(inventory.not_ingested)
        for record in skipped:
            write_not_ingested(record, args.out)
        statuses: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        kept = 0
        for i, price_file in enumerate(files, start=1):
            contradiction = folder_contradiction(price_file, metadata)
            if contradiction is not None:
                write_not_ingested(contradiction, args.out)
                skipped.append(contradiction)
                continue
            try:
                record = ingest_file(price_file, metadata, args.out, strict=args.strict)
            except (IngestError, MetadataError, OSError):
                raise
            except Exception as err:  # a bug, not bad input: keep the traceback, end with one line
                log.exception("unexpected error")
                raise IngestError(f"{price_file.path}: unexpected error: {err!r}") from err
            statuses[record.status] += 1
            dropped.update(record.dropped)
            kept += record.rows_kept
            if len(files) > 50 and i % 500 == 0:
                log.info("%d/%d files", i, len(files))
    except (IngestError, MetadataError, OSError) as err:
        print(f"ingest: {err}", file=sys.stderr)
        return 1
    if not files and not skipped:
        log.warning("%s: no <stocks|etfs>/*.csv price file found", args.prices)
    log.info(
        "%d files (ok %d, empty %d, rejected %d, not ingested %d), %d rows kept, %d dropped%s in %.2f s",
        len(files) + len(inventory.not_ingested),
        statuses["ok"],
        statuses["empty"],
        statuses["rejected"],
        len(skipped),
        kept,
        sum(dropped.values()),
        f" {dict(sorted(dropped.items()))}" if dropped else "",
        time.perf_counter() - started,
    )
    return 0


__all__ = [
    "IngestError",
    "Inventory",
    "PriceFile",
    "find_price_files",
    "ingest_file",
    "main",
    "nasdaq_symbol_of",
]
