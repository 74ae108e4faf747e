"""``pair OUT NAME...``: one output file per datum, named after the matched file of each input.

Reads the matched path of each input from the environment variable named like the input
(as Pachyderm sets it), writes ``OUT/<base1>_<base2>...`` with the files' contents joined
(``_``, not ``+``: Pachyderm refuses ``+`` in file names).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, names = Path(args[0]), args[1:]
    matched = [Path(os.environ[name]) for name in names]
    target = out / "_".join(p.name for p in matched)
    target.write_text("".join(p.read_text() for p in matched))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
