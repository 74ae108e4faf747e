"""The API's gunicorn worker: gthread with each request read whole in the main loop first.

gunicorn's sync worker, and its gthread worker after a connection's first byte, read a request
with a blocking socket and no deadline: a client that sends its headers a byte every few seconds
holds a worker (sync) or a pool thread (gthread) for as long as it likes, so a handful of slow
clients stalls every normal request (issue 16). This worker keeps gthread's design (a selector
loop that accepts, a thread pool that runs the app, keep-alive) and adds one stage in front of
the pool: a connection stays on the selector, its bytes read without blocking into a buffer,
until the request head is complete and its body too (up to ``BUFFER_LIMIT`` bytes). Only then
does a pool thread get it, with every byte already in memory, so the app's thread never waits
for a slow client. A request not read whole within ``REQUEST_READ_TIMEOUT``
seconds gets 408 and is closed; an idle connection is closed after gunicorn's keep-alive
timeout, silently. A chunked body is buffered the same way (to its last chunk, or to the buffer
limit); a body declared larger than the buffer limit goes to a thread at once, where the app
refuses it with 413 from its Content-Length without reading it.

The pool size is gunicorn's ``threads`` (THREADS, default 1: one request at a time per worker,
the model pinned to one thread per worker, see api/gunicorn_conf.py). docs/serving.md says what
this protects and docs/load-test.md measures its cost.

Under ``runner up`` (api/hot_swap.py, ``ReloadMode.SWAP``) the worker also takes SIGHUP, which the
master forwards to it (api/gunicorn_conf.py ``when_ready``): the handler queues a reload for the
worker's loader thread, which swaps the new commit's model in while the worker keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import selectors
import signal
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from api.app import model_holder, served_loader
from api.hot_swap import SERVICE_ENV, ModelSwapper, ReloadMode, reload_mode

#: Seconds a client has to send a whole request (head, and a buffered body) once it has begun.
REQUEST_READ_TIMEOUT = 10.0
#: Seconds a stopping worker still waits for the first bytes of a connection it had accepted.
STOP_READ_LINGER = 1.0
#: Bodies of known length up to this many bytes are read in the main loop (the app's cap is
#: 256 KiB; a larger declared length is handed on at once and answered 413 by the app).
BUFFER_LIMIT = 256 * 1024 + 16 * 1024
#: A head longer than this is handed to gunicorn's parser as it is, which answers 400/431.
HEAD_LIMIT = 64 * 1024

_END_OF_HEAD = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r\n", re.IGNORECASE)
_TRANSFER_ENCODING = re.compile(rb"\r\ntransfer-encoding:", re.IGNORECASE)
# A client that sends "Expect: 100-continue" waits for gunicorn's "100 Continue" before its body.
_EXPECT = re.compile(rb"\r\nexpect:", re.IGNORECASE)
_TIMEOUT_BODY = b'{"error": "408 Request Timeout: the request did not arrive in time", "parameter": null}'
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


def _chunked_body_is_whole(buffered: bytes, start: int) -> bool:
    """Whether the chunked body from ``start`` has its last chunk and trailers (or is malformed)."""
    pos = start
    while True:
        line_end = buffered.find(b"\r\n", pos)
        if line_end < 0:
            return False
        size_text = buffered[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return True  # not chunked framing: gunicorn's parser answers it
        if size == 0:
            return buffered.find(b"\r\n", line_end + 2) == line_end + 2 or (
                buffered.find(_END_OF_HEAD, line_end) >= 0
            )
        pos = line_end + 2 + size + 2
        if pos > len(buffered):
            return False


def request_is_whole(buffered: bytes) -> bool:
    """Whether ``buffered`` (the start of a connection's next request) can go to a pool thread.

    True once the head is complete and the body is either absent, declared too large to buffer,
    awaited by the client (``Expect: 100-continue``: it sends the body after gunicorn answers), or
    all here; or when the head alone passes HEAD_LIMIT or the buffer BUFFER_LIMIT.
    """
    end = buffered.find(_END_OF_HEAD)
    if end < 0:
        return len(buffered) > HEAD_LIMIT
    if len(buffered) > BUFFER_LIMIT:
        return True
    head = buffered[: end + 2]
    if _EXPECT.search(head):
        return True
    if _TRANSFER_ENCODING.search(head):
        return _chunked_body_is_whole(buffered, end + 4)
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        return True
    length = int(match.group(1))
    return length > BUFFER_LIMIT or len(buffered) - (end + 4) >= length


class _Conn(TConn):
    """gthread's connection, plus the bytes of its next request read in the main loop."""

    early_bytes: bytes = b""


@dataclass(eq=False)
class _Reading:
    """A connection on the selector whose next request is not read whole yet."""

    conn: _Conn
    deadline: float
    buffered: bytearray = field(default_factory=bytearray)
    since: float = field(default_factory=time.monotonic)


class BufferedThreadWorker(ThreadWorker):
    """gthread, except that a pool thread only ever gets a request whose bytes are all here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose request is being read (a set: a finished one leaves in O(1)).
        self.reading: set[_Reading] = set()
        #: model reloads asked for by SIGHUP, in swap mode (None: SIGHUP keeps gunicorn's default)
        self.reload_requests: queue.SimpleQueue[None] | None = None

    def init_signals(self) -> None:
        """gunicorn's worker signals, and SIGHUP as a model reload in swap mode.

        gunicorn (workers/base.py ``Worker.init_signals``) resets SIGHUP to its default, which ends
        the process: without swap mode the master never sends it one (its ``handle_hup`` starts new
        workers instead). In swap mode SIGHUP is blocked while that reset runs and the handler is
        installed, so a HUP that the master forwards meanwhile waits and is taken, not fatal. This runs
        before the app is imported (``init_process`` calls it before ``load_wsgi``): a HUP during the
        import is queued and the loader thread takes it once it starts.
        """
        if reload_mode() is not ReloadMode.SWAP:
            super().init_signals()
            return
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            super().init_signals()
            self.reload_requests = queue.SimpleQueue()
            signal.signal(signal.SIGHUP, self.handle_hup)
            signal.siginterrupt(signal.SIGHUP, False)  # no EINTR for the request threads' calls
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})

    def handle_hup(self, sig: int, frame: Any) -> None:
        """SIGHUP in swap mode: queue a model reload (no logging, no locks: it runs in a signal handler)."""
        if self.reload_requests is not None:
            self.reload_requests.put_nowait(None)

    def load_wsgi(self) -> None:
        """Import the app (its model loaded), then, in swap mode, start the worker's loader thread."""
        super().load_wsgi()
        if self.reload_requests is not None:
            ModelSwapper(
                model_holder(self.wsgi),
                Path(os.environ[SERVICE_ENV]),
                served_loader(self.wsgi.config),
                logger=logging.getLogger("gunicorn.error"),  # the error log gunicorn writes
                requests=self.reload_requests,
            ).start()

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._start_reading(conn, time.monotonic() + self.cfg.keepalive)

    def on_client_socket_readable(self, conn: _Conn, client: socket.socket) -> None:
        """A kept-alive connection has bytes: read its next request before it takes a thread."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_some(self._start_reading(conn, conn.timeout or time.monotonic()), client)

    def _start_reading(self, conn: _Conn, idle_deadline: float) -> _Reading:
        conn.sock.setblocking(False)
        reading = _Reading(conn, idle_deadline)
        self.reading.add(reading)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_some, reading))
        return reading

    def _read_some(self, reading: _Reading, client: socket.socket) -> None:
        try:
            data = client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client closed (or reset) the connection
            self._drop(reading, answer=None)
            return
        if not reading.buffered:  # a request has begun: it gets the full read time from now
            reading.deadline = time.monotonic() + REQUEST_READ_TIMEOUT
        reading.buffered += data
        if request_is_whole(reading.buffered):
            self.reading.discard(reading)
            self.poller.unregister(client)
            reading.conn.early_bytes = bytes(reading.buffered)
            reading.conn.data_ready = True
            self.enqueue_req(reading.conn)

    def _drop(self, reading: _Reading, answer: bytes | None) -> None:
        self.reading.discard(reading)
        sock = reading.conn.sock
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        if answer is not None:
            with contextlib.suppress(OSError):
                sock.send(answer)  # non-blocking: a client that reads nothing just loses it
        self.nr_conns -= 1
        reading.conn.close()

    def murder_pending(self) -> None:
        """Also close connections whose request did not arrive whole in time (called every loop)."""
        super().murder_pending()
        now = time.monotonic()
        expired = [reading for reading in self.reading if reading.deadline <= now]
        for reading in expired:
            self._drop(reading, answer=_TIMEOUT_ANSWER if reading.buffered else None)
        if not self.alive:  # stopping: nothing new will be served
            for reading in list(self.reading):
                # a connection accepted just before the stop is the client's next request, about to
                # arrive (a graceful reload, SIGHUP, stops the old workers): serve it, do not reset it
                if not reading.buffered and now - reading.since > STOP_READ_LINGER:
                    self._drop(reading, answer=None)

    def handle(self, conn: _Conn) -> Any:
        """In a pool thread: give the buffered bytes to gunicorn's parser, then serve as gthread does."""
        early, conn.early_bytes = conn.early_bytes, b""
        conn.sock.setblocking(True)
        conn.init()
        if early:
            conn.parser.unreader.unread(early)
        return super().handle(conn)
