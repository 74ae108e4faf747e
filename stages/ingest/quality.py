"""The per-symbol quality record: what was read, kept, dropped (and why) for one price file.

Written as ``<out>/_quality/<stocks|etfs>/<SYM>.json``; ``stages.ingest.summary`` adds them up.
Invariant for every record: ``rows_read == rows_kept + sum(dropped.values())``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

#: Version of the record's layout; the summary refuses records of another version.
RECORD_VERSION = 1

#: Why a row is dropped, in priority order: a row is counted once, under its first reason.
DROP_REASONS: tuple[str, ...] = (
    "blank_line",  # a line with nothing on it
    "empty_row",  # a date (or nothing) followed by six empty fields, e.g. NVDA's `2001-09-12,,,,,,`
    "invalid_date",  # Date empty, not YYYY-MM-DD, or not a calendar date (2020-02-30)
    "invalid_number",  # a value that is not a finite decimal number (`abc`, `NA`, `nan`, `inf`)
    "missing_value",  # some (not all) of the six values empty
    "negative_value",  # a price or the volume below zero
    "fractional_volume",  # Volume not a whole number (`12.5`)
    "duplicate_identical",  # same date and same values as a kept row: one copy is kept
    "duplicate_conflict",  # same date, different values: every row of that date is dropped
)

#: File statuses: `ok` (a Parquet file was written), `empty` (no row to keep: empty file,
#: header only, or every row dropped; no Parquet file), `rejected` (unreadable; no Parquet file).
STATUSES: tuple[str, ...] = ("ok", "empty", "rejected")


@dataclass
class QualityRecord:
    """What happened to one price file."""

    file: str  # path under the prices root, e.g. "stocks/A.csv"
    nasdaq_symbol: str  # the file's stem: the metadata's `NASDAQ Symbol`
    symbol: str  # the `Symbol` written to the output (the metadata's, or the stem)
    status: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # for `rejected`: "<file> line N: why"
    output: str | None = None  # path of the Parquet file under the output root
    metadata_row: bool = False  # whether the metadata has a row for this NASDAQ Symbol
    metadata: dict[str, Any] = field(
        default_factory=dict
    )  # digest, symbol and conflict counts of the metadata
    metadata_conflict: str | None = None  # when the metadata's rows for this symbol disagree: which ones
    version: int = RECORD_VERSION

    def check(self) -> None:
        """Raise ``ValueError`` if the record breaks its own invariants."""
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        unknown = set(self.dropped) - set(DROP_REASONS)
        if unknown:
            raise ValueError(f"unknown drop reasons {sorted(unknown)}")
        if self.rows_read != self.rows_kept + sum(self.dropped.values()):
            raise ValueError(
                f"rows read {self.rows_read} != kept {self.rows_kept} + dropped {sum(self.dropped.values())}"
            )

    def to_json(self) -> str:
        self.check()
        as_dict = {f.name: getattr(self, f.name) for f in fields(self)}
        # One line: json.dumps with indent uses the pure-Python encoder (~4x slower per record).
        return json.dumps(as_dict, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> QualityRecord:
        raw = json.loads(text)
        if raw.get("version") != RECORD_VERSION:
            raise ValueError(f"record version {raw.get('version')!r}, expected {RECORD_VERSION}")
        record = cls(**raw)
        record.check()
        return record
