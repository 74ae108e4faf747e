"""A stage's own log file in its output (train.log, evaluate.log): every record the stage logs
while it works, written atomically when it is done (a failed stage leaves no half log)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from stages.common.atomic import atomic_path


@contextlib.contextmanager
def logging_into(out: Path, log_file: str, log_format: str) -> Iterator[None]:
    """Copy the root logger's records into ``out/log_file`` for the duration of the block."""
    out.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with atomic_path(out / log_file) as log_tmp:
        handler = logging.FileHandler(log_tmp, encoding="utf-8")
        handler.setFormatter(logging.Formatter(log_format))
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)
            handler.close()
