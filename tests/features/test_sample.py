"""The bundled real sample, made ingest-like with pyarrow here (independently of stages.ingest),
through the stage, checked against pandas' rolling windows per symbol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from stages.common.schema import FEATURES_SCHEMA, INGEST_SCHEMA, PRICE_COLUMNS, WINDOW_ROWS
from stages.features.program import main

EXPECTED_ROWS = {"A": 5_124, "AA": 14_663, "NVDA": 5_333, "AACG": 261}


def ingest_like(csv: Path, meta: pa.Table) -> pa.Table:
    """What the ingest contract promises for one price file: empty rows dropped, Volume int64, meta joined."""
    types = {"Date": pa.string(), **dict.fromkeys(PRICE_COLUMNS, pa.float64()), "Volume": pa.float64()}
    prices = pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(column_types=types))
    prices = prices.filter(pc.is_valid(prices.column("Volume")))  # NVDA's one empty row
    volume = prices.column("Volume").cast(pa.int64(), safe=True)  # fails if a volume is not whole
    row = meta.filter(pc.equal(meta.column("NASDAQ Symbol"), csv.stem))
    assert row.num_rows == 1, csv
    n = prices.num_rows
    columns = {
        "Symbol": pa.array([row.column("Symbol")[0].as_py()] * n, pa.string()),
        "Security Name": pa.array([row.column("Security Name")[0].as_py()] * n, pa.string()),
        **{name: prices.column(name) for name in ("Date", *PRICE_COLUMNS)},
        "Volume": volume,
    }
    return pa.table(columns, schema=INGEST_SCHEMA).sort_by("Date")


def build_ingest_like(sample_dir: Path, ingest: Path) -> None:
    meta = pacsv.read_csv(sample_dir / "symbols_valid_meta.csv")
    for csv in sorted(sample_dir.glob("*/*.csv")):
        target = ingest / csv.parent.name / f"{csv.stem}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(ingest_like(csv, meta), target)
    (ingest / "_quality" / "stocks").mkdir(parents=True)
    (ingest / "_quality" / "stocks" / "A.json").write_text("{}")


def run_ingest_stage(sample_dir: Path, ingest: Path) -> None:
    from stages.ingest.ingest import main as ingest_main

    meta = sample_dir / "symbols_valid_meta.csv"
    assert ingest_main(["--prices", str(sample_dir), "--meta", str(meta), "--out", str(ingest)]) == 0
    assert (ingest / "_quality").is_dir()


@pytest.fixture(scope="module", params=["ingest-like via pyarrow", "stages.ingest"])
def sample_features(
    request: pytest.FixtureRequest, sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("features-sample")
    ingest, out = root / "ingest", root / "out"
    if request.param == "stages.ingest":
        run_ingest_stage(sample_dir, ingest)
    else:
        build_ingest_like(sample_dir, ingest)
    assert main(["--ingest", str(ingest), "--out", str(out)]) == 0
    return ingest, out


def test_every_sample_file_is_written_with_its_rows(sample_features: tuple[Path, Path]) -> None:
    ingest, out = sample_features
    inputs = sorted(p.relative_to(ingest) for p in ingest.glob("[!_]*/*.parquet"))
    assert len(inputs) == 14
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == inputs
    for rel in inputs:
        written = pq.read_table(out / rel)
        assert written.schema.equals(FEATURES_SCHEMA, check_metadata=True)
        assert written.select(INGEST_SCHEMA.names).equals(pq.read_table(ingest / rel))
        n = written.num_rows
        assert written.column("vol_moving_avg").null_count == min(n, WINDOW_ROWS - 1)
        assert written.column("adj_close_rolling_med").null_count == min(n, WINDOW_ROWS - 1)
    for symbol, rows in EXPECTED_ROWS.items():
        assert pq.read_metadata(out / "stocks" / f"{symbol}.parquet").num_rows == rows


def test_features_match_pandas_rolling_per_symbol(sample_features: tuple[Path, Path]) -> None:
    _, out = sample_features
    frame = pd.read_parquet(out)  # the whole output in one call, as the data contract promises
    assert frame["Symbol"].nunique() == 14 and len(frame) == 50_760 - 1 + 5_779
    frame = frame.sort_values(["Symbol", "Date"], kind="stable")
    by_symbol = frame.groupby("Symbol", sort=False)
    expected_mean = by_symbol["Volume"].transform(
        lambda v: v.astype("float64").rolling(WINDOW_ROWS, min_periods=WINDOW_ROWS).mean()
    )
    expected_median = by_symbol["Adj Close"].transform(
        lambda p: p.rolling(WINDOW_ROWS, min_periods=WINDOW_ROWS).median()
    )
    for got, expected in (
        (frame["vol_moving_avg"], expected_mean),
        (frame["adj_close_rolling_med"], expected_median),
    ):
        got, expected = got.to_numpy(dtype="float64", na_value=np.nan), expected.to_numpy(dtype="float64")
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0, equal_nan=True)


def test_a_known_row_of_aapl_by_hand(sample_features: tuple[Path, Path], sample_dir: Path) -> None:
    """The last row of AAPL (2020-04-01) against the last 30 lines of its CSV, read as plain text."""
    lines = (sample_dir / "stocks" / "AAPL.csv").read_text().splitlines()[-WINDOW_ROWS:]
    fields = [line.split(",") for line in lines]
    assert fields[-1][0] == "2020-04-01"
    volumes = [int(float(f[6])) for f in fields]
    closes = sorted(float(f[5]) for f in fields)
    last = pq.read_table(sample_features[1] / "stocks" / "AAPL.parquet").to_pylist()[-1]
    assert last["Date"] == "2020-04-01"
    assert last["vol_moving_avg"] == sum(volumes) / WINDOW_ROWS
    assert last["adj_close_rolling_med"] == (closes[14] + closes[15]) / 2


def test_stages_ingest_and_the_independent_build_give_the_same_features(
    sample_dir: Path, tmp_path: Path
) -> None:
    build_ingest_like(sample_dir, tmp_path / "a" / "ingest")
    run_ingest_stage(sample_dir, tmp_path / "b" / "ingest")
    for side in ("a", "b"):
        assert main(["--ingest", str(tmp_path / side / "ingest"), "--out", str(tmp_path / side / "out")]) == 0
    numbers = ["Date", "Adj Close", "Volume", "vol_moving_avg", "adj_close_rolling_med"]
    files = sorted(p.relative_to(tmp_path / "a" / "out") for p in (tmp_path / "a" / "out").rglob("*.parquet"))
    assert len(files) == 14
    for rel in files:
        a = pq.read_table(tmp_path / "a" / "out" / rel, columns=numbers)
        b = pq.read_table(tmp_path / "b" / "out" / rel, columns=numbers)
        assert a.equals(b), rel


def test_other_readers_read_the_output_identically(sample_features: tuple[Path, Path]) -> None:
    """The output uses BYTE_STREAM_SPLIT for floats: polars, DuckDB and pandas must all read it."""
    import duckdb
    import polars as pl

    _, out = sample_features
    path = out / "stocks" / "NVDA.parquet"
    reference = pq.read_table(path).to_pandas()
    for name, frame in (
        ("pandas", pd.read_parquet(path)),
        ("polars", pl.read_parquet(path).to_pandas()),
        ("duckdb", duckdb.sql(f"SELECT * FROM read_parquet('{path}')").df()),
    ):
        assert list(frame.columns) == FEATURES_SCHEMA.names, name
        pd.testing.assert_frame_equal(frame, reference, check_dtype=False, obj=name)
