"""What one synthetic price file holds: its length, prices, volumes and quirks (pure numpy).

Every draw comes from the file's own generator, seeded from (seed, symbol), so a file is
reproducible on its own. The numbers are calibrated on the real dataset's facts:

- rows per file: a mixture (young listings of a few hundred rows, a log-normal bulk, old
  listings reaching back to 1962) giving about 26.3 M rows over the 8,049 files, at most the
  14,663 trading days of the calendar; ETFs start no earlier than 1993-01-29 (SPY).
- prices: a geometric random walk anchored at a final price, quoted in cents before any
  split (or 1/10,000 under a dollar), split-adjusted backwards (so old rows carry long
  decimals, like NVDA's 9.526666641235352), stored as float32; High >= max(Open, Close),
  Low <= min(Open, Close).
- Adj Close = Close x a dividend factor <= 1 (1 after the last dividend, and for the listings
  that pay none), so Adj Close <= Close holds after float32 rounding.
- volumes: whole numbers, log-normal around a per-listing level, split-adjusted; zero-volume
  runs with Open = High = Low = Close (thin ETFs and small caps, like AADR and AAMC), and the
  odd zero day in liquid listings (AA has one).
- quirks: about 1 % of files carry one to three empty rows ``YYYY-MM-DD,,,,,,`` and, because
  of them, print every Volume as float text (``67867200.0``), like NVDA.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

#: Listings younger than about three years: a few to 750 rows.
YOUNG_SHARE = {"stocks": 0.18, "etfs": 0.20}
YOUNG_MAX_ROWS = 750
#: Stocks listed before about 1986: the last 8,663 to 14,663 rows of the calendar.
OLD_STOCK_SHARE = 0.12
OLD_STOCK_SPAN = 6000
#: The log-normal bulk of row counts: median rows and sigma of log(rows).
BULK_MEDIAN = {"stocks": 2230.0, "etfs": 2450.0}
BULK_SIGMA = {"stocks": 0.8, "etfs": 0.6}
#: Trading days from SPY's first day (1993-01-29) to 2020-04-01: no ETF is older.
ETF_MAX_ROWS = 6845
#: Share of files with empty rows (and so float-text volumes), like NVDA.
EMPTY_ROW_FILE_SHARE = 0.01
#: Share of listings that trade thinly, with runs of zero-volume days.
THIN_SHARE = {"stocks": 0.12, "etfs": 0.35}
DIVIDEND_PAYER_SHARE = {"stocks": 0.55, "etfs": 0.85}
QUARTER_ROWS = 63
MIN_PRICE = 0.2
MAX_PRICE = 50_000.0


@dataclass(frozen=True)
class PriceFile:
    """The columns of one price file: the last ``rows`` trading days, oldest first.

    Prices are float32 values held as float64 (NaN on empty rows); ``volume`` is int64 and
    meaningless on empty rows; ``float_volume`` says the file prints Volume as float text.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray
    empty: np.ndarray  # bool
    float_volume: bool

    @property
    def rows(self) -> int:
        return len(self.close)


def file_rng(seed: int, symbol: str) -> np.random.Generator:
    """The generator of one file: depends only on the dataset seed and the symbol."""
    digest = hashlib.blake2b(symbol.encode("utf-8"), digest_size=16).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, *words]))


def draw_row_count(rng: np.random.Generator, folder: str, calendar_days: int) -> int:
    """Rows of a full-scale file: young, bulk or (stocks only) old listing."""
    kind = rng.random()
    young = YOUNG_SHARE[folder]
    if kind < young:
        rows = int(rng.integers(2, YOUNG_MAX_ROWS + 1))
    elif folder == "stocks" and kind < young + OLD_STOCK_SHARE:
        rows = calendar_days - int(rng.integers(0, OLD_STOCK_SPAN))
    else:
        rows = int(np.rint(BULK_MEDIAN[folder] * np.exp(rng.normal(0.0, BULK_SIGMA[folder]))))
    cap = min(calendar_days, ETF_MAX_ROWS) if folder == "etfs" else calendar_days
    return max(2, min(rows, cap))


def scaled_rows(full_rows: int, scale: float) -> int:
    """Rows kept at ``scale`` (the most recent ones): at least one."""
    return max(1, round(full_rows * scale))


def _runs_mask(rng: np.random.Generator, n: int, rate: float, mean_run: float) -> np.ndarray:
    """A boolean mask where about ``rate`` of the rows fall in runs of mean length ``mean_run``."""
    starts = np.flatnonzero(rng.random(n) < rate / mean_run)
    lengths = rng.geometric(1.0 / mean_run, len(starts))
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, np.minimum(starts + lengths, n), -1)
    return np.cumsum(delta[:n]) > 0


@dataclass(frozen=True)
class Profile:
    """The per-listing draws, made before any per-row draw so they do not depend on the scale."""

    full_rows: int
    sigma: float  # daily volatility of log price
    drift: float  # daily drift of log price
    last_close: float
    thin: bool  # trades thinly: runs of zero-volume days
    zero_rate: float  # share of zero-volume days
    volume_level: float
    dividend_yield: float  # per quarter; 0.0 for listings that pay none
    empty_rows: int  # empty rows ``YYYY-MM-DD,,,,,,`` (files of at least 10 rows)


def draw_profile(rng: np.random.Generator, folder: str, calendar_days: int) -> Profile:
    """Draw a listing's profile: always the first draws of its generator."""
    full_rows = draw_row_count(rng, folder, calendar_days)
    thin = bool(rng.random() < THIN_SHARE[folder])
    zero_rate = rng.uniform(0.01, 0.15) if thin else 0.0002
    payer = rng.random() < DIVIDEND_PAYER_SHARE[folder]
    dividend_yield = rng.uniform(0.002, 0.012)
    quirky = rng.random() < EMPTY_ROW_FILE_SHARE
    empty_rows = int(rng.choice([1, 2, 3], p=[0.8, 0.15, 0.05]))
    return Profile(
        full_rows=full_rows,
        sigma=rng.uniform(0.01, 0.035),
        drift=rng.normal(0.0002, 0.0003),
        last_close=float(np.clip(np.exp(rng.normal(np.log(25.0), 1.2)), 1.0, 3000.0)),
        thin=thin,
        zero_rate=float(zero_rate),
        volume_level=float(np.clip(np.exp(rng.normal(np.log(3e5), 1.6)), 50.0, 5e8)),
        dividend_yield=float(dividend_yield) if payer else 0.0,
        empty_rows=empty_rows if quirky else 0,
    )


def _split_factor(rng: np.random.Generator, n: int, folder: str) -> np.ndarray:
    """Per row, the product of the share splits after it (1.0 after the last split)."""
    factor = np.ones(n)
    if folder == "etfs" or n < 500:
        return factor
    for _ in range(rng.poisson(n / 5000)):
        at = int(rng.integers(1, n))
        factor[:at] *= rng.choice([2.0, 3.0, 1.5, 4.0], p=[0.6, 0.2, 0.15, 0.05])
    return factor


def _dividend_factor(rng: np.random.Generator, n: int, quarterly_yield: float) -> np.ndarray:
    """Per row, the product of (1 - yield) of the quarterly dividends after it."""
    if quarterly_yield == 0.0:
        return np.ones(n)
    first_gap = int(rng.integers(1, QUARTER_ROWS + 1))
    paid_at = np.arange(n - first_gap, 0, -QUARTER_ROWS)  # dividend on these rows
    log_cut = np.zeros(n)
    log_cut[paid_at] = np.log1p(-quarterly_yield)
    # factor[t] = exp(sum of cuts at rows > t)
    after = np.concatenate([np.cumsum(log_cut[::-1])[::-1][1:], [0.0]])
    return np.exp(after)


def _to_quote(price: np.ndarray) -> np.ndarray:
    """Round a traded price as exchanges quote it: cents, or 1/10,000 under one dollar."""
    return np.where(price >= 1.0, np.round(price, 2), np.round(price, 4))


def draw_prices(rng: np.random.Generator, rows: int, folder: str, profile: Profile) -> PriceFile:
    """Prices and volumes of the last ``rows`` trading days of one listing."""
    n = rows
    sigma = profile.sigma
    log_close = np.cumsum(rng.normal(profile.drift, sigma, n))
    log_close += np.log(profile.last_close) - log_close[-1]
    log_close += max(0.0, np.log(MIN_PRICE) - log_close.min())
    close = np.exp(np.minimum(log_close, np.log(MAX_PRICE)))

    zero = _runs_mask(rng, n, profile.zero_rate, 1.5)
    # a zero-volume day is a placeholder quote: the previous close for all four prices
    last_traded = np.maximum.accumulate(np.where(zero, 0, np.arange(n)))
    close = close[last_traded]

    gap = np.exp(rng.normal(0.0, sigma * 0.4, n))
    open_ = np.concatenate([[close[0]], close[:-1]]) * gap
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, sigma * 0.5, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, sigma * 0.5, n)))
    open_[zero], high[zero], low[zero] = close[zero], close[zero], close[zero]

    split = _split_factor(rng, n, folder)
    move = np.abs(np.diff(np.log(close), prepend=np.log(close[0])))
    raw_volume = profile.volume_level * np.exp(rng.normal(0.0, 0.6, n)) * (1.0 + 20.0 * move) / split
    raw_volume = np.where(raw_volume >= 1000, np.round(raw_volume, -2), np.round(raw_volume))
    volume = np.round(raw_volume * split).astype(np.int64)
    volume[zero] = 0

    def quoted(price: np.ndarray) -> np.ndarray:
        # the traded (pre-split) price in cents, then split-adjusted, stored as float32
        return (_to_quote(price * split) / split).astype(np.float32).astype(np.float64)

    close32 = quoted(close)
    adj32 = (close32 * _dividend_factor(rng, n, profile.dividend_yield)).astype(np.float32).astype(np.float64)

    empty = np.zeros(n, dtype=bool)
    if n >= 10 and profile.empty_rows:
        empty[rng.choice(np.arange(1, n - 1), size=profile.empty_rows, replace=False)] = True
    columns = [quoted(open_), quoted(high), quoted(low), close32, adj32]
    for column in columns:
        column[empty] = np.nan
    return PriceFile(
        open=columns[0],
        high=columns[1],
        low=columns[2],
        close=columns[3],
        adj_close=columns[4],
        volume=volume,
        empty=empty,
        float_volume=bool(empty.any()),
    )
