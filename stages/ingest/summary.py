"""One summary of an ingest output folder, from its quality records.

    python -m stages.ingest.summary .pfs/ingest/master [--meta data/sample] [--json]

Reads every ``<folder>/_quality/**/*.json`` and prints: files (by status and folder), rows read,
kept and dropped by reason, files rejected and why, files with no metadata row, metadata rows
with no file, the files not ingested (each with its reason and row count: ``N files not
ingested``), symbols with a file in both stocks/ and etfs/ (and which one was used), and
metadata symbols whose rows disagree (docs/data-quality.md). The quality records carry the
metadata's digest, symbol and conflict counts, so the metadata numbers need no other input;
``--meta`` (the metadata file or its folder) also names the symbols.

Exit status: 0 whatever rows were dropped or files rejected (they are reported, loudly);
1 for a broken folder: missing, no quality record, an unreadable record, or records and
Parquet files that do not match.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stages.ingest.metadata import parse_metadata, resolve_metadata_path
from stages.ingest.not_ingested import NOT_INGESTED_DIR, NotIngested, Reason
from stages.ingest.quality import DROP_REASONS, QualityRecord
from stages.ingest.symbol_file import nasdaq_symbol_of

QUALITY_DIR = "_quality"
_SHOWN_NAMES = 20


class BrokenOutput(Exception):
    """The folder is not a complete ingest output."""


@dataclass
class Summary:
    folder: str
    files: Counter[str] = field(default_factory=Counter)  # by status
    files_by_folder: Counter[str] = field(default_factory=Counter)
    rows_read: int = 0
    rows_kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    rejected: dict[str, str] = field(default_factory=dict)  # file -> error
    empty: list[str] = field(default_factory=list)
    without_metadata: list[str] = field(default_factory=list)
    metadata_symbols: int | None = None
    metadata_rows_without_file: int | None = None
    metadata_names_without_file: list[str] | None = None
    not_ingested: list[dict[str, Any]] = field(default_factory=list)  # NotIngested records, by file
    #: NASDAQ Symbol with a file in both stocks/ and etfs/ -> what was done, one line
    both_folders: dict[str, str] = field(default_factory=dict)
    #: NASDAQ Symbol -> the disagreeing metadata rows (for symbols with a file, or all with --meta)
    metadata_conflicts: dict[str, str] = field(default_factory=dict)
    metadata_conflicting_symbols: int | None = None  # in the whole metadata file

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


def load_records(folder: Path) -> list[QualityRecord]:
    if not folder.is_dir():
        raise BrokenOutput(f"{folder}: no such folder")
    quality = folder / QUALITY_DIR
    paths = sorted(
        p for p in quality.glob("**/*.json") if NOT_INGESTED_DIR not in p.relative_to(quality).parts
    )
    if not paths and not (quality / NOT_INGESTED_DIR).is_dir():
        raise BrokenOutput(f"{folder}: no quality record under {QUALITY_DIR}/ (is it an ingest output?)")
    records = []
    for path in paths:
        try:
            records.append(QualityRecord.from_json(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, OSError) as err:
            raise BrokenOutput(f"{path}: unreadable quality record: {err}") from None
    outputs = {r.output for r in records if r.status == "ok"}
    parquet = {
        p.relative_to(folder).as_posix() for p in folder.glob("*/*.parquet") if p.parent.name[0] != "_"
    }
    if outputs != parquet:
        missing, extra = sorted(outputs - parquet), sorted(parquet - outputs)
        raise BrokenOutput(
            f"{folder}: quality records and Parquet files differ "
            f"(recorded but missing: {missing[:5]}, present without a record: {extra[:5]})"
        )
    return records


def load_not_ingested(folder: Path) -> list[NotIngested]:
    """The records of files not ingested (``_quality/_not_ingested/**/*.json``), by file."""
    records = []
    for path in sorted((folder / QUALITY_DIR / NOT_INGESTED_DIR).glob("**/*.json")):
        try:
            records.append(NotIngested.from_json(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, OSError) as err:
            raise BrokenOutput(f"{path}: unreadable record of a file not ingested: {err}") from None
    return sorted(records, key=lambda r: r.file)


def _both_folders(records: list[QualityRecord], skipped: list[NotIngested]) -> dict[str, str]:
    """Symbols with a price file in both stocks/ and etfs/, and what the rule did with them."""
    ingested: dict[str, list[str]] = {}
    for r in records:
        ingested.setdefault(r.nasdaq_symbol, []).append(r.file)
    set_aside: dict[str, str] = {}
    for n in skipped:
        if n.reason == Reason.FOLDER_CONTRADICTS_METADATA.value:
            set_aside[nasdaq_symbol_of(n.file.rsplit("/", 1)[-1])] = n.file
    found = {}
    for symbol in sorted(set(ingested) | set(set_aside)):
        files = ingested.get(symbol, [])
        if len(files) > 1:
            found[symbol] = (
                f"{symbol}: {' and '.join(sorted(files))} both ingested (no ETF flag in the metadata to "
                "choose one): training counts their shared dates twice; delete one and put again"
            )
        elif files and symbol in set_aside:
            found[symbol] = (
                f"{symbol}: {files[0]} used; {set_aside[symbol]} not ingested (the metadata's ETF flag)"
            )
    return found


def summarize(
    folder: Path, records: list[QualityRecord], meta: Path | None = None, skipped: Sequence[NotIngested] = ()
) -> Summary:
    summary = Summary(folder=str(folder))
    summary.not_ingested = [asdict(n) for n in skipped]
    summary.both_folders = _both_folders(records, list(skipped))
    conflict_counts: set[int] = set()
    matched: set[str] = set()
    metadata_versions: dict[str, int] = {}
    for r in records:
        summary.files[r.status] += 1
        summary.files_by_folder[r.file.split("/", 1)[0]] += 1
        summary.rows_read += r.rows_read
        summary.rows_kept += r.rows_kept
        summary.dropped.update(r.dropped)
        for name, value in r.flags.items():
            summary.flags[name] += int(value)
        if r.status == "rejected":
            summary.rejected[r.file] = r.error or "?"
        elif r.status == "empty":
            summary.empty.append(r.file)
        if r.metadata_row:
            matched.add(r.nasdaq_symbol)
        else:
            summary.without_metadata.append(r.file)
        if r.metadata:
            metadata_versions[r.metadata["digest"]] = r.metadata["symbols"]
            conflict_counts.add(r.metadata.get("conflicts", 0))
        if r.metadata_conflict:
            summary.metadata_conflicts[r.nasdaq_symbol] = r.metadata_conflict
    if len(metadata_versions) == 1:
        summary.metadata_symbols = next(iter(metadata_versions.values()))
        summary.metadata_rows_without_file = summary.metadata_symbols - len(matched)
        summary.metadata_conflicting_symbols = (
            next(iter(conflict_counts)) if len(conflict_counts) == 1 else None
        )
    if meta is not None:
        path = resolve_metadata_path(meta)
        metadata = parse_metadata(path.read_bytes(), str(path))
        names = sorted(set(metadata.by_nasdaq_symbol) - matched)
        summary.metadata_symbols = len(metadata.by_nasdaq_symbol)
        summary.metadata_rows_without_file = len(names)
        summary.metadata_names_without_file = names
        summary.metadata_conflicting_symbols = len(metadata.conflicts)
        summary.metadata_conflicts = {k: metadata.conflict_of(k) or "" for k in sorted(metadata.conflicts)}
    return summary


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN_NAMES])
    return shown + (f", ... ({len(items) - _SHOWN_NAMES} more)" if len(items) > _SHOWN_NAMES else "")


def render(s: Summary) -> str:
    total = sum(s.files.values())
    lines = [
        f"ingest summary of {s.folder}",
        f"  files: {total} ({', '.join(f'{k} {v}' for k, v in sorted(s.files_by_folder.items()))}): "
        f"ok {s.files['ok']}, empty {s.files['empty']}, rejected {s.files['rejected']}",
        f"  rows: read {s.rows_read:,}, kept {s.rows_kept:,}, dropped {sum(s.dropped.values()):,}",
    ]
    lines += [
        f"    dropped {reason:<20} {s.dropped[reason]:>10,}" for reason in DROP_REASONS if s.dropped[reason]
    ]
    lines.append(
        "  flags (kept, reported): "
        f"files with float-text Volume {s.flags['volume_as_float_text']}, "
        f"files with unsorted dates {s.flags['unsorted_dates']}, "
        f"zero-volume rows {s.flags['zero_volume_rows']:,}, zero-price rows {s.flags['zero_price_rows']:,}"
    )
    if s.empty:
        lines.append(f"  files with no row kept (no Parquet file): {len(s.empty)}: {_names(s.empty)}")
    lines.append(
        f"  files with no metadata row (Security Name null): {len(s.without_metadata)}"
        + (f": {_names(s.without_metadata)}" if s.without_metadata else "")
    )
    if s.metadata_rows_without_file is None:
        lines.append(
            "  metadata rows with no file: unknown (records from several metadata files; use --meta)"
        )
    else:
        names = s.metadata_names_without_file
        lines.append(
            f"  metadata rows with no file: {s.metadata_rows_without_file:,} of {s.metadata_symbols:,}"
            + (f": {_names(names)}" if names else "")
        )
    rows = sum(n["rows"] or 0 for n in s.not_ingested)
    lines.append(
        f"  {len(s.not_ingested)} files not ingested"
        + (
            f" ({rows:,} rows): no output; move, rename or delete them and put again"
            if s.not_ingested
            else ""
        )
    )
    lines += [f"    {n['detail']}" for n in s.not_ingested]
    if s.both_folders:
        lines.append(f"  symbols with a file in both stocks/ and etfs/: {len(s.both_folders)}")
        lines += [f"    {line}" for _, line in sorted(s.both_folders.items())]
    if s.metadata_conflicting_symbols or s.metadata_conflicts:
        count = s.metadata_conflicting_symbols
        lines.append(
            "  metadata symbols listed more than once with different names: "
            + (f"{count:,}" if count is not None else "unknown (several metadata files)")
            + (f"; with a price file: {len(s.metadata_conflicts)}" if s.metadata_conflicts else "")
        )
        lines += [f"    {line}" for _, line in sorted(s.metadata_conflicts.items())]
    if s.rejected:
        lines.append(
            f"  REJECTED FILES: {len(s.rejected)} unreadable, quarantined, no output: fix and put again"
        )
        lines += [f"    {error}" for _, error in sorted(s.rejected.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stages.ingest.summary", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folder", type=Path, help="an ingest output folder, e.g. .pfs/ingest/master")
    parser.add_argument("--meta", type=Path, help="metadata file (or its folder) to name rows with no file")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    args = parser.parse_args(argv)
    try:
        records = load_records(args.folder)
        summary = summarize(args.folder, records, args.meta, load_not_ingested(args.folder))
    except (BrokenOutput, ValueError, OSError) as err:
        print(f"ingest summary: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary.as_dict(), sort_keys=True) if args.json else render(summary))
    if summary.rejected:
        print(
            f"ingest summary: WARNING {len(summary.rejected)} price files rejected, see above",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
