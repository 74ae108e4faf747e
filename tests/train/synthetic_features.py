"""Generate a features-stage output of any size for measuring the train stage.

Random-walk prices and log-normal volumes with per-symbol levels, a slow per-symbol
volume regime (AR(1) in log space) and heavy-tailed daily shocks, rolled per symbol like
the features stage (30-row mean of Volume, 30-row median of Adj Close, null for each
symbol's first 29 rows). One Parquet file per symbol in ``<out>/<stocks|etfs>/<SYM>.parquet``
with ``stages.common.schema.FEATURES_SCHEMA``.

    python -m tests.train.synthetic_features --rows 20000000 --out /tmp/train/features --seed 0

Used by hand for the scale measurements in docs/model.md; the tests call
``synthetic_features_table`` at a few thousand rows.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import bottleneck as bn
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.signal import lfilter

from stages.common.schema import FEATURES_SCHEMA, WINDOW_ROWS

log = logging.getLogger("synthetic_features")

LAST_DAY = np.datetime64("2020-04-01")


def _symbol_lengths(rng: np.random.Generator, n_symbols: int, total_rows: int) -> np.ndarray:
    raw = rng.lognormal(mean=np.log(2500.0), sigma=1.0, size=n_symbols)
    lengths = np.clip(raw * total_rows / raw.sum(), 40, 14_700).astype(np.int64)
    return lengths


def synthetic_features_table(total_rows: int, n_symbols: int, seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    """Return (table with FEATURES_SCHEMA, per-symbol row counts), rows grouped by symbol, by date."""
    rng = np.random.default_rng(seed)
    lengths = _symbol_lengths(rng, n_symbols, total_rows)
    n = int(lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    sym_of_row = np.repeat(np.arange(n_symbols), lengths)
    pos_in_sym = np.arange(n) - np.repeat(starts, lengths)
    back = (lengths[sym_of_row] - 1 - pos_in_sym).astype(np.int64)
    dates = np.busday_offset(LAST_DAY, -back, roll="backward").astype("datetime64[D]")

    # Prices: log random walk per symbol (global cumsum minus the cumsum at the symbol's start).
    steps = rng.normal(0.0, 0.02, size=n)
    walk = np.cumsum(steps)
    walk -= np.repeat(walk[starts], lengths)
    start_price = rng.lognormal(np.log(20.0), 1.2, size=n_symbols)
    adj_close = start_price[sym_of_row] * np.exp(walk)
    close = adj_close * np.repeat(rng.uniform(1.0, 1.3, size=n_symbols), lengths)

    # Volumes: per-symbol level x slow regime x heavy-tailed daily shock, some zero days.
    level = rng.lognormal(np.log(3e5), 1.8, size=n_symbols)
    regime = lfilter([0.1], [1.0, -0.99], rng.normal(size=n))
    shock = np.clip(rng.standard_t(df=4, size=n) * 0.35, -3.0, 3.0)
    volume = np.round(level[sym_of_row] * np.exp(regime + shock)).astype(np.int64)
    volume[rng.random(n) < 0.01] = 0

    vol_mean = bn.move_mean(volume.astype(np.float64), WINDOW_ROWS)
    adj_median = bn.move_median(adj_close, WINDOW_ROWS)
    young = pos_in_sym < WINDOW_ROWS - 1
    vol_mean[young] = np.nan
    adj_median[young] = np.nan

    names = np.array([f"S{i:05d}" for i in range(n_symbols)], dtype=object)
    columns = {
        "Symbol": pa.DictionaryArray.from_arrays(sym_of_row.astype(np.int32), names).cast(pa.string()),
        "Security Name": pa.DictionaryArray.from_arrays(sym_of_row.astype(np.int32), names).cast(pa.string()),
        "Date": pa.array(dates.astype(str)),
        "Open": close,
        "High": close * 1.01,
        "Low": close * 0.99,
        "Close": close,
        "Adj Close": adj_close,
        "Volume": volume,
        "vol_moving_avg": pa.array(vol_mean, from_pandas=True),
        "adj_close_rolling_med": pa.array(adj_median, from_pandas=True),
    }
    table = pa.table(columns).cast(FEATURES_SCHEMA)
    return table, lengths


def write_synthetic_features(out: Path, total_rows: int, n_symbols: int, seed: int = 0) -> int:
    """Write one Parquet file per symbol under ``out``; return the number of rows written."""
    table, lengths = synthetic_features_table(total_rows, n_symbols, seed)
    n_stocks = int(n_symbols * 5884 / 8049)
    offset = 0
    for i, length in enumerate(lengths):
        folder = out / ("stocks" if i < n_stocks else "etfs")
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(offset, int(length)), folder / f"S{i:05d}.parquet")
        offset += int(length)
        if (i + 1) % 1000 == 0:
            log.info("%d/%d files", i + 1, n_symbols)
    return table.num_rows


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--symbols", type=int, default=8049)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = write_synthetic_features(args.out, args.rows, args.symbols, args.seed)
    log.info(
        "wrote %d rows in %d files under %s in %.1f s", rows, args.symbols, args.out, time.perf_counter() - t0
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
