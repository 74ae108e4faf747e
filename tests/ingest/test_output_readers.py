"""The ingest output of the real sample reads the same in pyarrow, pandas, polars and DuckDB
(it is written with BYTE_STREAM_SPLIT floats and dictionary-encoded strings)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds

from stages.ingest.ingest import main


def test_every_reader_sees_the_same_rows(sample_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["--prices", str(sample_dir), "--meta", str(sample_dir), "--out", str(out)]) == 0
    keys = ["Symbol", "Date"]
    arrow = ds.dataset(out, format="parquet").to_table().to_pandas().sort_values(keys, ignore_index=True)
    with_pandas = pd.read_parquet(out).sort_values(keys, ignore_index=True)
    with_polars = (
        pl.read_parquet(str(out / "*" / "*.parquet")).to_pandas().sort_values(keys, ignore_index=True)
    )
    with_duckdb = (
        duckdb.sql(f"SELECT * FROM read_parquet('{out}/*/*.parquet')")
        .df()
        .sort_values(keys, ignore_index=True)
    )
    assert len(arrow) == 56_538
    for other in (with_pandas, with_polars, with_duckdb):
        assert list(other.columns) == list(arrow.columns)
        for column in arrow.columns:
            assert (other[column].to_numpy() == arrow[column].to_numpy()).all(), column
