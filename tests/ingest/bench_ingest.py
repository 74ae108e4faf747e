"""Speed check of ingest against one bulk DuckDB conversion of the same files (not a test).

    .venv/bin/python -m tests.ingest.bench_ingest [--files 400 | --raw DIR] [--runner] [--dir DIR]

Generates price files like the real ones (row counts skewed around ~3,300 on average, prices
printed as float32 values with up to 16 decimals, ~1% of files with NASDAQ-like float-text
Volume because of one empty row), then times, in one run:
  * DuckDB: ``read_csv`` over the glob with ``filename=true``, ``COPY ... TO`` one Parquet file;
  * ingest: ``main([...])`` once per file in a pool of 2 warm worker processes, as the runner does.
Prints both times, the ratio, and the peak RSS (sum over this process and its children).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[2]
META = REPO / "data" / "sample" / "symbols_valid_meta.csv"


def generate(root: Path, n_files: int, seed: int = 0) -> int:
    """Write ``n_files`` price files under ``root/{stocks,etfs}``; return the number of rows."""
    rng = np.random.default_rng(seed)
    shutil.copy(META, root / "symbols_valid_meta.csv")
    symbols = [line.split(",")[-2] for line in META.read_text().splitlines()[1 : n_files + 1]]
    total = 0
    for i, sym in enumerate(symbols):
        n = int(min(14_700, max(20, rng.lognormal(7.75, 0.9))))
        days = np.busday_offset("2020-04-01", -np.arange(n)[::-1], roll="backward")
        close = np.exp(np.cumsum(rng.normal(0, 0.02, n)) + rng.uniform(0, 5)).astype(np.float32)
        open_ = (close * rng.uniform(0.97, 1.03, n)).astype(np.float32)
        high = np.maximum(open_, close) * np.float32(1.01)
        low = np.minimum(open_, close) * np.float32(0.99)
        adj = close * np.float32(0.9)
        vol = rng.integers(0, 50_000_000, n)
        float_volume = i % 97 == 5
        rows = [
            f"{d},{float(o)!r},{float(h)!r},{float(lo)!r},{float(c)!r},{float(a)!r},"
            f"{float(v) if float_volume else int(v)}"
            for d, o, h, lo, c, a, v in zip(days.astype(str), open_, high, low, close, adj, vol, strict=True)
        ]
        if float_volume:
            rows[n // 2] = rows[n // 2].split(",")[0] + ",,,,,,"
        folder = root / ("etfs" if i % 4 == 0 else "stocks")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{sym}.csv").write_text(
            "Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(rows) + "\n"
        )
        total += n
    return total


class PeakRss:
    """Sample the RSS of this process and all its children every 0.05 s; keep the peak of the sum."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds() -> float:
    """CPU (user + system) of this process, its threads, and its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Timed:
    """Wall and CPU seconds of a block (CPU: a load-independent check on a shared machine)."""

    def __enter__(self) -> Timed:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu


def run_duckdb(root: Path, target: Path) -> float:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{root}/*/*.csv', filename=true, header=true)) "
        f"TO '{target}' (FORMAT parquet)"
    )
    con.close()
    return time.perf_counter() - started


def _ingest_one(job: tuple[str, str, str]) -> None:
    from stages.ingest.ingest import main

    prices, meta, out = job
    logging.disable(logging.INFO)  # the runner sends this to datum logs; here it would flood the terminal
    if main(["--prices", prices, "--meta", meta, "--out", out]) != 0:
        raise RuntimeError(f"ingest failed on {prices}")


def _warm_up() -> None:
    import stages.ingest.ingest  # noqa: F401  (the runner's workers import once, too)


def run_ingest(root: Path, out: Path, processes: int = 2) -> float:
    jobs = [(str(p), str(root / "symbols_valid_meta.csv"), str(out)) for p in sorted(root.glob("*/*.csv"))]
    with multiprocessing.get_context("fork").Pool(processes, initializer=_warm_up) as pool:
        pool.map(abs, range(processes * 4))  # workers started and warm before the clock starts
        started = time.perf_counter()
        pool.map(_ingest_one, jobs, chunksize=16)
        return time.perf_counter() - started


def run_runner(raw: Path, state: Path) -> Timed:
    """``put file`` (not timed), then ``python -m runner run`` of specs/ingest.json (timed)."""
    shutil.rmtree(state, ignore_errors=True)
    env = {**os.environ, "PFS_STATE": str(state)}

    def runner(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "runner", *args], cwd=REPO, env=env, check=True, capture_output=True
        )

    runner("create", "pipeline", "-f", "specs/ingest.json")
    runner("put", "file", "-r", "raw@master:/", "-f", str(raw))
    with Timed() as timed:
        runner("run")
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400, help="files to generate (without --raw)")
    parser.add_argument("--raw", type=Path, help="use this raw folder (e.g. made by tools.synth)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/ingest/bench"))
    parser.add_argument("--runner", action="store_true", help="also time the job through python -m runner")
    args = parser.parse_args()
    raw = args.raw or args.dir / f"raw-{args.files}"
    if not (raw / "symbols_valid_meta.csv").exists():
        raw.mkdir(parents=True, exist_ok=True)
        rows = generate(raw, args.files)
        print(f"generated {args.files} files, {rows} rows under {raw}")
    csv_bytes = sum(p.stat().st_size for p in raw.glob("*/*.csv"))
    args.dir.mkdir(parents=True, exist_ok=True)
    for name in ("duck.parquet", "out"):
        shutil.rmtree(args.dir / name, ignore_errors=True)
        (args.dir / name).unlink(missing_ok=True) if (args.dir / name).is_file() else None
    with PeakRss() as duck_rss, Timed() as duck:
        run_duckdb(raw, args.dir / "duck.parquet")
    with PeakRss() as ingest_rss, Timed() as ingest:
        run_ingest(raw, args.dir / "out")
    n_files = len(list(raw.glob("*/*.csv")))
    print(f"{csv_bytes / 1e6:.0f} MB of CSV in {n_files} files; load average {os.getloadavg()[0]:.1f}")

    def line(label: str, timed: Timed, rss: PeakRss) -> str:
        return (
            f"{label:<19}{timed.wall:7.2f} s wall (x{timed.wall / duck.wall:.2f}) "
            f"{timed.cpu:7.2f} s CPU (x{timed.cpu / duck.cpu:.2f})   peak RSS {rss.peak / 1e6:5.0f} MB"
        )

    print(line("duckdb bulk", duck, duck_rss))
    print(line("ingest 2 workers", ingest, ingest_rss))
    if args.runner:
        with PeakRss() as runner_rss:
            through_runner = run_runner(raw, args.dir / "pfs")
        print(line("ingest via runner", through_runner, runner_rss))
    print("goal: ingest <= 1.5 x duckdb, peak RSS < 1 GB")


if __name__ == "__main__":
    main()
