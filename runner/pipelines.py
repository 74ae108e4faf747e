"""The rules of creating, updating and deleting pipelines and repos (the verbs that change them).

A pipeline owns its output repo (named as the pipeline): only its jobs commit to it, and it can
take over an empty repo of that name made before it (a pipeline read by another one created
first). A repo or pipeline that other pipelines read is not deleted without ``--force`` (repo)
or deleting the readers first (pipeline). A pipeline's salt (what a datum's hash covers with its
input files) is set when it is created and kept by updates, as pachd does: a changed ``cmd``,
``image`` or even ``salt`` field reruns nothing; ``update --reprocess`` draws a new salt, so every
datum reruns (src/server/pps/server/api_server.go ``initializePipelineInfo``).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from runner.cron_ticks import ensure_cron_repos
from runner.putfile import PutOptions, PutResult, delete_file, put_file
from runner.records import PipelineRecord, RepoKind
from runner.spec import Spec, check_input_repos
from runner.state import Commit, DamagedState, State, StateError, now_iso


def save_pipelines(state: State, specs: list[Spec], replace: bool, reprocess: bool = False) -> list[str]:
    """``create pipeline`` (``replace`` False: a pipeline that exists is an error) and ``update
    pipeline``; an input repo that does not exist (and is not one of ``specs``' outputs) is refused, as
    pachd refuses it; creates the output repos. Returns one line per change."""
    notes = []
    names = {s.name for s in specs}
    existing = set(state.pipeline_names())
    check_input_repos(specs, set(state.list_repos()) | existing)
    if not replace:
        clash = sorted(names & existing)
        if clash:
            raise StateError(f"pipeline {clash[0]!r} already exists (use: python -m runner update pipeline)")
    for spec in specs:
        notes += [f"created cron repo {repo}" for repo in ensure_cron_repos(state, spec)]
        _take_output_repo(state, spec.name)
        old = _readable_pipeline(state, spec.name) if spec.name in existing else None
        if old and old.spec.raw == spec.raw and not reprocess:
            notes.append(f"{spec.name}: unchanged")
            continue
        record = PipelineRecord(
            spec=spec,
            created=(old.created if old else "") or now_iso(),
            updated=now_iso(),
            salt=pipeline_salt(spec, old, reprocess),
            version=old.version + 1 if old else 1,
        )
        state.save_pipeline(record)
        notes.append(f"{spec.name}: {'updated' if old else 'created'} ({spec.path})")
    return notes


def _readable_pipeline(state: State, name: str) -> PipelineRecord | None:
    """The pipeline's record, or None when it is damaged (``update pipeline`` rewrites it)."""
    try:
        return state.pipeline(name)
    except DamagedState:
        return None


def pipeline_salt(spec: Spec, old: PipelineRecord | None, reprocess: bool) -> str:
    """pachd's rule: the spec's ``salt`` or a random one at creation; an update keeps the old salt
    (whatever the spec says) unless it reprocesses, which draws a random one."""
    if old is not None and old.salt and not reprocess:
        return old.salt
    given = "" if reprocess else str(spec.raw.get("salt") or "")
    return given or uuid.uuid4().hex


def _take_output_repo(state: State, name: str) -> None:
    if state.has_repo(name) and state.repo_info(name).kind is not RepoKind.OUTPUT:
        if state.branches(name):
            raise StateError(f"pipeline {name!r}: a repo of that name exists and is not its output")
        state.delete_repo(name)  # an empty repo made for a pipeline read before it was created
    state.create_repo(name, kind=RepoKind.OUTPUT, description=f"output of pipeline {name}")


def readers(state: State) -> dict[str, list[str]]:
    """pipeline → the repos it reads."""
    return {r.name: r.spec.input_repos for r in state.list_pipelines(skip_damaged=True)}


def delete_repo(state: State, repo: str, force: bool = False) -> None:
    """Delete an input repo; one that pipelines read only with ``force``."""
    read_by = readers(state)
    if repo in read_by:
        raise StateError(f"{repo} is the output of a pipeline: delete the pipeline instead")
    users = [n for n, repos in read_by.items() if repo in repos]
    if users and not force:
        raise StateError(f"pipelines {', '.join(users)} read {repo}; add --force to delete it anyway")
    state.delete_repo(repo)


def delete_pipeline(state: State, name: str, keep_repo: bool = False) -> None:
    """Delete a pipeline no other pipeline reads, and its output repo unless ``keep_repo``."""
    users = [n for n, repos in readers(state).items() if name in repos]
    if users:
        raise StateError(f"pipelines {', '.join(users)} read {name}; delete them first")
    state.delete_pipeline(name)
    if not keep_repo and state.has_repo(name):
        state.delete_repo(name)


def _output_repo_error(repo: str) -> StateError:
    return StateError(f"{repo} is the output repo of a pipeline: only its jobs commit to it")


def put_input_file(
    state: State, repo: str, branch: str, path: str, source: Path, options: PutOptions
) -> tuple[bool, PutResult]:
    """``put file``: returns (the repo was created, the commit made and what changed)."""
    created = not state.has_repo(repo)
    if created:
        state.create_repo(repo)
    elif state.repo_info(repo).kind is RepoKind.OUTPUT:
        raise _output_repo_error(repo)
    return created, put_file(state, repo, branch, path, source, options)


def delete_input_file(state: State, repo: str, branch: str, path: str) -> Commit:
    """``delete file`` from an input repo (a new commit)."""
    if state.has_pipeline(repo):
        raise _output_repo_error(repo)
    return delete_file(state, repo, branch, path)
