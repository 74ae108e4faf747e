"""The pure rolling computations, by hand-computed cases and against a plain O(n*w) definition."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.common.schema import WINDOW_ROWS
from stages.features.rolling import rolling_mean_int, rolling_median


def plain_rolling(values: list, window: int, reduce) -> list[float | None]:
    """The definition, the slow obvious way: None before `window` rows, else reduce(the last window rows)."""
    return [None if i + 1 < window else reduce(values[i + 1 - window : i + 1]) for i in range(len(values))]


def as_optional(array: np.ndarray) -> list[float | None]:
    return [None if math.isnan(x) else float(x) for x in array]


def test_window_of_30_first_value_is_on_row_30() -> None:
    volume = np.arange(1, 41, dtype=np.int64)  # 1, 2, ..., 40
    adj_close = np.arange(1, 41, dtype=np.float64)
    mean = rolling_mean_int(volume, WINDOW_ROWS)
    median = rolling_median(adj_close, WINDOW_ROWS)
    assert WINDOW_ROWS == 30
    assert np.isnan(mean[:29]).all() and np.isnan(median[:29]).all()  # rows 1..29
    # Row 30 covers rows 1..30: mean (1+...+30)/30 = 15.5; median of 1..30 = (15+16)/2 = 15.5.
    assert mean[29] == 15.5 and median[29] == 15.5
    # Row 31 covers rows 2..31; row 40 covers rows 11..40.
    assert mean[30] == 16.5 and median[30] == 16.5
    assert mean[39] == 25.5 and median[39] == 25.5
    assert not np.isnan(mean[29:]).any() and not np.isnan(median[29:]).any()


def test_fewer_rows_than_the_window_gives_only_nulls() -> None:
    for n in (0, 1, 29):
        assert np.isnan(rolling_mean_int(np.ones(n, dtype=np.int64), 30)).all()
        assert np.isnan(rolling_median(np.ones(n), 30)).all()
        assert len(rolling_mean_int(np.ones(n, dtype=np.int64), 30)) == n
        assert len(rolling_median(np.ones(n), 30)) == n


def test_hand_computed_window_of_3() -> None:
    volume = np.array([10, 20, 0, 40, 5], dtype=np.int64)
    adj_close = np.array([3.0, 1.0, 2.0, 10.0, 2.5])
    # windows: [10,20,0] [20,0,40] [0,40,5]; medians of [3,1,2] [1,2,10] [2,10,2.5]
    assert as_optional(rolling_mean_int(volume, 3)) == [None, None, 10.0, 20.0, 15.0]
    assert as_optional(rolling_median(adj_close, 3)) == [None, None, 2.0, 2.0, 2.5]


def test_even_window_median_is_mean_of_the_two_middle_values() -> None:
    adj_close = np.array([4.0, 1.0, 3.0, 2.0, 100.0, 0.5])
    # windows of 4: [4,1,3,2] -> (2+3)/2; [1,3,2,100] -> (2+3)/2; [3,2,100,0.5] -> (2+3)/2
    assert as_optional(rolling_median(adj_close, 4)) == [None, None, None, 2.5, 2.5, 2.5]
    assert as_optional(rolling_median(np.array([1.0, 2.0]), 2)) == [None, 1.5]


def test_zero_volumes() -> None:
    volume = np.zeros(35, dtype=np.int64)
    mean = rolling_mean_int(volume, 30)
    assert (mean[29:] == 0.0).all() and np.isnan(mean[:29]).all()
    volume[34] = 30  # one traded day after 34 placeholder quotes
    assert rolling_mean_int(volume, 30)[34] == 1.0


def test_mean_is_exact_for_large_volumes() -> None:
    # Summing these in float64 one by one would lose the trailing 1s; the int64 sums do not.
    volume = np.array([2**53, 1, 1, 2**53, 1], dtype=np.int64)
    half = (2**53 + 1) / 2
    assert as_optional(rolling_mean_int(volume, 2)) == [None, half, 1.0, half, half]


def test_mean_falls_back_to_python_integers_when_int64_could_overflow() -> None:
    big = 2**62
    volume = np.array([big, big, big, 3], dtype=np.int64)
    assert as_optional(rolling_mean_int(volume, 2)) == [None, float(big), float(big), (big + 3) / 2]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="window"):
        rolling_median(np.ones(3), 0)
    with pytest.raises(ValueError, match="window"):
        rolling_mean_int(np.ones(3, dtype=np.int64), True)
    with pytest.raises(TypeError, match="int64"):
        rolling_mean_int(np.ones(3), 2)


volumes = st.lists(st.integers(min_value=0, max_value=10**11), max_size=120)
prices = st.lists(
    st.floats(min_value=0.25, max_value=1e6, allow_nan=False, allow_infinity=False, width=32), max_size=120
)


@settings(max_examples=300, deadline=None)
@given(volume=volumes, window=st.integers(min_value=1, max_value=40))
def test_mean_matches_the_plain_definition(volume: list[int], window: int) -> None:
    expected = plain_rolling(volume, window, lambda rows: sum(rows) / len(rows))
    assert as_optional(rolling_mean_int(np.array(volume, dtype=np.int64), window)) == expected


@settings(max_examples=300, deadline=None)
@given(adj_close=prices, window=st.integers(min_value=1, max_value=40))
def test_median_matches_the_plain_definition(adj_close: list[float], window: int) -> None:
    expected = plain_rolling(adj_close, window, statistics.median)
    # Exactly equal: an even window's median is (a + b) / 2 in both.
    assert as_optional(rolling_median(np.array(adj_close, dtype=np.float64), window)) == expected
