"""The process a job of ``runner up`` runs in: forked when the job starts, or ahead of it as a
standby that has its pipeline's imports done (runner/standby.py) and waits for the job.

Either way the process first makes itself a job process (its own process group, the loop's
signals, the background niceness, ``OMP_NUM_THREADS`` set to the job's cores), then runs
``run_job`` and sends the outcome to the loop over its pipe. A standby gets the job over the same
pipe; ``None`` (or the pipe's end) stops it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from runner.children import die_with_parent
from runner.cpu_weight import lower_own_weight, set_session_weight
from runner.executors import Executor, LocalExecutor
from runner.jobs import JobOutcome, run_job
from runner.records import PipelineRecord
from runner.standby import import_ahead
from runner.state import State

#: Niceness of background jobs' processes (19 is the lowest priority).
BACKGROUND_NICE = 19


def become_job_process(cores: int, background: bool, own_session: bool = False) -> bool:
    """Its own process group, the loop's signals, its priority and thread budget; returns whether
    it is in a session of its own.

    A background job, and a standby (``own_session``), runs in a session of its own: Linux weighs
    sessions against each other (autogroup, runner/cpu_weight.py), so a process's nice only counts
    against the processes of its own session. In the loop's session a nice-19 job would still get
    the loop's whole weight against a service's session; in its own, at nice 19, it gets what the
    service and the critical jobs leave. (The loop does not make these processes group leaders
    itself, or ``setsid`` would fail; a session's weight is only ever set by its own processes.)"""
    own = False
    if background or own_session:
        try:
            os.setsid()
            own = True
        except OSError:
            pass
    if not own:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the loop decides what Ctrl-C stops

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)  # run_job kills its workers and records the job killed

    signal.signal(signal.SIGTERM, stop)
    if background:
        if own:
            lower_own_weight(BACKGROUND_NICE)  # the session's weight and the process's nice
        else:
            os.nice(BACKGROUND_NICE)
    os.environ["OMP_NUM_THREADS"] = str(cores)
    return own


@dataclass(frozen=True)
class JobOrder:
    """The job a job process runs: given when it is forked, or sent to a standby."""

    root: str
    record: PipelineRecord
    heads: dict[str, str]


def run_job_here(conn: Connection, order: JobOrder, cwd: str, cores: int, executor: Executor) -> None:
    """Run the job in this (job) process and send its outcome to the loop."""
    record = order.record
    try:
        outcome = run_job(
            State(order.root), record, order.heads, cwd, max_workers=cores, quiet=True, executor=executor
        )
    except SystemExit:
        return
    except Exception as exc:  # a state change under the job (pipeline deleted...): one line
        outcome = JobOutcome("-", record.name, ok=False, reason=f"{record.name}: job failed: {exc}")
    with contextlib.suppress(OSError):
        conn.send(outcome)


def job_main(
    conn: Connection, order: JobOrder, cwd: str, cores: int, background: bool, executor: Executor
) -> None:
    """A job's process, forked when the job starts."""
    become_job_process(cores, background)
    run_job_here(conn, order, cwd, cores, executor)


@dataclass(frozen=True)
class StandbyKey:
    """What a standby was prepared for; a job with any other key starts in a fresh process."""

    spec_hash: str
    cores: int
    background: bool


def standby_main(
    conn: Connection, modules: list[str], env: dict[str, str], cwd: str, cores: int, background: bool
) -> None:
    """A standby: become a job process, import ``modules`` ahead (with ``env``), wait for the job.

    It imports at the lowest weight of its own session, so that importing takes nothing from a
    service starting or reloading meanwhile, or from a job; a standby for a critical job raises
    its session back to the normal weight when it gets the job (allowed without privilege)."""
    own = become_job_process(cores, background, own_session=True)
    if own:
        set_session_weight(BACKGROUND_NICE)
    try:
        import_ahead(modules, env)
        order = conn.recv()
    except (EOFError, OSError, SystemExit):
        return
    if isinstance(order, JobOrder):
        if own and not background:
            set_session_weight(0)
        run_job_here(conn, order, cwd, cores, LocalExecutor())
