"""Fit and score the chosen model, the reference forest and the naive baseline on both splits.

Pure: arrays in, a ``TrainingResult`` (booster, metrics, loss log, prediction sample) out.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

import numpy as np

from stages.common.schema import FEATURE_COLUMNS
from stages.train.dataset import TrainingData
from stages.train.models import (
    CHOSEN,
    FOREST,
    NAIVE,
    BoosterConfig,
    BoosterFit,
    fit_booster,
    fit_forest,
    forest_pickled_bytes,
    predict_booster,
    predict_naive,
    regression_scores,
    single_row_latency_us,
)
from stages.train.splits import Split, random_split, time_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationOptions:
    booster: BoosterConfig
    rf_sample: int = 150_000  # training rows of the reference forest (random sample, seed 42)
    forest_jobs: int = 2  # the forest's threads (its result does not depend on them)
    score_rows: int = 200_000  # test rows every model is scored on (random sample, seed 42)
    time_test_fraction: float = 0.15
    plot_rows: int = 20_000  # time-split test rows kept as (actual, predicted) pairs
    seed: int = 42


@dataclass
class TrainingResult:
    final: BoosterFit  # fit on the random split's training rows: the served model
    metrics: dict
    prediction_sample: dict[str, np.ndarray]


def _forest_rows(train: np.ndarray, sample: int, seed: int) -> np.ndarray:
    if train.shape[0] <= sample:
        return train
    return np.sort(np.random.default_rng(seed).choice(train, size=sample, replace=False))


def _evaluate_split(
    data: TrainingData, split: Split, options: EvaluationOptions
) -> tuple[dict, BoosterFit, dict[str, np.ndarray]]:
    """Metrics of the three models on ``split`` plus the chosen fit and the scored predictions."""
    x, volume = data.features, data.target
    threads = options.booster.threads
    transform = options.booster.target_transform
    scored_x, scored_y = x[split.scored], volume[split.scored]
    row = x[split.scored[0]]
    log.info("%s: %s", split.name, split.describe())

    log.info("%s: fitting the chosen model on %d rows", split.name, split.train.shape[0])
    fit = fit_booster(options.booster, x[split.train], volume[split.train], scored_x, scored_y)
    chosen_pred = predict_booster(fit.booster, scored_x, transform, threads)
    full_test_pred = predict_booster(fit.booster, x[split.test], transform, threads)
    chosen = {
        **regression_scores(scored_y, chosen_pred),
        "rows": int(scored_y.shape[0]),
        "train_rows": int(split.train.shape[0]),
        "trained_on": "all training rows of the split",
        "fit_seconds": round(fit.fit_seconds, 3),
        "fit_cpu_seconds": round(fit.fit_cpu_seconds, 3),
        "model_bytes": len(fit.booster.model_to_string().encode("utf-8")),
        "predict_latency_us": round(
            single_row_latency_us(lambda r: fit.booster.predict(r, num_threads=1), row), 2
        ),
        "full_test": {
            **regression_scores(volume[split.test], full_test_pred),
            "rows": int(split.test.shape[0]),
        },
    }
    del full_test_pred
    log.info("%s: chosen MAE %.1f in %.1f s", split.name, chosen["mae"], fit.fit_seconds)

    forest_rows = _forest_rows(split.train, options.rf_sample, options.seed)
    sampled = forest_rows.shape[0] < split.train.shape[0]
    log.info("%s: fitting the reference forest on %d rows", split.name, forest_rows.shape[0])
    forest, forest_seconds, forest_cpu_seconds = fit_forest(
        x[forest_rows], volume[forest_rows], options.forest_jobs
    )
    forest_pred = forest.predict(scored_x)
    forest.set_params(n_jobs=1)
    reference = {
        **regression_scores(scored_y, forest_pred),
        "rows": int(scored_y.shape[0]),
        "train_rows": int(forest_rows.shape[0]),
        "trained_on": (
            f"random sample of {forest_rows.shape[0]:,} of the {split.train.shape[0]:,} training rows "
            f"(numpy default_rng({options.seed}), without replacement): a fully grown forest on all rows "
            "would take many GB"
            if sampled
            else "all training rows of the split"
        ),
        "fit_seconds": round(forest_seconds, 3),
        "fit_cpu_seconds": round(forest_cpu_seconds, 3),
        "model_bytes": forest_pickled_bytes(forest),
        "predict_latency_us": round(single_row_latency_us(forest.predict, row, repeats=21), 2),
        "params": {"n_estimators": 100, "random_state": 42},
    }
    del forest
    gc.collect()
    log.info("%s: forest MAE %.1f in %.1f s", split.name, reference["mae"], forest_seconds)

    naive_pred = predict_naive(scored_x)
    naive = {
        **regression_scores(scored_y, naive_pred),
        "rows": int(scored_y.shape[0]),
        "train_rows": 0,
        "trained_on": "nothing: predicts Volume = vol_moving_avg",
        "fit_seconds": 0.0,
        "model_bytes": 0,
        "predict_latency_us": round(single_row_latency_us(predict_naive, row), 2),
        "full_test": {
            **regression_scores(volume[split.test], predict_naive(x[split.test])),
            "rows": int(split.test.shape[0]),
        },
    }
    log.info("%s: naive MAE %.1f", split.name, naive["mae"])

    metrics = {"split": split.describe(), CHOSEN: chosen, FOREST: reference, NAIVE: naive}
    predictions = {
        "day": data.day[split.scored],
        "actual": scored_y,
        CHOSEN: chosen_pred,
        FOREST: forest_pred,
        NAIVE: naive_pred,
        **{name: scored_x[:, i] for i, name in enumerate(FEATURE_COLUMNS)},
    }
    return metrics, fit, predictions


def _sample_rows(predictions: dict[str, np.ndarray], rows: int, seed: int) -> dict[str, np.ndarray]:
    n = predictions["actual"].shape[0]
    if n <= rows:
        return predictions
    keep = np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))
    return {name: values[keep] for name, values in predictions.items()}


def evaluate(data: TrainingData, options: EvaluationOptions) -> TrainingResult:
    """Both splits, three models each; the served model is the random split's chosen fit."""
    by_split: dict[str, dict] = {}
    split = random_split(data.rows, options.score_rows, seed=options.seed)
    by_split[split.name], final, _ = _evaluate_split(data, split, options)
    del split
    split = time_split(data.day, options.time_test_fraction, options.score_rows, seed=options.seed)
    by_split[split.name], time_fit, predictions = _evaluate_split(data, split, options)
    del split, time_fit
    metrics = {
        "data": {
            "rows_read": data.rows_read,
            "rows_dropped_null_features": data.rows_dropped_null,
            "rows_used": data.rows,
        },
        **by_split,
        "notes": {
            "scoring": "every model of a split is scored on the same test rows ('rows'); when the split's "
            "test part is larger than score_rows, those are a random sample (seed 42) of it, for the "
            "forest's sake (its prediction is slow); 'full_test' scores the chosen and naive models "
            "on every test row",
            "score_rows": options.score_rows,
            "predict_latency_us": "median of single-row predictions, one thread",
            "fit_cpu_seconds": "CPU time of the fit, all threads: a check of fit_seconds on a busy machine",
            "model_bytes": "chosen: model.txt; forest: pickled (protocol 5), not written; naive: none",
        },
    }
    return TrainingResult(
        final=final,
        metrics=metrics,
        prediction_sample=_sample_rows(predictions, options.plot_rows, options.seed),
    )
