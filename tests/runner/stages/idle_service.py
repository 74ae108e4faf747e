"""``idle_service RECORD``: a service that only records which input commit it serves.

On start and on every SIGHUP it appends the ``in_COMMIT`` of the commit being served (read from
the file ``RUNNER_SERVICE_ENV`` names, as a gunicorn worker does in api/gunicorn_conf.py) to
RECORD, one line each; it stops on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def _record(path: Path) -> None:
    with open(os.environ["RUNNER_SERVICE_ENV"], encoding="utf-8") as fh:
        commit = json.load(fh)["in_COMMIT"]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {commit}\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    record = Path(args[0])

    def on_hup(_signum: int, _frame: Any) -> None:
        _record(record)

    signal.signal(signal.SIGHUP, on_hup)
    _record(record)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())
