"""Fit the served model on the random 80/20 split and score it on that split's held-out rows.

Pure: arrays in, a ``ServedModel`` (booster, loss log, its own metrics) out. The comparison with
the reference forest, the naive baseline and the time split is the evaluate stage's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from stages.train.dataset import TrainingData
from stages.train.models import (
    BoosterConfig,
    BoosterFit,
    fit_booster,
    predict_booster,
    regression_scores,
    single_row_latency_us,
    training_sample,
)
from stages.train.splits import RANDOM_SPLIT_SEED, PermutationDraws, Split, random_split

log = logging.getLogger(__name__)

#: Test rows every model of a split is scored on (a random sample of them, seed 42, when there
#: are more): the forest's prediction is slow. train and evaluate score on the same rows.
SCORE_ROWS = 200_000


@dataclass(frozen=True)
class ServedModel:
    fit: BoosterFit
    split: Split
    train_rows: np.ndarray  # the rows the booster was fit on (the split's, or a sample of them)
    metrics: dict  # regression scores on the scored rows and on every test row, fit facts


def trained_on(fit_rows: int, split_train_rows: int, config: BoosterConfig) -> str:
    """How the fit's rows were chosen, in words (metrics.json and model.json say it)."""
    if fit_rows < split_train_rows:
        return (
            f"random sample of {fit_rows:,} of the {split_train_rows:,} training rows "
            f"(numpy default_rng({config.seed}), without replacement)"
        )
    return "all training rows of the split"


def full_test_scores(booster: lgb.Booster, data: TrainingData, split: Split, config: BoosterConfig) -> dict:
    """Scores on every test row of ``split`` (evaluate's: on 5 M rows this prediction costs more
    CPU than the fit, so train scores on the scored rows only)."""
    every = predict_booster(booster, data.features[split.test], config.target_transform, config.threads)
    return {**regression_scores(data.target[split.test], every), "rows": int(split.test.shape[0])}


def fit_and_score(
    data: TrainingData, split: Split, config: BoosterConfig, full_test: bool = False
) -> ServedModel:
    """Fit ``config`` on (a sample of) ``split``'s training rows; score it on the scored test rows.

    The scored rows are also watched as the validation set of the loss log (never used to stop).
    ``full_test`` adds the scores on every test row (:func:`full_test_scores`).
    """
    x, volume = data.features, data.target
    rows = training_sample(split.train, config.sample_rows, config.seed)
    scored_x, scored_y = x[split.scored], volume[split.scored]
    log.info(
        "%s: fitting the booster on %d of %d training rows", split.name, rows.shape[0], split.train.shape[0]
    )
    fit = fit_booster(config, x[rows], volume[rows], scored_x, scored_y)
    predicted = predict_booster(fit.booster, scored_x, config.target_transform, config.threads)
    row = x[split.scored[0]]
    metrics = {
        **regression_scores(scored_y, predicted),
        "rows": int(scored_y.shape[0]),
        "train_rows": int(rows.shape[0]),
        "trained_on": trained_on(rows.shape[0], split.train.shape[0], config),
        "fit_seconds": round(fit.fit_seconds, 3),
        "fit_cpu_seconds": round(fit.fit_cpu_seconds, 3),
        "model_bytes": len(fit.booster.model_to_string().encode("utf-8")),
        "predict_latency_us": round(
            single_row_latency_us(lambda r: fit.booster.predict(r, num_threads=1), row), 2
        ),
    }
    if full_test:
        metrics["full_test"] = full_test_scores(fit.booster, data, split, config)
    log.info("%s: booster MAE %.1f in %.1f s", split.name, metrics["mae"], fit.fit_seconds)
    return ServedModel(fit=fit, split=split, train_rows=rows, metrics=metrics)


def fit_served_model(
    data: TrainingData,
    config: BoosterConfig,
    score_rows: int = SCORE_ROWS,
    draws: PermutationDraws | None = None,
) -> ServedModel:
    """The served model: the booster fit on the random 80/20 split's training rows (a sample);
    ``draws`` may hold the split's permutation, drawn while the data was read."""
    split = random_split(data.rows, score_rows, seed=RANDOM_SPLIT_SEED, draws=draws)
    log.info("%s: %s", split.name, split.describe())
    return fit_and_score(data, split, config)
