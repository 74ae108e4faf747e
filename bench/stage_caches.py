"""The stages' own caches, emptied before each case that measures a first run.

train keeps a cache of its read in the folder its cmd names with ``--cache-dir``
(stages/train/read_cache.py). The synthetic dataset of one seed converts to the same features
files every time, so a cache left by an earlier case (or an earlier ``make bench``) would make a
"first" train job find every file cached, which no first run does. The folders hold a few large
files, not the ~100,000 small ones bench/trash.py sets aside, so they are deleted at once.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from runner.spec import load_specs

CACHE_OPTION = "--cache-dir"


def cache_folders(specs: Path) -> list[Path]:
    """Every folder a spec's cmd passes as ``--cache-dir``."""
    found = []
    for spec in load_specs(specs):
        cmd = list(spec.cmd)
        found += [Path(cmd[at + 1]) for at, word in enumerate(cmd[:-1]) if word == CACHE_OPTION]
    return found


def empty_stage_caches(specs: Path, echo: Callable[[str], None]) -> None:
    """Delete the caches of ``specs``'s stages (on this machine: the local executor's datums write
    them here; a docker executor's die with their containers)."""
    for folder in cache_folders(specs):
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            echo(f"    emptied the stage cache {folder}")
