"""The job verbs of ``python -m runner``: ``list job`` and ``inspect job`` (with the progress of
running jobs), ``inspect datum``, ``logs``, ``debug datum`` and ``up``."""

from __future__ import annotations

import argparse
import os
import sys

from runner.cli_output import print_fields, print_json, table
from runner.debug import stage_datum
from runner.executors import ExecutorUnavailable, executor_for
from runner.job_progress import job_progress
from runner.jobs import JobFailed
from runner.loop import up
from runner.records import DatumRecord, DatumState, JobRecord
from runner.state import State, StateError

#: Datum states in which a job ran the datum (and so holds its log).
RAN = (DatumState.SUCCESS, DatumState.FAILED)


def job_of(state: State, target: str) -> JobRecord:
    """``PIPELINE`` (latest job), ``PIPELINE@JOB`` or ``JOB``."""
    name, _, ref = target.partition("@")
    if ref:
        return state.job(ref)
    if state.has_pipeline(name):
        jobs = state.list_jobs(name)
        if not jobs:
            raise StateError(f"pipeline {name!r} has no jobs yet (run: python -m runner run)")
        return jobs[-1]
    return state.job(name)


def list_job(args: argparse.Namespace, state: State) -> None:
    if args.pipeline:
        state.pipeline(args.pipeline)  # an unknown name is an error, not an empty list
    jobs = list(reversed(state.list_jobs(args.pipeline)))
    if args.json:
        print_json([j.to_json() for j in jobs])
        return
    rows = [["JOB", "PIPELINE", "STARTED", "STATE", "DATUMS", "PROCESSED", "SKIPPED", "FAILED", "SECONDS"]]
    notes = []
    for j in jobs:
        d = j.datums
        rows.append(
            [j.id, j.pipeline, j.started, j.observed_state().value, str(d.total), str(d.processed),
             str(d.skipped), str(d.failed), "" if j.seconds is None else str(j.seconds)]
        )  # fmt: skip
        progress = job_progress(state, j)
        if progress:
            notes.append(f"{j.pipeline} job {j.id[:12]} running: {progress.describe()}")
    print(table(rows), end="")
    for note in notes:
        print(note)


def inspect_job(args: argparse.Namespace, state: State) -> int:
    job = state.job(args.job)
    doc = job.to_json()
    progress = job_progress(state, job)
    if progress:
        doc["progress"] = {
            "done": progress.done,
            "total": progress.total,
            "last_log_lines": progress.last_lines,
        }
    print_fields(doc, args.json)
    return 0


def _find_datum(state: State, job: JobRecord, prefix: str) -> DatumRecord:
    matches = [d for d in state.datum_list(job.id) if d.id.startswith(prefix)]
    if len(matches) != 1:
        why = "no such datum" if not matches else f"ambiguous datum prefix ({len(matches)} matches)"
        raise StateError(
            f"datum {prefix!r} in job {job.id}: {why} (see: python -m runner list datum {job.id})"
        )
    return matches[0]


def inspect_datum(args: argparse.Namespace, state: State) -> int:
    job = job_of(state, args.job)
    datum = _find_datum(state, job, args.datum)
    ran_in = job if datum.state in RAN else _job_that_ran(state, job.pipeline, datum.id)
    doc = {
        "id": datum.id,
        "job": job.id,
        "pipeline": job.pipeline,
        "state": datum.state.value,
        "hash": datum.hash,
        "inputs": [i.to_json() for i in datum.inputs],
        "files": datum.files,
        "processed_by_job": ran_in.id if ran_in else None,
        "failure": next((f.error for f in job.failed_datums if f.datum == datum.id), None),
    }
    print_fields(doc, args.json)
    return 0


def _job_that_ran(state: State, pipeline: str | None, datum_prefix: str) -> JobRecord | None:
    """The newest job (of ``pipeline``, or any) that ran a datum with this id (prefix)."""
    for job in reversed(state.list_jobs(pipeline)):
        if any(d.id.startswith(datum_prefix) and d.state in RAN for d in state.datum_list(job.id)):
            return job
    return None


def logs(args: argparse.Namespace, state: State) -> int:
    if args.pipeline:
        state.pipeline(args.pipeline)
    if args.job:
        job: JobRecord | None = state.job(args.job)
    else:
        jobs = state.list_jobs(args.pipeline)
        if not jobs:
            raise StateError("no jobs yet" + (f" for pipeline {args.pipeline}" if args.pipeline else ""))
        job = jobs[-1]
    if (
        args.datum
        and job is not None
        and not any(d.id.startswith(args.datum) and d.state in RAN for d in state.datum_list(job.id))
    ):
        ran = None if args.job else _job_that_ran(state, args.pipeline, args.datum)
        if ran is None:
            where = (
                f"job {job.id}" if args.job else f"any job{f' of {args.pipeline}' if args.pipeline else ''}"
            )
            raise StateError(
                f"datum {args.datum!r}: not run by {where}, so it has no log there "
                f"(see: python -m runner list datum {job.id})"
            )
        print(f"datum {args.datum}: skipped by the latest job; its log is from job {ran.id}", file=sys.stderr)
        job = ran
    assert job is not None
    with open(state.job_dir(job.id) / "job.log", encoding="utf-8") as fh:
        for line in fh:
            if not args.datum or line.startswith(args.datum):
                sys.stdout.write(line)
    return 0


def up_verb(args: argparse.Namespace, state: State) -> int:
    overrides = {k: v for k, v in (("HOST", args.host), ("PORT", args.port)) if v}
    try:
        return up(
            state,
            os.getcwd(),
            sys.stdout,
            cores=args.cores,
            service_overrides=overrides,
            executor=executor_for(args.executor),
        )
    except ExecutorUnavailable as exc:  # no daemon, a missing image: one line, exit 1
        raise JobFailed(str(exc)) from None


def debug_datum(args: argparse.Namespace, state: State) -> int:
    staged = stage_datum(state, args.job, args.datum)
    executor = executor_for(args.executor)
    where = f" in {staged.spec.image}" if executor.kind.value == "docker" else ""
    print(f"datum {staged.datum.id} ({staged.datum.describe()}) staged at {staged.pfs_root}", file=sys.stderr)
    print(f"running{where}: {' '.join(staged.command(executor))}", file=sys.stderr, flush=True)
    try:
        ok, log = staged.run(executor)
    except ExecutorUnavailable as exc:
        raise JobFailed(str(exc)) from None
    sys.stderr.write(log if not log or log.endswith("\n") else log + "\n")
    status = "succeeded" if ok else "failed"
    print(
        f"datum {status}; output in {staged.pfs_root / 'out'}, log in {staged.root / 'datum.log'} "
        "(kept for inspection)",
        file=sys.stderr,
    )
    return 0 if ok else 1
