"""The start of a stage program's ``main()``, kept cheap for warm workers.

The local runner (like a long-lived Pachyderm worker) calls a stage's ``main()`` once per
datum in the same process, 8,000 times per job with the same command line and the same
``sys.stderr``: parsing that command line and rebuilding the log handler every time cost
~0.06 ms a datum. Both are done once per distinct command line and stream instead.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable

_HANDLER_PREFIX = "stage-stderr:"


def parse_args_once(
    build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None
) -> argparse.Namespace:
    """``build_parser().parse_args(argv)``, parsed once per distinct command line (do not mutate it)."""
    return _parsed(build_parser, tuple(sys.argv[1:] if argv is None else argv))


@functools.lru_cache(maxsize=16)
def _parsed(build_parser: Callable[[], argparse.ArgumentParser], argv: tuple[str, ...]) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def log_to_stderr(fmt: str) -> None:
    """INFO logs to the current ``sys.stderr`` in ``fmt``; rebuilt only if the stream or format changed."""
    root = logging.getLogger()
    name = _HANDLER_PREFIX + fmt
    if len(root.handlers) == 1:
        handler = root.handlers[0]
        if handler.get_name() == name and getattr(handler, "stream", None) is sys.stderr:
            return
    logging.basicConfig(level=logging.INFO, format=fmt, stream=sys.stderr, force=True)
    root.handlers[0].set_name(name)
