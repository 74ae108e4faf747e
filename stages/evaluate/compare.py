"""Score the served model, the reference forest and the naive baseline on both splits.

Pure: arrays and train's booster in, a ``Comparison`` (metrics per split and model, the
time-split prediction sample) out. The chosen model's random-split entry is train's own
(re-scored here as a check that both stages scored the same rows); on the time split a booster
with train's settings is fit on that split's training rows, only to be scored.
"""

from __future__ import annotations

import gc
import logging
import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from stages.common.model_contract import FEATURE_COLUMNS
from stages.train.dataset import TrainingData
from stages.train.fit import fit_and_score, full_test_scores
from stages.train.models import (
    CHOSEN,
    FOREST,
    NAIVE,
    BoosterConfig,
    fit_forest,
    forest_pickled_bytes,
    predict_booster,
    predict_forest,
    predict_naive,
    regression_scores,
    single_row_latency_us,
)
from stages.train.splits import Split, random_split, time_split

log = logging.getLogger(__name__)


class EvaluateInputError(ValueError):
    """train's output and the features do not belong together; the message says how."""


@dataclass(frozen=True)
class ComparisonOptions:
    rf_sample: int = 150_000  # training rows of the reference forest (random sample, seed 42)
    forest_jobs: int = 2  # the forest's threads (its result does not depend on them)
    score_rows: int = 200_000  # test rows every model is scored on (random sample, seed 42)
    time_test_fraction: float = 0.15
    plot_rows: int = 20_000  # time-split test rows kept as (actual, predicted) pairs
    seed: int = 42


@dataclass(frozen=True)
class ServedBooster:
    """train's output as evaluate needs it."""

    booster: lgb.Booster
    config: BoosterConfig
    metrics: dict  # train's metrics.json


@dataclass
class Comparison:
    metrics: dict
    prediction_sample: dict[str, np.ndarray]


def forest_rows(train: np.ndarray, sample: int, seed: int) -> np.ndarray:
    if train.shape[0] <= sample:
        return train
    return np.sort(np.random.default_rng(seed).choice(train, size=sample, replace=False))


def _forest(data: TrainingData, split: Split, options: ComparisonOptions) -> tuple[dict, np.ndarray]:
    x, volume = data.features, data.target
    rows = forest_rows(split.train, options.rf_sample, options.seed)
    sampled = rows.shape[0] < split.train.shape[0]
    log.info("%s: fitting the reference forest on %d rows", split.name, rows.shape[0])
    forest, seconds, cpu_seconds = fit_forest(x[rows], volume[rows], options.forest_jobs)
    predicted = predict_forest(forest, x[split.scored], options.forest_jobs)
    forest.set_params(n_jobs=1)
    row = x[split.scored[0]]
    metrics = {
        **regression_scores(volume[split.scored], predicted),
        "rows": int(split.scored.shape[0]),
        "train_rows": int(rows.shape[0]),
        "trained_on": (
            f"random sample of {rows.shape[0]:,} of the {split.train.shape[0]:,} training rows "
            f"(numpy default_rng({options.seed}), without replacement): a fully grown forest on all rows "
            "would take many GB"
            if sampled
            else "all training rows of the split"
        ),
        "fit_seconds": round(seconds, 3),
        "fit_cpu_seconds": round(cpu_seconds, 3),
        "model_bytes": forest_pickled_bytes(forest),
        "predict_latency_us": round(single_row_latency_us(forest.predict, row, repeats=21), 2),
        "params": {"n_estimators": 100, "random_state": 42},
    }
    del forest
    gc.collect()
    log.info("%s: forest MAE %.1f in %.1f s", split.name, metrics["mae"], seconds)
    return metrics, predicted


def _naive(data: TrainingData, split: Split) -> tuple[dict, np.ndarray]:
    x, volume = data.features, data.target
    predicted = predict_naive(x[split.scored])
    metrics = {
        **regression_scores(volume[split.scored], predicted),
        "rows": int(split.scored.shape[0]),
        "train_rows": 0,
        "trained_on": "nothing: predicts Volume = vol_moving_avg",
        "fit_seconds": 0.0,
        "model_bytes": 0,
        "predict_latency_us": round(single_row_latency_us(predict_naive, x[split.scored[0]]), 2),
        "full_test": {
            **regression_scores(volume[split.test], predict_naive(x[split.test])),
            "rows": int(split.test.shape[0]),
        },
    }
    log.info("%s: naive MAE %.1f", split.name, metrics["mae"])
    return metrics, predicted


def _served_on_random_split(
    data: TrainingData, split: Split, served: ServedBooster
) -> tuple[dict, np.ndarray]:
    """train's own entry, after checking that its booster scores the same on these rows."""
    theirs = served.metrics.get(split.name, {})
    if theirs.get("split") != split.describe():
        raise EvaluateInputError(
            f"train's {split.name} split {theirs.get('split')} is not this one {split.describe()}: "
            "train read other features than evaluate (a different features commit?)"
        )
    chosen = theirs[CHOSEN]
    x, volume = data.features, data.target
    config = served.config
    predicted = predict_booster(served.booster, x[split.scored], config.target_transform, config.threads)
    mae = regression_scores(volume[split.scored], predicted)["mae"]
    if not math.isclose(mae, chosen["mae"], rel_tol=1e-9):
        raise EvaluateInputError(
            f"train's model scores MAE {mae:.1f} on the {split.name} test rows, train's metrics.json says "
            f"{chosen['mae']:.1f}: the two stages did not score the same rows"
        )
    log.info("%s: the served model's MAE %.1f (train's, checked)", split.name, mae)
    chosen = {**chosen, "full_test": full_test_scores(served.booster, data, split, served.config)}
    return chosen, predicted


def _sample_rows(predictions: dict[str, np.ndarray], rows: int, seed: int) -> dict[str, np.ndarray]:
    n = predictions["actual"].shape[0]
    if n <= rows:
        return predictions
    keep = np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))
    return {name: values[keep] for name, values in predictions.items()}


def compare(data: TrainingData, served: ServedBooster, options: ComparisonOptions) -> Comparison:
    """Both splits, three models each."""
    if data.day is None:
        raise EvaluateInputError(
            "the features were read without their Date column (needed by the time split)"
        )
    by_split: dict[str, dict] = {}

    split = random_split(data.rows, options.score_rows, seed=options.seed)
    log.info("%s: %s", split.name, split.describe())
    chosen, _ = _served_on_random_split(data, split, served)
    forest, _ = _forest(data, split, options)
    naive, _ = _naive(data, split)
    by_split[split.name] = {"split": split.describe(), CHOSEN: chosen, FOREST: forest, NAIVE: naive}

    split = time_split(data.day, options.time_test_fraction, options.score_rows, seed=options.seed)
    log.info("%s: %s", split.name, split.describe())
    time_fit = fit_and_score(data, split, served.config, full_test=True)
    chosen_pred = predict_booster(
        time_fit.fit.booster,
        data.features[split.scored],
        served.config.target_transform,
        served.config.threads,
    )
    forest, forest_pred = _forest(data, split, options)
    naive, naive_pred = _naive(data, split)
    by_split[split.name] = {"split": split.describe(), CHOSEN: time_fit.metrics, FOREST: forest, NAIVE: naive}
    scored_x = data.features[split.scored]
    predictions = {
        "day": data.day[split.scored],
        "actual": data.target[split.scored],
        CHOSEN: chosen_pred,
        FOREST: forest_pred,
        NAIVE: naive_pred,
        **{name: scored_x[:, i] for i, name in enumerate(FEATURE_COLUMNS)},
    }
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
            "chosen": "random_80_20: the served model, train's own metrics (re-scored here as a check) "
            "plus full_test; "
            "time_split: a booster with the served model's settings fit on that split's training rows",
            "score_rows": options.score_rows,
            "predict_latency_us": "median of single-row predictions, one thread",
            "fit_cpu_seconds": "CPU time of the fit, all threads: a check of fit_seconds on a busy machine",
            "model_bytes": "chosen: model.txt; forest: pickled (protocol 5), not written; naive: none",
        },
    }
    return Comparison(
        metrics=metrics, prediction_sample=_sample_rows(predictions, options.plot_rows, options.seed)
    )
