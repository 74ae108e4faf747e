"""Read the features stage's output into the arrays the models train on (the I/O side)."""

from __future__ import annotations

import logging
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
    """The features folder cannot be trained on; the message names the folder and why."""


@dataclass(frozen=True)
class TrainingData:
    """Rows with complete features, in the dataset's file order (sorted paths, then row order)."""

    features: np.ndarray  # (n, len(FEATURE_COLUMNS)) float64, columns in FEATURE_COLUMNS order
    target: np.ndarray  # (n,) float64 Volume
    day: np.ndarray  # (n,) int32 days since 1970-01-01
    rows_read: int
    rows_dropped_null: int

    @property
    def rows(self) -> int:
        return int(self.target.shape[0])


def read_features_table(root: Path) -> pa.Table:
    """Read the columns training needs from every ``*.parquet`` under ``root``.

    pyarrow's dataset discovery skips files and folders whose names start with ``_`` or
    ``.`` (quality records, temporary files), and returns fragments in sorted path order.
    """
    root = Path(root)
    if not root.is_dir():
        raise TrainInputError(f"train: {root}: features folder does not exist")
    dataset = ds.dataset(root, format="parquet")
    if not dataset.files:
        raise TrainInputError(f"train: {root}: no .parquet files (run the features stage first)")
    wanted = [*FEATURE_COLUMNS, TARGET_COLUMN, DATE_COLUMN]
    missing = [name for name in wanted if name not in dataset.schema.names]
    if missing:
        raise TrainInputError(
            f"train: {root}: column(s) {', '.join(missing)} missing from the features files"
        )
    log.info("reading %d parquet files under %s", len(dataset.files), root)
    return dataset.to_table(columns=wanted)


def _column_as_float(column: pa.ChunkedArray) -> np.ndarray:
    """float64 values of ``column``, nulls as NaN."""
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False)


def training_data_from_table(table: pa.Table, source: str = "<table>") -> TrainingData:
    """Turn a table with the feature, target and Date columns into arrays; drop rows with nulls."""
    rows_read = table.num_rows
    if rows_read == 0:
        raise TrainInputError(f"train: {source}: the features files hold no rows")
    # Convert one column at a time and drop it from the table, so that the Arrow buffers of
    # a converted column are freed before the next one is copied (peak memory on 26 M rows).
    features = np.empty((rows_read, len(FEATURE_COLUMNS)), dtype=np.float64)
    for i, name in enumerate(FEATURE_COLUMNS):
        features[:, i] = _column_as_float(table.column(name))
        table = table.drop_columns([name])
    target = _column_as_float(table.column(TARGET_COLUMN))
    table = table.drop_columns([TARGET_COLUMN])
    try:
        dates = pc.cast(table.column(DATE_COLUMN), pa.date32())
    except pa.ArrowInvalid as exc:
        raise TrainInputError(f"train: {source}: column Date is not YYYY-MM-DD: {exc}") from exc
    del table
    day = dates.cast(pa.int32()).to_numpy(zero_copy_only=False)
    del dates
    keep = np.isfinite(features).all(axis=1) & np.isfinite(target)
    if day.dtype != np.int32:  # a null Date comes back as float NaN
        keep &= np.isfinite(day)
    dropped = int(rows_read - keep.sum())
    if dropped:
        features, target, day = features[keep], target[keep], day[keep]
    if target.shape[0] == 0:
        raise TrainInputError(
            f"train: {source}: every row has a null feature (fewer than 30 rows per symbol?)"
        )
    if (target < 0).any():
        raise TrainInputError(f"train: {source}: negative Volume in the features files")
    return TrainingData(
        features=np.ascontiguousarray(features),
        target=np.ascontiguousarray(target),
        day=np.ascontiguousarray(day.astype(np.int32, copy=False)),
        rows_read=rows_read,
        rows_dropped_null=dropped,
    )


def load_training_data(root: Path) -> TrainingData:
    """Read and convert the features folder ``root``; log what was kept and dropped."""
    table = read_features_table(root)
    data = training_data_from_table(table, source=str(root))
    del table
    pa.default_memory_pool().release_unused()  # give the table's buffers back before fitting
    log.info(
        "read %d rows, dropped %d with a null feature (each symbol's first rows), kept %d",
        data.rows_read,
        data.rows_dropped_null,
        data.rows,
    )
    return data
