"""Concurrent ``put file``: serialized by the commit lock, every put lands, a killed put leaves no
corruption, and a put is accepted while ``run`` holds the jobs lock.

As in Pachyderm, each put is its own commit on the branch head the previous one left (no lost
update), files are content-addressed and written under temporary names, so an interrupted put
leaves the head as it was (pachyderm src/internal/storage: chunks and filesets are immutable and
referenced only once complete).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, runner_argv, stage_cmd, write_files, write_spec

PUTS = 6


def _put_process(state: Path, repo_root: Path, source: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        runner_argv(state, "put", "file", "-r", "raw@master:/", "-f", str(source)),
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _check_consistent(runner: Runner) -> list[dict]:
    """Every commit's tree matches its manifest and every manifest's object exists."""
    commits = json.loads(runner("list", "commit", "raw", "--json").out)
    for c in commits:
        manifest = json.loads((runner.state / "raw" / "commits" / f"{c['id']}.files.json").read_text())
        tree = runner.state / "raw" / "trees" / c["id"]
        on_disk = {"/" + str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()}
        assert on_disk == set(manifest), f"tree of {c['id']} differs from its manifest"
        for digest, size in manifest.values():
            obj = runner.state / ".objects" / digest[:2] / digest[2:]
            assert obj.stat().st_size == size
    return commits


def test_concurrent_puts_all_land(runner: Runner, tmp_path: Path, repo_root: Path) -> None:
    runner("create", "repo", "raw")
    sources = [
        write_files(tmp_path / f"src{i}", {f"p{i}/f{j}.txt": f"{i}-{j}\n" for j in range(40)})
        for i in range(PUTS)
    ]
    procs = [_put_process(runner.state, repo_root, s) for s in sources]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    commits = _check_consistent(runner)
    assert len(commits) == PUTS
    head = runner.head_files("raw")
    assert len(head) == PUTS * 40 and all(
        head[f"p{i}/f{j}.txt"] == f"{i}-{j}\n" for i in range(PUTS) for j in range(40)
    )
    # each commit holds its parent's files plus one put's: nothing overwritten by a stale head
    sizes = sorted(c["files"] for c in commits)
    assert sizes == [40 * k for k in range(1, PUTS + 1)]


def test_a_put_killed_midway_leaves_no_corruption(runner: Runner, tmp_path: Path, repo_root: Path) -> None:
    spec = write_spec(
        tmp_path / "specs", "copy", pfs("raw", "/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in")
    )
    runner("create", "repo", "raw")  # pachd refuses a pipeline over a missing repo
    runner("create", "pipeline", "-f", str(spec))
    big = tmp_path / "big"
    big.mkdir()
    for i in range(200):  # enough to be caught while copying
        (big / f"b{i:03d}.bin").write_bytes(os.urandom(256 * 1024))
    small = [write_files(tmp_path / f"small{i}", {f"s{i}.txt": f"small {i}\n"}) for i in range(3)]
    victim = _put_process(runner.state, repo_root, big)
    others = [_put_process(runner.state, repo_root, s) for s in small]
    objects = runner.state / ".objects"
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and not list(objects.glob(f".tmp-{victim.pid}-*"))
        and victim.poll() is None
    ):
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    for proc in others:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert victim.returncode == -signal.SIGKILL, "the big put finished before it could be killed"
    commits = _check_consistent(runner)
    assert len(commits) == 3 and runner.head_files("raw") == {f"s{i}.txt": f"small {i}\n" for i in range(3)}
    assert "3 datums, 3 processed" in runner("run").out
    assert not list(objects.glob(".tmp-*")), "the dead put's partial object was not recovered"
    runner("put", "file", "-r", "raw@master:/", "-f", str(big))  # the same put, again, completes
    assert len(_check_consistent(runner)) == 4


def test_put_and_delete_are_accepted_while_run_runs_a_job(
    runner: Runner, tmp_path: Path, repo_root: Path
) -> None:
    spec = write_spec(
        tmp_path / "specs", "slow", pfs("raw", "/", "in"), stage_cmd("slow", "/pfs/out", "/pfs/in", "3")
    )
    runner("create", "repo", "raw")  # pachd refuses a pipeline over a missing repo
    runner("put", "file", "-r", "raw@master:/", "-f", str(write_files(tmp_path / "a", {"a.txt": "a\n"})))
    runner("create", "pipeline", "-f", str(spec))
    first = runner.inspect("raw@master")["id"]
    run = subprocess.Popen(
        runner_argv(runner.state, "run"),
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((runner.state / ".jobs").glob("*/job.json")):
        time.sleep(0.02)
    runner("put", "file", "-r", "raw@master:/", "-f", str(write_files(tmp_path / "b", {"b.txt": "b\n"})))
    runner("delete", "file", "raw@master:/a.txt")
    assert run.poll() is None, "the put and the delete waited for the run to end"
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err.decode()
    # run takes every new commit until none is left: the first job on the first commit, then the head
    assert out.decode().count("slow: job") >= 2
    commits = json.loads(runner("list", "commit", "slow", "--json").out)
    assert commits[-1]["provenance"][0]["commit"] == first
    assert sorted(p.name for p in (runner.state / "slow" / "trees" / commits[-1]["id"]).iterdir()) == [
        "a.txt"
    ]
    assert commits[0]["provenance"][0]["commit"] == runner.inspect("raw@master")["id"]
    assert runner.head_files("slow") == {"b.txt": "b\n"}
