"""The live-loop case's split of (b): the jobs that made the served model, and the report's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.loop import bulk_path_line, change_split_line, jobs_serving
from runner.state import State
from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, stage_cmd, write_files, write_spec


@pytest.fixture
def runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Runner:
    return Runner(tmp_path / "pfs", capsys)


def test_jobs_serving_are_the_jobs_that_made_the_train_commit_and_its_provenance(
    runner: Runner, tmp_path: Path
) -> None:
    data = write_files(tmp_path / "data", {"a/1.txt": "one\n", "a/2.txt": "two\n"})
    specs = tmp_path / "specs"
    write_spec(specs, "first", pfs("raw", "/*/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"))
    write_spec(specs, "train", pfs("first", "/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"))
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("update", "pipeline", "-f", str(specs))
    runner("run")
    (data / "a" / "1.txt").write_text("ONE\n")
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("run")

    state = State(runner.state)
    newest = {job.pipeline: job for job in state.list_jobs()}  # oldest first: the last of each wins
    assert len(state.list_jobs()) == 4
    jobs = jobs_serving(state, state.head("train") or "")
    assert jobs == {"first": newest["first"].seconds, "train": newest["train"].seconds}
    assert list(jobs) == ["first", "train"] and all(s is not None and s >= 0 for s in jobs.values())


def test_the_split_line_names_the_put_the_jobs_the_rest_and_the_run_with_no_load() -> None:
    loop = {
        "change_s": 20.0,
        "change_put_s": 1.5,
        "change_jobs_s": {"ingest": 1.0, "features": 1.5, "train": 15.0},
    }
    line = change_split_line(loop)
    assert line == (
        "(b) under (c)'s load: 20.0 s = the put 1.5 s, the jobs ingest 1.0 s, features 1.5 s, "
        "train 15.0 s, the rest (scheduling, the reload) 1.0 s."
    )
    loop |= {
        "unloaded_change_s": 12.0,
        "unloaded_put_s": 1.0,
        "unloaded_jobs_s": {"ingest": 1.0, "features": 1.0, "train": 8.5},
        "unloaded_change": "last row's Volume 1012000 -> 1013000",
        "unloaded_running_at_change": ["evaluate"],
    }
    line = change_split_line(loop)
    assert "jobs running when it was put: evaluate), not a goal: 12.0 s = the put 1.0 s" in line
    assert line.endswith("train 8.5 s, the rest (scheduling, the reload) 0.5 s.")


def test_the_bulk_path_line_sums_the_path_compares_a_and_prices_the_stage_goals() -> None:
    results = {
        "loop": {"first_put_s": 5.0, "first_run_s": 48.0},
        "baselines": {"duckdb": {"seconds": 10.0}, "polars": {"seconds": 16.0}},
        "stages": [{"stage": "train", "seconds": 9.0}],
    }
    line = bulk_path_line(results)
    assert line == (
        "For scale, (a)'s path with this run's bulk baselines in place of ingest and features, one "
        "after the other as the DAG runs them: the put 5.0 s + DuckDB 10.0 s + polars 16.0 s + "
        "train's job of the first run 9.0 s = 40.0 s; (a) took 1.20x that. With ingest at 1.5x DuckDB "
        "and features at 1.5x polars (their own goals' limits) the path would take 53.0 s."
    )
    del results["loop"]["first_run_s"]
    assert (bulk_path_line(results) or "").endswith("= 40.0 s.")
    del results["baselines"]["polars"]
    assert bulk_path_line(results) is None
