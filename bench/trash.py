"""Set the previous run's files aside now, delete them once the measured pipeline run is over.

Deleting a folder of ~100,000 files right before a measured run slows the run down on ext4
without a journal (this project's test machines): there, creating a file scans past every inode
freed in the last 60-360 s of its block group, so each file a stage writes pays for the
deletion. Renaming the folder is one operation; ``make bench`` sets aside every state it replaces
(the previous run's, the executor comparison's, the live loop's) and deletes them all after its
last case, so no measured case follows a large deletion. One did: the executor comparison
deleted its two states (about 50,000 files) right before the live loop's case, whose first run
then took 104.0 s (ingest 44.1 s in it, against 23.2 s in the same run's `run` a few minutes
earlier), on 2026-12-01 at 20:21 UTC.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

TRASH_PREFIX = ".trash-"


def set_aside(path: Path) -> Path | None:
    """Rename ``path`` (if it exists) to a hidden trash folder beside it; returns the new path."""
    if not path.exists():
        return None
    trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{os.getpid()}-{time.time_ns()}")
    os.replace(path, trash)
    return trash


def empty_trash(parent: Path) -> int:
    """Delete every trash folder in ``parent`` (left by ``set_aside``); returns how many."""
    if not parent.is_dir():
        return 0
    found = [p for p in parent.iterdir() if p.name.startswith(TRASH_PREFIX)]
    for trash in found:
        shutil.rmtree(trash, ignore_errors=True)
    return len(found)
