"""``env OUT VAR...``: write the datum's values of VARs to ``OUT/<PACH_DATUM_ID>.json``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.runner.stages import common


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, names = Path(args[0]), args[1:]
    values = {name: os.environ.get(name) for name in names}
    values["argv"] = sys.argv
    values["cwd"] = os.getcwd()
    values["pid"] = os.getpid()
    values["loaded_token"] = common.LOADED_TOKEN
    (out / f"{os.environ['PACH_DATUM_ID']}.json").write_text(json.dumps(values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
