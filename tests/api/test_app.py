"""Fast unit tests of the application factory with Flask's test client (the live server has its own)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from api.app import config_from_env, create_app
from api.model import ModelLoadError, load_model
from stages.common.schema import FEATURE_COLUMNS


@pytest.fixture(scope="module")
def client(model_dir: Path):
    return create_app({"MODEL_DIR": str(model_dir), "MAX_BATCH_ROWS": 5}).test_client()


def test_api_parameters_are_the_pipelines_features(model_dir: Path) -> None:
    assert load_model(model_dir).features == FEATURE_COLUMNS


def test_predict_matches_booster(client, expected_volume) -> None:
    response = client.get("/predict?vol_moving_avg=2500000&adj_close_rolling_med=41.5")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == expected_volume([[2500000, 41.5]])[0]


def test_batch_cap_comes_from_config(client) -> None:
    rows = [{"vol_moving_avg": 1, "adj_close_rolling_med": 1}]
    assert client.post("/predict", json=rows * 5).status_code == 200
    response = client.post("/predict", json=rows * 6)
    assert response.status_code == 413
    assert response.get_json()["parameter"] == "body"


def test_byte_cap_answers_413_json(model_dir: Path) -> None:
    client = create_app({"MODEL_DIR": str(model_dir), "MAX_CONTENT_LENGTH": 100}).test_client()
    response = client.post("/predict", data=b"[" + b" " * 200 + b"]")
    assert response.status_code == 413
    assert response.get_json() == {"error": response.get_json()["error"], "parameter": "body"}


def test_openapi_states_the_limits(client) -> None:
    document = client.get("/openapi.json").get_json()
    body_schema = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert body_schema["maxItems"] == 5
    assert [p["name"] for p in document["paths"]["/predict"]["get"]["parameters"]] == list(FEATURE_COLUMNS)


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model folder not found"):
        create_app({"MODEL_DIR": str(tmp_path / "nothing")})


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    return copy


def test_wrong_features_are_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy(model_dir, tmp_path)
    meta = json.loads((copy / "model.json").read_text())
    meta["features"] = ["adj_close_rolling_med", "vol_moving_avg"]
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="not the API's"):
        create_app({"MODEL_DIR": str(copy)})


def test_unknown_transform_and_broken_model_file_are_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy(model_dir, tmp_path)
    meta = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**meta, "target_transform": "sqrt"}))
    with pytest.raises(ModelLoadError, match="target_transform"):
        load_model(copy)
    (copy / "model.json").write_text(json.dumps(meta))
    (copy / "model.txt").write_text("not a model")
    with pytest.raises(ModelLoadError, match=r"model\.txt"):
        load_model(copy)


def test_untransformed_model_is_served_as_is(model_dir: Path, tmp_path: Path, booster) -> None:
    copy = _copy(model_dir, tmp_path)
    meta = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**meta, "target_transform": "none"}))
    raw = float(booster.predict([[1e6, 20.0]], num_threads=1)[0])
    assert load_model(copy).predict_one([1e6, 20.0]) == round(max(0.0, raw))


def test_model_whose_output_can_overflow_is_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy(model_dir, tmp_path)
    # A booster whose raw output reaches 800: expm1(800) is infinite, so some input would overflow.
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, size=(200, 2))
    labels = np.where(x[:, 0] > 50, 800.0, 1.0)
    params = {"objective": "l2", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1, "num_threads": 1}
    lightgbm.train(params, lightgbm.Dataset(x, labels), num_boost_round=30).save_model(
        str(copy / "model.txt")
    )
    with pytest.raises(ModelLoadError, match="not finite"):
        load_model(copy)


def test_train_commit_from_pachyderms_environment(model_dir: Path) -> None:
    config = {**config_from_env({"MODEL_DIR": str(model_dir), "train_COMMIT": "abc123"})}
    info = create_app(config).test_client().get("/model").get_json()
    assert info["train_commit"] == "abc123"
    assert info["provenance"] is None


def test_config_from_env() -> None:
    env = {"MODEL_DIR": "/m", "MODEL_PROVENANCE": "/p.json", "MAX_BATCH_ROWS": "7"}
    assert config_from_env(env) == {"MODEL_DIR": "/m", "MODEL_PROVENANCE": "/p.json", "MAX_BATCH_ROWS": 7}
    with pytest.raises(ValueError, match="MAX_BATCH_ROWS"):
        config_from_env({"MAX_BATCH_ROWS": "many"})


def test_single_row_fast_path_equals_booster_predict_in_many_threads(
    model_dir: Path, expected_volume
) -> None:
    model = load_model(model_dir)
    rng = np.random.default_rng(3)
    rows = np.column_stack([np.exp(rng.uniform(0, 20, 400)), np.exp(rng.uniform(-3, 8, 400))])
    rows[:5] = [[0, 0], [1e-300, 1e-300], [1e308, 1e308], [2.5e6, 41.5], [1, 0]]
    expected = expected_volume(rows.tolist())
    assert [model.predict_one(row) for row in rows] == expected
    assert model.predict_rows(rows) == expected
    results: dict[int, list[int]] = {}

    def predict_all(index: int) -> None:
        results[index] = [model.predict_one(row) for row in rows]

    threads = [threading.Thread(target=predict_all, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[i] == expected for i in range(8))
