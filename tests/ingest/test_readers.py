"""The fast (pyarrow) and strict (csv module) readers agree; main() is safe to call repeatedly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.ingest.clean import clean_prices
from stages.ingest.parse import _strict_read, parse_prices
from tests.ingest.conftest import HEADER, Ingest, output, quality, write_price


def _generated_file(seed: int, quirks: bool, blank_line: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    n = 300
    days = np.datetime64("2010-01-04") + np.arange(n)
    rows = []
    for day in days:
        prices = [repr(float(np.float32(x))) for x in rng.uniform(0.01, 900, 5)]
        rows.append(f"{day},{','.join(prices)},{int(rng.integers(0, 10**8))}")
    if quirks:
        rows[10] = f"{days[10]},,,,,,"
        rows[20] = rows[21]  # identical duplicate
        rows[30] = rows[31].rsplit(",", 1)[0] + ",5"  # conflicting duplicate
        rows[40] = rows[40].replace(",", ",-", 1)  # negative Open
        rows[50], rows[60] = rows[60], rows[50]  # unsorted
        rows[70] = rows[70].rsplit(",", 1)[0] + ",7.5"  # fractional volume
    if blank_line:
        rows.insert(80, "")
    return (HEADER + "\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("quirks", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_and_strict_readers_agree(seed: int, quirks: bool) -> None:
    data = _generated_file(seed, quirks)
    fast = parse_prices(data)
    strict = _strict_read(data.split(b"\n", 1)[1])  # the reader used when pyarrow refuses a file
    assert fast is not None and not fast.strict_reader and strict.strict_reader
    a, b = clean_prices(fast), clean_prices(strict)
    assert a.rows_read == b.rows_read
    assert a.dropped == b.dropped
    if quirks:
        assert set(a.dropped) == {
            "empty_row",
            "duplicate_identical",
            "duplicate_conflict",
            "negative_value",
            "fractional_volume",
        }
    assert a.table.schema.equals(b.table.schema)
    for name in a.table.column_names:
        assert a.table[name].to_pylist() == b.table[name].to_pylist(), name


@pytest.mark.parametrize("blank", ["", "\r", ",,,,,,"])
def test_a_row_without_a_date_sends_the_file_to_the_strict_reader(blank: str) -> None:
    """pyarrow reads a blank line (or a stray CR's empty line) as a row of nulls, like ``,,,,,,``:
    only the strict reader tells them apart, so a file with a dateless row is its."""
    data = _generated_file(0, quirks=True, blank_line=True).replace(b"\n\n", f"\n{blank}\n".encode())
    parsed = parse_prices(data)
    assert parsed is not None and parsed.strict_reader
    dropped = clean_prices(parsed).dropped
    if blank == ",,,,,,":
        assert "blank_line" not in dropped and dropped["empty_row"] == 2
    else:
        assert dropped["blank_line"] == 1 and dropped["empty_row"] == 1


def test_a_stray_carriage_return_inside_a_line_is_rejected_with_its_line() -> None:
    from stages.ingest.parse import UnreadableFile

    with pytest.raises(UnreadableFile) as err:
        parse_prices((HEADER + "\n2020-01-02,1,1,1,1,1,1\n2020-01-03,1,1\r,1,1,1,1\n").encode())
    assert err.value.line == 3


def test_strict_reader_line_of_a_tab_only_line_is_rejected() -> None:
    from stages.ingest.parse import UnreadableFile

    with pytest.raises(UnreadableFile) as err:
        parse_prices((HEADER + "\n2020-01-02,1,1,1,1,1,1\n\t\n").encode())
    assert err.value.line == 3


def test_main_called_many_times_in_one_process(raw: Path, ingest: Ingest) -> None:
    """A warm worker runs thousands of datums: no state may leak from one call to the next."""
    write_price(raw, "stocks/A.csv", ["2020-01-02,1,1,1,1,1,1"])
    for i in range(3):
        write_price(raw, "stocks/AA.csv", [f"2020-01-0{d},1,1,1,1,1,{i}" for d in range(2, 2 + i + 1)])
        code, out = ingest(raw / "stocks" / "AA.csv")
        assert code == 0
        assert output(out, "stocks/AA.csv").num_rows == i + 1
        assert quality(out, "stocks/AA.csv")["rows_read"] == i + 1
    assert not (out / "stocks" / "A.parquet").exists()  # only the file given was processed
