"""One append-only log file per worker; a datum's log is what was appended while it ran.

Not a file per datum: truncating or deleting a file per datum was measured slower, and on ext4
without a journal quadratically so over a job; appending frees nothing. The measurements:
docs/runner-performance.md, "Datum logs".
"""

from __future__ import annotations

import os
from pathlib import Path

#: The most of a datum's log kept in its result (the job log and failure reports use it).
LOG_TAIL_BYTES = 64 * 1024
#: The worker's log is emptied before a datum once it is this big (a rare truncation).
MAX_LOG_BYTES = 64 * 1024 * 1024


class DatumLog:
    """The worker's log file, open for the worker's life; ``begin`` marks where a datum's log starts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.start = 0

    def begin(self) -> None:
        """Start a datum's log at the end of the file (emptying the file if it grew too big)."""
        size = os.fstat(self.fd).st_size
        if size > MAX_LOG_BYTES:
            os.ftruncate(self.fd, 0)
            size = 0
        self.start = size

    def written(self) -> int:
        """Bytes the current datum has logged so far."""
        return os.fstat(self.fd).st_size - self.start

    def write(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def tail(self) -> str:
        """The last ``LOG_TAIL_BYTES`` of the current datum's log."""
        end = os.fstat(self.fd).st_size
        start = max(self.start, end - LOG_TAIL_BYTES)
        return os.pread(self.fd, end - start, start).decode("utf-8", "replace")

    def close(self) -> None:
        os.close(self.fd)
