"""One symbol's ingest table in, the same table plus the rolling features out (no file I/O)."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.common.schema import FEATURES_SCHEMA, INGEST_SCHEMA, WINDOW_ROWS
from stages.features.rolling import rolling_mean_int, rolling_median

log = logging.getLogger(__name__)

VOLUME_MEAN, ADJ_CLOSE_MEDIAN = FEATURES_SCHEMA.names[len(INGEST_SCHEMA) :]


class FeaturesInputError(ValueError):
    """The input table breaks the ingest contract in a way the features cannot be computed from."""


def conform_to_ingest_schema(table: pa.Table) -> pa.Table:
    """Return ``table`` with exactly the columns (order, Arrow types) of INGEST_SCHEMA.

    Columns in another order or of a type that casts safely (e.g. large_string, int32)
    are accepted; a missing or extra column, or a lossy cast, raises FeaturesInputError.
    """
    if table.schema.equals(INGEST_SCHEMA, check_metadata=False):
        return table.replace_schema_metadata(None)
    names = table.column_names
    missing = [name for name in INGEST_SCHEMA.names if name not in names]
    extra = [name for name in names if name not in INGEST_SCHEMA.names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(map(repr, extra))}")
        raise FeaturesInputError("; ".join(parts) + " (expected the ingest schema)")
    if len(set(names)) != len(names):
        raise FeaturesInputError(f"duplicate column names in {names}")
    columns = []
    for field in INGEST_SCHEMA:
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise FeaturesInputError(
                    f"column {field.name!r} is {column.type}, not castable to {field.type}: {exc}"
                ) from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=INGEST_SCHEMA)


def sort_by_date(table: pa.Table) -> pa.Table:
    """Return ``table`` ordered by Date, rejecting a Date that is null or repeated.

    Dates are 'YYYY-MM-DD' strings, whose string order is their calendar order. The
    ingest output is already sorted (then nothing is copied); an unsorted table is
    sorted (stably) with a warning. A repeated date makes "the 30 most recent trading
    days" ambiguous, so it is an error rather than a silent choice.
    """
    dates = table.column("Date")
    if dates.null_count:
        row = pc.index(pc.is_null(dates), True).as_py()
        raise FeaturesInputError(f"row {row + 1}: Date is null")
    n = table.num_rows
    if n < 2:
        return table
    earlier, later = dates.slice(0, n - 1), dates.slice(1)
    if pc.any(pc.less(later, earlier)).as_py():
        log.warning("rows are not sorted by Date: sorting them")
        table = table.sort_by([("Date", "ascending")])  # a stable sort
        dates = table.column("Date")
        earlier, later = dates.slice(0, n - 1), dates.slice(1)
    repeated = pc.equal(later, earlier)
    if pc.any(repeated).as_py():
        row = pc.index(repeated, True).as_py()
        raise FeaturesInputError(f"Date {dates[row].as_py()!r} appears more than once")
    return table


def _numpy_view(column: pa.ChunkedArray, dtype: np.dtype) -> np.ndarray:
    """The values of a null-free fixed-width column as numpy, zero-copy for one chunk.

    Read straight from the Arrow buffer: ``Array.to_numpy`` would import pandas (when
    installed) in every worker, which costs a third of a second and ~60 MB each.
    """
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def _non_null_numpy(table: pa.Table, name: str, dtype: np.dtype) -> np.ndarray:
    column = table.column(name)
    if column.null_count:
        row = pc.index(pc.is_null(column), True).as_py()
        raise FeaturesInputError(f"row {row + 1} (Date {table.column('Date')[row].as_py()}): {name} is null")
    if len(column) == 0:
        return np.empty(0, dtype=dtype)
    values = _numpy_view(column, dtype)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            raise FeaturesInputError(
                f"row {row + 1} (Date {table.column('Date')[row].as_py()}): {name} is {values[row]}"
            )
    return values


def _with_leading_nulls(values: np.ndarray, window: int) -> pa.Array:
    """``values`` as a float64 Arrow array whose first ``window - 1`` entries are null."""
    n = len(values)
    nulls = min(n, window - 1)
    if nulls == 0:
        return pa.FloatingPointArray.from_buffers(pa.float64(), n, [None, pa.py_buffer(values)])
    valid = np.ones(n, dtype=bool)
    valid[:nulls] = False
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.FloatingPointArray.from_buffers(pa.float64(), n, [bitmap, pa.py_buffer(values)], nulls)


def add_features(table: pa.Table, window: int = WINDOW_ROWS) -> pa.Table:
    """Append ``vol_moving_avg`` and ``adj_close_rolling_med`` to one symbol's ingest table.

    The result has FEATURES_SCHEMA: the ingest columns unchanged (rows ordered by Date)
    and the mean of Volume and the median of Adj Close over the ``window`` most recent
    rows, the current one included; null for the first ``window - 1`` rows.
    """
    table = sort_by_date(conform_to_ingest_schema(table))
    volume = _non_null_numpy(table, "Volume", np.dtype(np.int64))
    adj_close = _non_null_numpy(table, "Adj Close", np.dtype(np.float64))
    mean = _with_leading_nulls(rolling_mean_int(volume, window), window)
    median = _with_leading_nulls(rolling_median(adj_close, window), window)
    return table.append_column(FEATURES_SCHEMA.field(VOLUME_MEAN), mean).append_column(
        FEATURES_SCHEMA.field(ADJ_CLOSE_MEDIAN), median
    )
