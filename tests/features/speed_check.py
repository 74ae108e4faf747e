"""Speed check of the features stage (run by hand; not collected by pytest).

    .venv/bin/python -m tests.features.speed_check [--files 400] [--workdir /tmp/features]

Generates ingest-like Parquet files of realistic sizes (about 3,300 rows on average, up to
14,700, like the Kaggle dataset), then times, over the same files and in this one run:

- polars bulk: one ``pl.scan_parquet(glob)`` with ``rolling_mean`` / ``rolling_median``
  ``.over("Symbol")``, written to one Parquet file (the reference of issue #4);
- the stage: ``stages.features.program.main`` called once per datum (a folder holding one
  symbol file, as the local runner stages it) in 2 warm worker processes;

and prints the ratio and the peak memory of all processes of each (sampled with psutil).
The per-file loop is also timed with other Parquet write settings (``--variants``), and
through the local runner with specs/features.json (``--runner``: the generated files are put
into an input repo named ``ingest`` of a fresh runner state, then ``python -m runner run`` is timed).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from stages.common.schema import INGEST_SCHEMA

MEAN_ROWS = 3_300
MAX_ROWS = 14_700
WRITE_VARIANTS: dict[str, dict[str, object]] = {
    "none": {"compression": "none", "use_dictionary": ["Symbol", "Security Name"]},
    "snappy": {"compression": "snappy", "use_dictionary": ["Symbol", "Security Name"]},
    "lz4": {"compression": "lz4", "use_dictionary": ["Symbol", "Security Name"]},
    "snappy-defaults": {"compression": "snappy"},
}


def row_counts(n_files: int, rng: np.random.Generator) -> np.ndarray:
    """Skewed file sizes: mostly short histories, some of decades (mean ~3,300, max 14,700)."""
    counts = rng.lognormal(mean=7.75, sigma=0.9, size=n_files)
    counts = np.clip(counts, 20, MAX_ROWS).astype(int)
    counts[0] = MAX_ROWS
    return counts


def symbol_table(symbol: str, n_rows: int, rng: np.random.Generator) -> pa.Table:
    dates = np.busday_offset(np.datetime64("2020-04-01"), -np.arange(n_rows)[::-1], roll="backward")
    walk = np.exp(np.cumsum(rng.normal(0, 0.02, n_rows))) * rng.uniform(5, 200)
    prices = [walk * f for f in (1.0, 1.01, 0.99, 1.0, 0.9)]
    prices = [p.astype(np.float32).astype(np.float64) for p in prices]
    volume = (rng.lognormal(12, 1.5, n_rows)).astype(np.int64)
    volume[rng.random(n_rows) < 0.02] = 0
    return pa.Table.from_arrays(
        [
            pa.array([symbol] * n_rows),
            pa.array([f"{symbol} Holdings Inc. - Common Stock"] * n_rows),
            pa.array(dates.astype(str).tolist()),
            *(pa.array(p) for p in prices),
            pa.array(volume),
        ],
        schema=INGEST_SCHEMA,
    )


def generate(ingest: Path, n_files: int, seed: int = 7) -> int:
    rng = np.random.default_rng(seed)
    total = 0
    for i, n_rows in enumerate(row_counts(n_files, rng)):
        folder = "etfs" if i % 4 == 0 else "stocks"
        path = ingest / folder / f"S{i:04d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(symbol_table(f"S{i:04d}", int(n_rows), rng), path)
        total += int(n_rows)
    return total


def stage_datums(ingest: Path, datums: Path) -> list[Path]:
    """One folder per symbol file, holding it at its original path (hard links), like the runner."""
    roots = []
    for i, source in enumerate(sorted(ingest.glob("*/*.parquet"))):
        root = datums / f"{i:05d}"
        target = root / source.relative_to(ingest)
        target.parent.mkdir(parents=True)
        os.link(source, target)
        roots.append(root)
    return roots


def polars_bulk(ingest: str, out: str) -> None:
    import polars as pl

    (
        pl.scan_parquet(f"{ingest}/*/*.parquet")
        .with_columns(
            pl.col("Volume").rolling_mean(30).over("Symbol").alias("vol_moving_avg"),
            pl.col("Adj Close").rolling_median(30).over("Symbol").alias("adj_close_rolling_med"),
        )
        .sink_parquet(out)
    )


def _set_write_options(options: dict[str, object]) -> None:
    from stages.features import program

    program.PARQUET_WRITE_OPTIONS = options


def _run_datum(args: tuple[str, str]) -> int:
    from stages.features.program import main

    return main(["--ingest", args[0], "--out", args[1]])


def per_file(datums: list[Path], out: Path, options: dict[str, object]) -> None:
    jobs = [(str(root), str(out / root.name)) for root in datums]
    with open(os.devnull, "w") as devnull:
        saved = os.dup(2)
        os.dup2(devnull.fileno(), 2)  # the stage's one info line per datum
        try:
            with multiprocessing.get_context("fork").Pool(
                2, initializer=_set_write_options, initargs=(options,)
            ) as pool:
                codes = pool.map(_run_datum, jobs, chunksize=16)
        finally:
            os.dup2(saved, 2)
    if any(codes):
        raise SystemExit(f"{sum(1 for c in codes if c)} datums failed")


def runner_state(work: Path) -> dict[str, str]:
    """A fresh runner state holding the generated files in repo ``ingest`` and the features pipeline."""
    state = work / "pfs"
    shutil.rmtree(state, ignore_errors=True)
    env = {**os.environ, "PFS_STATE": str(state)}
    repo_root = Path(__file__).resolve().parents[2]
    for args in (
        ["put", "file", "-r", "ingest@master:/", "-f", str(work / "ingest")],
        ["create", "pipeline", "-f", str(repo_root / "specs" / "features.json")],
    ):
        subprocess.run(
            [sys.executable, "-m", "runner", *args], env=env, check=True, stdout=subprocess.DEVNULL
        )
    return env


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run ``command`` in a subprocess; return (wall s, CPU s, peak RSS in MB) of its process tree.

    CPU time (user + sys of every waited-for descendant) is the fairer number on a shared,
    loaded machine; wall time is the goal's number on an idle one.
    """
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{command} failed with exit code {proc.returncode}")
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/features"))
    parser.add_argument("--variants", action="store_true", help="also time other Parquet write settings")
    parser.add_argument("--runner", action="store_true", help="also time the stage through the local runner")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # internal: run one measured part
    args = parser.parse_args()
    work = args.workdir
    if args.one:
        kind, variant = args.one
        if kind == "polars":
            polars_bulk(str(work / "ingest"), str(work / "out-polars.parquet"))
        else:
            out = work / f"out-{variant}"
            shutil.rmtree(out, ignore_errors=True)
            per_file(sorted((work / "datums").iterdir()), out, WRITE_VARIANTS[variant])
        return
    shutil.rmtree(work / "ingest", ignore_errors=True)
    shutil.rmtree(work / "datums", ignore_errors=True)
    rows = generate(work / "ingest", args.files)
    stage_datums(work / "ingest", work / "datums")
    print(f"{args.files} files, {rows:,} rows under {work / 'ingest'}")
    me = [sys.executable, "-m", "tests.features.speed_check", "--workdir", str(work), "--one"]
    results = {"polars bulk": measure([*me, "polars", "-"])}
    for variant in WRITE_VARIANTS if args.variants else ["snappy"]:
        results[f"stage, 2 workers, {variant}"] = measure([*me, "stage", variant])
    if args.runner:
        env = runner_state(work)
        results["local runner (specs/features.json)"] = measure([sys.executable, "-m", "runner", "run"], env)
    results["polars bulk (again)"] = measure([*me, "polars", "-"])
    wall_ref = min(results["polars bulk"][0], results["polars bulk (again)"][0])
    cpu_ref = min(results["polars bulk"][1], results["polars bulk (again)"][1])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, (wall, cpu, peak_mb) in results.items():
        print(
            f"{name:36s} wall {wall:6.2f} s = {wall / wall_ref:4.2f}x polars   "
            f"cpu {cpu:6.2f} s = {cpu / cpu_ref:4.2f}x polars   peak {peak_mb:5.0f} MB"
        )


if __name__ == "__main__":
    main()
