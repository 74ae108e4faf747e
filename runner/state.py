"""The runner's state folder: repos, branches, commits, pipelines and jobs on local disk.

Layout under ``$PFS_STATE`` (default ``.pfs``)::

    .lock                          held (flock) by every verb that changes state
    .objects/ab/cdef...            content-addressed file versions (see objects.py)
    .pipelines/<name>.json         the pipeline's current spec, its hash and salt
    .pipelines/<name>.datums.jsonl datum cache: datum hash -> output files (append-only)
    .jobs/<job id>/job.json        job record; job.log (lines tagged with datum ids);
                                   datums.json (every datum's state); logs/<datum>.log (failures)
    .work/<job id>/<datum id>/pfs  staging roots of running datums (removed after the job)
    <repo>/repo.json               the repo record
    <repo>/commits/<id>.json       commit record (parents, provenance, spec hash, job); the
                                   commits a put causes downstream share its id (a commit set)
    <repo>/commits/<id>.files.json the commit's manifest: path -> [hash, size]
    <repo>/trees/<id>/             the commit's files, hard links into .objects
    <repo>/<branch> -> trees/<id>  the branch head: a symlink swapped atomically

Every file is written under a temporary name and renamed; a branch moves only after its
commit's tree and record are complete, so an interrupted verb leaves the previous head intact.

A record that does not parse raises ``DamagedState`` naming the file and ``runner fsck``; a
commit whose files are about to be read (``files``) is checked against the object store first
(``IntegrityError``, one line naming the file and the commit): see runner/fsck.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from runner.objects import Blob, ObjectStore, link_or_copy
from runner.records import (
    DatumRecord,
    FileEntry,
    JobRecord,
    JobState,
    PipelineRecord,
    RepoKind,
    RepoRecord,
)
from runner.spec import NAME_RE
from runner.visible import remove_links_into

RESERVED_BRANCH_NAMES = {"commits", "trees", "repo.json"}
FSCK_HINT = "run: python -m runner fsck --repair"
T = TypeVar("T")
#: path -> (hash, size)
Manifest = dict[str, Blob]


class StateError(RuntimeError):
    """A request the state cannot satisfy (unknown repo, busy lock...), with a message for the user."""


class DamagedState(StateError):
    """A record of the state folder that cannot be read (truncated, not JSON, wrong shape)."""

    def __init__(self, path: Path, why: str) -> None:
        self.path, self.why = path, why
        super().__init__(f"{path}: damaged record ({why}); {FSCK_HINT}")


class IntegrityError(StateError):
    """A committed file whose stored bytes are missing or differ from what its commit recorded."""

    def __init__(self, repo: str, commit_id: str, path: str, why: str, hint: str = FSCK_HINT) -> None:
        self.repo, self.commit_id, self.path, self.why = repo, commit_id, path, why
        super().__init__(f"{repo}@{commit_id}:{path}: {why}; {hint}")


def known(what: str, names: list[str], most: int = 20) -> str:
    """``known repos: a, b, c`` for error messages about an unknown name."""
    if not names:
        return f"there are no {what.split(' ')[0]} yet"
    shown = ", ".join(names[:most]) + (f", ... ({len(names)} in all)" if len(names) > most else "")
    return f"known {what}: {shown}"


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


def read_record(path: Path, parse: Callable[[Any], T]) -> T:
    """``parse`` the JSON of ``path``; a file that is not the record it should be raises ``DamagedState``
    (``FileNotFoundError`` is left to the caller)."""
    try:
        return parse(read_json(path))
    except json.JSONDecodeError as exc:
        raise DamagedState(path, f"not valid JSON: {exc.msg} at byte {exc.pos}") from None
    except (UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise DamagedState(path, f"unexpected content: {type(exc).__name__}: {exc}") from None


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


class State:
    """Access to one state folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.objects = ObjectStore(self.root / ".objects")
        self.pipelines_dir = self.root / ".pipelines"
        self.jobs_dir = self.root / ".jobs"
        self.work_dir = self.root / ".work"
        self._lock_fh: Any = None

    # -- locking -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[State]:
        """Hold the state's lock (one changing verb at a time); recover leftovers on entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise StateError(f"{self.root} is in use by {holder}; wait for it to finish") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"runner pid {os.getpid()}")
            fh.flush()
            self._lock_fh = fh
            self.recover()
            yield self
        finally:
            self._lock_fh = None
            fh.close()

    @property
    def lock_fds(self) -> tuple[int, ...]:
        """File descriptors of the held lock; forked workers close them, so a killed runner frees it."""
        return (self._lock_fh.fileno(),) if self._lock_fh is not None else ()

    def recover(self) -> list[str]:
        """Clean what an interrupted verb left behind (called with the lock held)."""
        notes = []
        removed = self.objects.remove_temporaries()
        if removed:
            notes.append(f"removed {removed} partial object(s)")
        orphans = self.objects.remove_journaled()
        if orphans:
            notes.append(f"removed {orphans} object(s) of an interrupted put file")
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir, ignore_errors=True)
        remove_links_into(self.work_dir)
        for job in self.list_jobs():
            if job.state is JobState.RUNNING:
                job.state = JobState.KILLED
                job.finished = job.finished or now_iso()
                job.reason = "the run was interrupted; its finished datums are reused by the next run"
                self.save_job(job)
                notes.append(f"job {job.id} of {job.pipeline} was interrupted, marked killed")
        for repo in self.list_repos():
            trees = self.root / repo / "trees"
            for tmp in trees.glob(".tmp-*") if trees.exists() else []:
                shutil.rmtree(tmp, ignore_errors=True)
        for tmp in self.temporary_records():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return notes

    def temporary_records(self) -> list[Path]:
        """Records half-written by an interrupted verb (``write_json_atomic``'s temporaries)."""
        found = []
        for folder in [self.pipelines_dir, *(self.root / r / "commits" for r in self.list_repos())]:
            found += folder.glob(".*.tmp-*") if folder.is_dir() else []
        return found

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
        return read_record(self.repo_dir(repo) / "repo.json", RepoRecord.from_json)

    def require_repo(self, repo: str) -> None:
        if not self.has_repo(repo):
            raise StateError(f"repo {repo!r} not found in {self.root}; {known('repos', self.list_repos())}")

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
            recent = [c.id for c in self.commit_history(repo)][:5]
            raise StateError(
                f"{repo}@{ref}: no such branch or commit; {known('branches', self.branches(repo))}; "
                f"{known('newest commits on master', recent)}"
            )
        raise StateError(f"{repo}@{ref}: ambiguous commit prefix ({len(matches)} matches)")

    def commit(self, repo: str, commit_id: str) -> Commit:
        path = self.repo_dir(repo) / "commits" / f"{commit_id}.json"
        try:
            return read_record(path, lambda doc: Commit(**doc))
        except FileNotFoundError:
            raise StateError(f"{repo}@{commit_id}: no such commit") from None

    def manifest_file(self, repo: str, commit_id: str) -> Path:
        return self.repo_dir(repo) / "commits" / f"{commit_id}.files.json"

    def has_commit(self, repo: str, commit_id: str) -> bool:
        return (self.repo_dir(repo) / "commits" / f"{commit_id}.json").is_file()

    def full_provenance(self, repo: str, commit_id: str) -> list[dict[str, str]]:
        """Every commit ``repo@commit_id`` was made from, directly or through other pipelines'
        outputs, nearest first: ``{repo, commit, branch}`` each once (pachctl's ``inspect commit``
        shows the commit's whole provenance; src/server/pfs/server/server_commit_set.go)."""
        seen: set[tuple[str, str]] = set()
        out: list[dict[str, str]] = []
        pending = list(self.commit(repo, commit_id).provenance)
        while pending:
            ref = pending.pop(0)
            key = (ref["repo"], ref["commit"])
            if key in seen:
                continue
            seen.add(key)
            out.append({"repo": ref["repo"], "commit": ref["commit"], "branch": ref.get("branch", "master")})
            if self.has_repo(ref["repo"]) and self.has_commit(ref["repo"], ref["commit"]):
                pending.extend(self.commit(ref["repo"], ref["commit"]).provenance)
        return out

    def commit_set(self, ref: str) -> list[Commit]:
        """``list commit <id>``: every repo's commit with that id (or unique id prefix), and the
        commits they were made from in earlier sets, provenance before the commits made from it
        (src/server/pfs/server/server_commit_set.go ``inspectCommitSetImmediateTx``, ``TopologicalSort``)."""
        ids = {
            p.name[: -len(".json")]
            for repo in self.list_repos()
            for p in (self.repo_dir(repo) / "commits").glob(f"{ref}*.json")
            if not p.name.endswith(".files.json")
        }
        if not ids:
            raise StateError(
                f"repo {ref!r} not found in {self.root}, and no commit has this id; "
                f"{known('repos', self.list_repos())}"
            )
        if len(ids) > 1:
            raise StateError(f"commit set {ref!r}: ambiguous commit prefix ({len(ids)} ids)")
        (set_id,) = ids
        members = [self.commit(repo, set_id) for repo in self.list_repos() if self.has_commit(repo, set_id)]
        by_key = {(c.repo, c.id): c for c in members}
        for c in members:
            for p in self.full_provenance(c.repo, c.id):
                key = (p["repo"], p["commit"])
                if key not in by_key and self.has_repo(p["repo"]) and self.has_commit(*key):
                    by_key[key] = self.commit(*key)
        ordered: list[Commit] = []
        done: set[tuple[str, str]] = set()

        def visit(c: Commit) -> None:
            if (c.repo, c.id) in done:
                return
            done.add((c.repo, c.id))
            for p in c.provenance:
                parent = by_key.get((p["repo"], p["commit"]))
                if parent is not None:
                    visit(parent)
            ordered.append(c)

        for c in sorted(by_key.values(), key=lambda c: (c.created, c.repo)):
            visit(c)
        return ordered

    def manifest(self, repo: str, commit_id: str | None) -> Manifest:
        """path -> (hash, size) of a commit (what was committed; ``files`` also checks the bytes)."""
        if commit_id is None:
            return {}
        path = self.manifest_file(repo, commit_id)
        try:
            return read_record(path, lambda doc: {p: (b[0], b[1]) for p, b in doc.items()})
        except FileNotFoundError:
            raise DamagedState(path, "missing") from None

    def files(self, repo: str, commit_id: str | None) -> Manifest:
        """The manifest of a commit whose files are about to be used, checked against the store."""
        manifest = self.manifest(repo, commit_id)
        if commit_id is not None:
            self.verify(repo, commit_id, manifest)
        return manifest

    def verify(self, repo: str, commit_id: str, manifest: Manifest) -> None:
        """Raise ``IntegrityError`` for the first file of ``manifest`` whose object is missing or was
        changed (one ``stat`` per file: runner/objects.py ``ObjectStore.check``)."""
        check = self.objects.check
        for path, (digest, size) in manifest.items():
            why = check(digest, size)
            if why is not None:
                raise IntegrityError(repo, commit_id, path, why, self.repair_hint(repo, path))

    def repair_hint(self, repo: str, path: str) -> str:
        """What restores a damaged file: fsck (a copy), else a put of the original (input repos)."""
        if self.has_pipeline(repo):
            return f"{FSCK_HINT} (then run: python -m runner run, to remake what it cannot restore)"
        return (
            f"{FSCK_HINT} (if it finds no copy: python -m runner put file {repo}@master:{path} "
            "-f <the original file>)"
        )

    def lost_file(self, repo: str, commit_id: str) -> Path:
        """Written by ``fsck --repair``: the paths of a commit whose bytes could not be restored."""
        return self.repo_dir(repo) / "commits" / f"{commit_id}.lost.json"

    def lost_paths(self, repo: str, commit_id: str) -> list[str]:
        path = self.lost_file(repo, commit_id)
        try:
            return read_record(path, lambda doc: [str(p) for p in doc])
        except (FileNotFoundError, DamagedState):
            return []

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
        commit_id: str | None = None,
    ) -> Commit:
        """Finish a commit with ``manifest`` and move ``repo@branch`` to it, atomically. ``commit_id``
        is the id of the commit set it belongs to (a new one if not given)."""
        self.require_repo(repo)
        if branch in RESERVED_BRANCH_NAMES or "/" in branch or not branch:
            raise StateError(f"invalid branch name {branch!r}")
        if commit_id is not None and self.has_commit(repo, commit_id):
            raise StateError(f"{repo}@{commit_id}: the commit exists already")
        parent = self.head(repo, branch)
        commit = Commit(
            id=commit_id or new_id(),
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
        check = self.objects.check
        try:
            for path, (digest, size) in manifest.items():
                why = check(digest, size)
                if why is not None:  # never build a commit over changed or missing bytes
                    raise IntegrityError(trees.parent.name, commit_id, path, why, FSCK_HINT)
                parent, _, _name = path.rpartition("/")
                if parent and parent not in made:
                    os.makedirs(f"{tmp}{parent}", exist_ok=True)
                    made.add(parent)
                link_or_copy(self.objects.path(digest), f"{tmp}{path}")
            os.replace(tmp, trees / commit_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    # -- pipelines ---------------------------------------------------------------------------
    def pipeline_file(self, name: str) -> Path:
        return self.pipelines_dir / f"{name}.json"

    def datum_cache_file(self, name: str) -> Path:
        return self.pipelines_dir / f"{name}.datums.jsonl"

    def pipeline_names(self) -> list[str]:
        """Names of every pipeline record, readable or not."""
        if not self.pipelines_dir.exists():
            return []
        return sorted(p.name[: -len(".json")] for p in self.pipelines_dir.glob("*.json"))

    def list_pipelines(self, skip_damaged: bool = False) -> list[PipelineRecord]:
        """Every pipeline; a damaged record raises ``DamagedState`` unless ``skip_damaged``."""
        records = []
        for name in self.pipeline_names():
            try:
                records.append(self.pipeline(name))
            except DamagedState:
                if not skip_damaged:
                    raise
        return records

    def has_pipeline(self, name: str) -> bool:
        return self.pipeline_file(name).is_file()

    def pipeline(self, name: str) -> PipelineRecord:
        try:
            return read_record(self.pipeline_file(name), PipelineRecord.from_json)
        except FileNotFoundError:
            names = self.pipeline_names()
            raise StateError(f"pipeline {name!r} not found; {known('pipelines', names)}") from None

    def save_pipeline(self, record: PipelineRecord) -> None:
        write_json_atomic(self.pipeline_file(record.name), record.to_json())

    def delete_pipeline(self, name: str) -> None:
        if not self.has_pipeline(name):
            self.pipeline(name)  # the "not found" error
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
        if not path.exists():
            return []
        return read_record(path, lambda docs: [DatumRecord.from_json(doc) for doc in docs])

    def list_jobs(self, pipeline: str | None = None) -> list[JobRecord]:
        """Jobs, oldest first."""
        if not self.jobs_dir.exists():
            return []
        jobs = []
        for p in self.jobs_dir.glob("*/job.json"):
            with contextlib.suppress(FileNotFoundError, DamagedState):  # fsck reports damaged ones
                job = read_record(p, JobRecord.from_json)
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
            recent = [j.id for j in reversed(self.list_jobs())][:10]
            raise StateError(f"job {ref!r}: {why}; {known('jobs (newest first)', recent)}")
        return read_record(self.job_dir(matches[0]) / "job.json", JobRecord.from_json)
