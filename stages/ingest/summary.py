"""One summary of an ingest output folder, from its quality records.

    python -m stages.ingest.summary .pfs/ingest/master [--meta data/sample] [--json]

Reads every ``<folder>/_quality/**/*.json`` and prints: files (by status and folder), rows read,
kept and dropped by reason, files rejected and why, files with no metadata row, and metadata
rows with no file. The quality records carry the metadata's digest and symbol count, so that
last number needs no other input; ``--meta`` (the metadata file or its folder) also names them.

Exit status: 0 whatever rows were dropped or files rejected (they are reported, loudly);
1 for a broken folder: missing, no quality record, an unreadable record, or records and
Parquet files that do not match.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.ingest.metadata import parse_metadata, resolve_metadata_path
from stages.ingest.quality import DROP_REASONS, QualityRecord

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

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


def load_records(folder: Path) -> list[QualityRecord]:
    if not folder.is_dir():
        raise BrokenOutput(f"{folder}: no such folder")
    paths = sorted((folder / QUALITY_DIR).glob("**/*.json"))
    if not paths:
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


def summarize(folder: Path, records: list[QualityRecord], meta: Path | None = None) -> Summary:
    summary = Summary(folder=str(folder))
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
    if len(metadata_versions) == 1:
        summary.metadata_symbols = next(iter(metadata_versions.values()))
        summary.metadata_rows_without_file = summary.metadata_symbols - len(matched)
    if meta is not None:
        path = resolve_metadata_path(meta)
        metadata = parse_metadata(path.read_bytes(), str(path))
        names = sorted(set(metadata.by_nasdaq_symbol) - matched)
        summary.metadata_symbols = len(metadata.by_nasdaq_symbol)
        summary.metadata_rows_without_file = len(names)
        summary.metadata_names_without_file = names
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
        summary = summarize(args.folder, records, args.meta)
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
