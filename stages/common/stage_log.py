"""A stage's own log file in its output (train.log, evaluate.log): every record the stage logs
while it works, written atomically when it is done (a failed stage leaves no half log)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from stages.common.atomic import atomic_path

#: Every record, on stderr and in the stage's log file.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def run_logged(
    stage: str,
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], None],
    log_file: str,
    user_errors: tuple[type[Exception], ...],
) -> int:
    """A stage's main: log to stderr and into ``args.out/log_file`` while ``run(args)`` works; an
    error the input can cause (``user_errors``) is one line ``<stage>: <message>`` and exit status
    1, with no traceback."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
    try:
        with logging_into(args.out, log_file, LOG_FORMAT):
            run(args)
    except user_errors as exc:
        print(f"{stage}: {exc}", file=sys.stderr)
        return 1
    return 0
