"""Trailing rolling windows over the rows of one symbol: numpy arrays in, numpy arrays out.

Both functions return a float64 array as long as their input, whose first ``window - 1``
entries are NaN (fewer than ``window`` rows exist yet) and whose entry ``i`` (0-based,
``i >= window - 1``) is computed over rows ``i - window + 1 .. i``: the current row and the
``window - 1`` rows before it. The caller turns the leading NaNs into nulls.
"""

from __future__ import annotations

import bottleneck
import numpy as np

_INT64_MAX = np.iinfo(np.int64).max


def _check_window(window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive integer of rows, got {window!r}")


def rolling_mean_int(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean of an int64 array (e.g. Volume), from exact integer window sums.

    Each window's sum is computed exactly in int64 (difference of an int64 cumulative
    sum), then divided once: the result is the correctly rounded quotient whenever the sum
    is below 2**53, i.e. no float error accumulates along the series.
    """
    _check_window(window)
    values = np.asarray(values)
    if values.dtype != np.int64:
        raise TypeError(f"rolling_mean_int needs an int64 array, got {values.dtype}")
    n = len(values)
    out = np.full(n, np.nan)
    if n < window:
        return out
    largest = int(np.abs(values).max())
    if largest and largest > _INT64_MAX // n:
        # A cumulative sum could overflow int64: sum each window with Python integers.
        # Python's int / int division is correctly rounded.
        ints = values.tolist()
        out[window - 1 :] = [sum(ints[i - window + 1 : i + 1]) / window for i in range(window - 1, n)]
        return out
    cumulative = np.cumsum(values, dtype=np.int64)
    sums = cumulative[window - 1 :].copy()
    sums[1:] -= cumulative[: n - window]
    np.divide(sums, window, out=out[window - 1 :])
    return out


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing median of a float64 array without NaNs (e.g. Adj Close).

    For an even ``window`` the median is the mean of the two middle values, as
    ``statistics.median`` and ``numpy.median`` define it.
    """
    _check_window(window)
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n < window:
        return np.full(n, np.nan)
    return bottleneck.move_median(values, window=window, min_count=window)
