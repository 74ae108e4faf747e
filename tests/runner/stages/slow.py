"""``slow OUT IN SECONDS``: sleep, then copy (to interrupt a run in the middle of a job)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.runner.stages.common import copy_tree


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    time.sleep(float(args[2]))
    copy_tree(Path(args[1]), Path(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
