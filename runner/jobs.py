"""Jobs: run a pipeline over its input commits, skipping unchanged datums, and commit the output.

``run_pipelines(state)`` is the ``run`` verb: it takes the pipelines in DAG order and runs a job
for each one whose input heads (or spec) differ from those its output head was made from,
until nothing is left. A job:

1. lists the datums of the input commits (datums.py) and looks each datum's hash up in the
   pipeline's datum cache (``.pipelines/<name>.datums.jsonl``): a hit is skipped and its earlier
   output reused; the cache is appended after every successful datum, so an interrupted job
   loses no finished work. A datum's hash covers its inputs' paths and contents and the
   pipeline's salt only, as Pachyderm's ``HashDatum`` (src/server/worker/common/common.go):
   a changed ``cmd`` or image reruns nothing, ``update pipeline --reprocess`` (a new salt) all;
2. runs the other datums in a worker pool (workers.py), retrying each up to ``datumTries``; a
   datum whose ``cmd`` fails every try and whose ``errCmd`` succeeds is recovered (no output,
   not cached, the job still succeeds);
3. merges the outputs of all datums (a path written by two datums, or a file one datum writes
   where another writes a folder, fails the job naming both) and finishes the output commit
   with its provenance: input commits, spec hash, job id. The output commit takes the id of the
   input commit that caused it (Pachyderm 2.x's global ids: a put and every commit it causes
   downstream share one id), or a new id when only the pipeline changed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from runner.capabilities import LocalOptions
from runner.cron_ticks import tick_now
from runner.datums import Datum, compute_datums, input_tree
from runner.executors import Executor, ExecutorUnavailable, LocalExecutor
from runner.pause_clock import pause_file
from runner.records import (
    DatumCounts,
    DatumInputRecord,
    DatumRecord,
    DatumState,
    FailedDatum,
    InputCommit,
    JobRecord,
    JobState,
    PipelineRecord,
)
from runner.spec import Spec
from runner.standby import imports_file
from runner.state import State, StateError, new_id, now_iso
from runner.visible import make_link, remove_link
from runner.workers import JobConfig, Result, Task, WorkerPool

try:  # Pachyderm's ValidateFilename rules, from the branch that hardens put file
    from runner.paths import filename_problem
except ImportError:  # HOOK: until runner/paths.py is merged, output names are not checked
    filename_problem = None

log = logging.getLogger(__name__)
Outputs = dict[str, tuple[str, int]]
#: ``reprocessSpec`` that ignores the datum cache: every datum of every job runs.
REPROCESS_EVERY_JOB = "every_job"


class JobFailed(RuntimeError):
    """A job failed; the message is the one-line reason for the user."""


@dataclass
class JobOutcome:
    job_id: str
    pipeline: str
    ok: bool
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    recovered: int = 0
    total: int = 0
    seconds: float = 0.0
    reason: str = ""
    output_commit: str | None = None

    def summary(self) -> str:
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        shown_rate = f"{rate:.0f}" if rate >= 10 else f"{rate:.2f}"
        status = "ok" if self.ok else "FAILED"
        recovered = f", {self.recovered} recovered" if self.recovered else ""
        return (
            f"{self.pipeline}: job {self.job_id} {status}: {self.total} datums, {self.processed} processed, "
            f"{self.skipped} skipped, {self.failed} failed{recovered} in {self.seconds:.2f}s "
            f"({shown_rate} datums/s)"
        )


class Progress:
    """``ingest  1234/8049 datums  412/s`` refreshed in place on a terminal, silent otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label, self.total, self.done = label, total, 0
        self.started = self.last = time.perf_counter()

    def tick(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (not force and now - self.last < 0.1):
            return
        self.last = now
        rate = self.done / (now - self.started) if now > self.started else 0.0
        self.stream.write(f"\r{self.label}  {self.done}/{self.total} datums  {rate:.0f}/s\033[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


@dataclass(frozen=True)
class CacheEntry:
    """One line of a pipeline's datum cache: a datum that succeeded, and the files it wrote."""

    hash: str
    id: str
    outputs: Outputs

    def line(self) -> str:
        doc = {"hash": self.hash, "id": self.id, "outputs": self.outputs}
        return json.dumps(doc, separators=(",", ":")) + "\n"


def load_cache(path: Path) -> dict[str, CacheEntry]:
    """Datum hash → its cache entry; a torn last line (killed mid-write) is ignored."""
    cache: dict[str, CacheEntry] = {}
    if not path.exists():
        return cache
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                doc = json.loads(line)
                entry = CacheEntry(
                    doc["hash"], doc["id"], {p: (b[0], b[1]) for p, b in doc["outputs"].items()}
                )
            except (json.JSONDecodeError, KeyError, TypeError, IndexError):
                continue
            cache[entry.hash] = entry
    return cache


def rewrite_cache(path: Path, entries: list[CacheEntry]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for entry in entries:
            fh.write(entry.line())
    os.replace(tmp, path)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(empty log)"


@dataclass
class _JobRun:
    """Book-keeping of one running job."""

    state: State
    spec: Spec
    job: JobRecord
    datums: dict[str, Datum]
    cache_fh: TextIO
    log_fh: TextIO
    progress: Progress
    outputs: dict[str, Outputs] = field(default_factory=dict)
    failures: dict[str, Result] = field(default_factory=dict)
    recovered: set[str] = field(default_factory=set)
    tries: dict[str, int] = field(default_factory=dict)
    processed: int = 0
    last_flush: float = 0.0
    last_saved: float = 0.0
    #: matches a path under the folders datums are staged in (the visible link and its target): such
    #: paths in logs are shown as repo paths (``raw@<commit>:/stocks/A.csv``), the same in every run
    staging_paths: re.Pattern[str] | None = None

    def stage_in(self, *roots: str) -> None:
        """Record the staging folders (compiled once per job: ``repo_paths`` runs for every datum)."""
        alternatives = "|".join(re.escape(r) for r in roots)
        self.staging_paths = re.compile(rf"(?:{alternatives})/[^/\s]+/pfs/([^/\s]+)/?")

    def tick(self) -> None:
        """Called often by the pool: flush the datum cache (at most 5 times a second), show progress,
        and once a second record the counts so far in the job record (``list job`` shows them)."""
        now = time.perf_counter()
        if now - self.last_flush >= 0.2:
            self.cache_fh.flush()
            self.last_flush = now
        if now - self.last_saved >= 1.0:
            self.last_saved = now
            counts = self.job.datums
            counts.processed, counts.failed = self.processed, len(self.failures)
            self.state.save_job(self.job)
        self.progress.tick()

    def repo_paths(self, datum: Datum, log: str) -> str:
        """``log`` with each staged input path (``<staging>/worker-N/pfs/<input>/...``) written as the
        repo path it stands for (``<repo>@<commit>:/...``), and ``.../pfs/out`` as ``/pfs/out``."""
        if self.staging_paths is None or not log:
            return log
        where = {i.name: f"{i.repo}@{i.commit}:/" for i in datum.inputs}

        def shown(match: re.Match[str]) -> str:
            name = match.group(1)
            return "/pfs/out/" if name == "out" else where.get(name, match.group(0))

        return self.staging_paths.sub(shown, log)

    def on_result(self, result: Result) -> Task | None:
        datum = self.datums[result.datum_id]
        result = dataclasses.replace(result, log=self.repo_paths(datum, result.log))
        for line in result.log.splitlines():
            self.log_fh.write(f"{datum.id} {line}\n")
        if result.ok:
            self.outputs[datum.id] = result.outputs
            self.cache_fh.write(CacheEntry(datum.hash, datum.id, result.outputs).line())
            self.processed += 1
            self.progress.done += 1
            return None
        self.log_fh.write(f"{datum.id} runner: try {result.attempt} of {self.spec.datum_tries} failed\n")
        if result.attempt < self.spec.datum_tries:
            return Task(datum.id, result.attempt + 1, task_inputs(self.state, datum))
        self.progress.done += 1
        if result.recovered:  # errCmd succeeded after the last try (datum.go handleFailed)
            self.log_fh.write(f"{datum.id} runner: recovered by errCmd (no output)\n")
            self.recovered.add(datum.id)
            self.outputs[datum.id] = {}
            return None
        self.failures[datum.id] = result
        return None


def task_inputs(state: State, datum: Datum) -> list[tuple[str, list[tuple[str, str]], str, str]]:
    return [
        (
            i.name,
            [(path, state.objects.path(digest)) for path, digest, _ in i.files],
            i.matched,
            i.commit,
        )
        for i in datum.inputs
    ]


def job_config(
    state: State,
    spec: Spec,
    job_id: str,
    cwd: str,
    work_root: Path | None = None,
    output_commit: str = "",
    visible_root: str = "",
) -> JobConfig:
    """What every datum of a job of ``spec`` shares (``run`` and ``debug datum`` both use it)."""
    options = LocalOptions.of(spec)
    return JobConfig(
        job_id=job_id,
        pipeline=spec.name,
        cmd=spec.cmd,
        stdin=spec.stdin,
        env=spec.env,
        timeout=spec.datum_timeout,
        accept_return_codes=spec.accept_return_codes,
        cwd=cwd,
        store_root=str(state.objects.root),
        work_root=str(work_root or state.work_dir / job_id),
        lock_fds=state.lock_fds,
        visible_root=visible_root,
        project=options.project,
        output_commit=output_commit,
        err_cmd=options.err_cmd,
        err_stdin=options.err_stdin,
        working_dir=options.working_dir,
        empty_files=options.empty_files,
        pause_file=str(pause_file(state.job_dir(job_id))),
        imports_file=str(imports_file(state.root, spec.name)),
    )


def input_heads(state: State, spec: Spec) -> dict[str, str] | None:
    """repo → head commit of each input branch, or None while one has no commit yet."""
    heads = {}
    for source in input_tree(spec).sources() if spec.input else []:
        if not state.has_repo(source.repo):
            return None
        head = state.head(source.repo, getattr(source, "branch", "master"))
        if head is None:
            return None
        heads[source.repo] = head
    return heads


def _made_from(state: State, record: PipelineRecord) -> tuple[dict[str, str], str | None] | None:
    """(repo → input commit, spec hash) the pipeline's output head was made from; None if no head."""
    head = state.head(record.name, LocalOptions.of(record.spec).output_branch)
    if head is None:
        return None
    commit = state.commit(record.name, head)
    return {p["repo"]: p["commit"] for p in commit.provenance}, commit.spec_hash


def needs_job(state: State, record: PipelineRecord, heads: dict[str, str]) -> bool:
    made = _made_from(state, record)
    if made is None or made != (heads, record.effective_hash):
        return True
    head = state.head(record.name, LocalOptions.of(record.spec).output_branch)
    return bool(head and state.lost_paths(record.name, head))  # fsck --repair found no copy: remake them


def output_commit_id(state: State, record: PipelineRecord, heads: dict[str, str]) -> str:
    """The id of the commit a job over ``heads`` will write: that of the newest input commit the
    output head was not made from (its commit set: src/server/pfs/server, global ids), or a new id
    when no input moved (the pipeline was updated) or the output repo holds that id already."""
    made = _made_from(state, record)
    before = made[0] if made else {}
    moved = [(repo, commit) for repo, commit in heads.items() if before.get(repo) != commit]
    if moved:
        _repo, newest = max(moved, key=lambda rc: state.commit(rc[0], rc[1]).created)
        if not state.has_commit(record.name, newest):
            return newest
    return new_id()


def merge_outputs(
    datums: list[Datum], outputs: dict[str, Outputs]
) -> tuple[dict[str, tuple[str, int]], str | None]:
    """The output commit's files from every datum's outputs, or the reason the job fails: a path two
    datums wrote, a file one datum wrote where another wrote a folder (src/internal/storage/fileset/
    validator.go ``CheckIndex``), or a name Pachyderm refuses (datum.go ``uploadOutput``:
    ``ValidateFilename``). Each names the datums and their inputs."""
    merged: dict[str, tuple[str, int]] = {}
    owner: dict[str, Datum] = {}
    for datum in datums:
        for path, blob in outputs[datum.id].items():
            problem = filename_problem(path) if filename_problem is not None else None
            if problem:
                return merged, (
                    f"datum {datum.id} ({datum.describe()}) wrote {path!r}, a file name Pachyderm "
                    f"refuses: {problem}"
                )
            if path in owner:
                first = owner[path]
                return merged, (
                    f"datums {first.id} ({first.describe()}) and {datum.id} ({datum.describe()}) "
                    f"both wrote {path}; each output path must come from one datum"
                )
            owner[path] = datum
            merged[path] = (blob[0], blob[1])
    folders: dict[str, str] = {}  # folder → a file below it
    for path in merged:
        parent = path.rpartition("/")[0]
        while parent and parent not in folders:
            folders[parent] = path
            parent = parent.rpartition("/")[0]
    for path in merged:
        if path in folders:
            below = folders[path]
            first, other = owner[path], owner[below]
            return merged, (
                f"file / directory path collision: datum {first.id} ({first.describe()}) wrote the "
                f"file {path} and datum {other.id} ({other.describe()}) wrote {below} below it"
            )
    return merged, None


def run_job(
    state: State,
    record: PipelineRecord,
    heads: dict[str, str],
    cwd: str,
    max_workers: int | None = None,
    quiet: bool = False,
    executor: Executor | None = None,
) -> JobOutcome:
    """Run one job of the pipeline ``record`` over the input ``heads``; commit its output on success.
    Its datums run where ``executor`` puts them (default: this machine's Python, ``LocalExecutor``).

    ``quiet``: no progress line on the terminal (``up`` runs several jobs at once).
    """
    spec = record.spec
    options = LocalOptions.of(spec)
    started = time.perf_counter()
    job_id = new_id()
    executor = executor or LocalExecutor()
    try:
        start_runner = executor.prepare(spec, job_id)
    except ExecutorUnavailable as exc:
        raise JobFailed(str(exc)) from None
    shash = record.effective_hash
    commit_id = output_commit_id(state, record, heads)
    manifests = {repo: state.files(repo, commit) for repo, commit in heads.items()}
    # The datum hash covers the inputs and the pipeline's salt, not the spec (HashDatum).
    datums = compute_datums(input_tree(spec), heads, manifests, record.salt) if spec.input else []
    branches = (
        {s.repo: getattr(s, "branch", "master") for s in input_tree(spec).sources()} if spec.input else {}
    )
    job_dir = state.job_dir(job_id)
    job_dir.mkdir(parents=True)
    job = JobRecord(
        id=job_id,
        pipeline=spec.name,
        state=JobState.RUNNING,
        started=now_iso(),
        pid=os.getpid(),
        spec_hash=shash,
        inputs=[InputCommit(r, c) for r, c in heads.items()],
        datums=DatumCounts(total=len(datums)),
    )
    state.save_job(job)
    cache_path = state.datum_cache_file(spec.name)
    every_job = spec.reprocess_spec == REPROCESS_EVERY_JOB
    cache = {} if every_job else load_cache(cache_path)
    intact = state.objects.intact  # a cached output that was deleted or changed: its datum runs again
    skipped = {
        d.id: cache[d.hash].outputs
        for d in datums
        if d.hash in cache and all(intact(*blob) for blob in cache[d.hash].outputs.values())
    }
    to_run = [d for d in datums if d.id not in skipped]
    progress = Progress(spec.name, len(datums))
    progress.enabled = progress.enabled and not quiet
    progress.done = len(skipped)
    job.datums.skipped = len(skipped)
    workers = min(spec.parallelism, os.cpu_count() or 1, max_workers or 1 << 30, max(1, len(to_run)))
    outcome = JobOutcome(job_id, spec.name, ok=False, total=len(datums), skipped=len(skipped))
    with (
        open(cache_path, "a", encoding="utf-8") as cache_fh,
        open(job_dir / "job.log", "a", encoding="utf-8") as log_fh,
    ):
        log_fh.write(f"job {job_id} pipeline {spec.name}: {len(datums)} datums, {len(skipped)} skipped\n")
        book = _JobRun(state, spec, job, {d.id: d for d in datums}, cache_fh, log_fh, progress)
        book.outputs.update(skipped)
        if to_run:
            work_root = state.work_dir / job_id
            work_root.mkdir(parents=True, exist_ok=True)
            visible = make_link(work_root, job_id)
            book.stage_in(visible, str(work_root))
            pool = WorkerPool(
                workers,
                job_config(state, spec, job_id, cwd, output_commit=commit_id, visible_root=visible),
                start_runner,
            )
            try:
                pool.run(
                    deque(Task(d.id, 1, task_inputs(state, d)) for d in to_run),
                    book.on_result,
                    book.tick,
                )
            except BaseException:
                pool.close(kill=True)
                executor.finish(job_id)
                progress.close()
                job.state, job.finished, job.reason = JobState.KILLED, now_iso(), "interrupted"
                state.save_job(job)
                remove_link(visible)
                shutil.rmtree(work_root, ignore_errors=True)
                raise
            pool.close()
            executor.finish(job_id)
            remove_link(visible)
            shutil.rmtree(work_root, ignore_errors=True)
        progress.close()
    outcome.processed, outcome.failed = book.processed, len(book.failures)
    outcome.recovered = len(book.recovered)
    _write_datum_list(state, job_id, datums, skipped, book)
    if book.failures:
        outcome.reason = _failure_reason(state, job_id, spec, book)
    else:
        merged, collision = merge_outputs(datums, book.outputs)
        if collision:
            outcome.reason = f"{spec.name}: job {job_id} failed: {collision}"
        else:
            try:
                commit = state.make_commit(
                    spec.name,
                    options.output_branch,
                    merged,
                    provenance=[{"repo": r, "commit": c, "branch": branches[r]} for r, c in heads.items()],
                    spec_hash=shash,
                    job=job_id,
                    commit_id=commit_id,
                )
            except (OSError, StateError) as exc:  # recorded as the job's failure, never left running
                outcome.reason = f"{spec.name}: job {job_id} failed: cannot write the output commit: {exc}"
            else:
                outcome.ok, outcome.output_commit = True, commit.id
                if not every_job:  # the cache holds the datums of the last successful job
                    cached = [d for d in datums if d.id not in book.recovered]
                    rewrite_cache(cache_path, [CacheEntry(d.hash, d.id, book.outputs[d.id]) for d in cached])
    outcome.seconds = time.perf_counter() - started
    job.state = JobState.SUCCESS if outcome.ok else JobState.FAILURE
    job.finished = now_iso()
    job.output_commit = outcome.output_commit
    job.reason = outcome.reason
    job.seconds = round(outcome.seconds, 3)
    job.datums = DatumCounts(
        outcome.total, outcome.processed, outcome.skipped, outcome.failed, outcome.recovered
    )
    state.save_job(job)
    with open(job_dir / "job.log", "a", encoding="utf-8") as log_fh:
        log_fh.write(outcome.summary() + "\n")
    return outcome


def _write_datum_list(
    state: State, job_id: str, datums: list[Datum], skipped: dict[str, Outputs], book: _JobRun
) -> None:
    rows = []
    for d in datums:
        if d.id in skipped:
            status = DatumState.SKIPPED
        elif d.id in book.failures:
            status = DatumState.FAILED
        elif d.id in book.recovered:
            status = DatumState.RECOVERED
        elif d.id in book.outputs:
            status = DatumState.SUCCESS
        else:
            status = DatumState.NOT_RUN
        rows.append(
            DatumRecord(
                id=d.id,
                state=status,
                hash=d.hash,
                inputs=[DatumInputRecord(i.name, i.repo, i.commit, i.matched) for i in d.inputs],
                files=[f"{i.name}:{p}" for i in d.inputs for p, _, _ in i.files],
            )
        )
    state.save_datum_list(job_id, rows)


def _failure_reason(state: State, job_id: str, spec: Spec, book: _JobRun) -> str:
    logs = state.job_dir(job_id) / "logs"
    logs.mkdir(exist_ok=True)
    failed = []
    for did, result in book.failures.items():
        datum = book.datums[did]
        (logs / f"{did}.log").write_text(result.log, encoding="utf-8")
        failed.append(
            FailedDatum(
                datum=did,
                inputs=[f"{i.name}:{p}" for i in datum.inputs for p, _, _ in i.files],
                tries=result.attempt,
                error=last_line(result.log),
            )
        )
    book.job.failed_datums = failed
    first = failed[0]
    datum = book.datums[first.datum]
    files = ", ".join(first.inputs[:4]) + (
        f" (+{len(first.inputs) - 4} files)" if len(first.inputs) > 4 else ""
    )
    more = f" (and {len(failed) - 1} more failed datums)" if len(failed) > 1 else ""
    return (
        f"{spec.name}: job {job_id} failed: datum {datum.id} ({files}) failed after {first.tries} "
        f"tries: {first.error}{more}  [log: python -m runner logs --job {job_id[:12]} --datum {datum.id}; "
        f"debug: python -m runner debug datum {job_id[:12]} {datum.id}]"
    )


def topo_order(records: list[PipelineRecord]) -> list[PipelineRecord]:
    """Pipelines ordered so each comes after the pipelines whose output repos it reads."""
    specs = {r.name: r.spec for r in records}
    by_name = {r.name: r for r in records}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise JobFailed(f"pipelines form a cycle through {name!r}")
        visiting.add(name)
        for repo in specs[name].input_repos:
            if repo in specs:
                visit(repo)
        visiting.discard(name)
        order.append(name)

    for name in sorted(specs):
        visit(name)
    return [by_name[n] for n in order]


def run_pipelines(
    state: State, cwd: str, out: TextIO, max_workers: int | None = None, executor: Executor | None = None
) -> list[JobOutcome]:
    """The ``run`` verb: jobs for every pipeline with new input commits, in DAG order, until none is left.
    ``executor`` runs the datums (default: locally); it checks every pipeline before the first job."""
    outcomes: list[JobOutcome] = []
    blocked: set[str] = set()
    noted: set[str] = set()
    verified: set[tuple[str, str]] = set()
    records = topo_order(state.list_pipelines())
    executor = executor or LocalExecutor()
    try:
        executor.check([r.spec for r in records if not r.spec.is_service])
    except ExecutorUnavailable as exc:
        raise JobFailed(str(exc)) from None
    for record in records:  # one tick of each cron input per run (runner/cron_ticks.py)
        tick_now(state, record.spec)
    records_by_name = {r.name for r in records}
    while True:
        progressed = False
        for record in records:
            spec = record.spec
            if spec.name in blocked:
                continue
            if any(repo in blocked for repo in spec.input_repos):
                blocked.add(spec.name)
                out.write(f"{spec.name}: not run, an upstream pipeline failed\n")
                continue
            if spec.is_service:
                if spec.name not in noted:
                    out.write(
                        f"{spec.name}: service pipeline, not run by `run` "
                        "(start it locally with `make serve`)\n"
                    )
                    noted.add(spec.name)
                continue
            heads = input_heads(state, spec)
            if heads is None:
                if spec.name not in noted:
                    out.write(f"{spec.name}: waiting for a commit in {', '.join(spec.input_repos)}\n")
                    noted.add(spec.name)
                continue
            for repo, commit in heads.items():
                # A changed file of an input repo is refused even with nothing to do; outputs of
                # pipelines are checked when a job stages them (cost: docs/runner-performance.md).
                if (repo, commit) not in verified and repo not in records_by_name:
                    state.files(repo, commit)
                    verified.add((repo, commit))
            if not needs_job(state, record, heads):
                continue
            outcome = run_job(state, record, heads, cwd, max_workers, executor=executor)
            outcomes.append(outcome)
            out.write(outcome.summary() + "\n")
            out.flush()
            progressed = True
            if not outcome.ok:
                blocked.add(spec.name)
        if not progressed:
            return outcomes
