"""``debug datum``: re-run one datum of a job in a kept folder, through the run path of ``run``.

The datum is staged under ``<state>/.debug/<datum id>/pfs`` and run by ``workers.execute`` in a
forked worker with the job's ``JobConfig`` (built by ``jobs.job_config``), so it runs warm when
``run`` runs it warm, with the same exit-status rules (``acceptReturnCode``) and ``datumTimeout``.
Nothing is collected or cleared: inputs and ``pfs/out`` stay for inspection.

``debug datum --executor docker`` runs it in the pipeline's image instead, through the docker
executor's own path (``DockerExecutor.prepare`` → ``ContainerRunner``: the container a job's worker
starts, with the kept folder at ``/pfs``), so what fails only in the image fails here too.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from runner.capabilities import LocalOptions
from runner.datums import Datum, compute_datums, input_tree
from runner.executors import Executor, ExecutorKind
from runner.jobs import job_config, task_inputs
from runner.records import JobRecord
from runner.spec import Spec
from runner.state import State, StateError
from runner.workers import JobConfig, Stager, Task, map_pfs, run_staged_datum, stage_inputs


@dataclass(frozen=True)
class StagedDatum:
    """A datum staged for ``debug datum``, ready to run."""

    job: JobRecord
    spec: Spec
    datum: Datum
    root: Path
    config: JobConfig
    task: Task

    @property
    def pfs_root(self) -> Path:
        return self.root / "pfs"

    def command(self, executor: Executor | None = None) -> list[str]:
        """The datum's ``cmd`` as it runs: ``/pfs`` mapped to the kept folder, or unchanged in an image."""
        if executor is not None and executor.kind is ExecutorKind.DOCKER:
            return list(self.config.cmd)
        return [map_pfs(a, str(self.pfs_root)) for a in self.config.cmd]

    def run(self, executor: Executor | None = None) -> tuple[bool, str]:
        """Run it as ``run`` would, where ``executor`` runs datums (default: locally); returns
        (success, the datum's log, also kept in ``datum.log``)."""
        if executor is None or executor.kind is ExecutorKind.LOCAL:
            return run_staged_datum(self.config, self.task, self.root)
        return self._run_with(executor)

    def _run_with(self, executor: Executor) -> tuple[bool, str]:
        executor.check([self.spec])
        job_id = f"debug-{self.datum.id[:12]}"
        stager = Stager(self.root)
        runner = executor.prepare(self.spec, job_id)(self.config, stager)
        try:
            ok = runner.execute(self.config, self.task, stager.visible_pfs, stager.log)
            if not ok and self.config.err_cmd:
                stager.log.write("runner: cmd failed; running errCmd\n")
                if runner.execute(self.config, self.task, stager.visible_pfs, stager.log, error_handler=True):
                    stager.log.write("runner: errCmd succeeded: run would count this datum as recovered\n")
        finally:
            runner.close()
            executor.finish(job_id)
            stager.log.close()
        log_path = self.root / "datum.log"
        return ok, log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""


def find_datum(state: State, job: JobRecord, prefix: str) -> Datum:
    """The datum of ``job`` whose id starts with ``prefix``."""
    spec = state.pipeline(job.pipeline).spec
    heads = job.heads
    manifests = {repo: state.files(repo, commit) for repo, commit in heads.items()}
    datums = compute_datums(input_tree(spec), heads, manifests, "") if spec.input else []
    matches = [d for d in datums if d.id.startswith(prefix)]
    if len(matches) != 1:
        raise StateError(
            f"datum {prefix!r} is not a datum of job {job.id} "
            f"(see: python -m runner list datum {job.id[:12]})"
        )
    return matches[0]


def stage_datum(state: State, job_ref: str, datum_prefix: str, cwd: str | None = None) -> StagedDatum:
    """Stage the datum ``datum_prefix`` of job ``job_ref`` in a fresh ``.debug/<datum id>`` folder."""
    job = state.job(job_ref)
    datum = find_datum(state, job, datum_prefix)
    spec = state.pipeline(job.pipeline).spec
    root = state.root / ".debug" / datum.id
    shutil.rmtree(root, ignore_errors=True)
    task = Task(datum.id, 1, task_inputs(state, datum))
    stage_inputs(task, root / "pfs", LocalOptions.of(spec).empty_files)
    config = job_config(
        state, spec, job.id, cwd or os.getcwd(), work_root=root, output_commit=job.output_commit or ""
    )
    return StagedDatum(job, spec, datum, root, config, task)
