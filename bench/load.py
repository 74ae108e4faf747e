"""A bounded HTTP load on loopback: ``connections`` clients, each one GET at a time, until stopped.

The clients share one thread and a selector (non-blocking sockets, the request bytes built once,
only the status line parsed), so the load costs the machine little of its own: the live loop's
case measures the service and the jobs under load, not the load generator. The first version ran
one thread per client with ``http.client``: 0.33-0.35 CPU ms a request against the API, 0.20 ms
with this one (the bench process as a whole, those threads included, took 9.8 of the 59.5 CPU
seconds of window (b) at 21:08 on 2026-12-01: docs/benchmarks.md, notes). Each request opens its
own connection and asks the server to close it (``Connection: close``), as a client without
keep-alive does; a request counts as failed when it is refused, reset, times out or gets any
status but 200.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

#: Seconds a request may take before it counts as failed.
REQUEST_TIMEOUT = 60.0
#: Seconds ``stop`` waits for the requests in flight to finish.
DRAIN_TIMEOUT = 90.0


@dataclass
class _Request:
    sock: socket.socket
    started: float
    pending: bytes
    received: bytearray = field(default_factory=bytearray)


@dataclass
class Load:
    """``connections`` clients sending ``GET path`` one at a time to 127.0.0.1:``port`` until stopped;
    ``ok``, ``failures`` (one line each) and ``slowest`` (seconds) say how they fared."""

    port: int
    path: str
    connections: int
    timeout: float = REQUEST_TIMEOUT
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()
        return self

    def cpu_seconds(self) -> float:
        """CPU seconds the load's thread has used so far (0 before it started or after it ended)."""
        if self._thread is None or self._thread.ident is None or not self._thread.is_alive():
            return 0.0
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))
        except OSError:  # the thread ended meanwhile
            return 0.0

    def stop(self) -> None:
        """Stop opening requests; wait for the ones in flight (they count) up to ``DRAIN_TIMEOUT``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=DRAIN_TIMEOUT + self.timeout)

    def _request_bytes(self) -> bytes:
        return (
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")

    def _run(self) -> None:
        request = self._request_bytes()
        with selectors.DefaultSelector() as selector:
            drain_until = None
            while not self._stop.is_set() or selector.get_map():
                if self._stop.is_set():
                    drain_until = drain_until or time.monotonic() + DRAIN_TIMEOUT
                else:  # top up: a finished or failed request is followed by a new one
                    for _ in range(self.connections - len(selector.get_map())):
                        self._open(selector, request)
                for key, _events in selector.select(timeout=0.1):
                    self._step(selector, key.data)
                self._expire(selector)
                if drain_until is not None and time.monotonic() > drain_until:
                    for key in list(selector.get_map().values()):
                        self._finish(selector, key.data, "still waiting when the load stopped")

    def _open(self, selector: selectors.BaseSelector, request: bytes) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        state = _Request(sock, time.perf_counter(), request)
        code = sock.connect_ex(("127.0.0.1", self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._record(state, f"ConnectionRefusedError: {os.strerror(code)}")
            return
        selector.register(sock, selectors.EVENT_WRITE, state)

    def _step(self, selector: selectors.BaseSelector, state: _Request) -> None:
        try:
            if state.pending:
                error = state.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, os.strerror(error))
                sent = state.sock.send(state.pending)
                state.pending = state.pending[sent:]
                if not state.pending:
                    selector.modify(state.sock, selectors.EVENT_READ, state)
                return
            chunk = state.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # refused, reset
            self._finish(selector, state, f"{type(exc).__name__}: {exc}")
            return
        if chunk:
            state.received += chunk
            return
        status_line = bytes(state.received.split(b"\r\n", 1)[0])
        parts = status_line.split(b" ", 2)
        ok = len(parts) >= 2 and parts[1] == b"200"
        problem = None if ok else f"HTTP {status_line[:60]!r}: {bytes(state.received[-200:])!r}"
        self._finish(selector, state, problem)

    def _expire(self, selector: selectors.BaseSelector) -> None:
        now = time.perf_counter()
        for key in list(selector.get_map().values()):
            state: _Request = key.data
            if now - state.started > self.timeout:
                self._finish(selector, state, f"TimeoutError: no answer within {self.timeout:g}s")

    def _finish(self, selector: selectors.BaseSelector, state: _Request, problem: str | None) -> None:
        selector.unregister(state.sock)
        state.sock.close()
        self._record(state, problem)

    def _record(self, state: _Request, problem: str | None) -> None:
        self.slowest = max(self.slowest, time.perf_counter() - state.started)
        if problem is None:
            self.ok += 1
        else:
            self.failures.append(problem)
