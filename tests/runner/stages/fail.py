"""``fail OUT IN``: copy files, but stop with a one-line error on a file that contains ``bad``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tests.runner.stages.common import copy_tree, files_under

log = logging.getLogger("fail-stage")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True, format="%(message)s")
    args = sys.argv[1:] if argv is None else argv
    out, root = Path(args[0]), Path(args[1])
    for f in files_under(root):
        log.info("checking %s", f.name)
        if "bad" in f.read_text():
            print(f"fail: {f.relative_to(root)} line 1: content is bad", file=sys.stderr)
            return 1
    copy_tree(root, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
