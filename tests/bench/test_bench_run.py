"""``python -m bench`` end to end on a tiny synthetic dataset with the project's ingest and features specs."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.cli import main
from bench.report import NOTES_MARKER
from tools.synth.generate import generate


@pytest.mark.slow
def test_bench_runs_the_pipeline_measures_it_and_writes_the_report(tmp_path, repo_root):
    data = tmp_path / "data"
    generate(data, scale=0.05, seed=0, processes=1, limit=40)
    specs = tmp_path / "specs"  # train's fits take longer than this test should: its part is unit-tested
    specs.mkdir()
    for name in ("ingest", "features"):
        shutil.copy(repo_root / "specs" / f"{name}.json", specs)
    work, doc = tmp_path / "work", tmp_path / "benchmarks.md"
    argv = ["--scale", "0.05", "--data", str(data), "--work", str(work), "--doc", str(doc)]
    # two executor rounds (make bench runs three): each round reports its own ratio
    assert main([*argv, "--specs", str(specs), "--no-runner-datums", "--executor-rounds", "2"]) == 0

    results = json.loads((work / "results.json").read_text())
    stages = {s["stage"]: s for s in results["stages"]}
    assert set(stages) == {"ingest", "features"}
    ingest = stages["ingest"]
    assert ingest["processed"] == 40 and ingest["skipped"] == 0
    assert ingest["rows"] == results["dataset"]["rows"] and ingest["input_bytes"] > 0
    assert 0 < ingest["peak_rss"] < 5e9 and ingest["peak_processes"] >= 2 and ingest["cpu_seconds"] > 0
    assert results["baselines"]["duckdb"]["rows"] == results["dataset"]["rows"]
    assert results["rerun_no_change"]["jobs"] == 0
    incremental = results["incremental"]["datums"]
    assert incremental["ingest"]["processed"] == 1 and incremental["ingest"]["skipped"] == 39
    assert incremental["features"]["processed"] == 1
    text = doc.read_text()
    assert "| ingest |" in text and text.rstrip().endswith(NOTES_MARKER)
    probe = results["machine"]["speed_probe"]  # bench/machine.py: fixed work, timed at the start
    assert probe["python_loop_s"] > 0 and probe["fresh_memory_s"] > 0
    assert f"{probe['python_loop_s']:.2f} s for a 10 M-step Python loop" in text
    executors = results["executors"]  # bench/executor.py: the same stages under the docker executor
    if "skipped" not in executors:
        assert {stage: row["same_outputs"] for stage, row in executors["stages"].items()} == {
            "ingest": True,
            "features": True,
        }
        assert "## Executors: local against docker" in text
        assert [len(row["round_ratios"]) for row in executors["stages"].values()] == [2, 2]


@pytest.mark.slow
def test_a_failing_stage_is_reported_and_fails_the_command(tmp_path, repo_root):
    data = tmp_path / "data"
    generate(data, scale=0.02, seed=0, processes=1, limit=5)
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(repo_root / "specs" / "ingest.json", specs)
    features = json.loads((repo_root / "specs" / "features.json").read_text())
    features["transform"]["cmd"] = [*features["transform"]["cmd"], "--no-such-option"]
    (specs / "features.json").write_text(json.dumps(features))
    work, doc = tmp_path / "work", tmp_path / "benchmarks.md"
    argv = ["--data", str(data), "--work", str(work), "--doc", str(doc), "--specs", str(specs)]
    assert main([*argv, "--scale", "0.02", "--no-runner-datums"]) == 1

    results = json.loads((work / "results.json").read_text())
    assert results["run"]["returncode"] != 0
    assert [(s["stage"], s["ok"]) for s in results["stages"]] == [("ingest", True), ("features", False)]
    assert "incremental" not in results
    text = doc.read_text()
    assert "features (**FAILED**)" in text and "**`run` failed**" in text
