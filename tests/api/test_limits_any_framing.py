"""The documented limits hold however a request is framed (issue 16.9), against real gunicorn.

docs/serving.md: a body over 256 KiB (MAX_CONTENT_LENGTH) gets 413, and a number is a plain
decimal in ASCII digits. A chunked body has no Content-Length, and werkzeug cut such a body at the
cap and parsed what was left (200); Python's float() takes full-width and Arabic-Indic digits.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests

from api.devtools.server import Server

CAP = 256 * 1024
ROW = b'{"vol_moving_avg": 2500000, "adj_close_rolling_med": 41.5}'


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def _padded_batch(total: int) -> bytes:
    """A valid one-row JSON batch padded with spaces to ``total`` bytes (still valid JSON)."""
    return b"[" + ROW + b" " * (total - len(ROW) - 2) + b"]"


def test_chunked_body_over_the_cap_gets_413(server: Server) -> None:
    body = _padded_batch(CAP + 100)
    response = requests.post(f"{server.url}/predict", data=_chunks(body), timeout=10)  # a generator: chunked
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert response.json()["parameter"] == "body"
    # The same bytes with a Content-Length get the same answer.
    assert requests.post(f"{server.url}/predict", data=body, timeout=10).status_code == 413


def test_chunked_body_at_the_cap_is_served(server: Server, expected_volume) -> None:
    body = _padded_batch(CAP)
    response = requests.post(f"{server.url}/predict", data=_chunks(body), timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == expected_volume([[2500000, 41.5]])


def test_chunked_body_over_the_cap_on_a_raw_socket_gets_413(server: Server) -> None:
    """Hand-framed chunks (no client library in between), one chunk far past the cap."""
    body = _padded_batch(CAP + 1)
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in _chunks(body, 50_000)) + b"0\r\n\r\n"
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + framed)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["parameter"] == "body"


@pytest.mark.parametrize(
    "text",
    [
        "\uff11\uff12",  # full-width 12
        "\u0661\u0662",  # Arabic-Indic 12
        "\u06f1",  # extended Arabic-Indic 1
        "\u0967",  # Devanagari 1
        "1\u0660",  # ASCII then Arabic-Indic
        "1e\u0661",  # Arabic-Indic exponent
        "\U0001d7ce",  # mathematical bold 0
    ],
)
def test_non_ascii_digits_get_400_naming_the_parameter(server: Server, text: str) -> None:
    assert float(text) >= 0  # Python would take it: the API must not
    response = requests.get(
        f"{server.url}/predict", params={"vol_moving_avg": text, "adj_close_rolling_med": "1"}, timeout=5
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == "vol_moving_avg"
    assert "decimal number" in body["error"]


def test_json_body_with_non_ascii_digits_gets_400(server: Server) -> None:
    body = '[{"vol_moving_avg": \u0661, "adj_close_rolling_med": 1}]'.encode()
    response = requests.post(f"{server.url}/predict", data=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["parameter"] == "body"
