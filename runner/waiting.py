"""``wait commit``: block until a commit and everything downstream of it is finished.

Downstream means every pipeline that reads the commit's repo, directly or through other
pipelines (service pipelines make no commits and are not waited for). A pipeline is finished
for the commit when one of its output commits was made from it, or from a newer commit of the
same branch (a job takes an input's head, so a commit that arrived meanwhile may be processed
together with it, as the live loop does), and it has failed when its latest job made from it
failed. Provenance is followed commit by commit, so this works with or without commit sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.records import JobState, PipelineRecord
from runner.state import State, StateError


@dataclass
class WaitOutcome:
    finished: dict[str, str] = field(default_factory=dict)  # pipeline -> output commit
    failed: dict[str, str] = field(default_factory=dict)  # pipeline -> why
    pending: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.pending


def downstream(state: State, repo: str) -> list[PipelineRecord]:
    """Pipelines that read ``repo`` directly or transitively, upstream first; services left out."""
    records = {r.name: r for r in state.list_pipelines()}
    reached: list[PipelineRecord] = []
    frontier = [repo]
    while frontier:
        source = frontier.pop(0)
        for record in records.values():
            inputs = record.spec.input.pfs_inputs() if record.spec.input else []
            if record not in reached and any(p.repo == source for p in inputs):
                reached.append(record)
                frontier.append(record.name)
    return [r for r in reached if not r.spec.is_service]


def newer_or_same(state: State, repo: str, commit_id: str) -> set[str]:
    """``commit_id`` and every commit of ``repo`` whose history reaches it."""
    found = {commit_id}
    for branch in state.branches(repo):
        chain = [c.id for c in state.commit_history(repo, branch)]
        if commit_id in chain:
            found.update(chain[: chain.index(commit_id)])
    return found


class _Lineage:
    """Whether a commit was made, directly or through others, from one of the target commits."""

    def __init__(self, state: State, repo: str, targets: set[str]) -> None:
        self.state, self.repo, self.targets = state, repo, targets
        self.memo: dict[tuple[str, str], bool] = {}

    def derives(self, repo: str, commit_id: str) -> bool:
        key = (repo, commit_id)
        if key not in self.memo:
            self.memo[key] = False  # provenance is a DAG; this only guards a damaged state
            if repo == self.repo:
                self.memo[key] = commit_id in self.targets
            else:
                commit = self.state.commit(repo, commit_id)
                self.memo[key] = any(self.derives(p["repo"], p["commit"]) for p in commit.provenance)
        return self.memo[key]


def check(state: State, repo: str, commit_id: str) -> WaitOutcome:
    lineage = _Lineage(state, repo, newer_or_same(state, repo, commit_id))
    outcome = WaitOutcome()
    for record in downstream(state, repo):
        made = [c for c in state.commit_history(record.name) if lineage.derives(record.name, c.id)]
        if made:
            outcome.finished[record.name] = made[0].id
            continue
        jobs = [
            j
            for j in state.list_jobs(record.name)
            if any(lineage.derives(i.repo, i.commit) for i in j.inputs)
        ]
        latest = jobs[-1].observed_state() if jobs else None
        if latest in (JobState.FAILURE, JobState.KILLED):
            outcome.failed[record.name] = f"job {jobs[-1].id} {latest.value}: {jobs[-1].reason}".rstrip(": ")
        else:
            outcome.pending.append(record.name)
    return outcome


def wait_commit(
    state: State,
    repo: str,
    ref: str,
    timeout: float | None = None,
    poll: float = 0.2,
    on_pending: Callable[[list[str]], None] | None = None,
) -> WaitOutcome:
    """Poll until nothing downstream of ``repo@ref`` is pending; raise StateError on timeout."""
    commit_id = state.resolve_commit(repo, ref)
    deadline = None if timeout is None else time.monotonic() + timeout
    shown: list[str] | None = None
    while True:
        outcome = check(state, repo, commit_id)
        if outcome.done:
            return outcome
        if on_pending and outcome.pending != shown:
            on_pending(outcome.pending)
            shown = outcome.pending
        if deadline is not None and time.monotonic() >= deadline:
            raise StateError(
                f"wait commit {repo}@{commit_id}: still pending after {timeout:g}s: "
                f"{', '.join(outcome.pending)} (is `python -m runner up` or `run` running?)"
            )
        time.sleep(poll)
