"""specs/ingest.json: the contract of issue #3, and valid for the local runner's strict checker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from runner.spec import load_spec
from stages.ingest.ingest import main


def test_ingest_spec_contract(repo_root: Path) -> None:
    spec = json.loads((repo_root / "specs" / "ingest.json").read_text())
    assert spec["pipeline"]["name"] == "ingest"
    assert spec["description"]
    cross = spec["input"]["cross"]
    assert [c["pfs"] for c in cross] == [
        {"name": "prices", "repo": "raw", "glob": "/*/*"},
        {"name": "meta", "repo": "raw", "glob": "/symbols_valid_meta.csv"},
    ]
    assert spec["transform"]["image"] == "stockpipe/ingest:0.1.0"
    assert spec["transform"]["cmd"] == [
        *("python3", "-m", "stages.ingest", "--prices", "/pfs/prices"),
        *("--meta", "/pfs/meta", "--out", "/pfs/out"),
    ]
    assert spec["parallelismSpec"]["constant"] >= 2
    assert spec["datumTimeout"] == "600s" and spec["datumTries"] >= 1
    assert set(spec["resourceRequests"]) == {"cpu", "memory"}


def test_ingest_spec_passes_the_runner_checker(repo_root: Path) -> None:
    spec = load_spec(repo_root / "specs" / "ingest.json")
    assert spec.name == "ingest"


def test_ingest_through_the_local_runner(repo_root: Path, sample_dir: Path, tmp_path: Path) -> None:
    """The real spec on the real sample: one datum per file, warm workers, same output as a direct run."""
    env = {**os.environ, "PFS_STATE": str(tmp_path / "pfs")}

    def runner(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=repo_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    runner("put", "file", "-r", "raw@master:/", "-f", str(sample_dir))
    runner("create", "pipeline", "-f", "specs/ingest.json")
    runner("run")
    head = tmp_path / "pfs" / "ingest" / "master"
    direct = tmp_path / "direct"
    assert main(["--prices", str(sample_dir), "--meta", str(sample_dir), "--out", str(direct)]) == 0
    for path in sorted(direct.rglob("*.parquet")):
        assert pq.read_table(head / path.relative_to(direct)).equals(pq.read_table(path)), path
    assert sorted(p.relative_to(head) for p in head.rglob("*.json")) == sorted(
        p.relative_to(direct) for p in direct.rglob("*.json")
    )
    assert len(list(head.glob("*/*.parquet"))) == 14
