"""Through the local runner with the real specs: a changed symbol CSV reprocesses only its own datums."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest


class Runner:
    def __init__(self, repo_root: Path, state: Path) -> None:
        self.repo_root = repo_root
        self.env = {**os.environ, "PFS_STATE": str(state)}

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=self.repo_root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"runner {' '.join(args)}: {done.stderr}"
        return done.stdout

    def datums(self, pipeline: str) -> dict[str, str]:
        """Matched input path of each datum of the pipeline's latest job -> its state."""
        rows = json.loads(self("list", "datum", "--json", pipeline))
        return {
            ",".join(i["matched"] for i in row["inputs"] if i["name"] != "meta"): row["state"] for row in rows
        }


@pytest.fixture(scope="module")
def pipeline(
    repo_root: Path, sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Runner, Path]:
    work = tmp_path_factory.mktemp("features-incremental")
    runner = Runner(repo_root, work / "pfs")
    runner("put", "file", "-r", "raw@master:/", "-f", str(sample_dir))
    runner("create", "pipeline", "-f", str(repo_root / "specs" / "ingest.json"))
    runner("create", "pipeline", "-f", str(repo_root / "specs" / "features.json"))
    runner("run")
    datums = runner.datums("features")
    assert len(datums) == 16 and set(datums.values()) == {"success"}  # 14 symbols + 2 _quality folders
    return runner, work


def changed_csv(sample_dir: Path, work: Path, edit) -> Path:
    lines = (sample_dir / "stocks" / "AAL.csv").read_text().splitlines()
    path = work / "edits" / "AAL.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def features_of(work: Path, rel: str) -> list[dict]:
    return pq.read_table(work / "pfs" / "features" / "master" / rel).to_pylist()


def test_a_changed_volume_reprocesses_exactly_one_datum_per_stage(
    pipeline: tuple[Runner, Path], sample_dir: Path
) -> None:
    runner, work = pipeline
    before = {p.name: p.read_bytes() for p in (work / "pfs" / "features" / "master" / "stocks").iterdir()}
    old_last = features_of(work, "stocks/AAL.parquet")[-1]

    def new_last_volume(lines: list[str]) -> list[str]:
        *head, last = lines
        return [*head, last.rsplit(",", 1)[0] + ",30000000"]

    edited = changed_csv(sample_dir, work, new_last_volume)
    runner("put", "file", "raw@master:/stocks/AAL.csv", "-f", str(edited))
    runner("run")

    ingest = runner.datums("ingest")
    assert {k: v for k, v in ingest.items() if v != "skipped"} == {"/stocks/AAL.csv": "success"}
    assert len(ingest) == 14
    features = runner.datums("features")
    assert {k: v for k, v in features.items() if v != "skipped"} == {"/stocks/AAL.parquet": "success"}
    assert len(features) == 16

    new_last = features_of(work, "stocks/AAL.parquet")[-1]
    assert new_last["Volume"] == 30_000_000
    assert new_last["vol_moving_avg"] == pytest.approx(
        old_last["vol_moving_avg"] + (30_000_000 - old_last["Volume"]) / 30, rel=1e-12
    )
    after = {p.name: p.read_bytes() for p in (work / "pfs" / "features" / "master" / "stocks").iterdir()}
    assert {name for name in before if before[name] != after[name]} == {"AAL.parquet"}


def test_an_added_row_also_reruns_only_the_quality_folder_datum_which_writes_nothing(
    pipeline: tuple[Runner, Path], sample_dir: Path
) -> None:
    """A new row changes AAL's quality record too, so glob /*/* sees /_quality/stocks change."""
    runner, work = pipeline
    edited = changed_csv(sample_dir, work, lambda lines: [*lines, "2020-04-02,10.5,11.0,10.0,10.8,10.8,777"])
    runner("put", "file", "raw@master:/stocks/AAL.csv", "-f", str(edited))
    runner("run")
    assert {k: v for k, v in runner.datums("ingest").items() if v != "skipped"} == {
        "/stocks/AAL.csv": "success"
    }
    processed = {k: v for k, v in runner.datums("features").items() if v != "skipped"}
    assert processed == {"/stocks/AAL.parquet": "success", "/_quality/stocks": "success"}
    rows = features_of(work, "stocks/AAL.parquet")
    assert rows[-1]["Date"] == "2020-04-02" and rows[-1]["Volume"] == 777
    out = work / "pfs" / "features" / "master"
    assert sorted(p.name for p in out.iterdir()) == ["etfs", "stocks"]
    shutil.rmtree(work / "edits")
