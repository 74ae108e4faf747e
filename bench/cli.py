"""``python -m bench``: benchmark the whole pipeline at a given scale and write the report."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bench.commands import CommandFailed
from bench.executor import DEFAULT_ROUNDS, ExecutorBench, missed_goals
from bench.loop import LoopBenchFailed, has_service, measure_loop
from bench.pipeline import REPO_ROOT, Bench, BenchConfig
from bench.report import STAGES_HEADING, evaluate_goals, render_markdown, write_readme_summary, write_report
from bench.trash import empty_trash, wait_for_deletions_to_settle

EXAMPLE = """examples:
  make bench                    # SCALE=1.0: ~26 M rows; writes docs/benchmarks.md
  make bench SCALE=0.05         # quick check; writes build/bench/scale-0.05/benchmarks.md
  python -m bench --scale 0.05 --no-runner-datums
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run ingest, features and train through the local runner on the synthetic dataset "
        "(generated if missing), measure each stage and the bulk baselines, and write the report.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", type=float, default=1.0, help="dataset scale (default 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--data", type=Path, help="dataset folder (default data/synth/scale-<S>)")
    parser.add_argument("--work", type=Path, help="runner state and outputs (default build/bench/scale-<S>)")
    parser.add_argument("--specs", type=Path, default=REPO_ROOT / "specs", help="folder of pipeline specs")
    parser.add_argument(
        "--doc", type=Path, help="report (default docs/benchmarks.md at scale 1.0, else in --work)"
    )
    parser.add_argument(
        "--no-runner-datums", action="store_true", help="skip the runner's 8,000-datum benchmark"
    )
    parser.add_argument("--no-loop", action="store_true", help="skip the live loop's case (bench/loop.py)")
    parser.add_argument(
        "--no-executors",
        action="store_true",
        help="skip ingest and features with the docker executor against the local one",
    )
    parser.add_argument(
        "--executor-rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"rounds of the executor comparison, the order swapped each round (default {DEFAULT_ROUNDS})",
    )
    return parser.parse_args(argv)


def _trash_parents(work: Path) -> list[Path]:
    """The folders where the cases set their replaced states aside (bench/trash.py)."""
    return [work.parent, work, work / "executors"]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr, force=True)
    args = parse_args(argv)
    label = f"scale-{args.scale:g}" if args.scale != 1.0 else "scale-1.0"
    work = args.work or REPO_ROOT / "build" / "bench" / label
    doc = args.doc or (REPO_ROOT / "docs" / "benchmarks.md" if args.scale == 1.0 else work / "benchmarks.md")
    config = BenchConfig(
        scale=args.scale,
        seed=args.seed,
        data_dir=args.data or REPO_ROOT / "data" / "synth" / label,
        work_dir=work,
        specs=args.specs,
        runner_datums=not args.no_runner_datums,
    )
    bench = Bench(config, echo=lambda line: print(line, flush=True))
    waited = wait_for_deletions_to_settle(_trash_parents(work), bench.echo)
    try:
        results = bench.run()
        results["waited_for_deletions_s"] = round(waited, 1)
        if not args.no_executors and results["run"].get("returncode") == 0:
            results["executors"] = ExecutorBench(
                config.data_dir, config.specs, work / "executors", REPO_ROOT, bench.echo, args.executor_rounds
            ).run()
    except CommandFailed as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    if not has_service(config.specs):
        bench.echo("== live loop: not measured, the specs have no service pipeline")
    elif not args.no_loop and results["run"].get("returncode") == 0:
        try:
            results["loop"] = measure_loop(config.data_dir, work, config.specs, bench.echo)
        except (LoopBenchFailed, CommandFailed) as e:
            print(f"bench: live loop: {e}", file=sys.stderr)
            results["loop"] = {"error": str(e)}
    # Every deletion waits until here: on this machine's ext4 a file created within minutes of a
    # large deletion pays for it (bench/trash.py), so deleting between the cases slowed the next one.
    for parent in _trash_parents(work):
        empty_trash(parent)
    results_file = work / "results.json"
    results_file.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    write_report(doc, results)
    if args.scale == 1.0 and args.doc is None:
        write_readme_summary(REPO_ROOT / "README.md", results)
    report = render_markdown(results)
    print("\n" + report[report.index(STAGES_HEADING) :], end="")
    missed = [g.name for g in evaluate_goals(results) if g.met is False] + missed_goals(results)
    print(f"\nbench: {len(missed)} goal(s) missed{': ' + '; '.join(missed) if missed else ''}")
    print(f"bench: report {doc}, raw numbers {results_file}")
    if results["run"].get("returncode"):
        print(f"bench: the pipeline run failed: {results['run']['failure']}", file=sys.stderr)
        return 1
    return 0
