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

from stages.common.schema import FEATURE_COLUMNS, TARGET_COLUMN
from stages.train.train import INPUT_COMMIT_ENV, main

#: Small enough to keep this module fast; the defaults are for the real run.
SMALL = ["--num-boost-round", "25", "--rf-sample", "3000", "--score-rows", "4000", "--plot-rows", "500"]
OUTPUTS = ("model.txt", "model.json", "metrics.json", "loss.csv", "predictions_sample.parquet", "train.log")
SPLITS = ("random_80_20", "time_split")
MODELS = ("chosen", "random_forest_reference", "naive_vol_moving_avg")


@pytest.fixture(scope="module")
def sample_features(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    from stages.features.program import main as features_main
    from stages.ingest.ingest import main as ingest_main

    root = tmp_path_factory.mktemp("sample")
    meta = sample_dir / "symbols_valid_meta.csv"
    assert ingest_main(["--prices", str(sample_dir), "--meta", str(meta), "--out", str(root / "ingest")]) == 0
    assert features_main(["--ingest", str(root / "ingest"), "--out", str(root / "features")]) == 0
    return root / "features"


def _train(features: Path, out: Path, commit: str | None = None) -> int:
    saved = os.environ.pop(INPUT_COMMIT_ENV, None)
    if commit is not None:
        os.environ[INPUT_COMMIT_ENV] = commit
    try:
        return main(["--features", str(features), "--out", str(out), *SMALL])
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
    assert sorted(p.name for p in trained.iterdir()) == sorted(OUTPUTS)
    for name in OUTPUTS:
        assert (trained / name).stat().st_size > 0, name


def test_model_json_follows_the_contract(trained: Path) -> None:
    meta = json.loads((trained / "model.json").read_text())
    assert meta["model_file"] == "model.txt"
    assert meta["library"] == "lightgbm"
    assert meta["features"] == list(FEATURE_COLUMNS)
    assert meta["target"] == TARGET_COLUMN
    assert meta["target_transform"] in ("none", "log1p")
    assert meta["input_commit"] == "0123abcd"
    assert meta["seed"] == 42
    assert meta["params"]["num_boost_round"] == 25
    assert set(meta["library_versions"]) >= {"lightgbm", "scikit-learn", "numpy", "pyarrow", "python"}
    assert meta["trained_at"].endswith("Z") and meta["trained_at"][:4].isdigit()
    metrics = json.loads((trained / "metrics.json").read_text())
    assert meta["training_rows"] == metrics["random_80_20"]["split"]["train_rows"]


def test_metrics_are_finite_for_every_split_and_model(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    data = metrics["data"]
    # The sample has 14 symbols: 29 null-feature rows each are dropped and counted.
    assert data["rows_dropped_null_features"] == 14 * 29
    assert data["rows_used"] == data["rows_read"] - data["rows_dropped_null_features"]
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
        assert metrics[split]["chosen"]["model_bytes"] > 0
    assert metrics["random_80_20"]["split"]["test_rows"] == math.ceil(0.2 * data["rows_used"])
    time_split = metrics["time_split"]["split"]
    assert time_split["train_last_date"] < time_split["cutoff_date"]
    assert 0.10 <= time_split["test_fraction"] <= 0.20


def test_model_loads_and_predicts_non_negative_integers(trained: Path, sample_features: Path) -> None:
    meta = json.loads((trained / "model.json").read_text())
    booster = lgb.Booster(model_file=str(trained / meta["model_file"]))
    assert booster.num_feature() == len(meta["features"])
    rows = np.array([[1e6, 50.0], [0.0, 0.0], [3e3, 1.0], [2e8, 250.0]])
    raw = booster.predict(rows, num_threads=1)
    inverse = np.expm1 if meta["target_transform"] == "log1p" else (lambda v: v)
    served = [round(max(0.0, float(v))) for v in inverse(raw)]
    assert all(isinstance(v, int) and v >= 0 for v in served)
    assert served[3] > served[0] > served[2]  # more volume in the window, more volume predicted


def test_metrics_match_the_saved_model_on_the_prediction_sample(trained: Path) -> None:
    sample = pq.read_table(trained / "predictions_sample.parquet").to_pydict()
    assert set(sample) >= {"Date", "actual", *MODELS, *FEATURE_COLUMNS}
    assert 0 < len(sample["actual"]) <= 500
    cutoff = json.loads((trained / "metrics.json").read_text())["time_split"]["split"]["cutoff_date"]
    assert min(sample["Date"]) >= cutoff  # time-split test rows only
    assert sample["naive_vol_moving_avg"] == sample["vol_moving_avg"]
    assert all(v >= 0 and v == round(v) for v in sample["chosen"])


def test_loss_log_has_one_row_per_iteration_and_decreases(trained: Path) -> None:
    with (trained / "loss.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["iteration", "train_loss", "valid_loss"]
    assert [int(r["iteration"]) for r in rows] == list(range(1, 26))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert float(rows[-1]["valid_loss"]) < float(rows[0]["valid_loss"])


def test_train_log_is_readable_and_ends_with_a_summary(trained: Path) -> None:
    text = (trained / "train.log").read_text()
    assert "fitting the chosen model" in text and "fitting the reference forest" in text
    assert "MAE chosen" in text.splitlines()[-1]


def test_same_seed_gives_a_byte_identical_model(trained: Path, sample_features: Path, tmp_path: Path) -> None:
    """Also a second call of main in one process (warm workers): no state leaks between calls."""
    assert _train(sample_features, tmp_path / "again") == 0
    assert (tmp_path / "again" / "model.txt").read_bytes() == (trained / "model.txt").read_bytes()
    assert json.loads((tmp_path / "again" / "model.json").read_text())["input_commit"] is None
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    first = json.loads((trained / "metrics.json").read_text())
    for split in SPLITS:
        for model in MODELS:
            assert again[split][model]["mae"] == first[split][model]["mae"]


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
