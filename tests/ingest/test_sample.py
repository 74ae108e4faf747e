"""The bundled real sample through the ingest program: counts, schema, exact values, join."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from stages.common.schema import INGEST_SCHEMA, PRICE_CSV_COLUMNS
from stages.ingest.ingest import main

EXPECTED_ROWS = {
    "stocks/A.csv": 5124,
    "stocks/AA.csv": 14663,
    "stocks/NVDA.csv": 5333,
    "stocks/AACG.csv": 261,
    "stocks/AAPL.csv": 9909,
    "etfs/AAAU.csv": 410,
}


@pytest.fixture(scope="module")
def sample_out(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ingest-sample") / "out"
    assert main(["--prices", str(sample_dir), "--meta", str(sample_dir), "--out", str(out)]) == 0
    return out


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(PRICE_CSV_COLUMNS)
    return rows[1:]


def _metadata(sample_dir: Path) -> dict[str, dict[str, str]]:
    with (sample_dir / "symbols_valid_meta.csv").open(newline="") as f:
        return {row["NASDAQ Symbol"]: row for row in csv.DictReader(f)}


def _records(out: Path) -> dict[str, dict]:
    return {
        f"{p.parent.name}/{p.stem}.csv": json.loads(p.read_text())
        for p in (out / "_quality").glob("*/*.json")
    }


def test_every_sample_file_has_output_and_record(sample_dir: Path, sample_out: Path) -> None:
    csvs = sorted(f"{p.parent.name}/{p.name}" for p in sample_dir.glob("*/*.csv"))
    assert len(csvs) == 14
    assert sorted(_records(sample_out)) == csvs
    parquet = sorted(f"{p.parent.name}/{p.stem}.csv" for p in sample_out.glob("*/*.parquet"))
    assert parquet == csvs


def test_rows_per_file(sample_out: Path) -> None:
    records = _records(sample_out)
    for rel, rows in EXPECTED_ROWS.items():
        assert pq.read_metadata(sample_out / rel.replace(".csv", ".parquet")).num_rows == rows, rel
        assert records[rel]["rows_kept"] == rows
    assert records["stocks/NVDA.csv"]["rows_read"] == 5334
    assert records["stocks/NVDA.csv"]["dropped"] == {"empty_row": 1}
    assert records["stocks/NVDA.csv"]["flags"]["volume_as_float_text"] is True


def test_quality_counts_add_up(sample_dir: Path, sample_out: Path) -> None:
    for rel, record in _records(sample_out).items():
        lines = len(_csv_rows(sample_dir / rel))
        assert record["status"] == "ok"
        assert record["rows_read"] == lines
        assert record["rows_kept"] + sum(record["dropped"].values()) == lines
        if rel != "stocks/NVDA.csv":
            assert record["dropped"] == {}, rel
    zero_volume = {rel: r["flags"]["zero_volume_rows"] for rel, r in _records(sample_out).items()}
    assert zero_volume["etfs/AADR.csv"] == 303
    assert zero_volume["stocks/AAMC.csv"] == 101


def test_schema_and_sorted_dates(sample_out: Path) -> None:
    for path in sample_out.glob("*/*.parquet"):
        table = pq.read_table(path)
        assert table.schema.equals(INGEST_SCHEMA), path
        dates = table["Date"].to_pylist()
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert pq.ParquetFile(sample_out / "stocks" / "AA.parquet").num_row_groups == 1


@pytest.mark.parametrize("rel", ["stocks/A.csv", "stocks/NVDA.csv"])
def test_first_and_last_rows_exact(sample_dir: Path, sample_out: Path, rel: str) -> None:
    rows = [r for r in _csv_rows(sample_dir / rel) if r[1]]
    table = pq.read_table(sample_out / rel.replace(".csv", ".parquet")).to_pylist()
    for csv_row, out_row in ((rows[0], table[0]), (rows[-1], table[-1])):
        assert out_row["Date"] == csv_row[0]
        for name, text in zip(PRICE_CSV_COLUMNS[1:6], csv_row[1:6], strict=True):
            assert out_row[name] == float(text), (rel, name, text)
        assert out_row["Volume"] == int(float(csv_row[6]))
    if rel == "stocks/A.csv":
        assert table[0]["Open"] == 32.54649353027344  # 16 significant digits, kept as float64
        assert (table[0]["Date"], table[-1]["Date"]) == ("1999-11-18", "2020-04-01")


def test_every_value_equals_python_float(sample_dir: Path, sample_out: Path) -> None:
    for csv_path in sample_dir.glob("*/*.csv"):
        rows = [r for r in _csv_rows(csv_path) if r[1]]
        table = pq.read_table(sample_out / csv_path.parent.name / (csv_path.stem + ".parquet"))
        assert table["Date"].to_pylist() == [r[0] for r in rows]
        for i, name in enumerate(PRICE_CSV_COLUMNS[1:6], start=1):
            assert table[name].to_pylist() == [float(r[i]) for r in rows], (csv_path, name)
        assert table["Volume"].to_pylist() == [int(float(r[6])) for r in rows]


def test_metadata_join_for_every_file(sample_dir: Path, sample_out: Path) -> None:
    meta = _metadata(sample_dir)
    for path in sample_out.glob("*/*.parquet"):
        row = meta[path.stem]
        table = pq.read_table(path, columns=["Symbol", "Security Name"])
        assert set(table["Symbol"].to_pylist()) == {row["Symbol"]}
        assert set(table["Security Name"].to_pylist()) == {row["Security Name"].strip()}
        assert (path.parent.name == "etfs") == (row["ETF"] == "Y")
    aa = pq.read_table(sample_out / "stocks" / "AA.parquet")["Security Name"][0].as_py()
    assert aa == "Alcoa Corporation Common Stock"  # trailing space of the metadata stripped
    a = pq.read_table(sample_out / "stocks" / "A.parquet")["Security Name"][0].as_py()
    assert a == "Agilent Technologies, Inc. Common Stock"  # quoted name with a comma


def test_whole_output_reads_in_one_call(sample_out: Path) -> None:
    table = ds.dataset(str(sample_out), format="parquet").to_table()
    assert table.num_rows == 56_538
    assert table.schema.equals(INGEST_SCHEMA)
    frame = pd.read_parquet(sample_out)
    assert len(frame) == 56_538
    assert frame["Symbol"].nunique() == 14


def test_as_a_real_subprocess(sample_dir: Path, tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "stages.ingest", "--prices", str(sample_dir / "stocks" / "NVDA.csv")),
            *("--meta", str(sample_dir / "symbols_valid_meta.csv"), "--out", str(out)),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 files (ok 1, empty 0, rejected 0, not ingested 0), 5333 rows kept, 1 dropped" in done.stderr
    assert pq.read_metadata(out / "stocks" / "NVDA.parquet").num_rows == 5333
    assert json.loads((out / "_quality" / "stocks" / "NVDA.json").read_text())["dropped"] == {"empty_row": 1}
