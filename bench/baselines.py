"""The bulk baselines each stage is compared with, run in a child process by ``make bench``.

    python -m bench.baselines duckdb  --src 'RAW/*/*.csv'          --out build/bench/duckdb.parquet
    python -m bench.baselines polars  --src 'INGEST/*/*.parquet'   --out build/bench/polars.parquet

Each prints one JSON line: {"baseline", "seconds", "rows", "out_bytes"}; seconds cover the
conversion only (not the interpreter's start or the library's import).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from stages.common.schema import PRICE_COLUMNS, WINDOW_ROWS

#: Explicit column types: a sniffed BIGINT Volume fails on the files that print it as float text.
CSV_COLUMNS = {"Date": "VARCHAR", **dict.fromkeys(PRICE_COLUMNS, "DOUBLE"), "Volume": "DOUBLE"}


def duckdb_convert(src_glob: str, out: Path) -> dict:
    """One bulk DuckDB conversion: ``read_csv`` over the glob with ``filename=true``, COPY to Parquet."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in CSV_COLUMNS.items()) + "}"
    con.execute(
        f"COPY (SELECT * FROM read_csv(?, header = true, columns = {columns}, filename = true)) "
        f"TO '{out}' (FORMAT parquet)",
        [src_glob],
    )
    seconds = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()[0]
    return {"baseline": "duckdb", "seconds": seconds, "rows": int(rows), "out_bytes": out.stat().st_size}


def polars_rolling(src_glob: str, out: Path) -> dict:
    """One bulk polars computation of both features over the whole ingest output, sunk to Parquet.

    Each ingest file holds one symbol sorted by Date and the scan keeps each file's rows in
    order, so ``.over("Symbol")`` windows run over each symbol's rows in date order.
    """
    import polars as pl

    started = time.perf_counter()
    (
        pl.scan_parquet(src_glob)
        .with_columns(
            pl.col("Volume")
            .cast(pl.Float64)
            .rolling_mean(WINDOW_ROWS)
            .over("Symbol")
            .alias("vol_moving_avg"),
            pl.col("Adj Close").rolling_median(WINDOW_ROWS).over("Symbol").alias("adj_close_rolling_med"),
        )
        .sink_parquet(out)
    )
    seconds = time.perf_counter() - started
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    return {"baseline": "polars", "seconds": seconds, "rows": int(rows), "out_bytes": out.stat().st_size}


BASELINES = {"duckdb": duckdb_convert, "polars": polars_rolling}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__.splitlines()[0])
    parser.add_argument("baseline", choices=sorted(BASELINES))
    parser.add_argument("--src", required=True, help="glob of the input files")
    parser.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = BASELINES[args.baseline](args.src, args.out)
    result["pid"] = os.getpid()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
