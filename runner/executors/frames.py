"""Messages between the runner's worker and its container: a 4-byte big-endian length, then a pickle.

Both ends are the runner's own code (``docker.py`` on the host, ``container_worker.py`` in the
container), over the worker's Unix socket (or the container's stdin and stdout), so pickle carries
the runner's dataclasses.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")


class ChannelClosed(EOFError):
    """The other end closed the stream (the container or the runner is gone)."""


def send(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise ChannelClosed("stream closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(stream: BinaryIO) -> Any:
    (size,) = HEADER.unpack(_read_exactly(stream, HEADER.size))
    return pickle.loads(_read_exactly(stream, size))
