"""Measure the served booster's speed/accuracy trade-off on a features folder (docs/model.md).

    python -m tests.train.tradeoff --features <features folder> [--repeats 3]

Reads the folder once (the columns train reads), makes the random 80/20 split once, then fits
the booster for each setting (training-row sample size, threads, bins) ``--repeats`` times and
prints one JSON line per setting: median and all fit seconds (wall), the median CPU seconds, the
machine's load average after it, and the random-split MAE on the scored test rows (the same rows
train scores). Not a test: a measuring tool, run by hand at
Kaggle scale (the machine is shared and noisy, hence repeats and medians).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

from stages.train.dataset import load_training_data
from stages.train.fit import SCORE_ROWS, fit_and_score
from stages.train.models import BoosterConfig
from stages.train.splits import random_split

#: (sample_rows or None for all, threads, max_bin)
SETTINGS = (
    (None, 2, 4095),
    (500_000, 2, 4095),
    (1_000_000, 2, 4095),
    (2_000_000, 2, 4095),
    (4_000_000, 2, 4095),
    (2_000_000, 1, 4095),
    (2_000_000, 2, 1023),
    (2_000_000, 2, 255),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--all-rows-repeats", type=int, default=1, help="repeats of the slow all-rows fit (0: skip it)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    data = load_training_data(args.features, with_dates=False)
    print(
        json.dumps({"read_seconds": round(time.perf_counter() - started, 2), "rows": data.rows}), flush=True
    )
    split = random_split(data.rows, SCORE_ROWS, seed=42)
    for sample_rows, threads, max_bin in SETTINGS:
        config = replace(BoosterConfig(), sample_rows=sample_rows, threads=threads, max_bin=max_bin)
        repeats = args.all_rows_repeats if sample_rows is None else args.repeats
        if repeats < 1:
            continue
        seconds, cpu_seconds, mae = [], [], None
        for _ in range(repeats):
            model = fit_and_score(data, split, config, full_test=False)
            seconds.append(model.fit.fit_seconds)
            cpu_seconds.append(model.fit.fit_cpu_seconds)
            mae = model.metrics["mae"]
        row = {
            "sample_rows": sample_rows or int(split.train.shape[0]),
            "threads": threads,
            "max_bin": max_bin,
            "fit_seconds_median": round(statistics.median(seconds), 2),
            "fit_seconds": [round(s, 2) for s in seconds],
            "fit_cpu_seconds_median": round(statistics.median(cpu_seconds), 2),
            "load_average_1min": round(os.getloadavg()[0], 1),
            "mae": round(mae, 1),
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
