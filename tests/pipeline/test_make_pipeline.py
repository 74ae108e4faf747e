"""`make pipeline` end to end, as a user runs it on a fresh clone: the real specs, the real
stages, the local runner, the bundled real sample; then a re-run, and a broken input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import requests

SAMPLE_FILES = 14  # 11 stocks + 3 etfs in data/sample
SAMPLE_ROWS_KEPT = 56_538  # 56,539 data lines, NVDA's one empty row dropped
MODEL_FILES = ("model.json", "model.txt", "metrics.json", "loss.csv", "train.log")
EVALUATE_FILES = ("comparison.json", "predictions_sample.parquet", "evaluate.log")
OUTPUT_REPOS = ("raw", "ingest", "features", "train", "evaluate")


def _env(state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PFS_STATE"] = str(state)
    return env


def _make_pipeline(repo_root: Path, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "pipeline", *extra],
        cwd=repo_root,
        env=_env(state),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _runner(repo_root: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=repo_root,
        env=_env(state),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _head(repo_root: Path, state: Path, repo: str) -> dict:
    result = _runner(repo_root, state, "inspect", "commit", f"{repo}@master", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def first_run(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    state = tmp_path_factory.mktemp("make-pipeline") / "pfs"
    result = _make_pipeline(repo_root, state)
    assert result.returncode == 0, result.stdout + result.stderr
    return state, result.stdout + result.stderr


def test_every_stage_writes_its_output(first_run: tuple[Path, str]) -> None:
    state, _ = first_run
    ingest = ds.dataset(state / "ingest" / "master", format="parquet")
    features = ds.dataset(state / "features" / "master", format="parquet")
    assert len(ingest.files) == SAMPLE_FILES
    assert len(features.files) == SAMPLE_FILES
    assert ingest.count_rows() == SAMPLE_ROWS_KEPT
    assert features.count_rows() == SAMPLE_ROWS_KEPT
    assert sorted(p.name for p in (state / "train" / "master").iterdir()) == sorted(MODEL_FILES)
    assert sorted(p.name for p in (state / "evaluate" / "master").iterdir()) == sorted(EVALUATE_FILES)
    metrics = json.loads((state / "train" / "master" / "metrics.json").read_text())
    comparison = json.loads((state / "evaluate" / "master" / "comparison.json").read_text())
    assert comparison["random_80_20"]["chosen"]["mae"] == metrics["random_80_20"]["chosen"]["mae"] > 0
    models = {"chosen", "random_forest_reference", "naive_vol_moving_avg"}
    for split in ("random_80_20", "time_split"):
        assert set(comparison[split]) == {"split", *models}


def test_output_commits_chain_back_to_the_raw_commit(repo_root: Path, first_run: tuple[Path, str]) -> None:
    state, _ = first_run
    heads = {repo: _head(repo_root, state, repo) for repo in OUTPUT_REPOS}
    assert heads["raw"]["job"] is None
    for repo, upstream in (("ingest", "raw"), ("features", "ingest"), ("train", "features")):
        provenance = {(p["repo"], p["commit"]) for p in heads[repo]["provenance"]}
        assert (upstream, heads[upstream]["id"]) in provenance, (repo, heads[repo]["provenance"])
        assert heads[repo]["job"], repo
    model = json.loads((state / "train" / "master" / "model.json").read_text())
    assert model["input_commit"] == heads["features"]["id"]
    # evaluate crosses train and features: both heads are in its provenance, and it read them.
    provenance = {(p["repo"], p["commit"]) for p in heads["evaluate"]["provenance"]}
    assert {("train", heads["train"]["id"]), ("features", heads["features"]["id"])} <= provenance
    comparison = json.loads((state / "evaluate" / "master" / "comparison.json").read_text())
    assert comparison["data"]["train_commit"] == heads["train"]["id"]
    assert comparison["data"]["features_commit"] == heads["features"]["id"]


def test_the_run_prints_job_summaries_and_the_quality_summary(first_run: tuple[Path, str]) -> None:
    _, output = first_run
    for pipeline in ("ingest", "features", "train", "evaluate"):
        assert any(
            line.startswith(f"{pipeline}: job ") and " ok: " in line for line in output.splitlines()
        ), (
            pipeline,
            output,
        )
    assert "rows: read 56,539, kept 56,538, dropped 1" in output


def test_a_rerun_with_the_same_data_changes_nothing(repo_root: Path, first_run: tuple[Path, str]) -> None:
    state, _ = first_run
    before = {repo: _head(repo_root, state, repo)["id"] for repo in OUTPUT_REPOS}
    jobs_before = json.loads(_runner(repo_root, state, "list", "job", "--json").stdout)
    result = _make_pipeline(repo_root, state)
    assert result.returncode == 0, result.stdout + result.stderr
    after = {repo: _head(repo_root, state, repo)["id"] for repo in before}
    assert after == before
    jobs_after = json.loads(_runner(repo_root, state, "list", "job", "--json").stdout)
    assert len(jobs_after) == len(jobs_before)


def test_a_broken_metadata_file_fails_the_job_and_stops_downstream(
    repo_root: Path, sample_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "pfs"
    raw = tmp_path / "raw"
    shutil.copytree(sample_dir, raw)
    (raw / "symbols_valid_meta.csv").write_text("this is not the metadata file\r\n")
    assert _runner(repo_root, state, "put", "file", "-r", "raw@master:/", "-f", str(raw)).returncode == 0
    assert _runner(repo_root, state, "update", "pipeline", "-f", "specs/").returncode == 0
    result = _runner(repo_root, state, "run")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ingest" in last and "symbols_valid_meta.csv" in last, result.stderr
    assert not (state / "features" / "master").exists() or not any((state / "features" / "master").iterdir())
    assert not (state / "train" / "master" / "model.txt").exists()
    assert not (state / "evaluate" / "master" / "comparison.json").exists()


def test_closing_hint_names_the_state_folder_in_use(first_run: tuple[Path, str]) -> None:
    """The `next:` line is a command that works as printed: it serves this run's state folder."""
    state, output = first_run
    hint = next(line for line in output.splitlines() if line.startswith("next: "))
    assert f"make serve PFS_STATE={state}," in hint
    assert "http://127.0.0.1:8000/predict" in hint


def _readme_curl_example(readme: str) -> tuple[str, str]:
    """The README's example request (a curl line) and the answer printed under it (``# N``)."""
    lines = readme.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith('curl "http://127.0.0.1:8000/predict?'))
    return lines[at].split('"')[1], lines[at + 1].removeprefix("# ").strip()


def test_the_readme_curl_example_answers_what_the_readme_says(
    repo_root: Path, first_run: tuple[Path, str]
) -> None:
    """The README's answer is the bundled sample's model's answer: serve it and ask."""
    from api.devtools.server import running_server

    state, _ = first_run
    url, answer = _readme_curl_example((repo_root / "README.md").read_text(encoding="utf-8"))
    query = url.split("/predict", 1)[1]
    with running_server(state / "train" / "master") as server:
        got = requests.get(f"{server.url}/predict{query}", timeout=10)
    assert got.status_code == 200
    assert got.text.strip() == answer, (
        f"README.md says {answer}; the bundled sample's model answers {got.text}"
    )


def test_inspect_commit_train_shows_provenance_back_to_raw(
    repo_root: Path, first_run: tuple[Path, str]
) -> None:
    """The README's `inspect commit train@master` example: one call reaches the raw commit, and the
    whole chain shares the raw commit's id (global commit ids, as in Pachyderm 2.x)."""
    state, _ = first_run
    train = _head(repo_root, state, "train")
    raw = _head(repo_root, state, "raw")
    provenance = {(p["repo"], p["commit"]) for p in train["provenance"]}
    assert ("raw", raw["id"]) in provenance
    assert {"features", "ingest", "raw"} <= {repo for repo, _ in provenance}
    assert train["id"] == raw["id"]
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert "inspect commit train@master     # provenance back to the raw commit" in readme


def test_make_pipeline_on_a_subset_replaces_raw_and_trains_on_the_subset_only(
    repo_root: Path, sample_dir: Path, first_run: tuple[Path, str], tmp_path: Path
) -> None:
    """RAW=<4 symbols> after the sample run: raw's head becomes exactly those files, in one commit
    (put file --replace), the put says what it deleted, and train reads only the 4 symbols.
    Last in this module: it replaces the data the tests above share.
    Before, the put added to raw and training silently used the union (issue 17)."""
    state, _ = first_run
    subset = tmp_path / "subset"
    (subset / "stocks").mkdir(parents=True)
    shutil.copy(sample_dir / "symbols_valid_meta.csv", subset)
    for symbol in ("A", "AAPL", "FB", "TSLA"):
        shutil.copy(sample_dir / "stocks" / f"{symbol}.csv", subset / "stocks")
    raw_commits = len(json.loads(_runner(repo_root, state, "list", "commit", "raw@master", "--json").stdout))
    result = _make_pipeline(repo_root, state, f"RAW={subset}")
    assert result.returncode == 0, result.stdout + result.stderr
    put_line = next(line for line in result.stdout.splitlines() if line.startswith("raw@master: commit"))
    assert put_line.endswith(f": 0 added, 0 changed, {SAMPLE_FILES + 1 - 5} deleted, 5 unchanged"), put_line
    head = state / "raw" / "master"
    assert sorted(str(p.relative_to(head)) for p in head.rglob("*") if p.is_file()) == [
        "stocks/A.csv",
        "stocks/AAPL.csv",
        "stocks/FB.csv",
        "stocks/TSLA.csv",
        "symbols_valid_meta.csv",
    ]
    commits = json.loads(_runner(repo_root, state, "list", "commit", "raw@master", "--json").stdout)
    assert len(commits) == raw_commits + 1
    ingest = ds.dataset(state / "ingest" / "master", format="parquet")
    assert len(ingest.files) == 4
    model = json.loads((state / "train" / "master" / "model.json").read_text())
    assert model["input_commit"] == _head(repo_root, state, "features")["id"]
