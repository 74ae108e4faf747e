"""Read the features stage's output into the arrays the models train on (the I/O side).

Used by train (features and target only: reading only the columns a stage needs is most of
its read time at Kaggle scale) and by evaluate (with Date, for the time split).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from stages.common.schema import FEATURE_COLUMNS, TARGET_COLUMN

log = logging.getLogger(__name__)

DATE_COLUMN = "Date"


class TrainInputError(ValueError):
    """The features folder cannot be trained on; the message names the folder and why
    (the stage's main puts its own name in front)."""


@dataclass(frozen=True)
class TrainingData:
    """Rows with complete features, in the dataset's file order (sorted paths, then row order)."""

    features: np.ndarray  # (n, len(FEATURE_COLUMNS)) float64, columns in FEATURE_COLUMNS order
    target: np.ndarray  # (n,) float64 Volume
    day: np.ndarray | None  # (n,) int32 days since 1970-01-01; None when Date was not read
    rows_read: int
    rows_dropped_null: int

    @property
    def rows(self) -> int:
        return int(self.target.shape[0])


def features_dataset(root: Path, wanted: list[str]) -> ds.Dataset:
    """The Parquet dataset of every file under ``root`` (pyarrow's discovery: files and folders whose
    names start with ``_`` or ``.``, quality records and temporary files, are skipped; files in
    sorted path order), checked to have the columns ``wanted``."""
    root = Path(root)
    if not root.is_dir():
        raise TrainInputError(f"{root}: features folder does not exist")
    dataset = ds.dataset(root, format="parquet")
    if not dataset.files:
        raise TrainInputError(f"{root}: no .parquet files (run the features stage first)")
    missing = [name for name in wanted if name not in dataset.schema.names]
    if missing:
        raise TrainInputError(f"{root}: column(s) {', '.join(missing)} missing from the features files")
    return dataset


def check_numeric(schema: pa.Schema, source: str, names: list[str]) -> None:
    """Fail naming the first of ``names`` whose column in ``schema`` does not hold numbers."""
    for name in names:
        kind = schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise TrainInputError(f"{source}: column {name} holds {kind}, not numbers")


def read_features_table(root: Path, with_dates: bool = True) -> pa.Table:
    """Read the feature and target columns (and Date if ``with_dates``) of every ``*.parquet`` under
    ``root``, every row (the rows with a null are dropped by :func:`training_data_from_table`).

    The scan has no expression in it: a null test computed by the scan and a filter of each batch
    cost more than testing the validity bitmaps while copying into numpy (docs/model.md, "Train's
    read").
    """
    wanted = [*FEATURE_COLUMNS, TARGET_COLUMN, *([DATE_COLUMN] if with_dates else [])]
    dataset = features_dataset(root, wanted)
    log.info("reading %d parquet files under %s", len(dataset.files), root)
    # pre_buffer off: each file is a few small column chunks, read in one go anyway; coalescing
    # them through the I/O pool was slower in each of three measurements (docs/model.md, "Train's read").
    scan_options = ds.ParquetFragmentScanOptions(pre_buffer=False)
    return dataset.scanner(columns=wanted, fragment_scan_options=scan_options).to_table()


def complete_rows(batch: pa.RecordBatch, names: list[str]) -> np.ndarray | None:
    """The rows of ``batch`` where none of the columns ``names`` is null (a bool mask); None when
    every row is complete (no column has a null: nothing to test)."""
    mask = None
    for name in names:
        column = batch.column(name)
        if column.null_count:
            valid = column.is_valid().to_numpy(zero_copy_only=False)
            mask = valid if mask is None else mask & valid
    return mask


def numeric_values(array: pa.Array) -> np.ndarray:
    """The value slots of a numeric ``array`` as numpy, without a copy (a null's slot holds
    whatever the writer left there: the caller masks those rows out)."""
    if len(array) == 0:
        return np.empty(0)
    dtype = np.dtype(array.type.to_pandas_dtype())
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array) + array.offset)[array.offset :]


def copy_complete_rows(
    batch: pa.RecordBatch,
    mask: np.ndarray | None,
    names: list[str],
    columns: list[np.ndarray],
    at: int,
    count: int,
) -> None:
    """Copy the rows of ``batch`` that ``mask`` keeps (all when None; ``count`` of them) of each column
    ``names`` into the matching array of ``columns``, from row ``at`` on."""
    for out, name in zip(columns, names, strict=True):
        values = numeric_values(batch.column(name))
        out[at : at + count] = values if mask is None else values[mask]


def check_kept_rows(target: np.ndarray, source: str) -> None:
    """Fail when no row was kept, or a kept Volume is negative."""
    if target.shape[0] == 0:
        raise TrainInputError(f"{source}: every row has a null feature (fewer than 30 rows per symbol?)")
    if target.min() < 0:
        raise TrainInputError(f"{source}: negative Volume in the features files")


def all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite: a finite sum has no NaN or infinity in it (one pass, no mask);
    a sum that overflows is checked value by value."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):
            return True
    return bool(np.isfinite(values).all())


def training_data_from_table(
    table: pa.Table, source: str = "<table>", on_row_count: Callable[[int], None] | None = None
) -> TrainingData:
    """Turn a table with the feature, target (and optionally Date) columns into arrays.

    Rows with a null or non-finite feature or target are dropped and counted. The Date column
    never decides which rows are kept, so train (which reads no Date) and evaluate (which does)
    keep the same rows in the same order, and the splits' row indices agree. The values go batch
    by batch straight into the arrays the models use, the rows with a null left out on the way: no
    filtered, concatenated or cast copy of a column is made (at Kaggle scale each would be 209 MB
    of fresh memory, and fresh pages are what the conversion spent most on). ``on_row_count`` is
    told the rows with no null before the copying starts (the train stage starts its split's
    permutation then).
    """
    rows_read = table.num_rows
    if rows_read == 0:
        raise TrainInputError(f"{source}: the features files hold no rows")
    names = [*FEATURE_COLUMNS, TARGET_COLUMN]
    check_numeric(table.schema, source, names)
    with_dates = DATE_COLUMN in table.column_names
    batches = table.select([*names, *([DATE_COLUMN] if with_dates else [])]).to_batches()
    del table
    masks = [complete_rows(batch, names) for batch in batches]
    counts = [
        len(batch) if mask is None else int(np.count_nonzero(mask))
        for batch, mask in zip(batches, masks, strict=True)
    ]
    kept = sum(counts)
    if on_row_count is not None:
        on_row_count(kept)
    features = np.empty((kept, len(FEATURE_COLUMNS)), dtype=np.float64)
    target = np.empty(kept, dtype=np.float64)
    columns = [*(features[:, i] for i in range(len(FEATURE_COLUMNS))), target]
    dates: list[pa.Array] = []
    at = 0
    for batch, mask, count in zip(batches, masks, counts, strict=True):
        copy_complete_rows(batch, mask, names, columns, at, count)
        if with_dates:
            day_column = batch.column(DATE_COLUMN)
            dates.append(day_column if mask is None else day_column.filter(pa.array(mask)))
        at += count
    del batches
    day = None
    if with_dates:
        day_values = (
            pa.chunked_array(dates, type=dates[0].type) if dates else pa.chunked_array([], pa.date32())
        )
        if day_values.null_count:  # ingest never writes one
            raise TrainInputError(f"{source}: column Date has a null value")
        try:
            day = pc.cast(day_values, pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid as exc:
            raise TrainInputError(f"{source}: column Date is not YYYY-MM-DD: {exc}") from exc
    if not (all_finite(features) and all_finite(target)):
        finite = np.isfinite(features).all(axis=1) & np.isfinite(target)
        features, target = features[finite], target[finite]
        day = None if day is None else day[finite]
    dropped = int(rows_read - target.shape[0])
    check_kept_rows(target, source)
    return TrainingData(
        features=features, target=target, day=day, rows_read=rows_read, rows_dropped_null=dropped
    )


def load_training_data(
    root: Path, with_dates: bool = True, on_row_count: Callable[[int], None] | None = None
) -> TrainingData:
    """Read and convert the features folder ``root``; log what was kept and dropped.

    ``on_row_count`` is told the rows with no null value before they are copied into the arrays:
    the count the data will have unless a value is not finite (the train stage starts its split's
    permutation then).
    """
    data = training_data_from_table(read_features_table(root, with_dates), str(root), on_row_count)
    pa.default_memory_pool().release_unused()  # give the table's buffers back before fitting
    log.info(
        "read %d rows, dropped %d with a null feature (each symbol's first rows), kept %d",
        data.rows_read,
        data.rows_dropped_null,
        data.rows,
    )
    return data
