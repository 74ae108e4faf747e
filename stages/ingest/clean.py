"""Judge every parsed row: keep it, or drop it with one counted reason; sort by date; dedupe.

Pure computation on Arrow/numpy arrays (no I/O). The common case (no problem at all, dates
already increasing) costs a few vectorised checks and no copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.common.schema import PRICE_COLUMNS
from stages.ingest.parse import VALUE_COLUMNS, ParsedPrices
from stages.ingest.quality import DROP_REASONS

#: Volumes above this cannot be told whole or exact from float text: counted `invalid_number`.
_MAX_EXACT_FLOAT_INT = 2.0**53
_KEEP = 0
#: The fast reader's original Date text, carried through filtering and sorting as an extra column.
_DATE_TEXT = "Date (text)"
_CODE = {reason: code for code, reason in enumerate(DROP_REASONS, start=1)}


@dataclass(frozen=True)
class CleanPrices:
    """Rows kept (``Date`` as YYYY-MM-DD text, prices float64, ``Volume`` int64), sorted by date."""

    table: pa.Table
    rows_read: int
    dropped: dict[str, int]
    flags: dict[str, int | bool]


def clean_prices(parsed: ParsedPrices) -> CleanPrices:
    """Drop bad rows (counted by reason), sort by date, resolve duplicate dates."""
    table = parsed.table
    if parsed.date_text is not None:  # filtered and sorted along with the rows
        table = table.append_column(_DATE_TEXT, parsed.date_text)
    codes = _row_codes(parsed)
    if codes is not None:
        table = table.filter(pa.array(codes == _KEEP))
    days = pc.cast(table["Date"], pa.int32()).to_numpy()
    unsorted = bool(days.size > 1 and not np.all(days[1:] > days[:-1]))
    dup_identical = dup_conflict = 0
    if unsorted:
        table, days, dup_identical, dup_conflict = _sort_and_dedupe(table, days)
    dropped = {"blank_line": parsed.blank_lines} if parsed.blank_lines else {}
    if codes is not None:
        counts = np.bincount(codes, minlength=len(DROP_REASONS) + 1)
        dropped.update({r: int(counts[c]) for r, c in _CODE.items() if counts[c]})
    if dup_identical:
        dropped["duplicate_identical"] = dup_identical
    if dup_conflict:
        dropped["duplicate_conflict"] = dup_conflict
    volume = table["Volume"]
    if pa.types.is_floating(volume.type):
        volume = pc.cast(volume, pa.int64())  # every value checked whole, finite, in range
    flags: dict[str, int | bool] = {
        "unsorted_dates": unsorted,
        "volume_as_float_text": parsed.volume_as_float_text,
        "strict_reader": parsed.strict_reader,
        "zero_volume_rows": int(np.count_nonzero(volume.to_numpy() == 0)),
        "zero_price_rows": _zero_price_rows(table),
    }
    date_text = table[_DATE_TEXT] if parsed.date_text is not None else pc.cast(table["Date"], pa.string())
    out = pa.table(
        {
            "Date": date_text,
            **{c: table[c] for c in PRICE_COLUMNS},
            "Volume": volume,
        }
    )
    return CleanPrices(table=out, rows_read=parsed.rows_read, dropped=dropped, flags=flags)


def _zero_price_rows(table: pa.Table) -> int:
    """Rows with at least one price equal to 0 (the kept rows have no nulls)."""
    if not table.num_rows:
        return 0
    zero = table[PRICE_COLUMNS[0]].to_numpy() == 0
    for name in PRICE_COLUMNS[1:]:
        zero |= table[name].to_numpy() == 0
    return int(np.count_nonzero(zero))


def _as_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Values as float64 (nulls as 0: callers mask them separately)."""
    if column.null_count:
        column = pc.fill_null(column, 0)
    return column.to_numpy().astype(np.float64, copy=False)


def _row_codes(parsed: ParsedPrices) -> np.ndarray | None:
    """Per row: 0 to keep, else the code of its first drop reason; ``None`` if every row is fine."""
    table = parsed.table
    values = {name: _as_numpy(table[name]) for name in VALUE_COLUMNS}
    volume_is_float = pa.types.is_floating(table["Volume"].type)
    volume = values["Volume"]
    any_null = any(table[name].null_count for name in ("Date", *VALUE_COLUMNS))
    all_fine = (
        not any_null
        and not parsed.unparseable
        # min >= 0 and max < inf, each False for a NaN: two reductions and no temporary array
        and all(v.size == 0 or (v.min() >= 0 and v.max() < np.inf) for v in values.values())
        and (
            not volume_is_float
            or bool(np.all((volume == np.floor(volume)) & (volume <= _MAX_EXACT_FLOAT_INT)))
        )
    )
    if all_fine:
        return None
    n = table.num_rows
    no_flags = np.zeros(n, dtype=bool)
    unparseable = {name: parsed.unparseable.get(name, no_flags) for name in ("Date", *VALUE_COLUMNS)}
    null = {name: table[name].is_null().to_numpy(zero_copy_only=False) for name in ("Date", *VALUE_COLUMNS)}
    empty = {name: null[name] & ~unparseable[name] for name in null}
    not_finite = np.zeros(n, dtype=bool)
    negative = np.zeros(n, dtype=bool)
    for name in VALUE_COLUMNS:
        v = values[name]
        with np.errstate(invalid="ignore"):
            not_finite |= ~null[name] & ~np.isfinite(v)
            negative |= ~null[name] & (v < 0)
    if volume_is_float:
        with np.errstate(invalid="ignore"):
            not_finite |= ~null["Volume"] & (np.abs(volume) > _MAX_EXACT_FLOAT_INT)
            fractional = ~null["Volume"] & np.isfinite(volume) & (volume != np.floor(volume))
    else:
        fractional = no_flags
    conditions = {
        "empty_row": np.logical_and.reduce([empty[name] for name in VALUE_COLUMNS]),
        "invalid_date": null["Date"],
        "invalid_number": not_finite | np.logical_or.reduce([unparseable[n] for n in VALUE_COLUMNS]),
        "missing_value": np.logical_or.reduce([empty[name] for name in VALUE_COLUMNS]),
        "negative_value": negative,
        "fractional_volume": fractional,
    }
    codes = np.zeros(n, dtype=np.int64)
    for reason, condition in conditions.items():
        codes[(codes == _KEEP) & condition] = _CODE[reason]
    return codes


def _sort_and_dedupe(table: pa.Table, days: np.ndarray) -> tuple[pa.Table, np.ndarray, int, int]:
    """Stable sort by date; identical rows of one date keep one copy, conflicting ones are all dropped."""
    order = np.argsort(days, kind="stable")
    table = table.take(pa.array(order))
    days = days[order]
    same_as_previous = days[1:] == days[:-1]
    if not same_as_previous.any():
        return table, days, 0, 0
    columns = [_as_numpy(table[name]) for name in VALUE_COLUMNS]
    pair_equal = np.logical_and.reduce([c[1:] == c[:-1] for c in columns])
    group = np.cumsum(np.r_[True, ~same_as_previous]) - 1
    conflicted = np.zeros(group[-1] + 1, dtype=bool)
    np.logical_or.at(conflicted, group[1:][same_as_previous], ~pair_equal[same_as_previous])
    size = np.bincount(group)
    in_conflict = conflicted[group] & (size[group] > 1)
    repeat = np.r_[False, same_as_previous] & ~in_conflict
    keep = ~in_conflict & ~repeat
    return table.filter(pa.array(keep)), days[keep], int(repeat.sum()), int(in_conflict.sum())
