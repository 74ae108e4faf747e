"""The bench's load generator against real servers on 127.0.0.1: what it counts as an answer and
what as a failure (bench/load.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import Load


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path.startswith("/ok") else 500
        body = b"1234" if status == 200 else b"boom"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run(load: Load, seconds: float = 0.6) -> Load:
    load.start()
    time.sleep(seconds)
    load.stop()
    return load


def test_answers_with_200_count_as_ok(server: int) -> None:
    load = _run(Load(server, "/ok?x=1", connections=4))
    assert load.ok > 20 and load.failures == []
    assert 0 < load.slowest < 5


def test_the_loads_own_cpu_is_its_threads(server: int) -> None:
    load = Load(server, "/ok", connections=4)
    assert load.cpu_seconds() == 0.0  # not started
    load.start()
    time.sleep(0.5)
    used = load.cpu_seconds()
    load.stop()
    assert 0 < used < 1.0  # one thread: at most the wall time it ran (about 0.5 s)
    assert load.cpu_seconds() == 0.0  # ended


def test_any_other_status_is_a_failure_naming_it(server: int) -> None:
    load = _run(Load(server, "/fail", connections=2))
    assert load.ok == 0 and load.failures
    assert "500" in load.failures[0] and "boom" in load.failures[0]


def test_a_port_nobody_listens_on_gives_refused_requests() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        load = _run(Load(port, "/ok", connections=3), seconds=0.35)
    assert load.ok == 0 and load.failures
    assert all("Connection" in failure or "refused" in failure for failure in load.failures)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # accepted by the kernel, never read or answered
        load = _run(Load(sock.getsockname()[1], "/ok", connections=1, timeout=0.3), seconds=0.8)
    assert load.ok == 0
    assert any(failure.startswith("TimeoutError") for failure in load.failures)
