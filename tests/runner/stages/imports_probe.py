"""``imports_probe OUT IN``: write ``OUT/probe.json`` saying whether this process had the installed
module ``colorsys`` loaded before the stage imported it (a standby job imports it ahead), and the
input files' names; then import it, so a worker's record of imports (runner/standby.py) holds it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, root = Path(args[0]), Path(args[1])
    ahead = "colorsys" in sys.modules
    import colorsys  # noqa: F401 - the installed module the probe looks for

    names = sorted(p.name for p in root.rglob("*") if p.is_file())
    (out / "probe.json").write_text(
        json.dumps({"ahead": ahead, "files": names, "worker_parent": os.getppid()}), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
