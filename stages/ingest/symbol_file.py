"""One price file's bytes + the metadata -> the output table and its quality record (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from stages.common.schema import INGEST_SCHEMA, PRICE_COLUMNS
from stages.ingest.clean import clean_prices
from stages.ingest.metadata import Metadata
from stages.ingest.parse import UnreadableFile, parse_prices
from stages.ingest.quality import QualityRecord


@dataclass(frozen=True)
class SymbolResult:
    """``table`` (INGEST_SCHEMA, sorted by Date) is ``None`` unless the record's status is ``ok``."""

    table: pa.Table | None
    record: QualityRecord


def nasdaq_symbol_of(file_name: str) -> str:
    """The file's stem: strip only the final ``.csv``

    Examples: ``LGF.B.csv`` -> ``LGF.B``, ``CARR#.csv`` -> ``CARR#``.
    """
    return file_name[: -len(".csv")] if file_name.endswith(".csv") else file_name


def ingest_bytes(
    data: bytes, rel_path: str, metadata: Metadata, *, shown_path: str | None = None
) -> SymbolResult:
    """Parse, clean and label one price file.

    ``rel_path`` is ``<stocks|etfs>/<NASDAQ Symbol>.csv``; ``shown_path`` (default ``rel_path``)
    names the file in the error of a rejected file.
    """
    nasdaq_symbol = nasdaq_symbol_of(rel_path.rsplit("/", 1)[-1])
    info = metadata.lookup(nasdaq_symbol)
    record = QualityRecord(
        file=rel_path,
        nasdaq_symbol=nasdaq_symbol,
        symbol=info.symbol if info else nasdaq_symbol,
        status="ok",
        metadata_row=info is not None,
        metadata={
            "digest": metadata.digest,
            "symbols": len(metadata.by_nasdaq_symbol),
            "conflicts": len(metadata.conflicts),
        },
        metadata_conflict=metadata.conflict_of(nasdaq_symbol),
    )
    try:
        parsed = parse_prices(data)
    except UnreadableFile as err:
        record.status = "rejected"
        record.error = f"{shown_path or rel_path} {err}"
        return SymbolResult(None, record)
    if parsed is None:
        record.status = "empty"
        return SymbolResult(None, record)
    clean = clean_prices(parsed)
    record.rows_read = clean.rows_read
    record.rows_kept = clean.table.num_rows
    record.dropped = clean.dropped
    record.flags = dict(clean.flags)
    if record.rows_kept == 0:
        record.status = "empty"
        return SymbolResult(None, record)
    n = clean.table.num_rows
    name = info.security_name if info else None
    table = pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(record.symbol, pa.string()), n),
            pa.repeat(pa.scalar(name, pa.string()), n),
            clean.table["Date"],
            *(clean.table[c] for c in PRICE_COLUMNS),
            clean.table["Volume"],
        ],
        schema=INGEST_SCHEMA,
    )
    return SymbolResult(table, record)
