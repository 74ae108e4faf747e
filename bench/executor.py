"""The docker executor against the local one, in the same ``make bench`` run: ingest and features
of the same dataset, each from a fresh state, once with ``run --executor local`` and once with
``run --executor docker`` (each pipeline's datums in its image, one warm container per worker).

Times are the jobs' own seconds (``list job --json``), the same measure as the stage table; the
containers' processes are not children of the runner, so no memory or CPU is sampled here.
Goal (issue 15): docker time / local time <= 1.2 for both stages at SCALE=1.0. The outputs of the
two runs are compared by content hash (the commits' manifests): they must be the same files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.commands import python_module, run_measured
from runner.executors.docker_client import docker_problem

#: The stages compared: those with thousands of datums, where per-datum costs show.
STAGES = ("ingest", "features")
EXECUTORS = ("local", "docker")
#: Goal of issue 15: docker executor time / local executor time, per stage.
RATIO_GOAL = 1.2
HEADING = "## Executors: local against docker (same dataset, same run)"


@dataclass(frozen=True)
class ExecutorBench:
    data_dir: Path
    specs: Path
    work_dir: Path
    repo_root: Path
    echo: Callable[[str], None] = print

    def _runner(self, state: Path, *args: str) -> str:
        run = run_measured(
            python_module("runner", "--state", str(state), *args),
            cwd=self.repo_root,
            echo=lambda line: self.echo(f"    {line}"),
        )
        return run.output

    def _specs(self) -> Path:
        """Only the compared stages' specs, unchanged."""
        folder = self.work_dir / "specs"
        folder.mkdir(parents=True, exist_ok=True)
        for stage in STAGES:
            shutil.copyfile(self.specs / f"{stage}.json", folder / f"{stage}.json")
        return folder

    def _one(self, executor: str, specs: Path) -> dict[str, Any]:
        state = self.work_dir / f"pfs-{executor}"
        shutil.rmtree(state, ignore_errors=True)
        self.echo(f"== executors: {executor}: put raw, run ingest and features")
        self._runner(state, "put", "file", "-r", "raw@master:/", "-f", str(self.data_dir))
        self._runner(state, "update", "pipeline", "-f", str(specs))
        self._runner(state, "run", "--executor", executor)
        jobs = json.loads(self._runner(state, "list", "job", "--json"))
        seconds = {job["pipeline"]: job["seconds"] for job in jobs if job["pipeline"] in STAGES}
        manifests = {stage: _head_manifest(state, stage) for stage in STAGES}
        return {"seconds": seconds, "manifests": manifests, "state": state}

    def run(self) -> dict[str, Any]:
        problem = docker_problem()
        if problem is not None:
            self.echo(f"== executors: skipped: {problem}")
            return {"skipped": problem}
        specs = self._specs()
        runs = {executor: self._one(executor, specs) for executor in EXECUTORS}
        result: dict[str, Any] = {"goal": RATIO_GOAL, "stages": {}}
        for stage in STAGES:
            local, docker = runs["local"]["seconds"][stage], runs["docker"]["seconds"][stage]
            result["stages"][stage] = {
                "local_seconds": local,
                "docker_seconds": docker,
                "ratio": docker / local if local else None,
                "same_outputs": runs["local"]["manifests"][stage] == runs["docker"]["manifests"][stage],
                "files": len(runs["local"]["manifests"][stage]),
            }
        for run in runs.values():
            shutil.rmtree(run["state"], ignore_errors=True)
        return result


def _head_manifest(state: Path, repo: str) -> dict[str, Any]:
    """path -> [content hash, size] of the head commit of ``repo@master``."""
    head = (state / repo / "master").resolve().name
    return json.loads((state / repo / "commits" / f"{head}.files.json").read_text(encoding="utf-8"))


def executor_lines(results: dict[str, Any]) -> list[str]:
    """The report's section (empty when the executors were not compared)."""
    found = results.get("executors")
    if not found:
        return []
    if "skipped" in found:
        return [HEADING, "", f"Not measured: {found['skipped']}", ""]
    rows = [
        "| stage | local s | docker s | docker / local | goal | same output files |",
        "|:---|---:|---:|---:|---:|:---|",
    ]
    for stage, row in found["stages"].items():
        ratio = row["ratio"]
        met = "met" if ratio is not None and ratio <= found["goal"] else "missed"
        rows.append(
            f"| {stage} | {row['local_seconds']:.1f} | {row['docker_seconds']:.1f} | "
            f"{ratio:.2f} x | <= {found['goal']} x ({met}) | "
            f"{'yes' if row['same_outputs'] else 'NO'} ({row['files']:,} files) |"
        )
    return [
        HEADING,
        "",
        "Ingest and features from a fresh state with `run --executor local`, then with "
        "`run --executor docker` (each pipeline's datums in its image, one warm container per worker); "
        "times are the jobs' own seconds. Output files compared by content hash.",
        "",
        *rows,
        "",
    ]


def missed_goals(results: dict[str, Any]) -> list[str]:
    found = results.get("executors") or {}
    return [
        f"{stage}: docker / local time <= {found['goal']}"
        for stage, row in found.get("stages", {}).items()
        if row["ratio"] is None or row["ratio"] > found["goal"]
    ]
