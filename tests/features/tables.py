"""Small ingest-schema tables for the features tests."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from stages.common.schema import INGEST_SCHEMA


def trading_dates(n: int, start: dt.date = dt.date(2020, 1, 1)) -> list[str]:
    """``n`` weekday dates from ``start`` as 'YYYY-MM-DD' strings."""
    dates, day = [], start
    while len(dates) < n:
        if day.weekday() < 5:
            dates.append(day.isoformat())
        day += dt.timedelta(days=1)
    return dates


def ingest_table(
    volume: list[int], adj_close: list[float], dates: list[str] | None = None, symbol: str = "XYZ"
) -> pa.Table:
    """An ingest table of one symbol; prices other than Adj Close are derived from it."""
    n = len(volume)
    dates = trading_dates(n) if dates is None else dates
    return pa.Table.from_pydict(
        {
            "Symbol": [symbol] * n,
            "Security Name": [f"{symbol} Corp. - Common Stock"] * n,
            "Date": dates,
            "Open": [p * 1.01 for p in adj_close],
            "High": [p * 1.02 for p in adj_close],
            "Low": [p * 0.98 for p in adj_close],
            "Close": [p * 1.005 for p in adj_close],
            "Adj Close": adj_close,
            "Volume": volume,
        },
        schema=INGEST_SCHEMA,
    )
