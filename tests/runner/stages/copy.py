"""``copy OUT IN...``: copy every file under each input root to the same path under OUT."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.runner.stages.common import copy_tree


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, inputs = Path(args[0]), [Path(a) for a in args[1:]]
    for root in inputs:
        copy_tree(root, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
