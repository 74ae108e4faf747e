"""The pachctl verbs a user reaches for: glob file / list file with a pattern, inspect file,
diff file, list branch, wait commit, inspect datum, logs --datum across jobs, progress of a
running job, and unknown names answered with the known ones.

Argument shapes follow pachctl's (src/server/pfs/cmds/cmds.go: ``glob file repo@branch:pattern``,
``diff file new-commit old-commit``, ``wait commit repo@branch``; src/server/pps/cmds/cmds.go:
``inspect datum pipeline@job datum``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, runner_argv, stage_cmd, write_files, write_spec

FILES = {"a/1.txt": "one\n", "a/2.txt": "two\n", "b/3.txt": "three\n", "top.txt": "top\n"}


def _setup(runner: Runner, tmp_path: Path, downstream: bool = False) -> Path:
    data = write_files(tmp_path / "data", FILES)
    specs = tmp_path / "specs"
    write_spec(specs, "copy", pfs("raw", "/*/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"))
    if downstream:
        write_spec(specs, "again", pfs("copy", "/", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"))
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(specs))
    return data


def test_glob_file_and_list_file_with_a_pattern(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    out = runner("glob", "file", "raw@master:/*/*", "--json").out
    assert [e["path"] for e in json.loads(out)] == ["/a/1.txt", "/a/2.txt", "/b/3.txt"]
    dirs = json.loads(runner("glob", "file", "raw@master:/*", "--json").out)
    assert {e["path"]: e["type"] for e in dirs} == {"/a": "dir", "/b": "dir", "/top.txt": "file"}
    assert next(e for e in dirs if e["path"] == "/a")["size_bytes"] == 8  # the files below it
    listed = runner("list", "file", "raw@master:/a/*").out
    assert "/a/1.txt" in listed and "/a/2.txt" in listed and "/b/3.txt" not in listed
    assert runner("glob", "file", "raw@master:/nothing*").out.splitlines() == ["NAME  TYPE  SIZE"]


def test_inspect_file_shows_size_and_content_hash(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    doc = json.loads(runner("inspect", "file", "raw@master:/a/1.txt", "--json").out)
    assert doc["type"] == "file" and doc["size_bytes"] == 4 and len(doc["hash"]) == 40
    folder = json.loads(runner("inspect", "file", "raw@master:/a", "--json").out)
    assert folder["type"] == "dir" and folder["files"] == 2 and folder["hash"] is None
    missing = runner("inspect", "file", "raw@master:/nope", expect=1)
    assert "raw@master:/nope: no such file or folder" in missing.err


def test_diff_file_against_the_parent_and_between_two_commits(runner: Runner, tmp_path: Path) -> None:
    data = _setup(runner, tmp_path)
    first = runner.inspect("raw@master")["id"]
    (data / "a" / "1.txt").write_text("ONE!\n")
    (data / "b" / "3.txt").unlink()
    (data / "b" / "4.txt").write_text("four\n")
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("delete", "file", "raw@master:/b/3.txt")
    diff = json.loads(runner("diff", "file", "raw@master", "--json").out)
    assert diff == [{"path": "/b/3.txt", "change": "deleted", "old_size": 6, "new_size": None}]
    both = json.loads(runner("diff", "file", "raw@master", f"raw@{first}", "--json").out)
    assert [(d["path"], d["change"]) for d in both] == [
        ("/a/1.txt", "changed"),
        ("/b/3.txt", "deleted"),
        ("/b/4.txt", "added"),
    ]
    only_a = json.loads(runner("diff", "file", "raw@master:/a", f"raw@{first}", "--json").out)
    assert [d["path"] for d in only_a] == ["/a/1.txt"]


def test_list_branch(runner: Runner, tmp_path: Path) -> None:
    _setup(runner, tmp_path)
    doc = json.loads(runner("list", "branch", "raw", "--json").out)
    assert doc == [{"branch": "master", "head": runner.inspect("raw@master")["id"]}]


def test_wait_commit_returns_once_everything_downstream_is_done(
    runner: Runner, tmp_path: Path, repo_root: Path
) -> None:
    _setup(runner, tmp_path, downstream=True)
    raw = runner.inspect("raw@master")["id"]
    # Nothing has run: waiting gives up at its timeout, naming what is pending.
    pending = runner("wait", "commit", "raw@master", "--timeout", "0.5", expect=1)
    assert "still pending after 0.5s: copy, again" in pending.err
    # A real waiter in another process returns when `run` has made both downstream commits.
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "--state",
            str(runner.state),
            "wait",
            "commit",
            f"raw@{raw}",
            "--json",
        ],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    assert waiter.poll() is None
    runner("run")
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    finished = json.loads(out)["finished"]
    assert finished == {
        "copy": runner.inspect("copy@master")["id"],
        "again": runner.inspect("again@master")["id"],
    }


def test_wait_commit_reports_a_failed_pipeline_downstream(runner: Runner, tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", FILES)
    spec = write_spec(tmp_path / "specs", "bad", pfs("raw", "/", "in"), stage_cmd("fail", "/pfs/in"))
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(spec))
    runner("run", expect=1)
    failed = runner("wait", "commit", "raw@master", "--timeout", "5", expect=1)
    assert "bad: job" in failed.err and "failure" in failed.err


def test_inspect_datum_and_logs_of_a_datum_a_later_job_skipped(runner: Runner, tmp_path: Path) -> None:
    data = _setup(runner, tmp_path)
    runner("run")
    datums = json.loads(runner("list", "datum", "copy", "--json").out)
    first_job = runner.jobs("copy")[0]["id"]
    kept = next(d for d in datums if d["inputs"][0]["matched"] == "/b/3.txt")["id"]
    (data / "a" / "1.txt").write_text("changed\n")
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("run")
    doc = json.loads(runner("inspect", "datum", "copy", kept, "--json").out)
    assert doc["state"] == "skipped" and doc["processed_by_job"] == first_job
    assert doc["files"] == ["in:/b/3.txt"]
    result = runner("logs", "-p", "copy", "--datum", kept)
    assert f"its log is from job {first_job}" in result.err
    assert all(line.startswith(kept) for line in result.out.splitlines())
    never = runner("logs", "-p", "copy", "--datum", "ffffffff", expect=1)
    assert "not run by any job of copy" in never.err


@pytest.mark.parametrize(
    ("argv", "unknown", "known"),
    [
        (["logs", "-p", "nosuch"], "pipeline 'nosuch' not found", "known pipelines: copy"),
        (["list", "job", "-p", "nosuch"], "pipeline 'nosuch' not found", "known pipelines: copy"),
        (["list", "commit", "nosuch"], "repo 'nosuch' not found", "known repos: copy, raw"),
        (
            ["inspect", "commit", "raw@nosuch"],
            "raw@nosuch: no such branch or commit",
            "known branches: master",
        ),
        (["inspect", "job", "nosuch"], "job 'nosuch': no such job", "known jobs (newest first): "),
        (["inspect", "pipeline", "nosuch"], "pipeline 'nosuch' not found", "known pipelines: copy"),
        (["glob", "file", "nosuch@master:/*"], "repo 'nosuch' not found", "known repos: copy, raw"),
    ],
)
def test_unknown_names_are_named_with_the_known_ones(
    runner: Runner, tmp_path: Path, argv: list[str], unknown: str, known: str
) -> None:
    _setup(runner, tmp_path)
    runner("run")
    result = runner(*argv, expect=1)
    assert unknown in result.err and known in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_list_job_shows_the_progress_of_a_running_job(runner: Runner, tmp_path: Path) -> None:
    """The slow stage prints a line, then sleeps: list job shows done/total and that line."""
    data = write_files(tmp_path / "data", {"x/1.txt": "1\n"})
    spec = write_spec(
        tmp_path / "specs",
        "slow",
        pfs("raw", "/*/*", "in"),
        ["sh", "-c", "echo 'epoch 3 of 10'; sleep 3; cp -r /pfs/in/. /pfs/out/"],
    )
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(spec))
    # The job runs in a child process, so this one can look at it while it runs.
    proc = subprocess.Popen(
        runner_argv(runner.state, "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        seen = ""
        while time.monotonic() < deadline and "epoch 3 of 10" not in seen:
            time.sleep(0.2)
            seen = runner("list", "job", expect=None).out
        assert "slow job" in seen and "running: 0/1 | epoch 3 of 10" in seen, seen
        job = runner.jobs("slow")[0]["id"]
        doc = json.loads(runner("inspect", "job", job, "--json").out)
        assert doc["progress"]["total"] == 1 and doc["progress"]["last_log_lines"] == ["epoch 3 of 10"]
    finally:
        assert proc.wait(timeout=60) == 0
    assert "running:" not in runner("list", "job").out


def test_logs_and_failures_name_repo_paths_not_staging_folders(runner: Runner, tmp_path: Path) -> None:
    """Issue 16.8: a datum's log names its files as ``repo@commit:/path`` (stable run to run), never
    the temporary folder the datum was staged in."""
    data = write_files(tmp_path / "data", {"a/1.txt": "one\n"})
    cmd = ["sh", "-c", "echo reading /pfs/in/a/1.txt; ls /pfs/in/a/1.txt; exit 3"]
    spec = write_spec(tmp_path / "specs", "bad", pfs("raw", "/*/*", "in"), cmd, datumTries=1)
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(spec))
    failed = runner("run", expect=1)
    raw = runner.inspect("raw@master")["id"]
    assert f"raw@{raw}:/a/1.txt" in failed.err
    log = runner("logs", "-p", "bad").out
    assert f"reading raw@{raw}:/a/1.txt" in log
    assert "stockpipe-pfs" not in log + failed.err and "/.work/" not in log + failed.err
