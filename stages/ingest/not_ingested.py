"""Files the ingest stage sees but does not ingest, each recorded with its reason and row count.

Every file under ``--prices`` ends in the summary: ingested (a quality record under
``_quality/<stocks|etfs>/``) or not, with a record written here as
``<out>/_quality/_not_ingested/<path under prices>.json``. The features stage skips ``_`` folders,
so these records never reach training. The rules are in docs/data-quality.md ("Files not ingested").
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

#: Folder of the records, under the quality folder.
NOT_INGESTED_DIR = "_not_ingested"
#: Version of the record's layout; the summary refuses records of another version.
NOT_INGESTED_VERSION = 1
_READ_CHUNK = 1 << 20


class Reason(StrEnum):
    """Why a file is not ingested; the value is what records and the summary show."""

    EXTENSION_CASE = "extension_case"  # stocks/X.CSV: the extension must be exactly .csv
    NOT_CSV = "not_csv"  # stocks/X.txt
    UNKNOWN_FOLDER = "unknown_folder"  # bonds/X.csv, or a file beside stocks/ and etfs/
    TOO_DEEP = "too_deep"  # stocks/sub/X.csv: price files lie directly in stocks/ or etfs/
    HIDDEN = "hidden"  # a name starting with "." (.DS_Store, an editor's backup)
    NOT_REGULAR = "not_a_regular_file"  # a fifo, socket or device: never opened
    FOLDER_CONTRADICTS_METADATA = (
        "folder_contradicts_metadata"  # etfs/A.csv where the metadata says A is no ETF
    )

    def explain(self) -> str:
        return _EXPLAIN[self]


_EXPLAIN: dict[Reason, str] = {
    Reason.EXTENSION_CASE: "the extension must be exactly .csv (lower case); rename it",
    Reason.NOT_CSV: "not a .csv file",
    Reason.UNKNOWN_FOLDER: "price files lie in stocks/ or etfs/, not here",
    Reason.TOO_DEEP: "price files lie directly in stocks/ or etfs/, not in a subfolder",
    Reason.HIDDEN: "a hidden file (its name starts with '.')",
    Reason.NOT_REGULAR: "not a regular file (not read)",
    Reason.FOLDER_CONTRADICTS_METADATA: "the metadata's ETF flag puts this symbol in the other folder",
}


@dataclass(frozen=True)
class NotIngested:
    """One file under the prices root that has no output: where it is, why, and its data lines."""

    file: str  # path under the prices root, e.g. "bonds/X.csv"
    reason: str  # a Reason value
    rows: int | None  # non-blank lines after the first (header) line; None if not read
    detail: str  # one line for people: the file, the reason, what to do
    version: int = NOT_INGESTED_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> NotIngested:
        raw = json.loads(text)
        if raw.get("version") != NOT_INGESTED_VERSION:
            raise ValueError(f"record version {raw.get('version')!r}, expected {NOT_INGESTED_VERSION}")
        record = cls(**raw)
        Reason(record.reason)  # ValueError for an unknown reason
        return record


def count_rows(path: Path) -> int | None:
    """Non-blank lines after the first line of a regular file (its data rows); None for anything else.

    Reads the file in chunks and keeps none of its bytes: the count is all that leaves this function.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        rows = 0
        seen_first_line = False
        line_has_text = False
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                rows, seen_first_line, line_has_text = _count_chunk(
                    chunk, rows, seen_first_line, line_has_text
                )
        if line_has_text and seen_first_line:
            rows += 1
        return rows
    except OSError:
        return None


def _count_chunk(
    chunk: bytes, rows: int, seen_first_line: bool, line_has_text: bool
) -> tuple[int, bool, bool]:
    """Carry the line count across a chunk: (rows so far, first line done, current line has text)."""
    parts = chunk.split(b"\n")
    for i, part in enumerate(parts):
        line_has_text = line_has_text or bool(part.strip())
        if i == len(parts) - 1:
            break  # the last part continues in the next chunk
        if seen_first_line and line_has_text:
            rows += 1
        seen_first_line = True
        line_has_text = False
    return rows, seen_first_line, line_has_text


def not_ingested(path: Path, rel_path: str, reason: Reason, why: str | None = None) -> NotIngested:
    """The record of a file not ingested; its rows are counted unless it is not a regular file.

    ``why`` replaces the reason's standard explanation (it must not quote the file's bytes).
    """
    rows = None if reason is Reason.NOT_REGULAR else count_rows(path)
    shown_rows = "rows unknown" if rows is None else f"{rows:,} rows"
    return NotIngested(
        file=rel_path,
        reason=reason.value,
        rows=rows,
        detail=f"{rel_path}: not ingested ({shown_rows}): {why or reason.explain()}",
    )


def record_path(out: Path, quality_dir: str, rel_path: str) -> Path:
    """Where the record of ``rel_path`` is written under the output folder."""
    return out / quality_dir / NOT_INGESTED_DIR / f"{rel_path}.json"
