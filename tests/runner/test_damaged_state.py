"""A damaged state folder gives one line naming the file and what to run, never a traceback:
truncated records, a deleted object, a read-only folder, a full disk (real tmpfs mounts when
this runs as root, else those two tests say why they skip)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, runner_argv, stage_cmd, write_files, write_spec

FILES = {"A.csv": "a,1\n", "B.csv": "b,1\nb,2\n"}


def _setup(runner: Runner, tmp_path: Path) -> Path:
    data = write_files(tmp_path / "data", FILES)
    spec = write_spec(tmp_path / "specs", "env", pfs("raw", "/*", "in"), stage_cmd("env", "/pfs/out", "in"))
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    return data


def _one_line(err: str, *names: str) -> None:
    assert "Traceback" not in err and err.count("\n") == 1, err
    for name in names:
        assert name in err, err


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def test_a_truncated_commit_record(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    commit = runner.inspect("raw@master")["id"]
    record = runner.state / "raw" / "commits" / f"{commit}.json"
    _truncate(record)
    _one_line(runner("inspect", "commit", "raw@master", expect=1).err, str(record), "fsck --repair")
    _one_line(runner("list", "commit", "raw", expect=1).err, str(record))
    assert str(record) in runner("fsck", expect=1).err
    assert "rebuilt from its manifest" in runner("fsck", "--repair").out
    assert runner.inspect("raw@master")["files"] == 2
    runner("run")


def test_a_truncated_manifest_is_rebuilt_from_its_tree(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    commit = runner.inspect("raw@master")["id"]
    manifest = runner.state / "raw" / "commits" / f"{commit}.files.json"
    good = json.loads(manifest.read_text())
    _truncate(manifest)
    _one_line(runner("list", "file", "raw@master:/", expect=1).err, str(manifest))
    _one_line(runner("run", expect=1).err, str(manifest))
    write_files(tmp_path / "more", {"C.csv": "c\n"})
    _one_line(
        runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "more"), expect=1).err, str(manifest)
    )
    assert "rebuilt from its tree (2 files)" in runner("fsck", "--repair").out
    assert json.loads(manifest.read_text()) == good
    assert "nothing to do" in runner("run").out


def test_a_truncated_pipeline_record_does_not_block_its_repair(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    record = runner.state / ".pipelines" / "env.json"
    _truncate(record)
    _one_line(runner("run", expect=1).err, str(record), "fsck")
    _one_line(runner("list", "pipeline", expect=1).err, str(record))
    assert "update pipeline -f" in runner("fsck", expect=1).err
    runner("update", "pipeline", "-f", str(tmp_path / "specs"))  # rewrites it
    runner("run")
    _truncate(record)
    runner("delete", "pipeline", "env")  # or removes it
    assert not record.exists()
    assert runner("fsck").code == 0


def test_a_truncated_job_record(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    job_id = runner.jobs("env")[0]["id"]
    record = runner.state / ".jobs" / job_id / "job.json"
    _truncate(record)
    _one_line(runner("inspect", "job", job_id[:12], expect=1).err, str(record))
    assert str(record) in runner("fsck", expect=1).err
    assert "rewritten as a killed job of env" in runner("fsck", "--repair").out
    assert json.loads(runner("inspect", "job", job_id[:12], "--json").out)["state"] == "killed"


def test_a_truncated_repo_record_and_datum_list(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    repo_record = runner.state / "raw" / "repo.json"
    job_id = runner.jobs("env")[0]["id"]
    datum_list = runner.state / ".jobs" / job_id / "datums.json"
    _truncate(repo_record)
    _truncate(datum_list)
    _one_line(runner("list", "repo", expect=1).err, str(repo_record))
    _one_line(runner("list", "datum", "env", expect=1).err, str(datum_list))
    err = runner("fsck", expect=1).err
    assert str(repo_record) in err and str(datum_list) in err
    out = runner("fsck", "--repair").out
    assert "rebuilt (user repo)" in out and "removed (list datum shows nothing" in out
    assert "raw" in runner("list", "repo").out
    runner("list", "datum", "env")


def test_a_deleted_input_object_is_restored_from_its_tree(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    commit = runner.inspect("raw@master")["id"]
    digest = json.loads(runner("inspect", "file", "raw@master:/A.csv", "--json").out)["hash"]
    (runner.state / ".objects" / digest[:2] / digest[2:]).unlink()
    runner("update", "pipeline", "-f", str(tmp_path / "specs"), "--reprocess")
    _one_line(
        runner("run", expect=1).err, f"raw@{commit}:/A.csv: its stored bytes are missing", "fsck --repair"
    )
    assert "restored from" in runner("fsck", "--repair").out
    assert "2 processed" in runner("run").out


def test_a_deleted_output_object_reruns_its_datum(runner: Runner, tmp_path: Path) -> None:
    """Today the datum cache names the deleted output and every later run fails; now the datum runs again."""
    data = _setup(runner, tmp_path)
    name = sorted(runner.head_files("env"))[0]
    digest = json.loads(runner("inspect", "file", f"env@master:/{name}", "--json").out)["hash"]
    (runner.state / ".objects" / digest[:2] / digest[2:]).unlink()
    write_files(data, {"C.csv": "c\n"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    assert "3 datums, 2 processed, 1 skipped" in runner("run").out


# -- read-only and full file systems (real mounts) ------------------------------------------------
@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (read-only and full file systems)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_read_only_state_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _tmpfs(tmp_path / "mnt", "4m") as mnt:
        ro = Runner(mnt / "pfs", capsys)
        _setup(ro, tmp_path)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        write_files(tmp_path / "more", {"C.csv": "c\n"})
        err = ro("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "more"), expect=1).err
        _one_line(err, "Read-only file system", "use a writable --state folder")
        _one_line(ro("run", expect=1).err, "Read-only file system")
        assert "raw" in ro("list", "repo").out  # readers still work
        assert ro("get", "file", "raw@master:/A.csv").out == FILES["A.csv"]
        assert ro.inspect("raw@master")["files"] == 2


def test_a_state_folder_the_user_cannot_write(tmp_path: Path, repo_root: Path) -> None:
    """EACCES: the state belongs to root, the verb runs as ``nobody`` (a real permission check)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run a verb as another user")
    shared = Path(tempfile.mkdtemp(dir="/tmp", prefix="runner-eacces-"))
    try:
        shared.chmod(0o755)
        state = shared / "pfs"
        subprocess.run(runner_argv(state, "create", "repo", "raw"),
                       cwd=repo_root, check=True, capture_output=True)  # fmt: skip
        (shared / "A.csv").write_text(FILES["A.csv"])
        (shared / "A.csv").chmod(0o644)
        as_nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "runner",
        ]
        put_argv = [
            *as_nobody,
            "--state",
            str(state),
            "put",
            "file",
            "raw@master:/A.csv",
            "-f",
            str(shared / "A.csv"),
        ]
        put = subprocess.run(put_argv, cwd=repo_root, capture_output=True, text=True, check=False)
        assert put.returncode == 1
        _one_line(put.stderr, "Permission denied", "use a --state folder you can write")
        listed = subprocess.run([*as_nobody, "--state", str(state), "list", "repo"], cwd=repo_root,
                                capture_output=True, text=True, check=False)  # fmt: skip
        assert listed.returncode == 0 and "raw" in listed.stdout
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_a_full_disk_fails_a_put_cleanly_and_a_smaller_put_then_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _tmpfs(tmp_path / "mnt", "2m") as mnt:
        full = Runner(mnt / "pfs", capsys)
        big = tmp_path / "big"
        for i in range(6):
            write_files(big, {f"f{i}.bin": os.urandom(400_000).hex()[:400_000]})
        err = full("put", "file", "-r", "raw@master:/", "-f", str(big), expect=1).err
        _one_line(err, "No space left on device", "python -m runner gc")
        assert full("list", "commit", "raw", "--json").out.strip() == "[]", "nothing half-committed"
        objects = mnt / "pfs" / ".objects"
        assert not [p for p in objects.rglob("*") if p.is_file() and p.name != ".stamped"], "space freed"
        small = write_files(tmp_path / "small", {"s.csv": "s,1\n" * 1000})
        full("put", "file", "-r", "raw@master:/", "-f", str(small))
        assert full.head_files("raw") == {"s.csv": "s,1\n" * 1000}


def test_a_killed_put_leaves_objects_the_next_verb_removes(runner: Runner, tmp_path: Path) -> None:
    """SIGKILL can stop a put between storing objects and committing: its journal names them."""
    _setup(runner, tmp_path)
    objects = runner.state / ".objects"
    orphan = objects / "ff" / ("f" * 38)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"an object of a killed put")
    (objects / ".put-999999999-dead").write_text("f" * 40 + "\n")
    write_files(tmp_path / "more", {"C.csv": "c\n"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "more"))
    assert not orphan.exists() and not (objects / ".put-999999999-dead").exists()


def test_gc_removes_unreferenced_objects_only(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    write_files(tmp_path / "other", {"X.csv": "x,1\n"})
    runner("create", "repo", "scratch")
    runner("put", "file", "-r", "scratch@master:/", "-f", str(tmp_path / "other"))
    runner("delete", "repo", "scratch")
    assert "1 unreferenced object(s)" in runner("fsck").out
    out = runner("gc").out
    assert "removed 1 unreferenced object(s)" in out, out
    assert runner("fsck").code == 0 and "unreferenced" not in runner("fsck").out
    assert "nothing to do" in runner("run").out
    runner("update", "pipeline", "-f", str(tmp_path / "specs"), "--reprocess")
    runner("run")


def test_a_run_that_fills_the_disk_fails_in_one_line_and_the_next_one_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """This held before the integrity work too (the stage's own error is the datum's failure line);
    kept as a guard beside the put on a full disk."""
    with _tmpfs(tmp_path / "mnt", "2m") as mnt:
        full = Runner(mnt / "pfs", capsys)
        write_files(tmp_path / "data", {"A.csv": "a\n"})
        specs = tmp_path / "specs"
        write_spec(
            specs, "big", pfs("raw", "/*", "in"), ["sh", "-c", "head -c 3000000 /dev/zero > /pfs/out/big"]
        )
        full("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
        full("create", "pipeline", "-f", str(specs))
        err = full("run", expect=1).err
        _one_line(err, "No space left on device")
        write_spec(
            specs, "big", pfs("raw", "/*", "in"), ["sh", "-c", "head -c 300000 /dev/zero > /pfs/out/big"]
        )
        full("update", "pipeline", "-f", str(specs))
        full("run")
        assert (mnt / "pfs" / "big" / "master" / "big").stat().st_size == 300_000
