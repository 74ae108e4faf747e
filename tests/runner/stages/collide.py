"""``collide OUT``: every datum writes ``OUT/same.txt`` (a collision when there are two datums)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    (Path(args[0]) / "same.txt").write_text(os.environ["PACH_DATUM_ID"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
