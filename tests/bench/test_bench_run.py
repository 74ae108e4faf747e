"""``python -m bench`` end to end on a tiny synthetic dataset with the project's real specs."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.report import NOTES_MARKER
from tools.synth.generate import generate


@pytest.mark.slow
def test_bench_runs_the_pipeline_measures_it_and_writes_the_report(tmp_path, repo_root):
    data = tmp_path / "data"
    generate(data, scale=0.05, seed=0, processes=1, limit=40)
    work, doc = tmp_path / "work", tmp_path / "benchmarks.md"
    argv = [
        "--scale",
        "0.05",
        "--data",
        str(data),
        "--work",
        str(work),
        "--doc",
        str(doc),
        "--no-runner-datums",
    ]
    assert main(argv) == 0

    results = json.loads((work / "results.json").read_text())
    stages = {s["stage"]: s for s in results["stages"]}
    expected = {p.stem for p in (repo_root / "specs").glob("*.json")} & {"ingest", "features", "train"}
    assert set(stages) == expected
    ingest = stages["ingest"]
    assert ingest["processed"] == 40 and ingest["skipped"] == 0
    assert ingest["rows"] == results["dataset"]["rows"] and ingest["input_bytes"] > 0
    assert 0 < ingest["peak_rss"] < 5e9 and ingest["peak_processes"] >= 2
    assert results["baselines"]["duckdb"]["rows"] == results["dataset"]["rows"]
    assert results["rerun_no_change"]["jobs"] == 0
    incremental = results["incremental"]["datums"]
    assert incremental["ingest"]["processed"] == 1 and incremental["ingest"]["skipped"] == 39
    if "train" in stages:
        assert results["incremental"]["model_written_after"] > 0
    text = doc.read_text()
    assert "| ingest |" in text and text.rstrip().endswith(NOTES_MARKER)
