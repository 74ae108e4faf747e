"""Measure the served booster's speed/accuracy trade-off on a features folder (docs/model.md).

    python -m tests.train.tradeoff --features <features folder> [--repeats 3]
    python -m tests.train.tradeoff --features <features folder> --rounds 30,50,100 [--repeats 3]

Reads the folder once (the columns train reads), makes the random 80/20 split once, then fits
the booster for each setting (training-row sample size, threads, bins) ``--repeats`` times and
prints one JSON line per setting: median and all fit seconds (wall), the median CPU seconds, the
machine's load average after it, and the random-split MAE on the scored test rows (the same rows
train scores). Not a test: a measuring tool, run by hand at
Kaggle scale (the machine is shared and noisy, hence repeats and medians).

``--rounds`` measures the number of boosting rounds instead, at the served model's other
settings: the fits of each round count alternate (one of each per repeat) for the time, and the
MAE of every count comes from one fit of the largest, on both splits, on the scored test rows and
on every test row (the first k trees of an n-round fit are the k-round fit: boosting adds one tree
per round and nothing here draws at random per round).
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

import numpy as np

from stages.evaluate.compare import ComparisonOptions
from stages.train.dataset import TrainingData, load_training_data
from stages.train.fit import SCORE_ROWS, fit_and_score
from stages.train.models import (
    BoosterConfig,
    fit_booster,
    predict_booster,
    regression_scores,
    training_sample,
)
from stages.train.splits import RANDOM_SPLIT_SEED, Split, random_split, time_split

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


def _maes_by_rounds(data: TrainingData, split: Split, config: BoosterConfig, rounds: list[int]) -> dict:
    """MAE on the scored and on every test row of ``split`` after each count of ``rounds``."""
    rows = training_sample(split.train, config.sample_rows, config.seed)
    x, y = data.features, data.target
    scored_x, scored_y = x[split.scored], y[split.scored]
    test_x, test_y = x[split.test], y[split.test]
    fit = fit_booster(replace(config, num_boost_round=max(rounds)), x[rows], y[rows], scored_x, scored_y)

    def mae(features: np.ndarray, actual: np.ndarray, k: int) -> float:
        predicted = predict_booster(fit.booster, features, config.target_transform, config.threads, k)
        return round(regression_scores(actual, predicted)["mae"], 1)

    return {
        k: {"mae": mae(scored_x, scored_y, k), "mae_every_test_row": mae(test_x, test_y, k)} for k in rounds
    }


def measure_rounds(data: TrainingData, rounds: list[int], repeats: int) -> None:
    """One JSON line per round count: fit seconds (alternating), MAE on both splits."""
    config = BoosterConfig()
    random = random_split(data.rows, SCORE_ROWS, seed=RANDOM_SPLIT_SEED)
    seconds: dict[int, list[float]] = {k: [] for k in rounds}
    cpu_seconds: dict[int, list[float]] = {k: [] for k in rounds}
    for _ in range(repeats):
        for k in rounds:
            model = fit_and_score(data, random, replace(config, num_boost_round=k), full_test=False)
            seconds[k].append(model.fit.fit_seconds)
            cpu_seconds[k].append(model.fit.fit_cpu_seconds)
    by_split = {"random_80_20": _maes_by_rounds(data, random, config, rounds)}
    if data.day is not None:
        options = ComparisonOptions()
        timed = time_split(data.day, options.time_test_fraction, options.score_rows, seed=options.seed)
        by_split["time_split"] = _maes_by_rounds(data, timed, config, rounds)
    for k in rounds:
        row = {
            "num_boost_round": k,
            "fit_seconds_median": round(statistics.median(seconds[k]), 2),
            "fit_seconds": [round(s, 2) for s in seconds[k]],
            "fit_cpu_seconds_median": round(statistics.median(cpu_seconds[k]), 2),
            "load_average_1min": round(os.getloadavg()[0], 1),
            **{name: maes[k] for name, maes in by_split.items()},
        }
        print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--all-rows-repeats", type=int, default=1, help="repeats of the slow all-rows fit (0: skip it)"
    )
    parser.add_argument(
        "--rounds", help="comma-separated boosting round counts to measure (time split too) instead"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    data = load_training_data(args.features, with_dates=bool(args.rounds))
    print(
        json.dumps({"read_seconds": round(time.perf_counter() - started, 2), "rows": data.rows}), flush=True
    )
    if args.rounds:
        measure_rounds(data, sorted({int(k) for k in args.rounds.split(",")}), args.repeats)
        return 0
    split = random_split(data.rows, SCORE_ROWS, seed=RANDOM_SPLIT_SEED)
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
