"""The runner's state folder: repos, branches, commits, pipelines and jobs on local disk.

Layout under ``$PFS_STATE`` (default ``.pfs``)::

    .lock                          the commit lock (flock): held while a change is written
    .jobs.lock                     the jobs lock: held by the one `run` or `up` running jobs
    .objects/ab/cdef...            content-addressed file versions (see objects.py)
    .pipelines/<name>.json         the pipeline's current spec, its hash and salt
    .pipelines/<name>.datums.jsonl datum cache: datum hash -> output files (append-only)
    .jobs/<job id>/job.json        job record; job.log (lines tagged with datum ids);
                                   datums.json (every datum's state); logs/<datum>.log (failures)
    .work/<job id>/<datum id>/pfs  staging roots of running datums (removed after the job)
    <repo>/repo.json               the repo record
    <repo>/commits/<id>.json       commit record (parents, provenance, spec hash, job)
    <repo>/commits/<id>.files.json the commit's manifest: path -> [hash, size]
    <repo>/trees/<id>/             the commit's files, hard links into .objects
    <repo>/<branch> -> trees/<id>  the branch head: a symlink swapped atomically

Every file is written under a temporary name and renamed; a branch moves only after its
commit's tree and record are complete, so an interrupted verb leaves the previous head intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.objects import Blob, ObjectStore, link_or_copy
from runner.records import (
    DatumRecord,
    FileEntry,
    JobRecord,
    JobState,
    PipelineRecord,
    RepoKind,
    RepoRecord,
    pid_alive,
)
from runner.spec import NAME_RE

RESERVED_BRANCH_NAMES = {"commits", "trees", "repo.json"}
#: Seconds a change waits for the commit lock (held for milliseconds, or a second for a large commit).
COMMIT_LOCK_TIMEOUT = 60.0
#: path -> (hash, size)
Manifest = dict[str, Blob]


class StateError(RuntimeError):
    """A request the state cannot satisfy (unknown repo, busy lock...), with a message for the user."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def write_json_atomic(path: Path, doc: Any, compact: bool = False) -> None:
    """Write ``doc`` as JSON under a temporary name, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    text = json.dumps(doc, separators=(",", ":")) if compact else json.dumps(doc, indent=1, sort_keys=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@dataclass
class Commit:
    """A finished commit of a repo."""

    id: str
    repo: str
    branch: str
    parents: list[str]
    created: str
    provenance: list[dict[str, str]] = field(default_factory=list)
    spec_hash: str | None = None
    job: str | None = None
    files: int = 0
    size_bytes: int = 0
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _acquire(path: Path, purpose: str, timeout: float) -> Any:
    """An open file holding ``flock(path)``; waits up to ``timeout`` s, then names the holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - returned, held by the caller
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                fh.close()
                raise StateError(f"{path.parent} is in use by {holder}; wait for it to finish") from None
            time.sleep(0.01)
    fh.seek(0)
    fh.truncate()
    fh.write(f"{purpose} (pid {os.getpid()})")
    fh.flush()
    return fh


class State:
    """Access to one state folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.objects = ObjectStore(self.root / ".objects")
        self.pipelines_dir = self.root / ".pipelines"
        self.jobs_dir = self.root / ".jobs"
        self.work_dir = self.root / ".work"
        self._commit_lock: Any = None
        self._commit_depth = 0
        self._jobs_lock: Any = None

    # -- locking -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, timeout: float = COMMIT_LOCK_TIMEOUT) -> Iterator[State]:
        """Hold the commit lock: every change of repos, branches and pipelines is made under it.

        Short: held only while a commit's tree, record and branch move (or a pipeline record) are
        written, never while files are hashed or jobs run, so puts, deletes and jobs interleave.
        Reentrant within one ``State``; waits up to ``timeout`` seconds for another holder.
        Recovers what an interrupted change left behind on entry (see ``recover``).
        """
        if self._commit_lock is not None:
            self._commit_depth += 1
            try:
                yield self
            finally:
                self._commit_depth -= 1
            return
        fh = _acquire(self.root / ".lock", "changes", timeout)
        self._commit_lock, self._commit_depth = fh, 0
        try:
            self.recover()
            yield self
        finally:
            self._commit_lock = None
            fh.close()

    @contextlib.contextmanager
    def jobs_locked(self, verb: str) -> Iterator[State]:
        """Hold the jobs lock for a whole ``run`` or ``up``: one process at a time runs jobs.

        Fails at once, naming the holder, if another process holds it. On entry, jobs left
        ``running`` by a process that is gone are marked ``killed`` and their staging folders
        removed (``recover_jobs``).
        """
        if self._jobs_lock is not None:
            raise StateError(f"{self.root}: this process already runs jobs")
        fh = _acquire(self.root / ".jobs.lock", f"runner {verb}", timeout=0.0)
        self._jobs_lock = fh
        try:
            with self.locked():
                self.recover_jobs()
            yield self
        finally:
            self._jobs_lock = None
            fh.close()

    @property
    def lock_fds(self) -> tuple[int, ...]:
        """Descriptors of the held locks; forked workers close them, so a killed runner frees them."""
        return tuple(fh.fileno() for fh in (self._jobs_lock, self._commit_lock) if fh is not None)

    def recover(self) -> list[str]:
        """Remove what an interrupted change left (called with the commit lock held).

        Safe while other processes put files or run jobs: a partial object is removed only when
        the process that wrote it is gone (its pid is in the name), and a partial tree
        (``trees/.tmp-<id>``) can only be left by a commit lock holder that died.
        """
        notes = []
        removed = self.objects.remove_temporaries(keep=pid_alive)
        if removed:
            notes.append(f"removed {removed} partial object(s)")
        for repo in self.list_repos():
            trees = self.root / repo / "trees"
            for tmp in trees.glob(".tmp-*") if trees.exists() else []:
                shutil.rmtree(tmp, ignore_errors=True)
        return notes

    def recover_jobs(self) -> list[str]:
        """Mark jobs whose process is gone ``killed`` and remove their staging folders.

        Called by the jobs lock holder; a job records the pid of the process that runs it, so a
        job another process still runs (it cannot hold the jobs lock, but be safe) is left alone.
        """
        notes = []
        live = set()
        for job in self.list_jobs():
            if job.state is not JobState.RUNNING:
                continue
            if pid_alive(job.pid):
                live.add(job.id)
                continue
            job.state = JobState.KILLED
            job.finished = job.finished or now_iso()
            job.reason = "the run was interrupted; its finished datums are reused by the next run"
            self.save_job(job)
            notes.append(f"job {job.id} of {job.pipeline} was interrupted, marked killed")
        if self.work_dir.exists():
            for folder in self.work_dir.iterdir():
                if folder.name not in live:
                    shutil.rmtree(folder, ignore_errors=True)
        return notes

    # -- repos -------------------------------------------------------------------------------
    def repo_dir(self, repo: str) -> Path:
        return self.root / repo

    def has_repo(self, repo: str) -> bool:
        return (self.repo_dir(repo) / "repo.json").is_file()

    def create_repo(self, repo: str, kind: RepoKind = RepoKind.USER, description: str = "") -> bool:
        """Create ``repo``; returns False if it already exists."""
        if not NAME_RE.match(repo):
            raise StateError(f"invalid repo name {repo!r}: only letters, digits, '_' and '-'")
        if self.has_repo(repo):
            return False
        d = self.repo_dir(repo)
        (d / "commits").mkdir(parents=True, exist_ok=True)
        (d / "trees").mkdir(exist_ok=True)
        write_json_atomic(d / "repo.json", RepoRecord(repo, kind, now_iso(), description).to_json())
        return True

    def repo_info(self, repo: str) -> RepoRecord:
        self.require_repo(repo)
        return RepoRecord.from_json(read_json(self.repo_dir(repo) / "repo.json"))

    def require_repo(self, repo: str) -> None:
        if not self.has_repo(repo):
            raise StateError(f"repo {repo!r} not found in {self.root} (see: python -m runner list repo)")

    def list_repos(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/repo.json"))

    def delete_repo(self, repo: str) -> None:
        self.require_repo(repo)
        shutil.rmtree(self.repo_dir(repo))

    def branches(self, repo: str) -> list[str]:
        d = self.repo_dir(repo)
        return sorted(p.name for p in d.iterdir() if p.is_symlink())

    # -- commits -----------------------------------------------------------------------------
    def head(self, repo: str, branch: str = "master") -> str | None:
        """The commit id at the head of ``repo@branch``, or None if the branch has no commit."""
        link = self.repo_dir(repo) / branch
        try:
            return Path(os.readlink(link)).name
        except FileNotFoundError:
            return None

    def resolve_commit(self, repo: str, ref: str) -> str:
        """A branch name, a commit id or a unique id prefix → a commit id."""
        self.require_repo(repo)
        if ref not in RESERVED_BRANCH_NAMES:
            head = self.head(repo, ref)
            if head:
                return head
        commits = self.repo_dir(repo) / "commits"
        if (commits / f"{ref}.json").is_file():
            return ref
        matches = [p.name[: -len(".json")] for p in commits.glob(f"{ref}*.json") if ".files" not in p.name]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise StateError(f"{repo}@{ref}: no such branch or commit")
        raise StateError(f"{repo}@{ref}: ambiguous commit prefix ({len(matches)} matches)")

    def commit(self, repo: str, commit_id: str) -> Commit:
        path = self.repo_dir(repo) / "commits" / f"{commit_id}.json"
        try:
            return Commit(**read_json(path))
        except FileNotFoundError:
            raise StateError(f"{repo}@{commit_id}: no such commit") from None

    def manifest(self, repo: str, commit_id: str | None) -> Manifest:
        if commit_id is None:
            return {}
        doc = read_json(self.repo_dir(repo) / "commits" / f"{commit_id}.files.json")
        return {path: (blob[0], blob[1]) for path, blob in doc.items()}

    def list_folder(self, repo: str, ref: str, path: str) -> list[FileEntry]:
        """``list file``: the files and folders directly in ``path`` of ``repo@ref`` (a folder's size
        is the total of the files below it); ``path`` may name one file."""
        manifest = self.manifest(repo, self.resolve_commit(repo, ref))
        prefix = path.rstrip("/") + "/"
        entries: dict[str, tuple[str, int]] = {}
        for p, (_, size) in sorted(manifest.items()):
            if p == path:
                entries[p] = ("file", size)
            elif p.startswith(prefix):
                rest = p[len(prefix) :]
                child = prefix + rest.split("/")[0]
                kind = "dir" if "/" in rest else "file"
                old = entries.get(child, (kind, 0))
                entries[child] = (kind, old[1] + size if kind == "dir" else size)
        if not entries:
            raise StateError(f"{repo}@{ref}:{path}: no such file or folder")
        return [FileEntry(p, kind, size) for p, (kind, size) in entries.items()]

    def tree(self, repo: str, commit_id: str) -> Path:
        return self.repo_dir(repo) / "trees" / commit_id

    def commit_history(self, repo: str, branch: str = "master") -> list[Commit]:
        """Commits of ``repo@branch``, newest first, following first parents."""
        out = []
        cid = self.head(repo, branch)
        while cid:
            c = self.commit(repo, cid)
            out.append(c)
            cid = c.parents[0] if c.parents else None
        return out

    def make_commit(
        self,
        repo: str,
        branch: str,
        manifest: Manifest,
        provenance: list[dict[str, str]] | None = None,
        spec_hash: str | None = None,
        job: str | None = None,
        description: str = "",
    ) -> Commit:
        """Finish a commit with ``manifest`` and move ``repo@branch`` to it, atomically (under the
        commit lock: a caller that read the head to compute ``manifest`` holds it already)."""
        with self.locked():
            return self._make_commit(repo, branch, manifest, provenance, spec_hash, job, description)

    def _make_commit(
        self,
        repo: str,
        branch: str,
        manifest: Manifest,
        provenance: list[dict[str, str]] | None,
        spec_hash: str | None,
        job: str | None,
        description: str,
    ) -> Commit:
        self.require_repo(repo)
        if branch in RESERVED_BRANCH_NAMES or "/" in branch or not branch:
            raise StateError(f"invalid branch name {branch!r}")
        parent = self.head(repo, branch)
        commit = Commit(
            id=new_id(),
            repo=repo,
            branch=branch,
            parents=[parent] if parent else [],
            created=now_iso(),
            provenance=provenance or [],
            spec_hash=spec_hash,
            job=job,
            files=len(manifest),
            size_bytes=sum(size for _, size in manifest.values()),
            description=description,
        )
        d = self.repo_dir(repo)
        write_json_atomic(  # compact: a 16,000-file manifest with indent takes the slow encoder
            d / "commits" / f"{commit.id}.files.json",
            {p: list(b) for p, b in manifest.items()},
            compact=True,
        )
        self._materialize(d / "trees", commit.id, manifest)
        write_json_atomic(d / "commits" / f"{commit.id}.json", commit.to_json())
        link = d / branch
        tmp_link = d / f".{branch}.tmp-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        os.symlink(f"trees/{commit.id}", tmp_link)
        os.replace(tmp_link, link)
        return commit

    def _materialize(self, trees: Path, commit_id: str, manifest: Manifest) -> None:
        tmp = trees / f".tmp-{commit_id}"
        tmp.mkdir(parents=True)
        made: set[str] = set()
        for path, (digest, _size) in manifest.items():
            parent, _, _name = path.rpartition("/")
            if parent and parent not in made:
                os.makedirs(f"{tmp}{parent}", exist_ok=True)
                made.add(parent)
            link_or_copy(self.objects.path(digest), f"{tmp}{path}")
        os.replace(tmp, trees / commit_id)

    # -- pipelines ---------------------------------------------------------------------------
    def pipeline_file(self, name: str) -> Path:
        return self.pipelines_dir / f"{name}.json"

    def datum_cache_file(self, name: str) -> Path:
        return self.pipelines_dir / f"{name}.datums.jsonl"

    def list_pipelines(self) -> list[PipelineRecord]:
        if not self.pipelines_dir.exists():
            return []
        return [PipelineRecord.from_json(read_json(p)) for p in sorted(self.pipelines_dir.glob("*.json"))]

    def has_pipeline(self, name: str) -> bool:
        return self.pipeline_file(name).is_file()

    def pipeline(self, name: str) -> PipelineRecord:
        try:
            return PipelineRecord.from_json(read_json(self.pipeline_file(name)))
        except FileNotFoundError:
            raise StateError(f"pipeline {name!r} not found (see: python -m runner list pipeline)") from None

    def save_pipeline(self, record: PipelineRecord) -> None:
        write_json_atomic(self.pipeline_file(record.name), record.to_json())

    def delete_pipeline(self, name: str) -> None:
        self.pipeline(name)
        self.pipeline_file(name).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.datum_cache_file(name).unlink()

    # -- jobs --------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def save_job(self, job: JobRecord) -> None:
        write_json_atomic(self.job_dir(job.id) / "job.json", job.to_json())

    def save_datum_list(self, job_id: str, rows: list[DatumRecord]) -> None:
        write_json_atomic(self.job_dir(job_id) / "datums.json", [r.to_json() for r in rows], compact=True)

    def datum_list(self, job_id: str) -> list[DatumRecord]:
        """The datums of a job with their states (empty while the job runs)."""
        path = self.job_dir(job_id) / "datums.json"
        return [DatumRecord.from_json(doc) for doc in read_json(path)] if path.exists() else []

    def list_jobs(self, pipeline: str | None = None) -> list[JobRecord]:
        """Jobs, oldest first."""
        if not self.jobs_dir.exists():
            return []
        jobs = []
        for p in self.jobs_dir.glob("*/job.json"):
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                job = JobRecord.from_json(read_json(p))
                if pipeline is None or job.pipeline == pipeline:
                    jobs.append(job)
        return sorted(jobs, key=lambda j: j.started)

    def job(self, ref: str) -> JobRecord:
        """A job by id or unique id prefix."""
        matches = (
            [p.parent.name for p in self.jobs_dir.glob(f"{ref}*/job.json")] if self.jobs_dir.exists() else []
        )
        if len(matches) != 1:
            why = "no such job" if not matches else f"ambiguous job prefix ({len(matches)} matches)"
            raise StateError(f"job {ref!r}: {why} (see: python -m runner list job)")
        return JobRecord.from_json(read_json(self.job_dir(matches[0]) / "job.json"))
