"""The dataset's columns and Arrow types, declared once for every stage."""

from __future__ import annotations

import pyarrow as pa

from stages.common.model_contract import FEATURE_COLUMNS as FEATURE_COLUMNS
from stages.common.model_contract import TARGET_COLUMN as TARGET_COLUMN

#: Columns of a price file in the Kaggle dataset, in file order.
PRICE_CSV_COLUMNS: tuple[str, ...] = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")

#: Price columns stored as float64 (never rounded).
PRICE_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close", "Adj Close")

#: Output of the ingest stage: one file per symbol, rows sorted by Date.
INGEST_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("Symbol", pa.string()),
        pa.field("Security Name", pa.string()),
        pa.field("Date", pa.string()),
        *(pa.field(name, pa.float64()) for name in PRICE_COLUMNS),
        pa.field("Volume", pa.int64()),
    ]
)

#: Rolling window of the features stage, in trading days (rows) of one symbol.
WINDOW_ROWS: int = 30

# FEATURE_COLUMNS (the model's inputs, in predict order) and TARGET_COLUMN come from the model
# contract (stages/common/model_contract.py) and are re-exported here with the other columns.

#: Output of the features stage: the ingest columns plus the two rolling features.
FEATURES_SCHEMA: pa.Schema = pa.schema(
    [*INGEST_SCHEMA, *(pa.field(name, pa.float64()) for name in FEATURE_COLUMNS)]
)
