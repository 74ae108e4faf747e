"""Unit tests of request validation (no server)."""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict

from api.params import RequestError, parse_batch, parse_query, parse_text_number

FEATURES = ("vol_moving_avg", "adj_close_rolling_med")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0.0),
        ("12", 12.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e6", 1e6),
        ("1.5E-3", 1.5e-3),
        ("-0", 0.0),
    ],
)
def test_accepted_numbers(text: str, value: float) -> None:
    assert parse_text_number("x", text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "decimal number"),
        ("abc", "decimal number"),
        ("nan", "decimal number"),
        ("NaN", "decimal number"),
        ("inf", "decimal number"),
        ("Infinity", "decimal number"),
        ("1e999", "finite"),
        ("-1", "negative"),
        ("-1e-9", "negative"),
        ("0x10", "decimal number"),
        ("1_000", "decimal number"),
        (" 1", "decimal number"),
        ("1 ", "decimal number"),
        ("+1", "decimal number"),
        ("1,5", "decimal number"),
    ],
)
def test_refused_numbers_name_the_parameter(text: str, reason: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_text_number("vol_moving_avg", text)
    assert caught.value.parameter == "vol_moving_avg"
    assert reason in caught.value.message
    assert caught.value.status == 400


def test_query_row_in_feature_order() -> None:
    row = parse_query(MultiDict([("adj_close_rolling_med", "2.5"), ("vol_moving_avg", "100")]), FEATURES)
    assert row.shape == (1, 2)
    assert row.tolist() == [[100.0, 2.5]]


@pytest.mark.parametrize(
    ("pairs", "parameter", "words"),
    [
        ([("vol_moving_avg", "1")], "adj_close_rolling_med", "missing"),
        (
            [("vol_moving_avg", "1"), ("vol_moving_avg", "2"), ("adj_close_rolling_med", "1")],
            "vol_moving_avg",
            "2 times",
        ),
        ([("vol_moving_avg", "1"), ("adj_close_rolling_med", "1"), ("extra", "1")], "extra", "unknown"),
    ],
)
def test_query_errors(pairs: list[tuple[str, str]], parameter: str, words: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_query(MultiDict(pairs), FEATURES)
    assert caught.value.parameter == parameter
    assert words in caught.value.message


def test_batch_rows() -> None:
    body = json.dumps(
        [
            {"vol_moving_avg": 1, "adj_close_rolling_med": 2.5},
            {"adj_close_rolling_med": 0, "vol_moving_avg": 3e6},
        ]
    )
    assert parse_batch(body.encode(), FEATURES, 10).tolist() == [[1.0, 2.5], [3e6, 0.0]]
    assert parse_batch(b"[]", FEATURES, 10).shape == (0, 2)


@pytest.mark.parametrize(
    ("body", "parameter", "status"),
    [
        (b"{", "body", 400),
        (b"\xff\xfe", "body", 400),
        (b'{"vol_moving_avg": 1}', "body", 400),
        (b"[1]", "[0]", 400),
        (b'[{"vol_moving_avg": 1}]', "[0].adj_close_rolling_med", 400),
        (b'[{"vol_moving_avg": 1, "adj_close_rolling_med": 1, "x": 2}]', "[0].x", 400),
        (b'[{"vol_moving_avg": "1", "adj_close_rolling_med": 1}]', "[0].vol_moving_avg", 400),
        (b'[{"vol_moving_avg": true, "adj_close_rolling_med": 1}]', "[0].vol_moving_avg", 400),
        (b'[{"vol_moving_avg": null, "adj_close_rolling_med": 1}]', "[0].vol_moving_avg", 400),
        (b'[{"vol_moving_avg": NaN, "adj_close_rolling_med": 1}]', "body", 400),
        (b'[{"vol_moving_avg": Infinity, "adj_close_rolling_med": 1}]', "body", 400),
        (b'[{"vol_moving_avg": 1e999, "adj_close_rolling_med": 1}]', "[0].vol_moving_avg", 400),
        (
            b'[{"vol_moving_avg": 1' + b"0" * 400 + b', "adj_close_rolling_med": 1}]',
            "[0].vol_moving_avg",
            400,
        ),
        (b'[{"vol_moving_avg": -3, "adj_close_rolling_med": 1}]', "[0].vol_moving_avg", 400),
        (
            b'[{"vol_moving_avg": 1, "vol_moving_avg": 2, "adj_close_rolling_med": 1}]',
            "[0].vol_moving_avg",
            400,
        ),
        (b"[" * 100_000 + b"]" * 100_000, "body", 400),
        (json.dumps([{"vol_moving_avg": 1, "adj_close_rolling_med": 1}] * 11).encode(), "body", 413),
    ],
)
def test_batch_errors(body: bytes, parameter: str, status: int) -> None:
    with pytest.raises(RequestError) as caught:
        parse_batch(body, FEATURES, 10)
    assert caught.value.parameter == parameter
    assert caught.value.status == status
