"""Train stage: features folder in, model folder (docs/model-contract.md) out.

    python3 -m stages.train --features /pfs/features --out /pfs/out

Fits the served booster on the random 80/20 split's training rows (a random sample of them,
``--sample-rows``) and scores it on that split's held-out rows. Writes at the root of ``--out``:
model.txt, model.json, metrics.json, loss.csv and train.log, each atomically, after all the work
succeeded. The reference comparison (forest, naive baseline, time split) is the evaluate stage's.
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
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pyarrow as pa

from stages.common import model_contract as contract
from stages.common.arrow_memory import use_jemalloc_pool
from stages.common.atomic import atomic_path, write_text_atomic
from stages.common.stage_log import run_logged
from stages.train.dataset import TrainingData, TrainInputError
from stages.train.fit import SCORE_ROWS, ServedModel, fit_served_model
from stages.train.models import CHOSEN, BoosterConfig
from stages.train.read_cache import FeatureCache, FileRows, read_training_data
from stages.train.splits import RANDOM_SPLIT_SEED, PermutationDraws

log = logging.getLogger("train")

#: Pachyderm sets <input name>_COMMIT; the input is named "features".
INPUT_COMMIT_ENV = "features_COMMIT"
LOG_FILE = "train.log"


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
        "--sample-rows",
        type=int,
        default=defaults.sample_rows,
        help="fit on a random sample of at most this many training rows (0: all of them)",
    )
    parser.add_argument("--threads", type=int, default=defaults.threads, help="LightGBM threads")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="keep what each features file converted to in this folder and, next time, convert only "
        "the files whose content changed (stages/train/read_cache.py); default: no cache",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--score-rows", type=int, default=SCORE_ROWS, help="test rows scored")
    args = parser.parse_args(argv)
    for name in ("num_boost_round", "num_leaves", "max_bin", "threads", "score_rows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.sample_rows < 0:
        parser.error(f"--sample-rows must be 0 (all rows) or more, got {args.sample_rows}")
    return args


def booster_config(args: argparse.Namespace) -> BoosterConfig:
    return BoosterConfig(
        num_boost_round=args.num_boost_round,
        learning_rate=args.learning_rate,
        num_leaves=args.num_leaves,
        max_bin=args.max_bin,
        sample_rows=args.sample_rows or None,
        threads=args.threads,
        seed=args.seed,
    )


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("lightgbm", "scikit-learn", "numpy", "pyarrow"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


def model_metadata(model: ServedModel, config: BoosterConfig, input_commit: str | None) -> dict:
    """model.json as docs/model-contract.md fixes it, plus how the served model was fit."""
    inverse = "expm1" if config.target_transform == "log1p" else ""
    features = ", ".join(contract.FEATURE_COLUMNS)
    return {
        "model_file": contract.MODEL_FILE,
        "library": contract.LIBRARY,
        "library_versions": library_versions(),
        "features": list(contract.FEATURE_COLUMNS),
        "target": contract.TARGET_COLUMN,
        "target_transform": config.target_transform,
        "training_rows": int(model.train_rows.shape[0]),
        "fit_on": "the training part (80%) of the random 80/20 split ("
        + model.metrics["trained_on"]
        + "), not refit on all rows, so that the metrics in metrics.json are those of this very model",
        "input_commit": input_commit,
        "trained_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "seed": config.seed,
        "params": {**config.params(), "num_boost_round": config.num_boost_round},
        "booster_config": asdict(config),
        "loss_log": f"{contract.LOSS_FILE}: "
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


def train_metrics(data: TrainingData, model: ServedModel, score_rows: int) -> dict:
    """metrics.json: the served model's own scores on the random split's held-out rows."""
    return {
        "data": {
            "rows_read": data.rows_read,
            "rows_dropped_null_features": data.rows_dropped_null,
            "rows_used": data.rows,
        },
        model.split.name: {"split": model.split.describe(), CHOSEN: model.metrics},
        "notes": {
            "scoring": "'rows' are the scored test rows: all of the split's test rows, or a random "
            "sample of score_rows of them (seed 42) when there are more (the evaluate stage scores "
            "every model on the same rows, and this model on every test row too)",
            "score_rows": score_rows,
            "predict_latency_us": "median of single-row predictions, one thread",
            "fit_cpu_seconds": "CPU time of the fit, all threads: a check of fit_seconds on a busy machine",
            "model_bytes": f"size of {contract.MODEL_FILE}",
        },
    }


def write_outputs(out: Path, model: ServedModel, metadata: dict, metrics: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / contract.MODEL_FILE) as tmp:
        model.fit.booster.save_model(str(tmp))
    write_text_atomic(out / contract.METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
    write_text_atomic(out / contract.METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    write_text_atomic(out / contract.LOSS_FILE, loss_csv(model.fit.loss))


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far (a warm worker's peak over all its datums)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def start_cache_write(cache: FeatureCache | None, data: TrainingData) -> str:
    """Start writing ``data``'s rows into ``cache`` (a thread, while the booster fits); returns the
    rows file's name, '' when there is no cache or it cannot be written (logged)."""
    if cache is None:
        return ""
    try:
        return cache.start_writing_rows(data)
    except OSError as exc:
        log.warning("features cache %s not written: %s", cache.folder, exc)
        return ""


def finish_cache_write(
    cache: FeatureCache, rows_file: str, rows: int, files: list[FileRows], draws: PermutationDraws
) -> None:
    """Name this read's files in the cache's index, with the split's permutation (kept when the
    cache gave it, written when it was drawn). A failure is logged: the outputs are written."""
    try:
        cache.save(rows_file, rows, files, RANDOM_SPLIT_SEED, draws.drawn.get((rows, RANDOM_SPLIT_SEED)))
    except OSError as exc:
        log.warning("features cache %s not written: %s", cache.folder, exc)


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    config = booster_config(args)
    input_commit = os.environ.get(INPUT_COMMIT_ENV) or None
    pool = use_jemalloc_pool()
    log.info(
        "training on %s (input commit %s), writing to %s; Arrow memory pool %s",
        args.features,
        input_commit,
        args.out,
        pool,
    )
    draws = PermutationDraws()  # the split's permutation, drawn while the read converts
    cache = FeatureCache(args.cache_dir) if args.cache_dir else None

    def on_row_count(rows: int) -> None:
        cached = cache.permutation(rows, RANDOM_SPLIT_SEED) if cache is not None else None
        if cached is not None:
            draws.provide(rows, RANDOM_SPLIT_SEED, cached)
        else:
            draws.start(rows, RANDOM_SPLIT_SEED)

    data, files, report = read_training_data(args.features, cache, on_row_count)
    pa.default_memory_pool().release_unused()  # give the batches' buffers back before fitting
    log.info(
        "read %d rows, dropped %d with a null feature (each symbol's first rows), kept %d%s",
        data.rows_read,
        data.rows_dropped_null,
        data.rows,
        f"; {report.describe()}" if cache is not None else "",
    )
    rows_file = start_cache_write(cache, data)
    read_seconds = time.perf_counter() - started
    model = fit_served_model(data, config, args.score_rows, draws)
    metrics = train_metrics(data, model, args.score_rows)
    rows = data.rows
    del data
    metadata = model_metadata(model, config, input_commit)
    write_started = time.perf_counter()
    metrics["data"].update(
        input_commit=input_commit,
        read_seconds=round(read_seconds, 2),
        total_seconds=round(write_started - started, 1),
        peak_rss_mb=peak_rss_mb(),
    )
    write_outputs(args.out, model, metadata, metrics)
    if cache is not None and rows_file:
        finish_cache_write(cache, rows_file, rows, files, draws)
    chosen = metrics[model.split.name][CHOSEN]
    log.info(
        "wrote %s in %.1f s (read %.1f s, fit %.1f s), peak memory %d MB; %s: MAE %s, MSE %.4g, R² %.4f",
        args.out,
        time.perf_counter() - started,
        read_seconds,
        model.fit.fit_seconds,
        peak_rss_mb(),
        model.split.name,
        f"{chosen['mae']:,.0f}",
        chosen["mse"],
        chosen["r2"],
    )


def main(argv: list[str] | None = None) -> int:
    return run_logged("train", parse_args(argv), run, LOG_FILE, (TrainInputError, ValueError, OSError))
