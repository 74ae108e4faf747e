"""Fit, predict and score the three models (pure: arrays in, models and numbers out)."""

from __future__ import annotations

import logging
import pickle
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import joblib
import lightgbm as lgb
import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from stages.common.model_contract import served_volumes, to_model_target

log = logging.getLogger(__name__)

CHOSEN = "chosen"
FOREST = "random_forest_reference"
NAIVE = "naive_vol_moving_avg"


@dataclass(frozen=True)
class BoosterConfig:
    """The chosen model: LightGBM, Huber loss on log1p(Volume), fine bins on the two features.

    Huber (quadratic below ``huber_alpha``, absolute above) on the log scale: robust to the
    heavy-tailed volume spikes like an absolute-error loss, without L1's costly leaf re-fit.
    4095 bins (LightGBM's default is 255) keep the top of the vol_moving_avg range, where the
    largest absolute errors are, from being lumped into a few wide bins.
    """

    # 50 rounds at learning rate 0.2: measured against 30-200 rounds (docs/model.md, "Boosting
    # rounds"): at Kaggle scale both splits' MAE is lowest near 50 rounds, in 56% of 100's fit time.
    num_boost_round: int = 50
    learning_rate: float = 0.2
    num_leaves: int = 63
    min_data_in_leaf: int = 200
    max_bin: int = 4095
    objective: str = "huber"
    huber_alpha: float = 1.0
    target_transform: str = "log1p"
    # Fit on a random sample of at most this many training rows (None: all of them). Measured at
    # Kaggle scale (docs/model.md, "Training time"): 1 M of the 20.9 M training rows gave a
    # random-split MAE 0.13% above the all-rows fit (as 2 M did) in a small fraction of its time.
    sample_rows: int | None = 1_000_000
    # Both cores of the 2-core target machine (docs/model.md, "Training time"). The model is the
    # same for any thread count (deterministic=True, force_col_wise=True).
    threads: int = 2
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


def training_sample(train: np.ndarray, sample_rows: int | None, seed: int) -> np.ndarray:
    """The training rows a booster is fit on: all of ``train``, or a sorted random sample of
    ``sample_rows`` of them (numpy ``default_rng(seed)``, without replacement)."""
    if sample_rows is None or train.shape[0] <= sample_rows:
        return train
    return np.sort(np.random.default_rng(seed).choice(train, size=sample_rows, replace=False))


@dataclass
class BoosterFit:
    booster: lgb.Booster
    fit_seconds: float
    fit_cpu_seconds: float
    loss: list[dict] = field(default_factory=list)  # iteration, train_loss[, valid_loss]


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


def predict_booster(
    booster: lgb.Booster, x: np.ndarray, transform: str, threads: int, num_iteration: int | None = None
) -> np.ndarray:
    """Served volumes for ``x``; ``num_iteration`` uses only the first that many trees (None: all)."""
    return served_volumes(booster.predict(x, num_iteration=num_iteration, num_threads=threads), transform)


def forest_threads(threads: int) -> joblib.parallel_config:
    """The context every forest fit and predict runs in: joblib's threading backend, ``threads`` jobs.

    The forest runs its trees in threads, but it counts its jobs with joblib's *default* backend
    (loky, processes), which answers 1 in a daemonic process (the local runner's workers are
    multiprocessing daemons) and warns "Loky-backed parallel loops cannot be called in a
    multiprocessing, setting n_jobs=1": the forest then ran on one core. Naming the threading
    backend makes the count ``threads`` wherever the stage runs.
    """
    return joblib.parallel_config(backend="threading", n_jobs=threads)


def fit_forest(
    x_train: np.ndarray, volume_train: np.ndarray, threads: int
) -> tuple[RandomForestRegressor, float, float]:
    """The task's reference model, exactly: RandomForestRegressor(n_estimators=100, random_state=42).

    Returns the forest, the fit's wall seconds and its CPU seconds (all threads).
    """
    forest = RandomForestRegressor(n_estimators=100, random_state=42, n_jobs=threads)
    started, started_cpu = time.perf_counter(), time.process_time()
    with forest_threads(threads):
        forest.fit(x_train, volume_train)
    return forest, time.perf_counter() - started, time.process_time() - started_cpu


def predict_forest(forest: RandomForestRegressor, x: np.ndarray, threads: int) -> np.ndarray:
    forest.set_params(n_jobs=threads)
    with forest_threads(threads):
        return forest.predict(x)


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
