"""``seen OUT``: record what the datum finds under /pfs, then leave leftovers a later datum must not see.

Writes ``OUT/<PACH_DATUM_ID>.json``: every entry under the parent of OUT (``/pfs``) as
``"<relative path>": "file" | "dir"`` (taken before writing), and the size of every file.
Then leaves an empty folder tree in OUT, a file and a folder beside the inputs, and a folder
at the top of ``/pfs``: none may reach the next datum, none is an output.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0])
    pfs = out.parent
    entries = {}
    sizes = {}
    for folder, dirs, files in os.walk(pfs):
        for name in dirs:
            entries[os.path.relpath(os.path.join(folder, name), pfs)] = "dir"
        for name in files:
            full = os.path.join(folder, name)
            entries[os.path.relpath(full, pfs)] = "file"
            sizes[os.path.relpath(full, pfs)] = os.path.getsize(full)
    datum = os.environ["PACH_DATUM_ID"]
    (out / f"{datum}.json").write_text(json.dumps({"entries": entries, "sizes": sizes}))
    (out / "junk" / "deeper").mkdir(parents=True)
    for name in os.listdir(pfs):
        if name != "out":
            (pfs / name / f"left-by-{datum}.txt").write_text("leftover")
            (pfs / name / f"dir-by-{datum}").mkdir()
    (pfs / f"top-by-{datum}").mkdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
