"""add_features on in-memory tables: schema, pass-through, ordering and bad input."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from stages.common.schema import FEATURES_SCHEMA, INGEST_SCHEMA
from stages.features.table import FeaturesInputError, add_features
from tests.features.tables import ingest_table, trading_dates


def test_schema_and_ingest_columns_pass_through_unchanged() -> None:
    table = ingest_table(list(range(100, 135)), [float(p) for p in range(1, 36)])
    result = add_features(table)
    assert result.schema.equals(FEATURES_SCHEMA, check_metadata=True)
    assert result.select(INGEST_SCHEMA.names).equals(table)
    mean = result.column("vol_moving_avg").to_pylist()
    median = result.column("adj_close_rolling_med").to_pylist()
    assert mean[:29] == [None] * 29 and median[:29] == [None] * 29
    assert result.column("vol_moving_avg").null_count == 29
    # Row 30: volumes 100..129 -> 114.5; Adj Close 1..30 -> 15.5. Row 35: 105..134 -> 119.5; 6..35 -> 20.5.
    assert (mean[29], median[29], mean[34], median[34]) == (114.5, 15.5, 119.5, 20.5)
    assert not any(math.isnan(x) for x in mean[29:] + median[29:])


def test_short_history_has_only_null_features() -> None:
    result = add_features(ingest_table([5] * 12, [1.0] * 12))
    assert result.num_rows == 12
    assert result.column("vol_moving_avg").null_count == 12
    assert result.column("adj_close_rolling_med").null_count == 12


def test_empty_table_gives_empty_table_with_the_schema() -> None:
    result = add_features(INGEST_SCHEMA.empty_table())
    assert result.num_rows == 0 and result.schema.equals(FEATURES_SCHEMA)


def test_unsorted_rows_are_sorted_by_date_first() -> None:
    dates = trading_dates(40)
    table = ingest_table(list(range(40)), [float(i) for i in range(40)], dates)
    shuffled = table.take([(i * 17) % 40 for i in range(40)])
    assert shuffled.column("Date").to_pylist() != dates
    assert add_features(shuffled).equals(add_features(table))


def test_repeated_date_is_an_error_naming_it() -> None:
    dates = trading_dates(5)
    dates[3] = dates[2]
    with pytest.raises(FeaturesInputError, match=f"Date '{dates[2]}' appears more than once"):
        add_features(ingest_table([1] * 5, [1.0] * 5, dates))


def test_null_or_nan_values_are_errors_naming_the_row() -> None:
    table = ingest_table([1, 2, 3], [1.0, 2.0, 3.0])
    with_null_volume = table.set_column(8, "Volume", pa.array([1, None, 3], pa.int64()))
    with pytest.raises(FeaturesInputError, match=r"row 2 \(Date 2020-01-02\): Volume is null"):
        add_features(with_null_volume)
    with_nan_price = table.set_column(7, "Adj Close", pa.array([1.0, 2.0, float("nan")]))
    with pytest.raises(FeaturesInputError, match=r"row 3 \(Date 2020-01-03\): Adj Close is nan"):
        add_features(with_nan_price)
    with_null_date = table.set_column(2, "Date", pa.array(["2020-01-01", None, "2020-01-03"]))
    with pytest.raises(FeaturesInputError, match="row 2: Date is null"):
        add_features(with_null_date)


def test_other_column_order_and_safely_castable_types_are_accepted() -> None:
    table = ingest_table([1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0])
    other = pa.table(
        {
            name: table.column(name).cast(pa.large_string())
            if name in ("Symbol", "Date")
            else table.column(name).cast(pa.int32())
            if name == "Volume"
            else table.column(name)
            for name in reversed(INGEST_SCHEMA.names)
        }
    )
    assert add_features(other, window=2).equals(add_features(table, window=2))


def test_wrong_columns_are_errors() -> None:
    table = ingest_table([1, 2], [1.0, 2.0])
    with pytest.raises(FeaturesInputError, match="missing column\\(s\\) 'Volume'"):
        add_features(table.drop_columns(["Volume"]))
    with pytest.raises(FeaturesInputError, match="unexpected column\\(s\\) 'vol_moving_avg'"):
        add_features(add_features(table))
    as_text = table.set_column(8, "Volume", pa.array(["1", "x"]))
    with pytest.raises(FeaturesInputError, match="column 'Volume' is string, not castable to int64"):
        add_features(as_text)


def test_chunked_and_sliced_inputs_give_the_same_result() -> None:
    table = ingest_table([i * 3 % 11 for i in range(50)], [float(i * 7 % 13) for i in range(50)])
    whole = add_features(table.slice(5))
    assert whole.column("vol_moving_avg")[29].as_py() == sum(i * 3 % 11 for i in range(5, 35)) / 30
    rechunked = pa.concat_tables([table.slice(5, 10), table.slice(15, 1), table.slice(16)])
    assert rechunked.column("Volume").num_chunks == 3
    assert add_features(rechunked).equals(whole)
