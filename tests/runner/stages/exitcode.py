"""``exitcode OUT IN``: copy the files, say whether it runs warm, exit with the number a file holds."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.runner.stages.common import copy_tree, files_under


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, root = Path(args[0]), Path(args[1])
    # A warm datum runs inside a runner worker, which has imported the runner; a subprocess has not.
    print(f"warm: {'runner.warm' in sys.modules}", file=sys.stderr)
    copy_tree(root, out)
    return max(int(f.read_text()) for f in files_under(root))


if __name__ == "__main__":
    raise SystemExit(main())
