"""Print a price file exactly as the real dataset prints it.

The real files were written by pandas from float32 prices: each price is
``repr(float(np.float32(x)))`` (``32.54649353027344``, ``70.5``, ``71.0``), volumes are whole
numbers, or float text for the whole file when an empty row made the column float. Polars'
CSV writer prints float64 with the shortest round-trip digits and a ``.0`` on whole values,
which is the same text as Python's repr for every price this generator makes (0.2 to 50,000;
repr switches to exponents only below 1e-4 or from 1e16), and about ten times faster than
pyarrow's cast to string.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from tools.synth.model import PriceFile

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"


def price_frame(prices: PriceFile, dates: np.ndarray) -> pl.DataFrame:
    """The file as a table: ``dates`` (datetime64[D]) are its rows' days; empty rows are nulls."""
    if len(dates) != prices.rows:
        raise ValueError(f"{len(dates)} dates for {prices.rows} rows")
    volume = pl.Series("Volume", prices.volume)
    if prices.float_volume:
        volume = pl.Series("Volume", np.where(prices.empty, np.nan, prices.volume.astype(np.float64)))
        volume = volume.fill_nan(None)
    columns = {
        "Open": prices.open,
        "High": prices.high,
        "Low": prices.low,
        "Close": prices.close,
        "Adj Close": prices.adj_close,
    }
    return pl.DataFrame(
        [
            pl.Series("Date", dates.astype("datetime64[D]")),
            *(pl.Series(name, values, nan_to_null=True) for name, values in columns.items()),
            volume,
        ]
    )


def render_csv(prices: PriceFile, dates: np.ndarray) -> bytes:
    """The bytes of the file: header line, one line per row, LF line ends."""
    buffer = io.BytesIO()
    price_frame(prices, dates).write_csv(buffer, include_header=True, line_terminator="\n")
    return buffer.getvalue()
