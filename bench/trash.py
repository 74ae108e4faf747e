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

The same holds between two runs: the run at 23:17 UTC started two minutes after the previous one
had deleted its states, and its ingest took 34.1 CPU s, against DuckDB's 18.2 in the same run
(2.11x; 1.22x when the machine last ran DuckDB that fast, at 09:20). So ``empty_trash`` leaves a
stamp of when it deleted, and the next run waits until ``SETTLE_SECONDS`` have passed
(:func:`wait_for_deletions_to_settle`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

TRASH_PREFIX = ".trash-"
#: When ``empty_trash`` last deleted something in a folder (seconds since the epoch, as text).
DELETED_STAMP = ".bench-deleted-at"
#: How long a deletion slows file creation down: the longest window seen on ext4 here.
SETTLE_SECONDS = 360.0


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
    found = [p for p in parent.iterdir() if p.name.startswith(TRASH_PREFIX) and p.is_dir()]
    for trash in found:
        shutil.rmtree(trash, ignore_errors=True)
    if found:
        # full precision: a stamp rounded to the millisecond can be later than a time.time() after it
        (parent / DELETED_STAMP).write_text(f"{time.time()!r}\n", encoding="ascii")
    return len(found)


def last_deletion(parents: list[Path]) -> float | None:
    """When ``empty_trash`` last deleted in any of ``parents`` (seconds since the epoch), if ever."""
    found = []
    for parent in parents:
        try:
            found.append(float((parent / DELETED_STAMP).read_text(encoding="ascii")))
        except (OSError, ValueError):
            continue
    return max(found, default=None)


def wait_for_deletions_to_settle(
    parents: list[Path], echo: Callable[[str], None], settle: float = SETTLE_SECONDS
) -> float:
    """Sleep until ``settle`` seconds have passed since the last deletion in ``parents``; returns the
    seconds waited (0 when it was long enough ago, or never)."""
    deleted = last_deletion(parents)
    if deleted is None:
        return 0.0
    wait = settle - (time.time() - deleted)
    if wait <= 0:
        return 0.0
    echo(
        f"== waiting {wait:.0f} s: the previous run deleted its states {settle - wait:.0f} s ago, and "
        "files created within minutes of a large deletion are slower (bench/trash.py)"
    )
    time.sleep(wait)
    return wait
