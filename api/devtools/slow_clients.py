"""Slow clients for the load test and the tests: connections that trickle a request's headers.

``SlowClients(host, port, count=50, interval=2.0, duration=20.0)`` opens ``count`` connections
and, from one background thread, sends each of them one more byte of an endless request head
every ``interval`` seconds, for ``duration`` seconds at most; then it closes them (it stops
itself, also when the block it runs in ends). A connection the server closes is opened again at
the next tick, as a client holding connections on purpose would: ``reconnects`` counts them.
Loopback only, bounded in time and connections.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from types import TracebackType

log = logging.getLogger(__name__)

#: The start of a plausible request; after it the client sends header bytes forever.
_REQUEST_START = b"GET /predict?vol_moving_avg=1&adj_close_rolling_med=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
_TRICKLE = b"X-Slow: " + b"a" * 4000


class SlowClients:
    """``count`` loopback connections trickling header bytes, in a thread that stops itself."""

    def __init__(
        self, host: str, port: int, *, count: int = 50, interval: float = 2.0, duration: float = 20.0
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"slow clients only target loopback, not {host!r}")
        self.address = (host, port)
        self.count = count
        self.interval = interval
        self.duration = duration
        self.reconnects = 0
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._sockets: list[tuple[socket.socket, int] | None] = [None] * count

    def _open(self) -> tuple[socket.socket, int] | None:
        try:
            sock = socket.create_connection(self.address, timeout=2)
        except OSError:
            return None
        # Send the request line and the first header byte at once: the server sees a request begun.
        try:
            sock.sendall(_REQUEST_START + _TRICKLE[:1])
        except OSError:
            sock.close()
            return None
        return sock, 1

    def _tick(self) -> None:
        for i, entry in enumerate(self._sockets):
            if entry is None:
                self._sockets[i] = self._open()
                continue
            sock, sent = entry
            try:
                sock.sendall(_TRICKLE[sent % len(_TRICKLE) : sent % len(_TRICKLE) + 1])
                self.bytes_sent += 1
                self._sockets[i] = (sock, sent + 1)
            except OSError:  # the server closed it (408 or idle timeout): come back
                sock.close()
                self.reconnects += 1
                self._sockets[i] = self._open()

    def _run(self) -> None:
        end = time.monotonic() + self.duration
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                self._tick()
                self._stop.wait(self.interval)
        finally:
            self._close_all()

    def _close_all(self) -> None:
        for i, entry in enumerate(self._sockets):
            if entry is not None:
                with contextlib.suppress(OSError):
                    entry[0].close()
                self._sockets[i] = None

    def open_now(self) -> int:
        """How many of the connections are open at this moment."""
        return sum(entry is not None for entry in self._sockets)

    def __enter__(self) -> SlowClients:
        for i in range(self.count):  # all connected before the caller measures anything
            self._sockets[i] = self._open()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
