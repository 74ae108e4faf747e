"""``slow OUT IN SECONDS [EXIT]``: sleep, then copy (to interrupt a run in the middle of a job), then
exit with EXIT (default 0)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.runner.stages.common import copy_tree


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    time.sleep(float(args[2]))
    copy_tree(Path(args[1]), Path(args[0]))
    return int(args[3]) if len(args) > 3 else 0


if __name__ == "__main__":
    raise SystemExit(main())
