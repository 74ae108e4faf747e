"""Integrity of the object store: no verb uses a committed file whose bytes changed.

Branch heads are hard links into the object store, so writing through ``<repo>/master/...``
(as root, or after a chmod) changes the object of every commit holding it. Each verb that
reads a commit's files checks size and mtime of every object it uses (runner/objects.py
``ObjectStore.check``) and refuses with one line naming the file, the commit and the repair;
``runner fsck`` re-hashes everything and ``--repair`` restores from a copy or marks the commit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, stage_cmd, write_files, write_spec

FILES = {"A.csv": "a,1\na,2\n", "B.csv": "b,1\n", "sub/C.csv": "c,1\nc,2\nc,3\n"}


def _setup(runner: Runner, tmp_path: Path) -> Path:
    data = write_files(tmp_path / "data", FILES)
    spec = write_spec(
        tmp_path / "specs", "copy", pfs("raw", "/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in")
    )
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    return data


def _append_through_head(runner: Runner, repo: str, rel: str, text: str = "x\n") -> None:
    head_file = runner.state / repo / "master" / rel
    with open(head_file, "a") as fh:  # root ignores the 0444 mode, as the issue's `echo x >>` did
        fh.write(text)


def test_an_edit_through_a_head_is_refused_by_run_get_and_put(runner: Runner, tmp_path: Path) -> None:
    data = _setup(runner, tmp_path)
    commit = runner.inspect("raw@master")["id"]
    _append_through_head(runner, "raw", "A.csv")
    for argv in (["run"], ["get", "file", "raw@master:/A.csv"]):
        err = runner(*argv, expect=1).err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"raw@{commit}:/A.csv: changed after it was committed" in err
        assert "fsck --repair" in err
    # a reprocess would build outputs from the edited bytes: refused too
    runner("update", "pipeline", "-f", str(tmp_path / "specs"), "--reprocess")
    assert "raw@" in runner("run", expect=1).err
    # putting another file keeps A.csv from the head: refused, naming it
    write_files(tmp_path / "more", {"D.csv": "d,1\n"})
    assert (
        "/A.csv: changed"
        in runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "more"), expect=1).err
    )
    # putting the original back restores the object in place: the head folder is right again
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    assert (runner.state / "raw" / "master" / "A.csv").read_text() == FILES["A.csv"]
    assert runner("fsck").code == 0
    assert "1 datums" not in runner("run").err
    assert runner.head_files("copy")["A.csv"] == FILES["A.csv"]


def test_an_edit_that_keeps_the_size_is_seen(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    head_file = runner.state / "raw" / "master" / "B.csv"
    with open(head_file, "r+") as fh:
        fh.write("B")  # same size, other bytes: only the modification time tells
    err = runner("get", "file", "raw@master:/B.csv", expect=1).err
    assert "/B.csv: changed after it was committed (modified in place)" in err


def test_fsck_rehashes_and_repair_marks_what_no_copy_holds(runner: Runner, tmp_path: Path) -> None:
    data = _setup(runner, tmp_path)
    commit = runner.inspect("raw@master")["id"]
    assert runner("fsck").code == 0
    _append_through_head(runner, "raw", "sub/C.csv")
    found = runner("fsck", expect=1)
    assert f"raw@{commit}:/sub/C.csv: its bytes differ from what was committed" in found.err
    repaired = runner("fsck", "--repair", expect=1)
    assert "no copy holds them" in repaired.err, repaired.err
    assert "put file raw@master:/sub/C.csv -f <the original file>" in repaired.err
    assert "copy@" in repaired.err, "the commits made from it are named"
    assert "/sub/C.csv" in runner("run", expect=1).err
    runner("put", "file", "raw@master:/sub/C.csv", "-f", str(data / "sub" / "C.csv"))
    assert runner("fsck", "--repair").code == 0
    assert runner("fsck").code == 0


def test_repair_restores_from_a_copy(runner: Runner, tmp_path: Path) -> None:
    """A tree holding a copy (made across file systems) keeps the bytes: repair restores them, in
    place, so every tree linking to the object is right again."""
    data = _setup(runner, tmp_path)
    old = runner.inspect("raw@master")["id"]
    write_files(data, {"E.csv": "e,1\n"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    old_tree_file = runner.state / "raw" / "trees" / old / "A.csv"
    copy = old_tree_file.with_name("copy.tmp")
    shutil.copyfile(old_tree_file, copy)
    os.replace(copy, old_tree_file)  # the old commit's tree now holds a copy, not a link
    _append_through_head(runner, "raw", "A.csv")
    assert runner("fsck", expect=1).code == 1
    out = runner("fsck", "--repair").out
    assert f"restored from {old_tree_file}" in out
    assert (runner.state / "raw" / "master" / "A.csv").read_text() == FILES["A.csv"]
    assert runner("fsck").code == 0


def test_a_head_file_replaced_by_a_new_file_is_linked_again(runner: Runner, tmp_path: Path) -> None:
    """An editor that writes a new file and renames it over the head's file leaves the object intact;
    fsck sees that the head folder no longer shows the commit, --repair links it again."""
    _setup(runner, tmp_path)
    head_file = runner.state / "raw" / "master" / "B.csv"
    tmp = head_file.with_name("B.new")
    tmp.write_text("edited\n")
    os.replace(tmp, head_file)
    assert runner("get", "file", "raw@master:/B.csv").out == FILES["B.csv"], "the object is intact"
    assert "/B.csv: missing or not raw@" in runner("fsck", expect=1).err
    assert "linked again" in runner("fsck", "--repair").out
    assert head_file.read_text() == FILES["B.csv"]


def test_a_lost_output_is_remade_by_the_next_run(runner: Runner, tmp_path: Path) -> None:
    write_files(tmp_path / "data", FILES)
    spec = write_spec(tmp_path / "specs", "env", pfs("raw", "/*", "in"), stage_cmd("env", "/pfs/out", "in"))
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    name = sorted(runner.head_files("env"))[0]
    _append_through_head(runner, "env", name)
    err = runner("fsck", "--repair", expect=1).err
    assert f"/{name}: its bytes differ" in err and "python -m runner run" in err, err
    assert "3 datums, 1 processed, 2 skipped" in runner("run").out
    assert runner.head_files("env")[name].endswith("}")
    assert runner("fsck", "--repair").code == 0


def test_objects_of_an_older_store_are_stamped_by_repair(runner: Runner, tmp_path: Path) -> None:
    """A store made before objects were stamped (no ``.stamped`` marker, arbitrary mtimes) is
    checked by size until ``fsck --repair`` has re-hashed and stamped it."""
    _setup(runner, tmp_path)
    objects = runner.state / ".objects"
    (objects / ".stamped").unlink()
    for obj in objects.glob("??/*"):
        os.utime(obj, (1_700_000_000, 1_700_000_000))
    runner("get", "file", "raw@master:/A.csv")
    out = runner("fsck", "--repair").out
    assert "re-hashed and stamped" in out
    assert (objects / ".stamped").exists()
    runner("get", "file", "raw@master:/A.csv")
