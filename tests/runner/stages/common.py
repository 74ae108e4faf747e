"""Helpers shared by the test stages."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

#: Set once per process, when this module is first imported: warm datums of one worker share it.
LOADED_TOKEN = os.urandom(8).hex()


def files_under(root: Path) -> Iterator[Path]:
    """Every file below ``root`` (staged input files are hard links), sorted."""
    yield from sorted(p for p in root.rglob("*") if p.is_file())


def copy_tree(src_root: Path, out: Path) -> int:
    """Copy the files under ``src_root`` to the same relative paths under ``out``."""
    count = 0
    for f in files_under(src_root):
        dst = out / f.relative_to(src_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
        shutil.copyfile(f, tmp)
        os.replace(tmp, dst)
        count += 1
    return count
