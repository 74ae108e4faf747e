"""bench.trash: the previous run's folder is set aside in one rename and deleted later."""

from __future__ import annotations

from pathlib import Path

from bench.trash import TRASH_PREFIX, empty_trash, set_aside


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "scale-1.0"]
    assert empty_trash(tmp_path / "missing") == 0
