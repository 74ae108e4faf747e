"""``python -m tools.synth``: write a Kaggle-scale synthetic dataset."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from tools.synth.generate import Progress, generate
from tools.synth.sources import DEFAULT_CALENDAR, DEFAULT_META, SourceError

EXAMPLE = """example:
  python -m tools.synth --scale 1.0 --out data/synth/scale-1.0 --seed 0   # ~26 M rows, ~2.7 GB
  python -m tools.synth --scale 0.05 --out /tmp/synth/small               # all files, 5 % of rows
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.synth",
        description="Write a synthetic stock-market dataset in the Kaggle zip layout "
        "(symbols_valid_meta.csv, stocks/, etfs/). --scale shrinks every file's rows "
        "(its most recent ones are kept); all 8,049 files are written at any scale.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to create (must not exist)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of each file's rows, in (0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument(
        "--processes", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default 2)"
    )
    parser.add_argument("--limit", type=int, default=None, help="write only the first N listings' files")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--meta", type=Path, default=DEFAULT_META, help="metadata file to copy")
    parser.add_argument(
        "--calendar", type=Path, default=DEFAULT_CALENDAR, help="price CSV whose dates are the trading days"
    )
    return parser.parse_args(argv)


class _ProgressPrinter:
    """Print a progress line at most every two seconds, and at the end."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self.last < self.every and p.files_done < p.files_total:
            return
        self.last = now
        print(
            f"synth: {p.files_done:,}/{p.files_total:,} files, {p.rows / 1e6:.1f} M rows, "
            f"{p.bytes / 1e6:,.0f} MB, {p.seconds:.0f} s",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr, force=True)
    args = parse_args(argv)
    try:
        summary = generate(
            args.out,
            scale=args.scale,
            seed=args.seed,
            processes=args.processes,
            meta=args.meta,
            calendar_csv=args.calendar,
            limit=args.limit,
            force=args.force,
            on_progress=_ProgressPrinter(),
        )
    except (SourceError, FileExistsError, ValueError, OSError) as e:
        print(f"synth: {e}", file=sys.stderr)
        return 1
    print(summary.line(), flush=True)
    return 0
