"""The evaluate stage end to end on the bundled real sample: ingest, features and train first (real
stages, real files), then evaluate over train's and features' outputs, as specs/evaluate.json crosses them."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import warnings
from pathlib import Path

import joblib
import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from stages.common.schema import FEATURE_COLUMNS
from stages.evaluate.evaluate import FEATURES_COMMIT_ENV, TRAIN_COMMIT_ENV, main
from stages.train.models import fit_forest, forest_threads
from stages.train.train import INPUT_COMMIT_ENV
from stages.train.train import main as train_main
from tests.train.sample_stages import sample_features as run_sample_stages

TRAIN_ARGS = ["--num-boost-round", "25", "--score-rows", "4000", "--threads", "1"]
#: --plot-rows above the scored rows: the prediction sample is every scored time-split row.
SMALL = ["--rf-sample", "3000", "--score-rows", "4000", "--plot-rows", "5000", "--forest-jobs", "2"]
OUTPUTS = ("comparison.json", "predictions_sample.parquet", "evaluate.log")
SPLITS = ("random_80_20", "time_split")
MODELS = ("chosen", "random_forest_reference", "naive_vol_moving_avg")


class CommitEnv:
    """Set the <input>_COMMIT variables the runner sets, and restore the environment after."""

    def __init__(self, **values: str) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for name, value in self.values.items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def sample_features(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    return run_sample_stages(sample_dir, tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, sample_features: Path) -> Path:
    out = tmp_path_factory.mktemp("train") / "out"
    with CommitEnv(**{INPUT_COMMIT_ENV: "feed0001"}):
        assert train_main(["--features", str(sample_features), "--out", str(out), *TRAIN_ARGS]) == 0
    return out


def _evaluate(trained: Path, features: Path, out: Path, features_commit: str = "feed0001") -> int:
    with CommitEnv(**{TRAIN_COMMIT_ENV: "7a1n0001", FEATURES_COMMIT_ENV: features_commit}):
        return main(["--train", str(trained), "--features", str(features), "--out", str(out), *SMALL])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, trained: Path, sample_features: Path) -> Path:
    out = tmp_path_factory.mktemp("evaluate") / "out"
    assert _evaluate(trained, sample_features, out) == 0
    return out


def _comparison(evaluated: Path) -> dict:
    return json.loads((evaluated / "comparison.json").read_text())


def test_every_output_is_written_and_nothing_else(evaluated: Path) -> None:
    assert sorted(p.name for p in evaluated.iterdir()) == sorted(OUTPUTS)
    for name in OUTPUTS:
        assert (evaluated / name).stat().st_size > 0, name


def test_metrics_are_finite_for_every_split_and_model(evaluated: Path) -> None:
    metrics = _comparison(evaluated)
    data = metrics["data"]
    assert data["rows_dropped_null_features"] == 14 * 29
    assert data["train_commit"] == "7a1n0001" and data["features_commit"] == "feed0001"
    for split in SPLITS:
        details = metrics[split]["split"]
        assert details["train_rows"] + details["test_rows"] == data["rows_used"]
        assert details["scored_rows"] == min(4000, details["test_rows"])
        for model in MODELS:
            m = metrics[split][model]
            for key in ("mae", "mse", "r2", "fit_seconds", "model_bytes", "predict_latency_us", "rows"):
                assert math.isfinite(m[key]), (split, model, key)
            assert m["mae"] > 0 and m["mse"] >= m["mae"] ** 2  # MSE >= MAE² always
            assert m["rows"] == details["scored_rows"]
        assert metrics[split]["random_forest_reference"]["train_rows"] == 3000
        assert "random sample of 3,000" in metrics[split]["random_forest_reference"]["trained_on"]
    time_split = metrics["time_split"]["split"]
    assert time_split["train_last_date"] < time_split["cutoff_date"]
    assert 0.10 <= time_split["test_fraction"] <= 0.20


def test_the_random_split_is_trains_own_split_and_scores(evaluated: Path, trained: Path) -> None:
    """Same seeds, same test rows: evaluate's random split and chosen entry are train's, checked."""
    ours = _comparison(evaluated)["random_80_20"]
    theirs = json.loads((trained / "metrics.json").read_text())["random_80_20"]
    assert ours["split"] == theirs["split"]
    assert {key: value for key, value in ours["chosen"].items() if key != "full_test"} == theirs["chosen"]
    assert ours["chosen"]["full_test"]["rows"] == ours["split"]["test_rows"]


def test_the_time_split_booster_has_the_served_models_settings(evaluated: Path, trained: Path) -> None:
    chosen = _comparison(evaluated)["time_split"]["chosen"]
    meta = json.loads((trained / "model.json").read_text())
    assert chosen["train_rows"] == _comparison(evaluated)["time_split"]["split"]["train_rows"]
    assert chosen["trained_on"] == "all training rows of the split"  # the sample is below sample_rows
    assert meta["booster_config"]["sample_rows"] > chosen["train_rows"]


def test_the_metrics_are_the_usual_definitions_on_the_prediction_sample(evaluated: Path) -> None:
    """MAE, MSE and R² recomputed with sklearn from predictions_sample.parquet (every scored
    time-split row, as --plot-rows exceeds them) equal comparison.json's."""
    sample = pq.read_table(evaluated / "predictions_sample.parquet").to_pydict()
    metrics = _comparison(evaluated)["time_split"]
    assert len(sample["actual"]) == metrics["split"]["scored_rows"]
    assert min(sample["Date"]) >= metrics["split"]["cutoff_date"]  # time-split test rows only
    actual = np.array(sample["actual"], dtype=np.float64)
    for model in MODELS:
        predicted = np.array(sample[model])
        assert mean_absolute_error(actual, predicted) == pytest.approx(metrics[model]["mae"], rel=1e-9)
        assert mean_squared_error(actual, predicted) == pytest.approx(metrics[model]["mse"], rel=1e-9)
        assert r2_score(actual, predicted) == pytest.approx(metrics[model]["r2"], rel=1e-9)
    assert sample["naive_vol_moving_avg"] == sample["vol_moving_avg"]
    assert all(v >= 0 and v == round(v) for v in sample["chosen"])
    assert set(sample) == {"Date", "actual", *MODELS, *FEATURE_COLUMNS}


def test_the_log_shows_each_model_and_no_library_warning(evaluated: Path) -> None:
    text = (evaluated / "evaluate.log").read_text()
    assert "fitting the reference forest" in text and "the served model's MAE" in text
    assert "Warning" not in text and "Loky" not in text
    assert "MAE chosen" in text.splitlines()[-1]


def _forest_in_a_daemon(queue: multiprocessing.Queue) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rng = np.random.default_rng(0)
        fit_forest(rng.random((200, 2)), rng.random(200), threads=2)
        with forest_threads(2):
            jobs = joblib.effective_n_jobs(2)
    queue.put(([str(w.message) for w in caught], jobs))


def test_the_forest_keeps_its_threads_in_a_daemonic_worker() -> None:
    """The local runner's workers are daemonic processes, where joblib's default (loky) backend
    counted 1 job and warned "Loky-backed parallel loops cannot be called in a multiprocessing,
    setting n_jobs=1": the forest ran on one core. With the threading backend it keeps 2."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with OpenMP threads
    queue = context.Queue()
    process = context.Process(target=_forest_in_a_daemon, args=(queue,), daemon=True)
    process.start()
    messages, jobs = queue.get(timeout=120)
    process.join(timeout=30)
    assert not [m for m in messages if "n_jobs=1" in m], messages
    assert jobs == 2


def test_a_model_from_other_features_fails_naming_both_commits(
    trained: Path, sample_features: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _evaluate(trained, sample_features, tmp_path / "out", features_commit="feed0002") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("evaluate: ") and "feed0001" in err[-1] and "feed0002" in err[-1]
    assert not any((tmp_path / "out").iterdir())  # nothing half-written, not even the log


def test_a_missing_train_output_fails_with_one_line(
    sample_features: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _evaluate(tmp_path / "no-train", sample_features, tmp_path / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("evaluate: ") and "model.json" in err[-1] and "train stage" in err[-1]
