"""Write a whole synthetic dataset: metadata copy, then every price file, in worker processes.

The dataset is written under a hidden temporary folder beside ``out`` and renamed into place
when complete, so a folder at ``out`` is always a whole dataset (``make bench`` relies on it).
A JSON summary is written beside it (``<out>.json``).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tools.synth.model import draw_prices, draw_profile, file_rng, scaled_rows
from tools.synth.render import render_csv
from tools.synth.sources import DEFAULT_CALENDAR, DEFAULT_META, Listing, read_calendar, read_listings

META_NAME = "symbols_valid_meta.csv"
FILES_PER_TASK = 32
WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class FileResult:
    """What was written for one listing."""

    relpath: str
    rows: int  # data lines, empty ones included
    empty_rows: int
    zero_volume_rows: int
    float_volume: bool
    bytes: int


@dataclass(frozen=True)
class DatasetSummary:
    """What a generation run wrote (also saved as ``<out>.json``)."""

    out: str
    seed: int
    scale: float
    files: int
    stocks: int
    etfs: int
    rows: int
    empty_rows: int
    zero_volume_rows: int
    float_volume_files: int
    bytes: int
    min_rows: int
    median_rows: float
    max_rows: int
    seconds: float
    processes: int

    def line(self) -> str:
        return (
            f"synth: {self.files:,} files ({self.stocks:,} stocks, {self.etfs:,} etfs), {self.rows:,} rows "
            f"(per file {self.min_rows:,}..{self.max_rows:,}, median {self.median_rows:,.0f}), "
            f"{self.bytes / 1e9:.2f} GB, {self.empty_rows} empty rows in {self.float_volume_files} "
            f"float-volume files, {self.zero_volume_rows:,} zero-volume rows, "
            f"{self.seconds:.1f} s on {self.processes} processes -> {self.out}"
        )


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    rows: int
    bytes: int
    seconds: float


def make_file(listing: Listing, seed: int, scale: float, calendar: np.ndarray) -> tuple[bytes, FileResult]:
    """The bytes of one price file and what it holds; depends only on its own arguments."""
    rng = file_rng(seed, listing.symbol)
    profile = draw_profile(rng, listing.folder, len(calendar))
    rows = scaled_rows(profile.full_rows, scale)
    prices = draw_prices(rng, rows, listing.folder, profile)
    data = render_csv(prices, calendar[len(calendar) - rows :])
    result = FileResult(
        relpath=listing.relpath,
        rows=rows,
        empty_rows=int(prices.empty.sum()),
        zero_volume_rows=int(((prices.volume == 0) & ~prices.empty).sum()),
        float_volume=prices.float_volume,
        bytes=len(data),
    )
    return data, result


def _write_files(task: tuple[str, int, float, np.ndarray, list[Listing]]) -> list[FileResult]:
    """Worker: generate and write a batch of files under ``root``."""
    root, seed, scale, calendar, listings = task
    results = []
    for listing in listings:
        data, result = make_file(listing, seed, scale, calendar)
        with open(os.path.join(root, listing.relpath), "wb", buffering=WRITE_BUFFER) as f:
            f.write(data)
        results.append(result)
    return results


@contextlib.contextmanager
def _worker_env() -> Iterator[None]:
    """Pin each worker's polars to one thread while the pool starts (spawned children copy env)."""
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = saved


def _run_tasks(
    tasks: Sequence[tuple[str, int, float, np.ndarray, list[Listing]]], processes: int
) -> Iterator[list[FileResult]]:
    if processes <= 1:
        yield from map(_write_files, tasks)
        return
    with _worker_env():
        pool = multiprocessing.get_context("spawn").Pool(processes)
    with pool:
        yield from pool.imap_unordered(_write_files, tasks)


def generate(
    out: Path,
    *,
    scale: float = 1.0,
    seed: int = 0,
    processes: int = 2,
    meta: Path = DEFAULT_META,
    calendar_csv: Path = DEFAULT_CALENDAR,
    limit: int | None = None,
    force: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> DatasetSummary:
    """Write the dataset to ``out`` (which must not exist unless ``force``) and its summary JSON.

    ``scale`` multiplies every file's row count (keeping its most recent rows, at least one),
    so all 8,049 files exist at any scale. ``limit`` writes only the first ``limit`` listings'
    files (the metadata is still copied whole): each file is the same as in a full run.
    """
    if not 0 < scale <= 1:
        raise ValueError(f"--scale must be in (0, 1], got {scale}")
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; remove it or pass --force")
    started = time.perf_counter()
    listings = read_listings(meta)[:limit]
    calendar = read_calendar(calendar_csv)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for folder in ("stocks", "etfs"):
            (tmp / folder).mkdir(parents=True)
        shutil.copyfile(meta, tmp / META_NAME)
        tasks = [
            (str(tmp), seed, scale, calendar, listings[i : i + FILES_PER_TASK])
            for i in range(0, len(listings), FILES_PER_TASK)
        ]
        results: list[FileResult] = []
        for batch in _run_tasks(tasks, processes):
            results.extend(batch)
            if on_progress is not None:
                on_progress(
                    Progress(
                        files_done=len(results),
                        files_total=len(listings),
                        rows=sum(r.rows for r in results),
                        bytes=sum(r.bytes for r in results),
                        seconds=time.perf_counter() - started,
                    )
                )
        if force and out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary = summarize(results, out=out, seed=seed, scale=scale, processes=processes)
    summary = DatasetSummary(**{**asdict(summary), "seconds": round(time.perf_counter() - started, 2)})
    summary_path(out).write_text(json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8")
    return summary


def summary_path(out: Path) -> Path:
    """Where the JSON summary of the dataset at ``out`` is written: ``<out>.json`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def summarize(
    results: Sequence[FileResult], *, out: Path, seed: int, scale: float, processes: int
) -> DatasetSummary:
    rows = [r.rows for r in results]
    return DatasetSummary(
        out=str(out),
        seed=seed,
        scale=scale,
        files=len(results),
        stocks=sum(r.relpath.startswith("stocks/") for r in results),
        etfs=sum(r.relpath.startswith("etfs/") for r in results),
        rows=sum(rows),
        empty_rows=sum(r.empty_rows for r in results),
        zero_volume_rows=sum(r.zero_volume_rows for r in results),
        float_volume_files=sum(r.float_volume for r in results),
        bytes=sum(r.bytes for r in results),
        min_rows=min(rows, default=0),
        median_rows=float(statistics.median(rows)) if rows else 0.0,
        max_rows=max(rows, default=0),
        seconds=0.0,
        processes=processes,
    )
