"""Evaluate stage: train's model folder and the features in, the model comparison out.

    python3 -m stages.evaluate --train /pfs/train --features /pfs/features --out /pfs/out

Scores the served model (train's output), the task's reference RandomForest and the naive
baseline (Volume = vol_moving_avg) on the random 80/20 split and on a time split, with the same
seeds and test rows as train. Writes at the root of ``--out``: comparison.json,
predictions_sample.parquet (time-split test rows, for docs/model.md's plot) and evaluate.log,
each atomically, after all the work succeeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stages.common import model_contract as contract
from stages.common.arrow_memory import use_jemalloc_pool
from stages.common.atomic import atomic_path, write_text_atomic
from stages.common.stage_log import run_logged
from stages.evaluate.compare import (
    Comparison,
    ComparisonOptions,
    EvaluateInputError,
    ServedBooster,
    compare,
)
from stages.train.dataset import TrainInputError, load_training_data
from stages.train.models import CHOSEN, FOREST, NAIVE, BoosterConfig
from stages.train.train import peak_rss_mb

log = logging.getLogger("evaluate")

#: Pachyderm sets <input name>_COMMIT for each input of the cross.
TRAIN_COMMIT_ENV = "train_COMMIT"
FEATURES_COMMIT_ENV = "features_COMMIT"
COMPARISON_FILE = "comparison.json"
PREDICTIONS_FILE = "predictions_sample.parquet"
LOG_FILE = "evaluate.log"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = ComparisonOptions()
    parser = argparse.ArgumentParser(
        prog="python3 -m stages.evaluate", description="Compare the served model with the reference models."
    )
    parser.add_argument("--train", type=Path, default=Path("/pfs/train"), help="train stage output")
    parser.add_argument("--features", type=Path, default=Path("/pfs/features"), help="features stage output")
    parser.add_argument("--out", type=Path, default=Path("/pfs/out"), help="output folder")
    parser.add_argument("--rf-sample", type=int, default=defaults.rf_sample, help="forest training rows")
    parser.add_argument("--forest-jobs", type=int, default=defaults.forest_jobs, help="forest threads")
    parser.add_argument("--score-rows", type=int, default=defaults.score_rows, help="test rows scored")
    parser.add_argument("--time-test-fraction", type=float, default=defaults.time_test_fraction)
    parser.add_argument("--plot-rows", type=int, default=defaults.plot_rows)
    args = parser.parse_args(argv)
    for name in ("rf_sample", "forest_jobs", "score_rows", "plot_rows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluateInputError(f"{path}: not found (has the train stage run?)") from None
    except ValueError as exc:
        raise EvaluateInputError(f"{path}: not readable JSON ({exc})") from None


def load_served(train_dir: Path) -> tuple[ServedBooster, dict]:
    """train's booster, the settings it was fit with and its metrics; and its model.json."""
    metadata = _read_json(train_dir / contract.METADATA_FILE)
    if metadata.get("features") != list(contract.FEATURE_COLUMNS):
        raise EvaluateInputError(
            f"{train_dir / contract.METADATA_FILE}: features {metadata.get('features')} are not "
            f"the contract's {list(contract.FEATURE_COLUMNS)}"
        )
    try:
        config = BoosterConfig(**metadata["booster_config"])
    except (KeyError, TypeError) as exc:
        raise EvaluateInputError(
            f"{train_dir / contract.METADATA_FILE}: no usable booster_config ({exc}): "
            "retrain with this version of the train stage"
        ) from None
    model_file = train_dir / contract.MODEL_FILE
    if not model_file.is_file():
        raise EvaluateInputError(f"{model_file}: not found (has the train stage run?)")
    try:
        booster = lgb.Booster(model_file=str(model_file))
    except lgb.basic.LightGBMError as exc:
        raise EvaluateInputError(f"{model_file}: not a LightGBM model ({exc})") from None
    metrics = _read_json(train_dir / contract.METRICS_FILE)
    return ServedBooster(booster=booster, config=config, metrics=metrics), metadata


def check_same_features(metadata: dict, features_commit: str | None, train_dir: Path) -> None:
    """train's model must come from the features commit this job reads (same rows, same splits)."""
    trained_on = metadata.get("input_commit")
    if trained_on and features_commit and trained_on != features_commit:
        raise EvaluateInputError(
            f"{train_dir / contract.METADATA_FILE}: the model was trained on features commit {trained_on}, "
            f"this job reads features commit {features_commit}"
        )


def predictions_table(sample: dict[str, np.ndarray]) -> pa.Table:
    columns = {
        "Date": pa.array(sample["day"].astype(np.int32), pa.int32()).cast(pa.date32()).cast(pa.string())
    }
    columns["actual"] = pa.array(sample["actual"].astype(np.int64))
    for name in (CHOSEN, FOREST, NAIVE, *contract.FEATURE_COLUMNS):
        columns[name] = pa.array(sample[name].astype(np.float64))
    return pa.table(columns)


def write_outputs(out: Path, comparison: Comparison) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / COMPARISON_FILE, json.dumps(comparison.metrics, indent=2) + "\n")
    with atomic_path(out / PREDICTIONS_FILE) as tmp:
        pq.write_table(predictions_table(comparison.prediction_sample), tmp)


def summary(metrics: dict) -> str:
    parts = []
    for split in ("random_80_20", "time_split"):
        m = metrics[split]
        maes = (m[CHOSEN]["mae"], m[FOREST]["mae"], m[NAIVE]["mae"])
        parts.append("{}: MAE chosen {:,.0f} / forest {:,.0f} / naive {:,.0f}".format(split, *maes))
    return "; ".join(parts)


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    log.info("Arrow memory pool %s", use_jemalloc_pool())
    options = ComparisonOptions(
        rf_sample=args.rf_sample,
        forest_jobs=args.forest_jobs,
        score_rows=args.score_rows,
        time_test_fraction=args.time_test_fraction,
        plot_rows=args.plot_rows,
    )
    train_commit = os.environ.get(TRAIN_COMMIT_ENV) or None
    features_commit = os.environ.get(FEATURES_COMMIT_ENV) or None
    log.info(
        "evaluating %s (train commit %s) on %s (features commit %s), writing to %s",
        args.train,
        train_commit,
        args.features,
        features_commit,
        args.out,
    )
    served, metadata = load_served(args.train)
    check_same_features(metadata, features_commit, args.train)
    data = load_training_data(args.features, with_dates=True)
    comparison = compare(data, served, options)
    del data
    comparison.metrics["data"].update(
        train_commit=train_commit,
        features_commit=features_commit,
        model_trained_at=metadata.get("trained_at"),
        total_seconds=round(time.perf_counter() - started, 1),
        peak_rss_mb=peak_rss_mb(),
    )
    write_outputs(args.out, comparison)
    log.info(
        "wrote %s in %.1f s, peak memory %d MB; %s",
        args.out,
        time.perf_counter() - started,
        peak_rss_mb(),
        summary(comparison.metrics),
    )


def main(argv: list[str] | None = None) -> int:
    return run_logged(
        "evaluate",
        parse_args(argv),
        run,
        LOG_FILE,
        (EvaluateInputError, TrainInputError, ValueError, OSError),
    )
