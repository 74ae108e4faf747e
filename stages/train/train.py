"""Train stage: features folder in, model folder (MODEL_CONTRACT.md) out.

    python3 -m stages.train --features /pfs/features --out /pfs/out

Writes at the root of ``--out``: model.txt, model.json, metrics.json, loss.csv,
predictions_sample.parquet and train.log, each atomically, after all the work succeeded.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stages.common.atomic import atomic_path, write_text_atomic
from stages.common.schema import FEATURE_COLUMNS, TARGET_COLUMN
from stages.train.dataset import TrainInputError, load_training_data
from stages.train.evaluate import EvaluationOptions, TrainingResult, evaluate
from stages.train.models import CHOSEN, FOREST, NAIVE, BoosterConfig

log = logging.getLogger("train")

MODEL_FILE = "model.txt"
#: Pachyderm sets <input name>_COMMIT; the input is named "features".
INPUT_COMMIT_ENV = "features_COMMIT"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = BoosterConfig()
    parser = argparse.ArgumentParser(prog="python3 -m stages.train", description="Train the volume model.")
    parser.add_argument("--features", type=Path, default=Path("/pfs/features"), help="features stage output")
    parser.add_argument("--out", type=Path, default=Path("/pfs/out"), help="output folder (model folder)")
    parser.add_argument("--num-boost-round", type=int, default=defaults.num_boost_round)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--num-leaves", type=int, default=defaults.num_leaves)
    parser.add_argument("--max-bin", type=int, default=defaults.max_bin)
    parser.add_argument(
        "--threads", type=int, default=defaults.threads, help="LightGBM threads (in model.txt)"
    )
    parser.add_argument(
        "--forest-jobs", type=int, default=EvaluationOptions.forest_jobs, help="forest threads"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--rf-sample", type=int, default=EvaluationOptions.rf_sample, help="forest training rows"
    )
    parser.add_argument(
        "--score-rows", type=int, default=EvaluationOptions.score_rows, help="test rows scored"
    )
    parser.add_argument("--time-test-fraction", type=float, default=EvaluationOptions.time_test_fraction)
    parser.add_argument("--plot-rows", type=int, default=EvaluationOptions.plot_rows)
    args = parser.parse_args(argv)
    for name in (
        "num_boost_round",
        "num_leaves",
        "max_bin",
        "threads",
        "forest_jobs",
        "rf_sample",
        "score_rows",
        "plot_rows",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("lightgbm", "scikit-learn", "numpy", "pyarrow"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


def model_metadata(result: TrainingResult, config: BoosterConfig, input_commit: str | None) -> dict:
    """model.json as MODEL_CONTRACT.md fixes it, plus how the served model was fit."""
    data = result.metrics["data"]
    inverse = "expm1" if config.target_transform == "log1p" else ""
    features = ", ".join(FEATURE_COLUMNS)
    return {
        "model_file": MODEL_FILE,
        "library": "lightgbm",
        "library_versions": _versions(),
        "features": list(FEATURE_COLUMNS),
        "target": TARGET_COLUMN,
        "target_transform": config.target_transform,
        "training_rows": result.metrics["random_80_20"]["split"]["train_rows"],
        "fit_on": "the training part (80%) of the random 80/20 split, not refit on all rows, "
        "so that the metrics in metrics.json are those of this very model",
        "rows_read": data["rows_read"],
        "rows_dropped_null_features": data["rows_dropped_null_features"],
        "input_commit": input_commit,
        "trained_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "seed": config.seed,
        "params": {**config.params(), "num_boost_round": config.num_boost_round},
        "loss_log": "loss.csv: "
        + f"{config.objective} loss on {config.target_transform}(Volume) per iteration",
        "prediction": f"volume = int(round(max(0, {inverse}(booster.predict([[{features}]])))))",
    }


def loss_csv(loss: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(loss[0]), lineterminator="\n")
    writer.writeheader()
    for row in loss:
        writer.writerow(
            {key: (f"{value:.8g}" if isinstance(value, float) else value) for key, value in row.items()}
        )
    return buffer.getvalue()


def predictions_table(sample: dict[str, np.ndarray]) -> pa.Table:
    columns = {
        "Date": pa.array(sample["day"].astype(np.int32), pa.int32()).cast(pa.date32()).cast(pa.string())
    }
    columns["actual"] = pa.array(sample["actual"].astype(np.int64))
    for name in (CHOSEN, FOREST, NAIVE, *FEATURE_COLUMNS):
        columns[name] = pa.array(sample[name].astype(np.float64))
    return pa.table(columns)


def write_outputs(out: Path, result: TrainingResult, config: BoosterConfig, input_commit: str | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / MODEL_FILE) as tmp:
        result.final.booster.save_model(str(tmp))
    write_text_atomic(
        out / "model.json", json.dumps(model_metadata(result, config, input_commit), indent=2) + "\n"
    )
    write_text_atomic(out / "metrics.json", json.dumps(result.metrics, indent=2) + "\n")
    write_text_atomic(out / "loss.csv", loss_csv(result.final.loss))
    with atomic_path(out / "predictions_sample.parquet") as tmp:
        pq.write_table(predictions_table(result.prediction_sample), tmp)


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far (a warm worker's peak over all its datums)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _summary(metrics: dict) -> str:
    parts = []
    for split in ("random_80_20", "time_split"):
        m = metrics[split]
        maes = (m[CHOSEN]["mae"], m[FOREST]["mae"], m[NAIVE]["mae"])
        parts.append("{}: MAE chosen {:,.0f} / forest {:,.0f} / naive {:,.0f}".format(split, *maes))
    return "; ".join(parts)


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    config = BoosterConfig(
        num_boost_round=args.num_boost_round,
        learning_rate=args.learning_rate,
        num_leaves=args.num_leaves,
        max_bin=args.max_bin,
        threads=args.threads,
        seed=args.seed,
    )
    options = EvaluationOptions(
        booster=config,
        rf_sample=args.rf_sample,
        forest_jobs=args.forest_jobs,
        score_rows=args.score_rows,
        time_test_fraction=args.time_test_fraction,
        plot_rows=args.plot_rows,
        seed=args.seed,
    )
    input_commit = os.environ.get(INPUT_COMMIT_ENV) or None
    log.info("training on %s (input commit %s), writing to %s", args.features, input_commit, args.out)
    data = load_training_data(args.features)
    result = evaluate(data, options)
    del data
    result.metrics["data"]["input_commit"] = input_commit
    result.metrics["data"]["total_seconds"] = round(time.perf_counter() - started, 1)
    result.metrics["data"]["peak_rss_mb"] = peak_rss_mb()
    write_outputs(args.out, result, config, input_commit)
    log.info(
        "wrote %s in %.1f s, peak memory %d MB; %s",
        args.out,
        time.perf_counter() - started,
        peak_rss_mb(),
        _summary(result.metrics),
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
    args = parse_args(argv)
    root = logging.getLogger()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out / "train.log") as log_tmp:
            handler = logging.FileHandler(log_tmp, encoding="utf-8")
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            root.addHandler(handler)
            try:
                run(args)
            finally:
                root.removeHandler(handler)
                handler.close()
    except (TrainInputError, ValueError, OSError) as exc:
        message = str(exc) if str(exc).startswith("train:") else f"train: {args.features}: {exc}"
        print(message, file=sys.stderr)
        return 1
    return 0
