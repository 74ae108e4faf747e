"""``pace OUT STEPS``: mark the start in OUT/started, sleep STEPS times 0.1 s, write OUT/done.

Sleeping in steps is wall time that stops while the process is stopped (SIGSTOP): a datum of it
needs about STEPS / 10 seconds of running time (tests/runner/test_pause_timeout.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, steps = Path(args[0]), int(args[1])
    (out / "started").touch()
    for _ in range(steps):
        time.sleep(0.1)
    (out / "done").write_text("ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
