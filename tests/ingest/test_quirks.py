"""Every quirk of the data, real or expected on the full dataset, on small files written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from stages.common.schema import INGEST_SCHEMA
from tests.ingest.conftest import Ingest, output, quality, write_price

ROW = "2020-01-0{d},1.5,2.25,1.25,2.0,1.75,{v}"


def rows(*days: int, volume: str = "1000") -> list[str]:
    return [ROW.format(d=d, v=volume) for d in days]


def assert_accounted(record: dict) -> None:
    assert record["rows_read"] == record["rows_kept"] + sum(record["dropped"].values())


def test_float_text_volume_with_one_empty_row_like_nvda(raw: Path, ingest: Ingest) -> None:
    write_price(
        raw, "stocks/A.csv", [*rows(2, 3, volume="67867200.0"), "2020-01-06,,,,,,", *rows(7, volume="5.0")]
    )
    assert ingest()[0] == 0
    table = output(raw.parent / "out", "stocks/A.csv")
    assert table.schema.field("Volume").type == pa.int64()
    assert table["Volume"].to_pylist() == [67867200, 67867200, 5]
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["dropped"] == {"empty_row": 1}
    assert record["flags"]["volume_as_float_text"] is True
    assert record["rows_read"] == 4 and record["rows_kept"] == 3


def test_empty_rows_with_and_without_a_date(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2), "2020-01-03,,,,,,", ",,,,,,", *rows(6)])
    ingest()
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["dropped"] == {"empty_row": 2}
    assert output(raw.parent / "out", "stocks/A.csv")["Date"].to_pylist() == ["2020-01-02", "2020-01-06"]


def test_zero_volume_is_kept_and_counted(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "etfs/SPY.csv", [*rows(2, 3, volume="0"), *rows(6)])
    ingest()
    assert output(raw.parent / "out", "etfs/SPY.csv")["Volume"].to_pylist() == [0, 0, 1000]
    record = quality(raw.parent / "out", "etfs/SPY.csv")
    assert record["dropped"] == {} and record["flags"]["zero_volume_rows"] == 2


def test_prices_keep_every_digit(raw: Path, ingest: Ingest) -> None:
    rng = np.random.default_rng(1)
    values = [repr(float(np.float32(x))) for x in rng.uniform(0.0001, 5000, 600)]
    values += ["0.30000000000000004", "1e-05", "123456789.12345679", "7", "2.5E3", ".5", "5."]
    n = len(values) // 5
    lines = [f"{np.datetime64('2000-01-01') + i},{','.join(values[5 * i : 5 * i + 5])},{i}" for i in range(n)]
    write_price(raw, "stocks/A.csv", lines)
    ingest()
    table = output(raw.parent / "out", "stocks/A.csv")
    got = [
        v
        for row in zip(
            *(table[c].to_pylist() for c in ("Open", "High", "Low", "Close", "Adj Close")), strict=True
        )
        for v in row
    ]
    assert got == [float(v) for v in values[: 5 * n]]


def test_crlf_metadata_and_names_with_commas_and_trailing_spaces(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", rows(2))
    write_price(raw, "stocks/AA.csv", rows(2))
    ingest()
    assert output(raw.parent / "out", "stocks/A.csv")["Security Name"][0].as_py() == (
        "Agilent Technologies, Inc. Common Stock"
    )
    assert output(raw.parent / "out", "stocks/AA.csv")["Security Name"][0].as_py() == (
        "Alcoa Corporation Common Stock"
    )


@pytest.mark.parametrize(
    ("file_name", "symbol", "name_start"),
    [
        ("AGM-A.csv", "AGM$A", "Federal Agricultural Mortgage"),
        ("CARR#.csv", "CARR.V", "Carrier Global"),
        ("LGF.B.csv", "LGF.B", "Lions Gate"),
    ],
)
def test_join_on_nasdaq_symbol_and_strip_only_the_final_csv(
    raw: Path, ingest: Ingest, file_name: str, symbol: str, name_start: str
) -> None:
    write_price(raw, f"stocks/{file_name}", rows(2, 3))
    ingest()
    table = output(raw.parent / "out", f"stocks/{file_name}")
    assert set(table["Symbol"].to_pylist()) == {symbol}
    assert table["Security Name"][0].as_py().startswith(name_start)
    record = quality(raw.parent / "out", f"stocks/{file_name}")
    assert record["nasdaq_symbol"] == file_name[: -len(".csv")] and record["metadata_row"] is True


def test_unsorted_dates_are_sorted(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [ROW.format(d=d, v=d) for d in (7, 2, 6, 3)])
    ingest()
    table = output(raw.parent / "out", "stocks/A.csv")
    assert table["Date"].to_pylist() == ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]
    assert table["Volume"].to_pylist() == [2, 3, 6, 7]  # rows moved whole
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["flags"]["unsorted_dates"] is True and record["dropped"] == {}


def test_identical_duplicate_dates_keep_one(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2, 3), *rows(3, 3), *rows(6)])
    ingest()
    assert output(raw.parent / "out", "stocks/A.csv")["Date"].to_pylist() == [
        "2020-01-02",
        "2020-01-03",
        "2020-01-06",
    ]
    assert quality(raw.parent / "out", "stocks/A.csv")["dropped"] == {"duplicate_identical": 2}


def test_conflicting_duplicate_dates_drop_every_row_of_that_date(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2, 3), ROW.format(d=3, v=999), *rows(6)])
    ingest()
    assert output(raw.parent / "out", "stocks/A.csv")["Date"].to_pylist() == ["2020-01-02", "2020-01-06"]
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["dropped"] == {"duplicate_conflict": 2}
    assert_accounted(record)


@pytest.mark.parametrize(
    "bad_row",
    [
        "2020-01-03,abc,2.25,1.25,2.0,1.75,1000",
        "2020-01-03,NA,2.25,1.25,2.0,1.75,1000",
        "2020-01-03,1.5,nan,1.25,2.0,1.75,1000",
        "2020-01-03,1.5,2.25,inf,2.0,1.75,1000",
        "2020-01-03,1.5,2.25,1.25,2.0,1.75,0x10",
        "2020-01-03,1.5,2.25,1.25, 2.0,1.75,1000",
        "2020-01-03,1.5,2.25,1.25,2.0,1.75,1_000",
        "2020-01-03,1.5,2.25,1.25,2.0,1.75,1e400",
    ],
)
def test_non_numeric_values_drop_the_row(raw: Path, ingest: Ingest, bad_row: str) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2), bad_row, *rows(6)])
    ingest()
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["dropped"] == {"invalid_number": 1}, bad_row
    assert output(raw.parent / "out", "stocks/A.csv")["Date"].to_pylist() == ["2020-01-02", "2020-01-06"]


@pytest.mark.parametrize(
    "bad_row", ["2020-01-03,-1.5,2.25,1.25,2.0,1.75,1000", "2020-01-03,1.5,2.25,1.25,2.0,1.75,-5"]
)
def test_negative_values_drop_the_row(raw: Path, ingest: Ingest, bad_row: str) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2), bad_row])
    ingest()
    assert quality(raw.parent / "out", "stocks/A.csv")["dropped"] == {"negative_value": 1}


def test_zero_prices_are_kept_and_counted(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2), "2020-01-03,0.0,2.25,1.25,2.0,1.75,1000"])
    ingest()
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["rows_kept"] == 2 and record["flags"]["zero_price_rows"] == 1


def test_fractional_volume_drops_the_row(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2), ROW.format(d=3, v="12.5"), ROW.format(d=6, v="13.0")])
    ingest()
    assert quality(raw.parent / "out", "stocks/A.csv")["dropped"] == {"fractional_volume": 1}
    assert output(raw.parent / "out", "stocks/A.csv")["Volume"].to_pylist() == [1000, 13]


@pytest.mark.parametrize(
    "bad_date", ["2020-02-30", "2020/01/03", "20200103", "2020-1-03", "yesterday", "", "2020-01-03T00:00"]
)
def test_invalid_dates_drop_the_row(raw: Path, ingest: Ingest, bad_date: str) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2), f"{bad_date},1.5,2.25,1.25,2.0,1.75,1000", *rows(6)])
    ingest()
    assert quality(raw.parent / "out", "stocks/A.csv")["dropped"] == {"invalid_date": 1}, bad_date
    assert output(raw.parent / "out", "stocks/A.csv").num_rows == 2


def test_partly_empty_row_and_blank_lines(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [*rows(2), "2020-01-03,1.5,,1.25,2.0,1.75,1000", "", *rows(6), ""])
    ingest()
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["dropped"] == {"missing_value": 1, "blank_line": 2}
    assert record["rows_read"] == 5
    assert_accounted(record)


def test_every_problem_in_one_file_is_accounted_for(raw: Path, ingest: Ingest) -> None:
    lines = [
        *rows(9, 8),  # unsorted
        "2020-01-03,,,,,,",  # empty
        "2020-13-01,1,1,1,1,1,1",  # invalid date, before its negative volume
        "2020-01-05,1,1,1,1,1,-1",  # negative
        "2020-01-06,x,1,1,1,1,1",  # non-numeric
        "2020-01-07,1,1,1,1,1,2.5",  # fractional
        *rows(8),  # identical duplicate
        ROW.format(d=9, v=7),  # conflicting duplicate
        "",
    ]
    write_price(raw, "stocks/A.csv", lines)
    ingest()
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["dropped"] == {
        "blank_line": 1,
        "empty_row": 1,
        "invalid_date": 1,
        "negative_value": 1,
        "invalid_number": 1,
        "fractional_volume": 1,
        "duplicate_identical": 1,
        "duplicate_conflict": 2,
    }
    assert record["rows_read"] == len(lines) and record["rows_kept"] == 1
    assert_accounted(record)
    assert output(raw.parent / "out", "stocks/A.csv")["Date"].to_pylist() == ["2020-01-08"]


@pytest.mark.parametrize("content", [b"", b"\n", b"Date,Open,High,Low,Close,Adj Close,Volume\n"])
def test_empty_and_header_only_files(raw: Path, ingest: Ingest, content: bytes) -> None:
    write_price(raw, "stocks/A.csv", content)
    assert ingest()[0] == 0
    out = raw.parent / "out"
    record = quality(out, "stocks/A.csv")
    assert record["status"] == "empty" and record["rows_read"] == 0 and record["output"] is None
    assert not (out / "stocks" / "A.parquet").exists()


def test_every_row_dropped_means_no_parquet(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", ["2020-01-02,,,,,,"])
    ingest()
    record = quality(raw.parent / "out", "stocks/A.csv")
    assert record["status"] == "empty" and record["dropped"] == {"empty_row": 1}
    assert not (raw.parent / "out" / "stocks" / "A.parquet").exists()


def test_file_with_no_metadata_row_is_kept_and_reported(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/NOPE.csv", rows(2, 3))
    ingest()
    table = output(raw.parent / "out", "stocks/NOPE.csv")
    assert table.schema.equals(INGEST_SCHEMA)
    assert table["Symbol"].to_pylist() == ["NOPE", "NOPE"]
    assert table["Security Name"].null_count == 2
    record = quality(raw.parent / "out", "stocks/NOPE.csv")
    assert record["metadata_row"] is False and record["symbol"] == "NOPE"


def test_crlf_price_file_and_utf8_bom(raw: Path, ingest: Ingest) -> None:
    text = "\ufeffDate,Open,High,Low,Close,Adj Close,Volume\r\n" + "".join(r + "\r\n" for r in rows(2, 3))
    write_price(raw, "stocks/A.csv", text)
    ingest()
    assert output(raw.parent / "out", "stocks/A.csv")["Volume"].to_pylist() == [1000, 1000]
