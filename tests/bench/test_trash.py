"""bench.trash: the previous run's folder is set aside in one rename and deleted later."""

from __future__ import annotations

import time
from pathlib import Path

from bench.trash import (
    DELETED_STAMP,
    TRASH_PREFIX,
    empty_trash,
    last_deletion,
    set_aside,
    wait_for_deletions_to_settle,
)


def test_set_aside_renames_and_empty_trash_deletes_only_trash(tmp_path: Path) -> None:
    work = tmp_path / "scale-1.0"
    (work / "pfs" / "raw").mkdir(parents=True)
    (work / "pfs" / "raw" / "a.csv").write_text("x")
    (tmp_path / "keep").mkdir()
    trash = set_aside(work)
    assert trash is not None and trash.parent == tmp_path and trash.name.startswith(TRASH_PREFIX)
    assert not work.exists() and (trash / "pfs" / "raw" / "a.csv").read_text() == "x"
    work.mkdir()  # the fresh folder can be made at once
    assert set_aside(tmp_path / "missing") is None
    assert empty_trash(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [DELETED_STAMP, "keep", "scale-1.0"]
    assert empty_trash(tmp_path / "missing") == 0


def test_the_next_run_waits_until_a_deletion_has_settled(tmp_path: Path) -> None:
    """empty_trash stamps when it deleted; a run starting sooner than the settle time after it
    waits for the rest (files created within minutes of a deletion are slower here)."""
    lines: list[str] = []
    assert last_deletion([tmp_path]) is None
    assert wait_for_deletions_to_settle([tmp_path], lines.append, settle=5) == 0.0
    set_aside_folder = tmp_path / "state"
    set_aside_folder.mkdir()
    set_aside(set_aside_folder)
    before = time.time()
    assert empty_trash(tmp_path) == 1
    deleted = last_deletion([tmp_path, tmp_path / "missing"])
    assert deleted is not None and before - 1 <= deleted <= time.time()
    started = time.monotonic()
    # 2 s of settling: a busy machine may take a while between the deletion and this call
    waited = wait_for_deletions_to_settle([tmp_path], lines.append, settle=2.0)
    assert 0 < waited <= 2.0 and time.monotonic() - started >= waited - 0.05
    assert len(lines) == 1
    assert lines[0].startswith(f"== waiting {waited:.0f} s: the previous run deleted its states")
    assert wait_for_deletions_to_settle([tmp_path], lines.append, settle=2.0) == 0.0  # settled now
