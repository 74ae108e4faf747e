"""``flaky OUT IN COUNTS N``: fail the first N-1 tries of each datum, then copy.

Tries are counted in ``COUNTS/<datum id>`` (outside the datum, so they survive retries).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.runner.stages.common import copy_tree


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, root, counts, needed = Path(args[0]), Path(args[1]), Path(args[2]), int(args[3])
    counter = counts / os.environ["PACH_DATUM_ID"]
    tries = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(tries))
    if tries < needed:
        print(f"flaky: try {tries} fails on purpose", file=sys.stderr)
        return 3
    copy_tree(root, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
