"""``runner up``: the long-running local mode, what pachd does for a cluster, on one machine.

Every turn (at most ``POLL_SECONDS`` apart, at once when a job ends) the loop reads the
pipelines and the heads of their input branches, and:

- starts a job for every pipeline whose inputs (or spec) moved since its output head, as ``run``
  does, unless a job of that pipeline is running (the next job takes the newest heads when it
  ends) or its last job failed on exactly these inputs (a failed job prints one line and the loop
  keeps watching; a new commit or spec tries again);
- runs independent jobs at the same time, each in a process of its own (in a process group of its
  own; its workers are in their guard's group, runner/workers.py), within a budget of cores
  (``--cores``, default every core): a job is granted
  ``min(budget, max(parallelismSpec, resourceRequests.cpu))`` cores, gets that many workers at
  most and ``OMP_NUM_THREADS`` set to it, and starts only when that many are free;
- gives the cores to the critical path first: a pipeline is *critical* when a service pipeline
  reads its output, directly or further down (ingest, features, train for serve); the others
  (evaluate) are *background*. Pending work is taken in the order critical before background,
  then upstream before downstream; a critical job that lacks cores pauses (SIGSTOP to the job's
  process groups) running background jobs until it has them, and they resume (SIGCONT) when
  cores are free again; the time paused is written to the job's pause record before it resumes,
  so its datums' ``datumTimeout`` counts only running time (runner/pause_clock.py);
  background jobs also run at ``BACKGROUND_NICE``, in a session of their own whose scheduling group
  has that weight too (job_process.py), so they get only what the rest leaves;
- keeps each service pipeline running and reloads it on a new input commit (services.py);
- while no job on the path to a service runs, forks for each idle pipeline a standby job process
  that imports ahead the installed modules its warm workers imported last time; the pipeline's
  next job runs in it if it was prepared for that job (same spec, grant and priority), else in a
  fresh process (standby.py, job_process.py; local executor only).

With the docker executor (``up --executor docker``) the jobs run their datums in each pipeline's
image exactly as ``run --executor docker`` does (the same ``run_job`` and executor), and each
service runs from its image (runner/executors/service.py ``DockerService``). The datum containers
are not in the job's process groups, so pausing a background job also freezes its containers
(``docker pause``, the cgroup freezer), and a background job's containers get the CPU weight of
its niceness (runner/executors/docker.py).

SIGINT (Ctrl-C) or SIGTERM stops every job (marked ``killed``; its finished datums stay in the
cache) and service the loop started; the next start resumes from the state. See
docs/architecture.md ("When pipelines run") for the choices and their measurements.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, TextIO

from runner.capabilities import LocalOptions
from runner.children import signal_tree, stop_group
from runner.cpu_weight import cpu_request, service_nice
from runner.executors import Executor, ExecutorKind, ExecutorUnavailable, LocalExecutor
from runner.executors.service import DockerService
from runner.job_process import JobOrder, StandbyKey, job_main, standby_main
from runner.jobs import JobOutcome, input_heads, needs_job, topo_order
from runner.pause_clock import Pause, PauseRecord, pause_file, write_pauses
from runner.records import JobState, PipelineRecord
from runner.services import Service, ServiceError
from runner.spec import Spec, upstream_pipelines
from runner.standby import imports_file, read_imports
from runner.state import State
from runner.workers import job_variables

#: Seconds between two looks at the branch heads when nothing else wakes the loop.
POLL_SECONDS = 0.2
#: Seconds a job has to stop (kill its workers, record itself killed) before it is killed.
JOB_STOP_TIMEOUT = 10.0


def cores_wanted(spec: Spec, budget: int) -> int:
    """The cores a job of ``spec`` is granted: its datum parallelism or its CPU request, whichever
    is larger, within ``budget``."""
    return max(1, min(budget, max(spec.parallelism, math.ceil(cpu_request(spec)))))


def critical_pipelines(specs: dict[str, Spec]) -> set[str]:
    """Pipelines a service reads, directly or through other pipelines; every pipeline when the
    DAG has no service (then nothing is background)."""
    services = [s for s in specs.values() if s.is_service]
    if not services:
        return set(specs)
    return set().union(*(upstream_pipelines(service, specs) for service in services))


@dataclass
class RunningJob:
    """A job the loop started: its process (the leader of its process group) and its grant."""

    pipeline: str
    heads: dict[str, str]
    spec_hash: str
    cores: int
    critical: bool
    order: int
    process: multiprocessing.process.BaseProcess
    conn: Connection
    started: float = field(default_factory=time.monotonic)
    #: ``time.monotonic()`` when the loop paused the job; None while it runs
    paused_since: float | None = None
    #: the job's pauses so far, written to its pause record on every resume
    pauses: PauseRecord = field(default_factory=PauseRecord)
    #: the job's id, once looked up in its record (the job's process makes it)
    job_id: str | None = None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def pgid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid


@dataclass
class Standby:
    """A job process forked ahead of its pipeline's next job, importing what the pipeline's workers
    imported last time (runner/standby.py); ``key`` says which job it may take."""

    key: StandbyKey
    process: multiprocessing.process.BaseProcess
    conn: Connection

    def close(self) -> None:
        """Stop it (it has no children before it takes a job)."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=0.5)
        if self.process.is_alive():
            self.process.terminate()  # SIGTERM: it stops even in the middle of an import
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class Loop:
    """The scheduler of ``runner up`` over one state folder."""

    def __init__(
        self,
        state: State,
        cwd: str,
        out: TextIO,
        cores: int | None = None,
        service_overrides: dict[str, str] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.state, self.cwd, self.out = state, cwd, out
        self.executor = executor or LocalExecutor()
        self.service_class = DockerService if self.executor.kind is ExecutorKind.DOCKER else Service
        self.budget = max(1, cores or os.cpu_count() or 1)
        self.service_overrides = service_overrides or {}
        self.running: dict[str, RunningJob] = {}
        self.standbys: dict[str, Standby] = {}
        #: (pipeline, key) of standbys that exited before taking a job: not forked again
        self.failed_standbys: set[tuple[str, StandbyKey]] = set()
        self.services: dict[str, Service] = {}
        self.refused: set[str] = set()
        #: pipeline -> (heads, spec hash) of its last failed job: not retried until they change
        self.failed: dict[str, tuple[dict[str, str], str]] = {}
        self.stop_signal: int | None = None
        self.ctx = multiprocessing.get_context("fork")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    # -- the turn ----------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        self.out.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self.out.flush()

    def _specs(self) -> tuple[list[PipelineRecord], dict[str, Spec]]:
        records = topo_order(self.state.list_pipelines())
        return records, {r.name: r.spec for r in records}

    def _reap(self) -> None:
        for name, job in list(self.running.items()):
            outcome: JobOutcome | None = None
            with contextlib.suppress(EOFError, OSError):
                if job.conn.poll():
                    outcome = job.conn.recv()
            if outcome is None and job.process.is_alive():
                continue
            job.process.join(timeout=5)
            job.conn.close()
            del self.running[name]
            if outcome is None:
                why = f"exit status {job.process.exitcode}"
                outcome = JobOutcome("-", name, ok=False, reason=f"{name}: the job's process died ({why})")
            if outcome.ok:
                self._say(outcome.summary())
                self.failed.pop(name, None)
            else:
                self._say(f"runner: {outcome.reason}")
                self.failed[name] = (job.heads, job.spec_hash)

    def _pending(
        self, records: list[PipelineRecord], specs: dict[str, Spec]
    ) -> list[tuple[PipelineRecord, dict[str, str]]]:
        """Pipelines that need a job now, with the input heads it will take.

        A pipeline waits while a pipeline upstream of it is running or needs a job itself, so
        that a job never combines a new commit of one input with an old commit of another that
        is about to move (``cross(train, features)`` waits for train after features moved), as a
        Pachyderm job waits for the upstream commits of its commit set.
        """
        unsettled: set[str] = set()
        pending = []
        for record in records:  # upstream first
            spec = record.spec
            if spec.is_service:
                continue
            if spec.name in self.running or any(repo in unsettled for repo in spec.input_repos):
                unsettled.add(spec.name)
                continue
            heads = input_heads(self.state, spec)
            if heads is None or not needs_job(self.state, record, heads):
                continue
            if self.failed.get(spec.name) == (heads, record.effective_hash):
                continue  # failed on these very inputs: wait for a new commit or spec
            unsettled.add(spec.name)
            pending.append((record, heads))
        return pending

    def _free_cores(self) -> int:
        return self.budget - sum(j.cores for j in self.running.values() if not j.paused)

    def _schedule(self, records: list[PipelineRecord], specs: dict[str, Spec], critical: set[str]) -> None:
        order = {r.name: i for i, r in enumerate(records)}
        # (rank, what): paused jobs resume before new jobs of their rank start
        work: list[tuple[tuple[int, int, int], Any]] = []
        for job in self.running.values():
            if job.paused:
                work.append(((0 if job.critical else 1, 0, job.order), job))
        for record, heads in self._pending(records, specs):
            name = record.name
            work.append(((0 if name in critical else 1, 1, order[name]), (record, heads)))
        for (rank, _, _), item in sorted(work, key=lambda w: w[0]):
            need = item.cores if isinstance(item, RunningJob) else cores_wanted(item[0].spec, self.budget)
            if self._free_cores() < need and rank == 0:
                self._pause_background(need - self._free_cores())  # if that frees enough
            if self._free_cores() < need:
                break  # strict priority: nothing of a lower rank jumps ahead of this one
            if isinstance(item, RunningJob):
                self._resume(item)
                self._say(f"{item.pipeline}: job resumed ({item.cores} core(s) free)")
            else:
                record, heads = item
                self._start(record, heads, need, rank == 0, order[record.name])

    def _pause_background(self, cores: int) -> None:
        """Pause running background jobs, the latest started first, until ``cores`` more are free
        (none, if pausing them all would not free that many)."""
        background = [j for j in self.running.values() if not j.critical and not j.paused]
        if sum(j.cores for j in background) < cores:
            return
        for job in sorted(background, key=lambda j: j.started, reverse=True):
            if cores <= 0:
                return
            stopped = time.monotonic()
            if signal_tree(job.pgid, signal.SIGSTOP):
                job.paused_since = stopped
                job_id = self._job_id(job)
                if job_id:
                    self.executor.pause(job_id)
                cores -= job.cores
                how = "SIGSTOP, docker pause" if self.executor.kind is ExecutorKind.DOCKER else "SIGSTOP"
                self._say(f"{job.pipeline}: job paused ({how}): a job on the path to a service needs cores")

    def _resume(self, job: RunningJob) -> None:
        """Resume a paused job. Its pause is recorded first (runner/pause_clock.py): a datum whose
        ``datumTimeout`` expired meanwhile gets SIGALRM as soon as it runs, and must find it."""
        assert job.paused_since is not None
        job.pauses = job.pauses.with_pause(Pause(job.paused_since, time.monotonic()))
        job.paused_since = None
        job_id = self._job_id(job)
        if job_id:  # else the job has not recorded itself yet: no datum of it has started
            try:
                write_pauses(pause_file(self.state.job_dir(job_id)), job.pauses)
            except OSError as exc:
                self._say(f"{job.pipeline}: cannot record the job's pause ({exc}); datumTimeout counts it")
            self.executor.resume(job_id)
        signal_tree(job.pgid, signal.SIGCONT)

    def _job_id(self, job: RunningJob) -> str | None:
        """The id of ``job`` (its record names the job's process), None before it is recorded."""
        if job.job_id is None:
            for record in reversed(self.state.list_jobs(job.pipeline)):
                if record.pid == job.pgid and record.state is JobState.RUNNING:
                    job.job_id = record.id
                    break
        return job.job_id

    def _start(
        self, record: PipelineRecord, heads: dict[str, str], cores: int, critical: bool, order: int
    ) -> None:
        spec = record.spec
        key = StandbyKey(record.effective_hash, cores, not critical)
        started = self._start_in_standby(record, heads, key)
        how = ", in its standby" if started is not None else ""
        if started is None:
            parent, child = self.ctx.Pipe(duplex=False)
            process = self.ctx.Process(
                target=job_main,
                args=(
                    child,
                    JobOrder(str(self.state.root), record, heads),
                    self.cwd,
                    cores,
                    not critical,
                    self.executor,
                ),
                name=f"job-{spec.name}",
            )
            process.start()
            child.close()
            if critical:  # also here, so the group exists before any signal to it (a background
                # job makes its own session: runner/job_process.py)
                with contextlib.suppress(OSError):
                    os.setpgid(process.pid, process.pid)
            started = process, parent
        process, conn = started
        self.running[spec.name] = RunningJob(
            spec.name, heads, record.effective_hash, cores, critical, order, process, conn
        )
        inputs = ", ".join(f"{repo}@{commit[:12]}" for repo, commit in heads.items())
        kind = "" if critical else ", background"
        self._say(f"{spec.name}: job started on {inputs} ({cores} core(s){kind}{how})")

    # -- standby job processes (runner/standby.py) -------------------------------------------
    def _start_in_standby(
        self, record: PipelineRecord, heads: dict[str, str], key: StandbyKey
    ) -> tuple[multiprocessing.process.BaseProcess, Connection] | None:
        """Hand the job to the pipeline's standby if it was prepared for exactly this job."""
        standby = self.standbys.pop(record.name, None)
        if standby is None:
            return None
        if standby.key == key and standby.process.is_alive():
            try:
                standby.conn.send(JobOrder(str(self.state.root), record, heads))
                return standby.process, standby.conn
            except OSError:
                pass
        standby.close()
        return None

    def _keep_standbys(
        self, records: list[PipelineRecord], specs: dict[str, Spec], critical: set[str]
    ) -> None:
        """While no job on the path to a service runs, fork a standby for each idle pipeline whose
        warm workers recorded their imports (local executor only: in an image, the container's
        worker imports), so that importing never takes a core from that path."""
        if self.executor.kind is not ExecutorKind.LOCAL or self.stop_signal is not None:
            return
        for name in [n for n in self.standbys if n not in specs]:
            self.standbys.pop(name).close()
        if any(job.critical and not job.paused for job in self.running.values()):
            return
        for record in records:
            name, spec = record.name, record.spec
            if spec.is_service or name in self.running:
                continue
            key = StandbyKey(record.effective_hash, cores_wanted(spec, self.budget), name not in critical)
            standby = self.standbys.get(name)
            if standby is not None:
                if standby.key == key and standby.process.is_alive():
                    continue
                if standby.key == key:  # it exited on its own: don't fork it again and again
                    self.failed_standbys.add((name, key))
                self.standbys.pop(name).close()
            if (name, key) in self.failed_standbys:
                continue
            modules = read_imports(imports_file(self.state.root, name))
            if modules:
                self.standbys[name] = self._fork_standby(spec, key, modules)

    def _fork_standby(self, spec: Spec, key: StandbyKey, modules: list[str]) -> Standby:
        parent, child = self.ctx.Pipe()
        # what every datum of its jobs sets, /pfs unmapped (no datum is staged yet)
        env = job_variables(LocalOptions.of(spec).project, spec.name, spec.env, "/pfs")
        process = self.ctx.Process(
            target=standby_main,
            args=(child, modules, env, self.cwd, key.cores, key.background),
            name=f"standby-{spec.name}",
        )
        process.start()
        child.close()  # it makes its own session (runner/job_process.py)
        return Standby(key, process, parent)

    def _sync_services(self, specs: dict[str, Spec]) -> None:
        for name, spec in specs.items():
            if not spec.is_service or name in self.refused:
                continue
            service = self.services.get(name)
            if service is None or service.spec.spec_hash != spec.spec_hash:
                if service is not None:
                    service.stop()
                try:
                    service = self.services[name] = self.service_class(
                        self.state,
                        spec,
                        self.cwd,
                        self.service_overrides,
                        _Prefixed(self._say),
                        cpu_nice=service_nice(spec, specs),
                    )
                except (ServiceError, ExecutorUnavailable) as exc:
                    self._say(f"runner: {exc}")
                    self.refused.add(name)
                    continue
            service.sync()
        for name in [n for n in self.services if n not in specs]:
            self.services.pop(name).stop()

    def turn(self) -> None:
        """One look at the state: reap ended jobs, start or resume jobs, keep services in step."""
        self._reap()
        records, specs = self._specs()
        critical = critical_pipelines(specs)
        self._schedule(records, specs, critical)
        self._sync_services(specs)
        self._keep_standbys(records, specs, critical)

    # -- running and stopping ----------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stop_signal = signum
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def run(self) -> int:
        """Run until SIGINT or SIGTERM; returns 130 (SIGINT) or 143 (SIGTERM)."""
        with self.state.jobs_locked("up"):
            # the daemon and every created pipeline's image, before anything starts (one line if not)
            self.executor.check([r.spec for r in self.state.list_pipelines()])
            previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                self._say(f"runner up: watching {self.state.root} with {self.budget} core(s); Ctrl-C stops")
                while self.stop_signal is None:
                    self.turn()
                    sentinels = [j.process.sentinel for j in self.running.values()]
                    ready = wait(
                        [*sentinels, *[j.conn for j in self.running.values()], self._wake_r], POLL_SECONDS
                    )
                    if self._wake_r in ready:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_r, 64)
            finally:
                self.stop()
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        name = signal.Signals(self.stop_signal).name if self.stop_signal else "?"
        self._say(f"runner up: stopped ({name}); the next start resumes from {self.state.root}")
        return 128 + (self.stop_signal or 0)

    def stop(self) -> None:
        """Stop every job (recorded killed, finished datums kept) and every service started."""
        for name, job in list(self.running.items()):
            if job.paused:  # its workers' group too, so they can stop
                self._resume(job)
            job_id = self._job_id(job)
            stop_group(
                job.pgid, lambda seconds, p=job.process: p.join(seconds) or not p.is_alive(), JOB_STOP_TIMEOUT
            )
            job.process.join(timeout=2)
            job.conn.close()
            if job_id:
                self.executor.finish(job_id)  # containers of a job killed before it could remove them
            del self.running[name]
            self._say(f"{name}: job stopped; its finished datums are reused by the next start")
        for standby in self.standbys.values():
            standby.close()
        self.standbys.clear()
        for service in self.services.values():
            service.stop()
        self.services.clear()
        self.state.recover_jobs()  # a job killed before it could record itself


class _Prefixed:
    """A text stream that hands each line to the loop's timestamped ``_say``."""

    def __init__(self, say: Any) -> None:
        self.say = say

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.say(line)
        return len(text)

    def flush(self) -> None:
        pass


def up(state: State, cwd: str, out: TextIO | None = None, **options: Any) -> int:
    """The ``up`` verb: run the loop until SIGINT or SIGTERM."""
    return Loop(state, cwd, out or sys.stdout, **options).run()
