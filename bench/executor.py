"""The docker executor against the local one, in the same ``make bench`` run: ingest and features
of the same dataset, each from a fresh state, once with ``run --executor local`` and once with
``run --executor docker`` (each pipeline's datums in its image, one warm container per worker).

Times are the jobs' own seconds (``list job --json``), the same measure as the stage table. CPU
seconds are the runner's process tree (sampled, as for the stage table) plus, for docker, what the
daemon's container cgroup used over the stage's ``run`` (cgroup v1 ``cpuacct.usage`` of
``/sys/fs/cgroup/cpuacct/docker``: every container on the machine, so other containers running at
the same time would count). On a busy machine the wall-clock ratio also measures the kernel's
scheduler: under cgroup v1 all containers share the one ``docker`` cgroup's weight (1024, the
weight of one ordinary process), and a container's ``--cpu-shares`` (from ``resourceRequests.cpu``)
divides that, so with many runnable processes outside, the containers get less CPU than the local
workers; the CPU ratio is the executor's own cost. Goal (issue 15): docker time / local time <= 1.2
for both stages at SCALE=1.0. The two runs' outputs are compared by content hash (the commits'
manifests): they must be the same files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.commands import CommandRun, python_module, run_measured
from bench.trash import set_aside
from runner.executors.docker_client import docker_problem

#: The stages compared: those with thousands of datums, where per-datum costs show.
STAGES = ("ingest", "features")
EXECUTORS = ("local", "docker")
#: Goal of issue 15: docker executor time / local executor time, per stage.
RATIO_GOAL = 1.2
HEADING = "## Executors: local against docker (same dataset, same run)"
#: CPU nanoseconds used by every container of the daemon (cgroup v1, cgroupfs driver).
DOCKER_CPUACCT = Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage")


def _docker_cpu_seconds() -> float | None:
    try:
        return int(DOCKER_CPUACCT.read_text()) / 1e9
    except (OSError, ValueError):
        return None


#: Rounds of the executor comparison unless told otherwise (``--executor-rounds``). Three: on this
#: VM one executor's job time moves by up to 1.3x between two runs minutes apart, and so does a
#: round's docker / local ratio (0.99-1.34 over the 2026-12-02 runs of docs/benchmarks.md's notes).
DEFAULT_ROUNDS = 3


@dataclass(frozen=True)
class ExecutorBench:
    data_dir: Path
    specs: Path
    work_dir: Path
    repo_root: Path
    echo: Callable[[str], None] = print
    #: rounds of both executors, the order swapped every round (local first, then docker first...);
    #: each stage's fastest round is reported, the least disturbed by the rest of the machine.
    #: With one round local always ran first, and the same ingest ratio moved between 1.08x and
    #: 1.54x over five runs of one day (docs/benchmarks.md, notes of 2026-12-01).
    rounds: int = DEFAULT_ROUNDS

    def _runner(self, state: Path, *args: str) -> CommandRun:
        return run_measured(
            python_module("runner", "--state", str(state), *args),
            cwd=self.repo_root,
            echo=lambda line: self.echo(f"    {line}"),
        )

    def _specs(self) -> Path:
        """Only the compared stages' specs, unchanged."""
        folder = self.work_dir / "specs"
        folder.mkdir(parents=True, exist_ok=True)
        for stage in STAGES:
            shutil.copyfile(self.specs / f"{stage}.json", folder / f"{stage}.json")
        return folder

    def _one(self, executor: str, specs: Path) -> dict[str, Any]:
        """Both stages under ``executor`` from a fresh state, one ``run`` per stage (for its CPU)."""
        state = self.work_dir / f"pfs-{executor}"
        set_aside(state)  # deleted when make bench ends (bench/trash.py)
        self.echo(f"== executors: {executor}: put raw, run ingest, then features")
        self._runner(state, "put", "file", "-r", "raw@master:/", "-f", str(self.data_dir))
        cpu: dict[str, float | None] = {}
        for stage in STAGES:
            self._runner(state, "update", "pipeline", "-f", str(specs / f"{stage}.json"))
            containers_before = _docker_cpu_seconds()
            run = self._runner(state, "run", "--executor", executor)
            containers_after = _docker_cpu_seconds()
            in_containers = (
                containers_after - containers_before
                if executor == "docker" and containers_before is not None and containers_after is not None
                else 0.0
            )
            cpu[stage] = run.sampler.cpu_seconds() + in_containers
        jobs = json.loads(self._runner(state, "list", "job", "--json").output)
        seconds = {job["pipeline"]: job["seconds"] for job in jobs if job["pipeline"] in STAGES}
        manifests = {stage: _head_manifest(state, stage) for stage in STAGES}
        return {"seconds": seconds, "cpu": cpu, "manifests": manifests, "state": state}

    def run(self) -> dict[str, Any]:
        problem = docker_problem()
        if problem is not None:
            self.echo(f"== executors: skipped: {problem}")
            return {"skipped": problem}
        specs = self._specs()
        rounds: list[dict[str, dict[str, Any]]] = []
        for number in range(self.rounds):
            order = EXECUTORS if number % 2 == 0 else tuple(reversed(EXECUTORS))
            rounds.append({executor: self._one(executor, specs) for executor in order})
        runs = rounds[0]
        result: dict[str, Any] = {"goal": RATIO_GOAL, "rounds": self.rounds, "stages": {}}
        for stage in STAGES:

            def best(executor: str, measure: str, stage: str = stage) -> float:
                return min(r[executor][measure][stage] for r in rounds)

            local, docker = best("local", "seconds"), best("docker", "seconds")
            local_cpu, docker_cpu = best("local", "cpu"), best("docker", "cpu")
            result["stages"][stage] = {
                "local_seconds": local,
                "docker_seconds": docker,
                "ratio": _ratio(docker, local),
                "local_cpu_seconds": local_cpu,
                "docker_cpu_seconds": docker_cpu,
                "cpu_ratio": docker_cpu / local_cpu if local_cpu and docker_cpu else None,
                "same_outputs": all(
                    r["local"]["manifests"][stage] == r["docker"]["manifests"][stage] for r in rounds
                ),
                "all_seconds": {e: [r[e]["seconds"][stage] for r in rounds] for e in EXECUTORS},
                # docker / local of each round: two runs next to each other in time
                "round_ratios": [
                    _ratio(r["docker"]["seconds"][stage], r["local"]["seconds"][stage]) for r in rounds
                ],
                "files": len(runs["local"]["manifests"][stage]),
            }
        for run in runs.values():
            set_aside(Path(run["state"]))  # deleted when make bench ends, after the live loop's case
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
        "| stage | local s | docker s | docker / local | goal | local CPU s | docker CPU s | CPU ratio "
        "| same output files |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for stage, row in found["stages"].items():
        ratio = row["ratio"]
        met = "met" if ratio is not None and ratio <= found["goal"] else "missed"
        rows.append(
            f"| {stage} | {row['local_seconds']:.1f} | {row['docker_seconds']:.1f} | "
            f"{ratio:.2f} x | <= {found['goal']} x ({met}) | {row['local_cpu_seconds']:.1f} | "
            f"{row['docker_cpu_seconds']:.1f} | {_times(row['cpu_ratio'])} | "
            f"{'yes' if row['same_outputs'] else 'NO'} ({row['files']:,} files) |"
        )
    spread = [
        f"{stage} {', '.join(_times(ratio) for ratio in row['round_ratios'])}"
        for stage, row in found["stages"].items()
        if row.get("round_ratios")
    ]
    lines = [
        HEADING,
        "",
        "Ingest and features from a fresh state with `run --executor local`, then with "
        "`run --executor docker` (each pipeline's datums in its image, one warm container per worker), "
        f"{found.get('rounds', 1)} round(s), the order swapped each round, the fastest round shown; "
        "times are the jobs' own seconds; CPU seconds: the runner's processes, plus the containers' "
        "cgroup for docker. Output files compared by content hash. See bench/executor.py for why the "
        "two ratios part on a busy machine.",
        "",
        *rows,
        "",
    ]
    if spread:
        lines += [f"Each round's docker / local (its two runs, next to each other): {'; '.join(spread)}.", ""]
    return lines


def _ratio(docker: float, local: float) -> float | None:
    return docker / local if local else None


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f} x"


def missed_goals(results: dict[str, Any]) -> list[str]:
    found = results.get("executors") or {}
    return [
        f"{stage}: docker / local time <= {found['goal']}"
        for stage, row in found.get("stages", {}).items()
        if row["ratio"] is None or row["ratio"] > found["goal"]
    ]
