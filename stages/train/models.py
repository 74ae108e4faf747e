"""Fit, predict and score the three models (pure: arrays in, models and numbers out)."""

from __future__ import annotations

import logging
import pickle
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

log = logging.getLogger(__name__)

CHOSEN = "chosen"
FOREST = "random_forest_reference"
NAIVE = "naive_vol_moving_avg"

#: How the chosen model's raw output maps to Volume (MODEL_CONTRACT: "none" or "log1p").
TARGET_TRANSFORMS = ("none", "log1p")


@dataclass(frozen=True)
class BoosterConfig:
    """The chosen model: LightGBM, Huber loss on log1p(Volume), fine bins on the two features.

    Huber (quadratic below ``huber_alpha``, absolute above) on the log scale: robust to the
    heavy-tailed volume spikes like an absolute-error loss, without L1's costly leaf re-fit.
    4095 bins (LightGBM's default is 255) keep the top of the vol_moving_avg range, where the
    largest absolute errors are, from being lumped into a few wide bins.
    """

    num_boost_round: int = 100
    learning_rate: float = 0.2
    num_leaves: int = 63
    min_data_in_leaf: int = 200
    max_bin: int = 4095
    objective: str = "huber"
    huber_alpha: float = 1.0
    target_transform: str = "log1p"
    # One thread: on the 2-core development VM, 100 rounds on 20 M rows took 46-60 s on one thread
    # and 208 s wall / 203 s CPU on two (load ~2); small fits on two threads varied 4-66 s for
    # the same work. The model is the same for any thread count (deterministic=True).
    threads: int = 1
    seed: int = 42

    def params(self) -> dict:
        """LightGBM parameters; fixed threads + deterministic + col-wise make runs byte-identical."""
        return {
            "objective": self.objective,
            "metric": [self.objective],
            **({"alpha": self.huber_alpha} if self.objective == "huber" else {}),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "max_bin": self.max_bin,
            "num_threads": self.threads,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }


@dataclass
class BoosterFit:
    booster: lgb.Booster
    fit_seconds: float
    fit_cpu_seconds: float
    loss: list[dict] = field(default_factory=list)  # iteration, train_loss[, valid_loss]


def to_model_target(volume: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log1p":
        return np.log1p(volume)
    if transform == "none":
        return volume
    raise ValueError(f"unknown target transform {transform!r} (expected one of {TARGET_TRANSFORMS})")


def to_volume(raw: np.ndarray, transform: str) -> np.ndarray:
    """Served volume = int(round(max(0, inverse_transform(raw)))), as the API computes it."""
    values = np.expm1(raw) if transform == "log1p" else np.asarray(raw, dtype=np.float64)
    return np.rint(np.maximum(values, 0.0))


def fit_booster(
    config: BoosterConfig,
    x_train: np.ndarray,
    volume_train: np.ndarray,
    x_valid: np.ndarray | None = None,
    volume_valid: np.ndarray | None = None,
    log_every: int = 50,
) -> BoosterFit:
    """Fit the chosen model; record the training (and validation) loss of every iteration.

    The validation set is only watched for the loss log: it never stops or steers training.
    """
    params = config.params()
    started, started_cpu = time.perf_counter(), time.process_time()
    train_set = lgb.Dataset(
        x_train,
        label=to_model_target(volume_train, config.target_transform),
        params={"max_bin": config.max_bin},
    )
    valid_sets, valid_names = [train_set], ["train"]
    if x_valid is not None and volume_valid is not None:
        valid_sets.append(
            lgb.Dataset(
                x_valid, label=to_model_target(volume_valid, config.target_transform), reference=train_set
            )
        )
        valid_names.append("valid")
    history: dict = {}

    def progress(env: lgb.callback.CallbackEnv) -> None:
        done = env.iteration + 1
        if done % log_every == 0 or done == env.end_iteration:
            scores = ", ".join(
                f"{name} {metric} {value:.6f}" for name, metric, value, _ in env.evaluation_result_list
            )
            log.info(
                "iteration %d/%d: %s (%.1f s)", done, env.end_iteration, scores, time.perf_counter() - started
            )

    booster = lgb.train(
        params,
        train_set,
        num_boost_round=config.num_boost_round,
        valid_sets=valid_sets,
        valid_names=valid_names,
        callbacks=[lgb.record_evaluation(history), progress],
    )
    fit_seconds, fit_cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    metric = config.objective
    loss = [
        {"iteration": i + 1, **{f"{name}_loss": history[name][metric][i] for name in valid_names}}
        for i in range(config.num_boost_round)
    ]
    return BoosterFit(booster=booster, fit_seconds=fit_seconds, fit_cpu_seconds=fit_cpu_seconds, loss=loss)


def predict_booster(booster: lgb.Booster, x: np.ndarray, transform: str, threads: int) -> np.ndarray:
    return to_volume(booster.predict(x, num_threads=threads), transform)


def fit_forest(
    x_train: np.ndarray, volume_train: np.ndarray, threads: int
) -> tuple[RandomForestRegressor, float, float]:
    """The task's reference model, exactly: RandomForestRegressor(n_estimators=100, random_state=42).

    Returns the forest, the fit's wall seconds and its CPU seconds (all threads).
    """
    forest = RandomForestRegressor(n_estimators=100, random_state=42, n_jobs=threads)
    started, started_cpu = time.perf_counter(), time.process_time()
    forest.fit(x_train, volume_train)
    return forest, time.perf_counter() - started, time.process_time() - started_cpu


def predict_naive(x: np.ndarray) -> np.ndarray:
    """Baseline: tomorrow's volume is the 30-day mean (column 0 is vol_moving_avg)."""
    return x[:, 0]


class _ByteCounter:
    def __init__(self) -> None:
        self.size = 0

    def write(self, chunk: bytes | pickle.PickleBuffer) -> int:
        size = memoryview(chunk).nbytes
        self.size += size
        return size


def pickled_bytes(model: object) -> int:
    """Size of ``model`` pickled (protocol 5), counted without holding the bytes in memory."""
    counter = _ByteCounter()
    pickle.dump(model, counter, protocol=5)
    return counter.size


def forest_pickled_bytes(forest: RandomForestRegressor) -> int:
    """Pickled size of a fitted forest, tree by tree: pickling the whole forest at once would copy
    every tree's node arrays at the same time (as much memory again as the forest)."""
    trees = forest.estimators_
    try:
        forest.estimators_ = []
        shell = pickled_bytes(forest)
    finally:
        forest.estimators_ = trees
    return shell + sum(pickled_bytes(tree) for tree in trees)


def single_row_latency_us(
    predict: Callable[[np.ndarray], object], row: np.ndarray, repeats: int = 200
) -> float:
    """Median wall time of one single-row prediction, in microseconds, after a warm-up."""
    row = np.ascontiguousarray(row.reshape(1, -1))
    for _ in range(min(10, repeats)):
        predict(row)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        predict(row)
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000.0


def regression_scores(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """MAE, MSE and R2 of ``predicted`` against ``actual`` (volumes), as plain floats."""
    return {
        "mae": float(mean_absolute_error(actual, predicted)),
        "mse": float(mean_squared_error(actual, predicted)),
        "r2": float(r2_score(actual, predicted)),
    }
