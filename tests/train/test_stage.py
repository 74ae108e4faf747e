"""The train stage end to end on the bundled real sample (through stages.ingest and stages.features)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from stages.common import model_contract as contract
from stages.common.schema import FEATURE_COLUMNS, TARGET_COLUMN
from stages.train.dataset import load_training_data
from stages.train.splits import random_split
from stages.train.train import INPUT_COMMIT_ENV, main
from tests.train.sample_stages import sample_features as run_sample_stages

#: Small enough to keep this module fast; the defaults are for the real run.
SMALL = ["--num-boost-round", "25", "--score-rows", "4000", "--threads", "1"]
OUTPUTS = ("model.txt", "model.json", "metrics.json", "loss.csv", "train.log")


@pytest.fixture(scope="module")
def sample_features(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    return run_sample_stages(sample_dir, tmp_path_factory.mktemp("sample"))


def _train(features: Path, out: Path, commit: str | None = None, extra: tuple[str, ...] = ()) -> int:
    saved = os.environ.pop(INPUT_COMMIT_ENV, None)
    if commit is not None:
        os.environ[INPUT_COMMIT_ENV] = commit
    try:
        return main(["--features", str(features), "--out", str(out), *SMALL, *extra])
    finally:
        os.environ.pop(INPUT_COMMIT_ENV, None)
        if saved is not None:
            os.environ[INPUT_COMMIT_ENV] = saved


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, sample_features: Path) -> Path:
    out = tmp_path_factory.mktemp("train") / "out"
    assert _train(sample_features, out, commit="0123abcd") == 0
    return out


def test_every_output_is_written_and_nothing_else(trained: Path) -> None:
    """Only the served model: the comparison with the reference models is evaluate's."""
    assert sorted(p.name for p in trained.iterdir()) == sorted(OUTPUTS)
    for name in OUTPUTS:
        assert (trained / name).stat().st_size > 0, name


def test_model_json_follows_the_contract(trained: Path) -> None:
    meta = json.loads((trained / "model.json").read_text())
    assert meta["model_file"] == contract.MODEL_FILE == "model.txt"
    assert meta["library"] == "lightgbm"
    assert meta["features"] == list(FEATURE_COLUMNS)
    assert meta["target"] == TARGET_COLUMN
    assert meta["target_transform"] in contract.TARGET_TRANSFORMS
    assert meta["input_commit"] == "0123abcd"
    assert meta["seed"] == 42
    assert meta["params"]["num_boost_round"] == 25
    assert meta["booster_config"]["num_boost_round"] == 25 and meta["booster_config"]["threads"] == 1
    assert set(meta["library_versions"]) >= {"lightgbm", "scikit-learn", "numpy", "pyarrow", "python"}
    assert meta["trained_at"].endswith("Z") and meta["trained_at"][:4].isdigit()
    metrics = json.loads((trained / "metrics.json").read_text())
    # The sample's 44,905 training rows are fewer than the default sample: all of them are used.
    assert meta["training_rows"] == metrics["random_80_20"]["split"]["train_rows"]
    assert metrics["random_80_20"]["chosen"]["trained_on"] == "all training rows of the split"


def test_metrics_are_the_served_models_own_on_the_random_split(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    data = metrics["data"]
    # The sample has 14 symbols: 29 null-feature rows each are dropped and counted.
    assert data["rows_dropped_null_features"] == 14 * 29
    assert data["rows_used"] == data["rows_read"] - data["rows_dropped_null_features"]
    assert set(metrics) == {"data", "random_80_20", "notes"}
    details = metrics["random_80_20"]["split"]
    assert details["train_rows"] + details["test_rows"] == data["rows_used"]
    assert details["test_rows"] == math.ceil(0.2 * data["rows_used"])
    assert details["scored_rows"] == 4000
    chosen = metrics["random_80_20"]["chosen"]
    for key in ("mae", "mse", "r2", "fit_seconds", "model_bytes", "predict_latency_us", "rows"):
        assert math.isfinite(chosen[key]), key
    assert chosen["mae"] > 0 and chosen["mse"] >= chosen["mae"] ** 2  # MSE >= MAE² always
    assert chosen["rows"] == 4000 and "full_test" not in chosen  # evaluate scores every test row
    assert chosen["model_bytes"] == (trained / "model.txt").stat().st_size


def test_the_metrics_are_the_saved_models_scores_on_the_tasks_split(
    trained: Path, sample_features: Path
) -> None:
    """Recomputed from model.txt on train_test_split(test_size=0.2, random_state=42): the same scores."""
    data = load_training_data(sample_features)
    split = random_split(data.rows, max_scored=4000, seed=42)
    booster = lgb.Booster(model_file=str(trained / "model.txt"))
    predicted = contract.served_volumes(booster.predict(data.features[split.scored]), "log1p")
    metrics = json.loads((trained / "metrics.json").read_text())["random_80_20"]["chosen"]
    actual = data.target[split.scored]
    assert mean_absolute_error(actual, predicted) == pytest.approx(metrics["mae"], rel=1e-12)
    assert mean_squared_error(actual, predicted) == pytest.approx(metrics["mse"], rel=1e-12)
    assert r2_score(actual, predicted) == pytest.approx(metrics["r2"], rel=1e-12)


def test_model_loads_and_predicts_non_negative_integers(trained: Path) -> None:
    meta = json.loads((trained / "model.json").read_text())
    booster = lgb.Booster(model_file=str(trained / meta["model_file"]))
    assert booster.num_feature() == len(meta["features"])
    rows = np.array([[1e6, 50.0], [0.0, 0.0], [3e3, 1.0], [2e8, 250.0]])
    raw = booster.predict(rows, num_threads=1)
    served = [contract.served_volume(float(v), meta["target_transform"]) for v in raw]
    assert all(isinstance(v, int) and v >= 0 for v in served)
    assert served[3] > served[0] > served[2]  # more volume in the window, more volume predicted


def test_loss_log_has_one_row_per_iteration_and_decreases(trained: Path) -> None:
    with (trained / "loss.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["iteration", "train_loss", "valid_loss"]
    assert [int(r["iteration"]) for r in rows] == list(range(1, 26))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert float(rows[-1]["valid_loss"]) < float(rows[0]["valid_loss"])


def test_train_log_is_readable_and_ends_with_a_summary(trained: Path) -> None:
    text = (trained / "train.log").read_text()
    assert "fitting the booster on" in text and "forest" not in text
    assert "random_80_20: MAE" in text.splitlines()[-1]


def test_sample_rows_fits_on_a_random_sample_of_the_training_rows(
    trained: Path, sample_features: Path, tmp_path: Path
) -> None:
    assert _train(sample_features, tmp_path / "sampled", extra=("--sample-rows", "20000")) == 0
    meta = json.loads((tmp_path / "sampled" / "model.json").read_text())
    chosen = json.loads((tmp_path / "sampled" / "metrics.json").read_text())["random_80_20"]["chosen"]
    assert meta["training_rows"] == chosen["train_rows"] == 20000
    assert "random sample of 20,000 of the 44,905 training rows" in chosen["trained_on"]
    assert meta["booster_config"]["sample_rows"] == 20000
    full = json.loads((trained / "metrics.json").read_text())["random_80_20"]
    assert chosen["rows"] == full["chosen"]["rows"]  # scored on the same test rows
    assert chosen["mae"] != full["chosen"]["mae"]


def test_same_seed_gives_a_byte_identical_model(trained: Path, sample_features: Path, tmp_path: Path) -> None:
    """Also a second call of main in one process (warm workers): no state leaks between calls."""
    assert _train(sample_features, tmp_path / "again") == 0
    assert (tmp_path / "again" / "model.txt").read_bytes() == (trained / "model.txt").read_bytes()
    assert json.loads((tmp_path / "again" / "model.json").read_text())["input_commit"] is None
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    first = json.loads((trained / "metrics.json").read_text())
    assert again["random_80_20"]["chosen"]["mae"] == first["random_80_20"]["chosen"]["mae"]


def test_two_threads_give_the_same_model(trained: Path, sample_features: Path, tmp_path: Path) -> None:
    assert _train(sample_features, tmp_path / "two", extra=("--threads", "2")) == 0
    assert (tmp_path / "two" / "model.txt").read_text().replace("num_threads: 2", "num_threads: 1") == (
        trained / "model.txt"
    ).read_text()


def test_missing_features_folder_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--features", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("train: ") and "nope" in err[-1] and "does not exist" in err[-1]
    assert not any((tmp_path / "out").iterdir())  # nothing half-written, not even the log


def test_features_without_a_feature_column_fail_naming_it(
    tmp_path: Path, sample_features: Path, capsys: pytest.CaptureFixture
) -> None:
    table = pq.read_table(sample_features / "stocks" / "AAPL.parquet").drop_columns(["adj_close_rolling_med"])
    (tmp_path / "features" / "stocks").mkdir(parents=True)
    pq.write_table(table, tmp_path / "features" / "stocks" / "AAPL.parquet")
    assert main(["--features", str(tmp_path / "features"), "--out", str(tmp_path / "out")]) == 1
    assert "adj_close_rolling_med missing" in capsys.readouterr().err.strip().splitlines()[-1]
