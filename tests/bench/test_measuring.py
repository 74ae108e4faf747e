"""The benchmark's measuring pieces on tiny inputs (no timing is asserted)."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.baselines import duckdb_convert, polars_rolling
from bench.commands import CommandFailed, run_measured
from bench.inputs import csv_folder, parquet_folder
from bench.machine import CpuSnapshot, machine_facts, other_cpu_use
from bench.pipeline import JOB_LINE, change_last_volume, read_train_output
from bench.sampler import ProcessTreeSampler, Sample

ALLOCATE = textwrap.dedent(
    """
    import subprocess, sys, time
    block = b"x" * {size}
    if {spawn}:
        child = subprocess.Popen([sys.executable, "-c", {child!r}])
    print("allocated", flush=True)
    time.sleep(1.0)
    if {spawn}:
        child.wait()
    """
)
CHILD = 'import time; block = b"y" * 80_000_000; time.sleep(1.0)'


def test_sampler_sums_the_rss_of_a_process_and_its_children():
    script = ALLOCATE.format(size=120_000_000, spawn=True, child=CHILD)
    run = run_measured([sys.executable, "-c", script])
    assert run.lines[0].text == "allocated"
    assert run.peak_rss() > 200_000_000  # 120 MB + 80 MB in two processes
    assert run.sampler.peak_processes() == 2
    assert len(run.pids) == 2
    assert run.sampler.cpu_seconds() > 0  # building the blocks takes some CPU


def test_cpu_seconds_of_a_busy_child_are_counted():
    run = run_measured(
        [
            sys.executable,
            "-c",
            "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass",
        ]
    )
    assert run.sampler.cpu_seconds() >= 0.4  # the last < 0.1 s before exit may be missed
    assert run.sampler.root_cpu_seconds() == run.sampler.cpu_seconds()  # no children
    assert run.sampler.machine_idle_seconds() >= 0.0


def test_peak_over_a_window_of_time():
    sampler = ProcessTreeSampler.__new__(ProcessTreeSampler)
    sampler.samples = [
        Sample(1.0, 10, 1, cpu=0.5, root_cpu=0.5, machine_idle=100.0, machine_steal=7.0),
        Sample(2.0, 50, 3, cpu=2.0, root_cpu=0.7, machine_idle=100.5, machine_steal=7.25),
        Sample(3.0, 20, 2, cpu=3.5, root_cpu=1.0, machine_idle=101.5, machine_steal=8.0),
    ]
    assert sampler.peak() == 50
    assert sampler.peak(2.5, 3.5) == 20
    assert sampler.peak(5.0, 6.0) == 0
    assert sampler.peak_processes(0.0, 1.5) == 1
    assert sampler.cpu_seconds() == 3.5
    assert sampler.cpu_seconds(1.5, 3.0) == 3.5 - 0.5
    assert sampler.root_cpu_seconds(1.5, 3.0) == 1.0 - 0.5
    assert sampler.machine_idle_seconds(0.0, 3.0) == 1.5  # from the first sample when none precedes start
    assert sampler.machine_idle_seconds(2.0, 2.5) == 0.0
    assert sampler.machine_steal_seconds(0.0, 3.0) == 1.0
    assert sampler.machine_steal_seconds(2.0, 3.0) == 0.75


def test_run_measured_timestamps_lines_and_reports_failures():
    run = run_measured([sys.executable, "-c", "print('a'); print('b')"])
    assert [line.text for line in run.lines] == ["a", "b"]
    assert run.started <= run.lines[0].at <= run.lines[1].at <= run.finished
    with pytest.raises(CommandFailed, match="exited 3:\nboom"):
        run_measured([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])


def test_job_summary_lines_of_the_runner_are_recognised():
    line = "ingest: job 39dad0db136c4709b175d6497b6e6cb8 ok: 8049 datums, 8049 processed, 0 skipped"
    match = JOB_LINE.match(line)
    assert match and match["pipeline"] == "ingest" and match["status"] == "ok"
    assert JOB_LINE.match("features: job 0a1b FAILED: datum x failed")["status"] == "FAILED"
    assert JOB_LINE.match("serve: service pipeline, not run by `run`") is None


def test_change_last_volume_keeps_the_file_format():
    text = "Date,Open,High,Low,Close,Adj Close,Volume\n2020-03-31,1.0,1.0,1.0,1.0,1.0,100\n"
    changed = change_last_volume(text)
    assert changed.text.endswith("2020-03-31,1.0,1.0,1.0,1.0,1.0,1100\n")
    floats = change_last_volume(text.replace(",100\n", ",67867200.0\n"))
    assert floats.text.endswith(",67868200.0\n")
    assert "67867200.0 -> 67868200.0" in floats.description


def test_folder_sizes_count_rows_and_skip_underscore_folders(tmp_path, sample_dir):
    size = csv_folder(sample_dir, count_rows=True)
    assert size.files == 15  # 14 price files + the metadata
    assert size.rows == 50_760 + 5_779 + 8_049
    table = pa.table({"x": [1, 2, 3]})
    (tmp_path / "stocks").mkdir()
    (tmp_path / "_quality" / "stocks").mkdir(parents=True)
    pq.write_table(table, tmp_path / "stocks" / "A.parquet")
    pq.write_table(table, tmp_path / "_quality" / "stocks" / "A.parquet")
    pq.write_table(table, tmp_path / "stocks" / ".A.parquet.tmp-1.parquet")
    size = parquet_folder(tmp_path)
    assert (size.files, size.rows) == (1, 3)


def test_duckdb_baseline_reads_every_row_including_float_volumes(tmp_path, sample_dir):
    result = duckdb_convert(str(sample_dir / "*" / "*.csv"), tmp_path / "out.parquet")
    assert result["rows"] == 50_760 + 5_779  # NVDA's empty row is read as a row of nulls
    assert result["seconds"] > 0


def test_polars_baseline_matches_a_plain_rolling_computation(tmp_path):
    rng = np.random.default_rng(0)
    for symbol, rows in (("A", 45), ("B", 12)):
        (tmp_path / "in" / "stocks").mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(
            {
                "Symbol": symbol,
                "Date": pd.date_range("2020-01-01", periods=rows).strftime("%Y-%m-%d"),
                "Adj Close": rng.random(rows),
                "Volume": rng.integers(0, 1000, rows),
            }
        )
        frame.to_parquet(tmp_path / "in" / "stocks" / f"{symbol}.parquet")
    result = polars_rolling(str(tmp_path / "in" / "*" / "*.parquet"), tmp_path / "out.parquet")
    assert result["rows"] == 57
    out = pd.read_parquet(tmp_path / "out.parquet")
    for _symbol, group in out.groupby("Symbol"):
        expected_mean = group["Volume"].astype(float).rolling(30).mean()
        expected_median = group["Adj Close"].rolling(30).median()
        pd.testing.assert_series_equal(group["vol_moving_avg"], expected_mean, check_names=False)
        pd.testing.assert_series_equal(group["adj_close_rolling_med"], expected_median, check_names=False)
    assert out.loc[out.Symbol == "B", "vol_moving_avg"].isna().all()


def test_read_train_output_takes_the_contract_files(tmp_path):
    metrics = {"random_80_20": {"chosen": {"mae": 1.0, "fit_seconds": 12.5}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "model.json").write_text(json.dumps({"model_file": "model.txt", "library": "lightgbm"}))
    (tmp_path / "model.txt").write_text("x" * 1234)
    out = read_train_output(tmp_path)
    assert out["model_bytes"] == 1234 and out["fit_seconds"] == 12.5 and out["library"] == "lightgbm"
    assert read_train_output(tmp_path / "missing") == {"fit_seconds": None}


def test_other_cpu_use_subtracts_the_benchmark_itself():
    before = CpuSnapshot(
        100.0, (1.0, 1.0, 1.0), busy=1000.0, own=10.0, cpu={1: ("other", 5.0), 2: ("me", 1.0)}, steal=3.0
    )
    after = CpuSnapshot(
        110.0, (2.0, 1.0, 1.0), busy=1016.0, own=20.0, cpu={1: ("other", 11.0), 2: ("me", 9.0)}, steal=5.0
    )
    use = other_cpu_use(before, after, own_pids={2})
    assert use["other_cpu_seconds"] == 6.0
    assert use["steal_cpu_seconds"] == 2.0  # the hypervisor's, not counted as busy
    assert use["steal_share"] == round(2.0 / (10.0 * (os.cpu_count() or 1)), 3)
    assert use["own_cpu_seconds"] == 10.0
    assert [t["command"] for t in use["top"]] == ["other"]


def test_machine_facts_name_cores_memory_and_python():
    facts = machine_facts()
    assert facts["logical_cores"] >= 1 and facts["memory_gb"] > 0
    assert facts["python"] == sys.version.split()[0]
