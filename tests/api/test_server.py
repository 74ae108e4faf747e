"""The real API under gunicorn on a free loopback port: answers, errors, limits and concurrency."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from api.devtools.server import Server, ServerStartError, running_server

GOOD = {"vol_moving_avg": "2500000", "adj_close_rolling_med": "41.5"}


def _query(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in params)


def test_predict_answers_bare_integer_equal_to_the_booster(server: Server, expected_volume) -> None:
    response = requests.get(f"{server.url}/predict", params=GOOD, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.text.isdigit(), response.text  # a bare JSON integer, as curl prints it
    assert json.loads(response.text) == expected_volume([[2500000, 41.5]])[0]


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ([("vol_moving_avg", "1")], "adj_close_rolling_med", "missing"),
        ([("adj_close_rolling_med", "1")], "vol_moving_avg", "missing"),
        (
            [("vol_moving_avg", "1"), ("vol_moving_avg", "1"), ("adj_close_rolling_med", "1")],
            "vol_moving_avg",
            "2 times",
        ),
        ([("vol_moving_avg", "abc"), ("adj_close_rolling_med", "1")], "vol_moving_avg", "decimal number"),
        ([("vol_moving_avg", ""), ("adj_close_rolling_med", "1")], "vol_moving_avg", "decimal number"),
        (
            [("vol_moving_avg", "1"), ("adj_close_rolling_med", "nan")],
            "adj_close_rolling_med",
            "decimal number",
        ),
        ([("vol_moving_avg", "NaN"), ("adj_close_rolling_med", "1")], "vol_moving_avg", "decimal number"),
        ([("vol_moving_avg", "inf"), ("adj_close_rolling_med", "1")], "vol_moving_avg", "decimal number"),
        ([("vol_moving_avg", "1e400"), ("adj_close_rolling_med", "1")], "vol_moving_avg", "finite"),
        ([("vol_moving_avg", "1"), ("adj_close_rolling_med", "-0.01")], "adj_close_rolling_med", "negative"),
        ([("vol_moving_avg", "1"), ("adj_close_rolling_med", "1"), ("symbol", "AAPL")], "symbol", "unknown"),
    ],
)
def test_bad_query_answers_400_naming_the_parameter(
    server: Server, params: list[tuple[str, str]], parameter: str, words: str
) -> None:
    response = requests.get(f"{server.url}/predict?{_query(params)}", timeout=5)
    assert response.status_code == 400
    body = response.json()
    assert body["parameter"] == parameter
    assert words in body["error"]


def test_batch_answers_a_list_of_integers(server: Server, expected_volume) -> None:
    rows = [[0, 0], [1e3, 2.0], [2.5e6, 41.5], [8e7, 300.25], [1e12, 1e5]]
    body = [{"vol_moving_avg": a, "adj_close_rolling_med": b} for a, b in rows]
    response = requests.post(f"{server.url}/predict", json=body, timeout=5)
    assert response.status_code == 200
    assert response.json() == expected_volume(rows)
    assert all(isinstance(v, int) for v in response.json())


def test_batch_cap_and_byte_cap_answer_413(server: Server) -> None:
    row = {"vol_moving_avg": 1, "adj_close_rolling_med": 1}
    assert requests.post(f"{server.url}/predict", json=[row] * 1000, timeout=5).status_code == 200
    too_many = requests.post(f"{server.url}/predict", json=[row] * 1001, timeout=5)
    assert too_many.status_code == 413
    assert too_many.json()["parameter"] == "body"
    too_big = requests.post(f"{server.url}/predict", data=b"[" + b" " * (256 * 1024) + b"]", timeout=5)
    assert too_big.status_code == 413
    assert too_big.json()["parameter"] == "body"


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b"not json", "body"),
        (b'{"vol_moving_avg": 1, "adj_close_rolling_med": 1}', "body"),
        (b'[{"vol_moving_avg": NaN, "adj_close_rolling_med": 1}]', "body"),
        (b'[{"vol_moving_avg": 1, "adj_close_rolling_med": -1}]', "[0].adj_close_rolling_med"),
        (
            b'[{"vol_moving_avg": 1, "adj_close_rolling_med": 1}, {"vol_moving_avg": 1}]',
            "[1].adj_close_rolling_med",
        ),
        (b'[{"vol_moving_avg": "7", "adj_close_rolling_med": 1}]', "[0].vol_moving_avg"),
    ],
)
def test_bad_batch_answers_400_naming_the_parameter(server: Server, body: bytes, parameter: str) -> None:
    response = requests.post(f"{server.url}/predict", data=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter


def test_health(server: Server) -> None:
    response = requests.get(f"{server.url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_model_metadata_and_provenance(server: Server, model_dir) -> None:
    info = requests.get(f"{server.url}/model", timeout=5).json()
    assert info["features"] == ["vol_moving_avg", "adj_close_rolling_med"]
    assert info["model_dir"] == str(model_dir)
    assert info["metadata"] == json.loads((model_dir / "model.json").read_text())
    assert info["metrics"] == json.loads((model_dir / "metrics.json").read_text())
    assert info["train_commit"] == "c0ffee01"
    assert info["provenance"]["provenance"] == [{"repo": "features", "commit": "feed0002"}]


def test_unknown_path_is_404_json(server: Server) -> None:
    response = requests.get(f"{server.url}/predictions", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["parameter"] is None


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/predict"), ("DELETE", "/predict"), ("POST", "/healthz"), ("OPTIONS", "/model")],
)
def test_wrong_method_is_405_json_with_allow(server: Server, method: str, path: str) -> None:
    response = requests.request(method, server.url + path, timeout=5)
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "application/json"
    assert "GET" in response.headers["Allow"]
    assert "405" in response.json()["error"]


@pytest.fixture(scope="module")
def gthread_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The API with THREADS=4: gthread workers, keep-alive, one fast-path predictor per thread."""
    log_path = tmp_path_factory.mktemp("gthread") / "gunicorn.log"
    with running_server(model_dir, threads=4, log_path=log_path) as live:
        yield live


@pytest.mark.parametrize("which", ["server", "gthread_server"])
def test_64_concurrent_requests_all_answered_correctly(which: str, request, expected_volume) -> None:
    server: Server = request.getfixturevalue(which)
    rows = [[1e4 * (i + 1) ** 2, 0.5 + i * 3.25] for i in range(64)]
    start = threading.Barrier(64)

    def ask(row: list[float]) -> tuple[int, str]:
        start.wait()
        response = requests.get(
            f"{server.url}/predict",
            params={"vol_moving_avg": row[0], "adj_close_rolling_med": row[1]},
            timeout=30,
        )
        return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=64) as pool:
        answers = list(pool.map(ask, rows))
    assert [status for status, _ in answers] == [200] * 64
    assert [json.loads(text) for _, text in answers] == expected_volume(rows)


def test_server_log_has_no_error(server: Server) -> None:
    requests.get(f"{server.url}/healthz", timeout=5)
    log = server.log_path.read_text()
    assert "Traceback" not in log
    assert "[ERROR]" not in log


def test_unservable_model_stops_gunicorn_with_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ServerStartError) as caught, running_server(tmp_path, log_path=tmp_path / "g.log"):
        pass
    assert "api: cannot serve:" in str(caught.value)
    assert "model.json" in str(caught.value)
    assert "Traceback" not in (tmp_path / "g.log").read_text()
