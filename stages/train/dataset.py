"""Read the features stage's output into the arrays the models train on (the I/O side).

Used by train (features and target only: reading only the columns a stage needs is most of
its read time at Kaggle scale) and by evaluate (with Date, for the time split).
"""

from __future__ import annotations

import functools
import logging
import operator
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
#: the scan's column saying whether a row has every feature and the target
_COMPLETE = "__complete"


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


@dataclass(frozen=True)
class FeaturesRead:
    """The rows of the features files with every feature and the target set, and how many rows
    the files held in all (the difference is the rows dropped for a null value)."""

    table: pa.Table
    rows_read: int


def read_features_table(root: Path, with_dates: bool = True) -> FeaturesRead:
    """Read the feature and target columns (and Date if ``with_dates``) of every ``*.parquet`` under
    ``root``, keeping the rows where none of the feature and target columns is null.

    pyarrow's dataset discovery skips files and folders whose names start with ``_`` or
    ``.`` (quality records, temporary files), and returns fragments in sorted path order. The
    null test is a column of the scan, computed by the scan's threads; each batch is filtered as
    it arrives, so the 8,049 small files of the dataset are never filtered chunk by chunk after
    the scan (that cost as much as the scan itself: docs/model.md, "Train's read").
    """
    root = Path(root)
    if not root.is_dir():
        raise TrainInputError(f"{root}: features folder does not exist")
    dataset = ds.dataset(root, format="parquet")
    if not dataset.files:
        raise TrainInputError(f"{root}: no .parquet files (run the features stage first)")
    tested = [*FEATURE_COLUMNS, TARGET_COLUMN]
    wanted = [*tested, *([DATE_COLUMN] if with_dates else [])]
    missing = [name for name in wanted if name not in dataset.schema.names]
    if missing:
        raise TrainInputError(f"{root}: column(s) {', '.join(missing)} missing from the features files")
    log.info("reading %d parquet files under %s", len(dataset.files), root)
    complete = functools.reduce(operator.and_, (pc.field(name).is_valid() for name in tested))
    projection = {**{name: pc.field(name) for name in wanted}, _COMPLETE: complete}
    rows_read, kept = 0, []
    # pre_buffer off: each file is a few small column chunks, read in one go anyway; coalescing
    # them through the I/O pool cost ~20% more CPU over the 8,049 files (docs/model.md, "Train's read").
    scan_options = ds.ParquetFragmentScanOptions(pre_buffer=False)
    for batch in dataset.scanner(columns=projection, fragment_scan_options=scan_options).to_reader():
        rows_read += batch.num_rows
        mask = batch.column(_COMPLETE)
        batch = batch if mask.true_count == len(batch) else batch.filter(mask)
        kept.append(batch.drop_columns([_COMPLETE]))
    schema = pa.schema([dataset.schema.field(name) for name in wanted])
    return FeaturesRead(pa.Table.from_batches(kept, schema=schema), rows_read)


def _copy_into(out: np.ndarray, array: pa.ChunkedArray) -> None:
    """Copy the (null-free) numeric ``array`` into ``out`` (a float64 column, maybe strided), chunk by
    chunk: no concatenated or cast copy of the whole column is made on the way (at Kaggle scale each
    is 209 MB of fresh memory, and fresh pages are what the conversion spent most on)."""
    at = 0
    for chunk in array.chunks:
        n = len(chunk)
        if n:
            out[at : at + n] = chunk.to_numpy(zero_copy_only=True)
            at += n


def _all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite: a finite sum has no NaN or infinity in it (one pass, no mask);
    a sum that overflows is checked value by value."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):
            return True
    return bool(np.isfinite(values).all())


def training_data_from_table(
    table: pa.Table, source: str = "<table>", rows_read: int | None = None
) -> TrainingData:
    """Turn a table with the feature, target (and optionally Date) columns into arrays.

    Rows with a null or non-finite feature or target are dropped and counted. The Date column
    never decides which rows are kept, so train (which reads no Date) and evaluate (which does)
    keep the same rows in the same order, and the splits' row indices agree. ``rows_read`` is the
    rows before a null filter already applied (:func:`read_features_table`), if one was.
    """
    rows_read = table.num_rows if rows_read is None else rows_read
    if rows_read == 0:
        raise TrainInputError(f"{source}: the features files hold no rows")
    # Nulls are dropped in Arrow first (each symbol's warm-up rows); then one copy per column into
    # numpy. Less CPU and memory than converting with the nulls and masking in numpy (26 M rows).
    names = [*FEATURE_COLUMNS, TARGET_COLUMN]
    arrays = {name: table.column(name) for name in names}
    dates = table.column(DATE_COLUMN) if DATE_COLUMN in table.column_names else None
    del table  # the caller holds no reference either: each column is freed once filtered
    # null_count is kept per chunk: no pass over the rows when the scan already dropped the nulls
    if any(arrays[name].null_count for name in names):
        valid = functools.reduce(pc.and_, (arrays[name].is_valid() for name in names))
        arrays = {name: pc.filter(array, valid) for name, array in arrays.items()}
        dates = None if dates is None else pc.filter(dates, valid)
    for name, array in arrays.items():
        if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
            raise TrainInputError(f"{source}: column {name} holds {array.type}, not numbers")
    kept = len(arrays[TARGET_COLUMN])
    features = np.empty((kept, len(FEATURE_COLUMNS)), dtype=np.float64)
    for i, name in enumerate(FEATURE_COLUMNS):
        _copy_into(features[:, i], arrays.pop(name))
    target = np.empty(kept, dtype=np.float64)
    _copy_into(target, arrays.pop(TARGET_COLUMN))
    day = None
    if dates is not None:
        if dates.null_count:  # ingest never writes one
            raise TrainInputError(f"{source}: column Date has a null value")
        try:
            day = pc.cast(dates, pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid as exc:
            raise TrainInputError(f"{source}: column Date is not YYYY-MM-DD: {exc}") from exc
        del dates
    if not (_all_finite(features) and _all_finite(target)):
        finite = np.isfinite(features).all(axis=1) & np.isfinite(target)
        features, target = features[finite], target[finite]
        day = None if day is None else day[finite]
    dropped = int(rows_read - target.shape[0])
    if target.shape[0] == 0:
        raise TrainInputError(f"{source}: every row has a null feature (fewer than 30 rows per symbol?)")
    if target.min() < 0:
        raise TrainInputError(f"{source}: negative Volume in the features files")
    return TrainingData(
        features=features,
        target=target,
        day=day,
        rows_read=rows_read,
        rows_dropped_null=dropped,
    )


def load_training_data(
    root: Path, with_dates: bool = True, on_row_count: Callable[[int], None] | None = None
) -> TrainingData:
    """Read and convert the features folder ``root``; log what was kept and dropped.

    ``on_row_count`` is told the rows with no null value as soon as the scan knows them, before the
    conversion: the count the data will have unless a value is not finite (the train stage starts
    its split's permutation then).
    """
    read = read_features_table(root, with_dates)
    if on_row_count is not None:
        on_row_count(read.table.num_rows)
    data = training_data_from_table(read.table, source=str(root), rows_read=read.rows_read)
    pa.default_memory_pool().release_unused()  # give the table's buffers back before fitting
    log.info(
        "read %d rows, dropped %d with a null feature (each symbol's first rows), kept %d",
        data.rows_read,
        data.rows_dropped_null,
        data.rows,
    )
    return data
