"""The parts of docs/ that are generated, never written by hand.

    python -m tools.docgen graph docs/architecture.md     # make docs-graph
    python -m tools.docgen run-log --out docs/pipeline-run.log   # make run-log
    python -m tools.docgen test-time README.md                   # make test-time

`graph` replaces what lies between the BEGIN/END markers of the document: the DAG as Mermaid
(from `python -m runner graph -f specs/`) and a table of the specs. `run-log` runs
`make pipeline` on the bundled sample in a fresh runner state, twice, and keeps the output
with the runner's job list and job logs. `test-time` runs `make test` and writes how long it took,
with the machine it ran on, into the README's TEST TIME marker (one line, inside a table cell).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from deploy.specs import PipelineSpec, dag_order, load_specs

REPO_ROOT = Path(__file__).resolve().parent.parent
GRAPH_BEGIN = "<!-- BEGIN GENERATED DAG: make docs-graph (python -m runner graph -f specs/) -->"
GRAPH_END = "<!-- END GENERATED DAG -->"
TABLE_BEGIN = "<!-- BEGIN GENERATED SPEC TABLE: make docs-graph (from specs/*.json) -->"
TABLE_END = "<!-- END GENERATED SPEC TABLE -->"


TEST_TIME_BEGIN = "<!-- BEGIN GENERATED TEST TIME: make test-time -->"
TEST_TIME_END = "<!-- END GENERATED TEST TIME -->"
PYTEST_SUMMARY = re.compile(r"^=* ?(?P<passed>\d+) passed.* in (?P<seconds>[\d.]+)s")
#: The Makefile's default number of pytest processes of `make test` (TEST_WORKERS in the environment wins).
TEST_WORKERS_DEFAULT = re.compile(r"^TEST_WORKERS\s*\?=\s*(\d+)\s*$", re.MULTILINE)


class MarkerError(Exception):
    """The document lacks a BEGIN/END marker pair; the message names the file and the marker."""


def runner_graph(specs_dir: Path) -> str:
    """The Mermaid text `python -m runner graph -f <specs_dir>` prints."""
    result = subprocess.run(
        [sys.executable, "-m", "runner", "graph", "-f", str(specs_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _inputs_cell(spec: PipelineSpec) -> str:
    from runner.spec import load_spec

    parsed = load_spec(spec.path)
    if parsed.input is None:
        return "-"
    operator = f"{parsed.input.operator} of " if parsed.input.operator else ""
    pfs = [f"`{p.name}` = `{p.repo}:{p.glob}`" for p in parsed.input.pfs_inputs()]
    return operator + ", ".join(pfs)


def _requests_cell(raw: dict) -> str:
    requests = raw.get("resourceRequests") or {}
    return ", ".join(f"{key} {value}" for key, value in requests.items()) or "-"


def spec_table(specs_dir: Path) -> str:
    """A Markdown table of the specs in DAG order: inputs, image, cmd, parallelism, retries."""
    from runner.spec import load_spec

    rows = [
        "| pipeline | input (name = repo:glob) | image | cmd | parallelism | resource requests "
        "(cluster) | datum tries / timeout |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in dag_order(load_specs(specs_dir)):
        parsed = load_spec(spec.path)
        kind = " (service)" if spec.is_service else ""
        timeout = f"{parsed.datum_timeout:g} s" if parsed.datum_timeout else "none"
        retries = "- (a service)" if spec.is_service else f"{parsed.datum_tries} / {timeout}"
        cmd = " ".join(parsed.cmd).replace("|", "\\|")
        rows.append(
            f"| [`{spec.name}`](../specs/{spec.path.name}){kind} | {_inputs_cell(spec)} | `{parsed.image}` "
            f"| `{cmd}` | {parsed.parallelism} | {_requests_cell(parsed.raw)} | {retries} |"
        )
    return "\n".join(rows) + "\n"


def replace_between(text: str, begin: str, end: str, body: str, where: str) -> str:
    """``text`` with everything between the ``begin`` and ``end`` marker lines replaced by ``body``."""
    if begin not in text or end not in text:
        raise MarkerError(f"{where}: missing marker {begin if begin not in text else end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}{end}{tail}"


def render_architecture(document: str, specs_dir: Path, where: str) -> str:
    """The architecture document with its generated blocks brought up to date."""
    graph = "```mermaid\n" + runner_graph(specs_dir) + "```\n"
    document = replace_between(document, GRAPH_BEGIN, GRAPH_END, graph, where)
    return replace_between(document, TABLE_BEGIN, TABLE_END, spec_table(specs_dir), where)


def _run(command: Sequence[str], env: dict[str, str]) -> tuple[str, int, float]:
    start = time.monotonic()
    result = subprocess.run(
        list(command), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return result.stdout, result.returncode, time.monotonic() - start


def _git_commit() -> str:
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"


def write_run_log(state_dir: Path, out: Path, raw: str = "data/sample") -> int:
    """Run the pipeline twice on ``raw`` in a fresh state and write the whole transcript to ``out``."""
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    pfs_state = state_dir / "pfs"
    env = {**os.environ, "PFS_STATE": str(pfs_state), "RAW": raw}
    py = sys.executable
    runner = [py, "-m", "runner"]
    sections: list[str] = [
        "# stockpipe: log of a real local run (regenerate with `make run-log`; do not edit)",
        f"# date:    {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"# commit:  {_git_commit()}",
        f"# machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        f"# data:    RAW={raw} (the bundled real sample of the Kaggle dataset)",
        f"# state:   PFS_STATE={pfs_state} (fresh)",
        "",
    ]
    status = 0
    pipelines = [s.name for s in dag_order(load_specs(REPO_ROOT / "specs")) if not s.is_service]
    steps: list[tuple[str, list[str]]] = [
        ("first run: every datum is processed", ["make", "--no-print-directory", "pipeline"]),
        (
            "second run, same data: nothing changed, so no datum is processed again",
            ["make", "--no-print-directory", "pipeline"],
        ),
        ("the repos", [*runner, "list", "repo"]),
        ("the jobs", [*runner, "list", "job"]),
    ]
    steps += [
        (f"{name}@master and its provenance", [*runner, "inspect", "commit", f"{name}@master"])
        for name in pipelines
    ]
    steps += [(f"log of the latest {name} job", [*runner, "logs", "-p", name]) for name in pipelines]
    for title, command in steps:
        output, code, seconds = _run(command, env)
        shown = " ".join(["python" if part == py else part for part in command])
        sections += [f"## {title}", f"$ PFS_STATE={pfs_state} {shown}", output.rstrip("\n")]
        sections += [f"# exit status {code}, {seconds:.1f} s", ""]
        print(f"run-log: {shown}: exit {code} in {seconds:.1f} s", file=sys.stderr)
        status = status or code
    out.write_text("\n".join(sections) + "\n", encoding="utf-8")
    print(f"run-log: wrote {out} ({'ok' if status == 0 else f'a step failed with status {status}'})")
    return status


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (or the architecture elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.machine()


def test_workers(makefile: Path = REPO_ROOT / "Makefile") -> int:
    """How many pytest processes `make test` runs: TEST_WORKERS as make reads it (the environment wins)."""
    if os.environ.get("TEST_WORKERS"):
        return int(os.environ["TEST_WORKERS"])
    match = TEST_WORKERS_DEFAULT.search(makefile.read_text(encoding="utf-8"))
    if match is None:
        raise MarkerError(f"{makefile}: no 'TEST_WORKERS ?= N' line")
    return int(match[1])


def test_time_line(passed: int, seconds: float, wall: float, when: dt.datetime, workers: int) -> str:
    """The README's sentence about `make test`, as measured."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    processes = "1 pytest process" if workers <= 1 else f"{workers} pytest processes"
    return (
        f"ruff, then {passed} tests in {processes}: {wall:.0f} s in all ({seconds:.0f} s of tests), measured "
        f"{when:%Y-%m-%d} on {os.cpu_count()} cores ({cpu_model()}), load average {load:.1f} after"
    )


def write_test_time(document: Path) -> int:
    """Run `make test`, then put the measured line between the TEST TIME markers of ``document``."""
    start = time.monotonic()
    # The one test that checks this line cannot pass while it is being measured: left out of the run.
    deselect = (
        "--deselect=tests/docs/test_docs.py::test_readme_test_time_is_a_measured_line_naming_the_machine"
    )
    output, code, _ = _run(
        ["make", "--no-print-directory", "test", f"PYTEST_ARGS={deselect}"], dict(os.environ)
    )
    wall = time.monotonic() - start
    if code != 0:
        print(output[-3000:], file=sys.stderr)
        print(f"docgen: make test failed (exit {code}); {document} left as it was", file=sys.stderr)
        return 1
    match = next((m for line in output.splitlines() if (m := PYTEST_SUMMARY.match(line.strip()))), None)
    if match is None:
        print("docgen: no pytest summary line in the output of make test", file=sys.stderr)
        return 1
    line = test_time_line(
        int(match["passed"]), float(match["seconds"]), wall, dt.datetime.now(dt.UTC), test_workers()
    )
    text = document.read_text(encoding="utf-8")
    if TEST_TIME_BEGIN not in text or TEST_TIME_END not in text:
        raise MarkerError(f"{document}: missing marker {TEST_TIME_BEGIN}")
    head, rest = text.split(TEST_TIME_BEGIN, 1)
    _, tail = rest.split(TEST_TIME_END, 1)
    document.write_text(f"{head}{TEST_TIME_BEGIN}{line}{TEST_TIME_END}{tail}", encoding="utf-8")
    print(f"docgen: {document}: {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docgen", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    graph = verbs.add_parser("graph", help="redraw the generated blocks of the architecture document")
    graph.add_argument("document", type=Path, help="e.g. docs/architecture.md")
    graph.add_argument("--specs", type=Path, default=REPO_ROOT / "specs")
    log = verbs.add_parser("run-log", help="run make pipeline in a fresh state and keep the transcript")
    log.add_argument("--state", type=Path, default=Path("build/run-log"), help="fresh folder for the state")
    log.add_argument("--out", type=Path, default=Path("docs/pipeline-run.log"))
    log.add_argument("--raw", default="data/sample", help="what make pipeline puts into raw")
    timing = verbs.add_parser("test-time", help="run make test and write how long it took into the README")
    timing.add_argument("document", type=Path, help="e.g. README.md")
    args = parser.parse_args(argv)
    if args.verb == "test-time":
        try:
            return write_test_time(args.document)
        except (MarkerError, OSError) as exc:
            print(f"docgen: {exc}", file=sys.stderr)
            return 1
    if args.verb == "graph":
        try:
            text = args.document.read_text(encoding="utf-8")
            args.document.write_text(
                render_architecture(text, args.specs, str(args.document)), encoding="utf-8"
            )
        except (MarkerError, OSError) as exc:
            print(f"docgen: {exc}", file=sys.stderr)
            return 1
        print(f"docgen: redrew the DAG and spec table of {args.document}")
        return 0
    return write_run_log(args.state, args.out, args.raw)


if __name__ == "__main__":
    raise SystemExit(main())
