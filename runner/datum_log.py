"""One append-only log file per worker; a datum's log is what was appended while it ran.

A file per datum (create, then delete or truncate for the next one) looks cheaper than it is:
truncating costs 1-3 ms on ext4, and on ext4 without a journal (this project's test machines)
creating a file scans past every inode freed in the last 60-360 s of its block group, so
deleting one file per datum made every later file creation slower, quadratically over a job
(measured: 0.05 -> 0.9 ms per file created). Appending to one file frees nothing.
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
