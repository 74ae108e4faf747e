"""``runner fsck [--repair]``: check every record and re-hash every object of a state folder.

What is checked (each problem one line, naming the file, or ``repo@commit:/path``):

- records: ``repo.json``, commit records, manifests, pipeline records, job records and datum
  lists parse as what they should be;
- files: every object a manifest or a datum cache names exists and its bytes hash to its name
  (the full check behind the cheap one of ``ObjectStore.check``); every file of a commit's tree
  is that object (a hard link) or a copy with the same bytes;
- branches point at a commit that exists.

``--repair`` fixes what it can: a changed or missing object is restored from a copy with the
right bytes (a tree that holds a copy or still links the deleted object), in place, so every
tree linking to it is repaired too; a tree file that is not its object is linked again; a
manifest is rebuilt from its tree, a commit record from its manifest and the job that made it, a
repo or job record from what is known. An object no copy holds is lost: the commits holding it
are marked (``<commit>.lost.json``), the verbs that read them keep refusing, and the report
says what restores them: the ``put file`` of the original for an input repo, ``run`` for a
pipeline's output (its datum runs again). Unreferenced objects are ``runner gc``'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from runner import gc
from runner.objects import OBJECT_MTIME_NS, Blob, hash_file, link_or_copy
from runner.records import JobRecord, JobState, PipelineRecord, RepoKind, RepoRecord
from runner.state import Commit, DamagedState, Manifest, State, now_iso, read_record, write_json_atomic


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (a file or ``repo@commit:/path``), what, and what restores it."""

    where: str
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.where}: {self.what}" + (f"; {self.fix}" if self.fix else "")


@dataclass
class FsckReport:
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commits: int = 0
    files: int = 0
    objects: int = 0
    bytes_hashed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        what = "no problems" if self.ok else f"{len(self.problems)} problem(s) left"
        fixed = f", {len(self.repaired)} repaired" if self.repaired else ""
        return (
            f"fsck: {self.commits} commits, {self.files} committed files, {self.objects} objects "
            f"re-hashed ({self.bytes_hashed / 1e6:.1f} MB): {what}{fixed}"
        )


@dataclass
class _Use:
    """One committed file: where it is, and its tree entry."""

    repo: str
    commit: str
    path: str
    tree_file: str


class _Fsck:
    def __init__(self, state: State, repair: bool, progress: TextIO | None) -> None:
        self.state = state
        self.repair = repair
        self.report = FsckReport()
        self.progress = progress
        self.hashes: dict[str, Blob | None] = {}
        #: digest -> size recorded, and every committed file holding it
        self.uses: dict[str, tuple[int, list[_Use]]] = {}
        #: (repo, commit, linked again) -> paths whose tree file was missing or other bytes
        self.tree_issues: dict[tuple[str, str, bool], list[str]] = {}

    # -- helpers ---------------------------------------------------------------------------
    def problem(self, where: str | Path, what: str, fix: str = "") -> None:
        self.report.problems.append(Problem(str(where), what, fix))

    def fixed(self, line: str) -> None:
        self.report.repaired.append(line)

    def _hash(self, path: str) -> Blob | None:
        try:
            blob = hash_file(path)
        except OSError:
            return None
        self.report.bytes_hashed += blob[1]
        return blob

    def object_ok(self, digest: str, size: int) -> bool:
        """The object exists and its bytes hash to its name (hashed once per run)."""
        if digest not in self.hashes:
            self.hashes[digest] = self._hash(self.state.objects.path(digest))
            self.report.objects += 1
            if self.progress is not None and self.report.objects % 500 == 0:
                self.progress.write(f"\rfsck: {self.report.objects} objects re-hashed\033[K")
                self.progress.flush()
        return self.hashes[digest] == (digest, size)

    def _record(self, path: Path, parse: Callable[[Any], object], fix: Callable[[], str | None]) -> bool:
        """Check one record; on damage, report it or (``--repair``) call ``fix``. True if readable."""
        try:
            read_record(path, parse)
            return True
        except FileNotFoundError:
            return True
        except DamagedState as exc:
            done = fix() if self.repair else None
            if done:
                self.fixed(f"{path}: {done}")
            else:
                self.problem(path, f"damaged record ({exc.why})", self._record_hint(path))
            return False

    def _record_hint(self, path: Path) -> str:
        if path.parent == self.state.pipelines_dir:
            name = path.name[: -len(".json")]
            return (
                f"recreate it: python -m runner update pipeline -f <its spec file>, "
                f"or: python -m runner delete pipeline {name}"
            )
        if not self.repair:
            return "run: python -m runner fsck --repair"
        return "cannot be rebuilt from what is left (a manifest needs its tree, a commit record its manifest)"

    # -- records ---------------------------------------------------------------------------
    def check_pipelines(self) -> None:
        for name in self.state.pipeline_names():
            self._record(self.state.pipeline_file(name), PipelineRecord.from_json, lambda: None)

    def check_jobs(self) -> None:
        jobs = self.state.jobs_dir
        for job_file in sorted(jobs.glob("*/job.json")) if jobs.exists() else []:
            self._record(job_file, JobRecord.from_json, lambda f=job_file: self._rebuild_job(f))
            datums = job_file.parent / "datums.json"
            self._record(datums, lambda docs: [d["id"] for d in docs], lambda f=datums: _drop(f))

    def _rebuild_job(self, job_file: Path) -> str:
        job_id = job_file.parent.name
        pipeline = ""
        with contextlib.suppress(OSError, IndexError):
            first = (job_file.parent / "job.log").read_text(encoding="utf-8", errors="replace").split("\n")[0]
            words = first.split()
            pipeline = words[3].rstrip(":") if words[:1] == ["job"] and words[2] == "pipeline" else ""
        record = JobRecord(job_id, pipeline, JobState.KILLED, "", finished=now_iso())
        record.reason = "job record damaged; rewritten by fsck --repair (its counts are lost)"
        write_json_atomic(job_file, record.to_json())
        return "rewritten as a killed job" + (f" of {pipeline}" if pipeline else "")

    def check_repos(self) -> None:
        for repo in self.state.list_repos():
            repo_file = self.state.repo_dir(repo) / "repo.json"
            self._record(
                repo_file, RepoRecord.from_json, lambda r=repo, f=repo_file: self._rebuild_repo(r, f)
            )
            self.check_commits(repo)
            for branch in self.state.branches(repo):
                head = self.state.head(repo, branch)
                if head and not (self.state.repo_dir(repo) / "commits" / f"{head}.json").exists():
                    self.problem(f"{repo}@{branch}", f"points at commit {head}, which does not exist")

    def _rebuild_repo(self, repo: str, path: Path) -> str:
        kind = RepoKind.OUTPUT if self.state.has_pipeline(repo) else RepoKind.USER
        write_json_atomic(path, RepoRecord(repo, kind, now_iso(), "record rebuilt by fsck").to_json())
        return f"rebuilt ({kind.value} repo)"

    def check_commits(self, repo: str) -> None:
        commits = self.state.repo_dir(repo) / "commits"
        ids = sorted(p.name[: -len(".json")] for p in commits.glob("*.json") if p.name.count(".") == 1)
        for commit_id in ids:
            self.report.commits += 1
            manifest_file = self.state.manifest_file(repo, commit_id)
            readable = self._record(
                manifest_file,
                lambda doc: {p: (str(b[0]), int(b[1])) for p, b in doc.items()},
                lambda r=repo, c=commit_id: self._rebuild_manifest(r, c),
            )
            if not manifest_file.exists():
                self.problem(manifest_file, "missing", self._record_hint(manifest_file))
                continue
            self._record(
                commits / f"{commit_id}.json",
                lambda doc: Commit(**doc),
                lambda r=repo, c=commit_id: self._rebuild_commit(r, c),
            )
            if readable or self.repair:
                with contextlib.suppress(DamagedState):
                    self._note_files(repo, commit_id, self.state.manifest(repo, commit_id))

    def _rebuild_manifest(self, repo: str, commit_id: str) -> str | None:
        tree = self.state.tree(repo, commit_id)
        if not tree.is_dir():
            return None
        manifest: Manifest = {}
        root = str(tree)
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                full = os.path.join(dirpath, name)
                blob = hash_file(full)
                if not self.state.objects.intact(*blob):
                    self.state.objects.restore(blob[0], blob[1], full)
                manifest[full[len(root) :]] = blob
        write_json_atomic(
            self.state.manifest_file(repo, commit_id), {p: list(b) for p, b in sorted(manifest.items())}, True
        )
        return f"rebuilt from its tree ({len(manifest)} files)"

    def _rebuild_commit(self, repo: str, commit_id: str) -> str | None:
        try:
            manifest = self.state.manifest(repo, commit_id)
        except DamagedState:
            return None
        made_by = [j for j in self.state.list_jobs() if j.output_commit == commit_id]
        job = made_by[0] if made_by else None
        commit = Commit(
            id=commit_id,
            repo=repo,
            branch="master",
            parents=[],
            created=now_iso(),
            provenance=[{"repo": i.repo, "commit": i.commit, "branch": "master"} for i in job.inputs]
            if job
            else [],
            spec_hash=job.spec_hash if job else None,
            job=job.id if job else None,
            files=len(manifest),
            size_bytes=sum(size for _, size in manifest.values()),
            description="record rebuilt by fsck --repair: its parents and creation time are lost",
        )
        write_json_atomic(self.state.repo_dir(repo) / "commits" / f"{commit_id}.json", commit.to_json())
        return "rebuilt from its manifest" + (f" and job {job.id}" if job else "") + " (parents lost)"

    def _note_files(self, repo: str, commit_id: str, manifest: Manifest) -> None:
        tree = str(self.state.tree(repo, commit_id))
        for path, (digest, size) in manifest.items():
            self.report.files += 1
            _, uses = self.uses.setdefault(digest, (size, []))
            uses.append(_Use(repo, commit_id, path, tree + path))

    # -- files -----------------------------------------------------------------------------
    def check_objects(self) -> None:
        store = self.state.objects
        for digest, (size, uses) in self.uses.items():
            if not self.object_ok(digest, size):
                self._damaged_object(digest, size, uses)
            elif self.repair:
                _stamp(store.path(digest))
            self._check_trees(digest, size, uses)
        bad: dict[str, set[str]] = {}  # cache file -> damaged output digests it names
        for digest, size, where in dict.fromkeys(self._cached_outputs()):
            if digest in self.uses:
                continue
            if self.object_ok(digest, size):
                if self.repair:
                    _stamp(store.path(digest))
            elif self.repair:
                bad.setdefault(where, set()).add(digest)
            else:
                fix = "run: python -m runner fsck --repair (its datum then runs again)"
                self.problem(where, f"a cached datum's output {digest} is missing or changed", fix)
        for where, digests in bad.items():
            dropped = _drop_cache_lines(Path(where), digests)
            self.fixed(f"{where}: {dropped} cached datum(s) named a damaged output; they run again")
        if self.repair and not store.stamped:
            store.mark_stamped()
            self.fixed(f"{store.root}: objects re-hashed and stamped (a store made by an older runner)")

    def _cached_outputs(self) -> list[tuple[str, int, str]]:
        out = []
        for name in self.state.pipeline_names():
            cache = self.state.datum_cache_file(name)
            if not cache.exists():
                continue
            with open(cache, encoding="utf-8") as fh:
                for line in fh:
                    with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError, AttributeError):
                        for blob in json.loads(line)["outputs"].values():
                            out.append((str(blob[0]), int(blob[1]), str(cache)))
        return out

    def _damaged_object(self, digest: str, size: int, uses: list[_Use]) -> None:
        store = self.state.objects
        outputs = set(self.state.pipeline_names())
        uses.sort(key=lambda u: (u.repo in outputs, u.repo))  # an input repo first: a put restores it
        first = uses[0]
        where = f"{first.repo}@{first.commit}:{first.path}"
        others = f" (also in {len(uses) - 1} more commit(s))" if len(uses) > 1 else ""
        missing = not os.path.exists(store.path(digest))
        what = "its stored bytes are missing" if missing else "its bytes differ from what was committed"
        heads = self.heads()
        if all(
            u.path in self.state.lost_paths(u.repo, u.commit) and (u.repo, u.commit) not in heads
            for u in uses
        ):
            self.report.notes.append(f"{where}: lost (marked by fsck --repair), in old commits only")
            return
        what += others
        if self.repair:
            for use in uses:
                copy = use.tree_file
                if (
                    os.path.exists(copy)
                    and not _same_file(copy, store.path(digest))
                    and store.restore(digest, size, copy)
                ):
                    self.hashes[digest] = (digest, size)
                    self.fixed(f"{where}: {what}; restored from {copy}")
                    return
            for use in uses:
                self._mark_lost(use)
            self.problem(where, f"{what}; no copy holds them (commits marked lost)",
                         self._lost_fix(first, uses))  # fmt: skip
            return
        self.problem(where, what, "run: python -m runner fsck --repair")

    def heads(self) -> set[tuple[str, str]]:
        """(repo, commit) of every branch head."""
        found = set()
        for repo in self.state.list_repos():
            for branch in self.state.branches(repo):
                head = self.state.head(repo, branch)
                if head:
                    found.add((repo, head))
        return found

    def _mark_lost(self, use: _Use) -> None:
        lost = set(self.state.lost_paths(use.repo, use.commit))
        lost.add(use.path)
        write_json_atomic(self.state.lost_file(use.repo, use.commit), sorted(lost))

    def _lost_fix(self, first: _Use, uses: list[_Use]) -> str:
        downstream = self._downstream({(u.repo, u.commit) for u in uses})
        made = f"; made from it: {', '.join(downstream[:6])}" if downstream else ""
        if self.state.has_pipeline(first.repo):
            return f"run: python -m runner run (the datum that wrote it runs again){made}"
        put = f"python -m runner put file {first.repo}@master:{first.path} -f <the original file>"
        return f"restore it: {put}{made}"

    def _downstream(self, commits: set[tuple[str, str]]) -> list[str]:
        """Commits made (transitively) from ``commits``, as ``repo@commit``."""
        found: list[str] = []
        frontier = set(commits)
        seen: set[tuple[str, str]] = set()
        while frontier:
            nxt = set()
            for repo in self.state.list_repos():
                for record in (self.state.repo_dir(repo) / "commits").glob("*.json"):
                    if record.name.count(".") != 1:
                        continue
                    with contextlib.suppress(DamagedState, FileNotFoundError):
                        c = self.state.commit(repo, record.name[: -len(".json")])
                        if any((p["repo"], p["commit"]) in frontier for p in c.provenance):
                            key = (repo, c.id)
                            if key not in seen:
                                seen.add(key)
                                nxt.add(key)
                                found.append(f"{repo}@{c.id}")
            frontier = nxt
        return found

    def _check_trees(self, digest: str, size: int, uses: list[_Use]) -> None:
        obj = self.state.objects.path(digest)
        for use in uses:
            if os.path.exists(use.tree_file) and (
                _same_file(use.tree_file, obj) or self._hash(use.tree_file) == (digest, size)
            ):
                continue
            relinked = self.repair and self.hashes.get(digest) == (digest, size)
            if relinked:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(use.tree_file)
                os.makedirs(os.path.dirname(use.tree_file), exist_ok=True)
                link_or_copy(obj, use.tree_file)
            self.tree_issues.setdefault((use.repo, use.commit, relinked), []).append(use.path)

    def report_trees(self) -> None:
        """One line per commit whose tree (the head folder) did not show its files."""
        for (repo, commit_id, relinked), paths in self.tree_issues.items():
            more = f" (and {len(paths) - 1} more files)" if len(paths) > 1 else ""
            where = f"{self.state.tree(repo, commit_id)}{paths[0]}{more}"
            if relinked:
                self.fixed(f"{where}: missing or not {repo}@{commit_id} as committed; linked again")
            else:
                self.problem(where, f"missing or not {repo}@{commit_id} as committed",
                             "run: python -m runner fsck --repair")  # fmt: skip

    def leftovers(self) -> None:
        tmp = [*self.state.objects.root.glob(".tmp-*"), *self.state.temporary_records()]
        if tmp:
            self.report.notes.append(
                f"{len(tmp)} temporary file(s) of interrupted verbs: python -m runner gc"
            )
        with contextlib.suppress(DamagedState):
            keep = gc.referenced_digests(self.state)
            orphans = sum(1 for digest, _ in gc.stored_objects(self.state) if digest not in keep)
            if orphans:
                self.report.notes.append(
                    f"{orphans} unreferenced object(s): python -m runner gc removes them"
                )

    def clear_stale_marks(self) -> None:
        """Drop ``lost`` marks of commits whose files are whole again (a put of the original)."""
        for repo in self.state.list_repos():
            for mark in (self.state.repo_dir(repo) / "commits").glob("*.lost.json"):
                commit_id = mark.name[: -len(".lost.json")]
                with contextlib.suppress(DamagedState):
                    manifest = self.state.manifest(repo, commit_id)
                    lost = self.state.lost_paths(repo, commit_id)
                    whole = all(p not in manifest or self.object_ok(*manifest[p]) for p in lost)
                    if whole and self.repair:
                        mark.unlink()
                        self.fixed(f"{repo}@{commit_id}: its lost files are back; mark removed")


def _drop_cache_lines(cache: Path, digests: set[str]) -> int:
    """Rewrite a datum cache without the entries naming one of ``digests``; returns how many."""
    kept, dropped = [], 0
    with open(cache, encoding="utf-8") as fh:
        for line in fh:
            try:
                names = {str(blob[0]) for blob in json.loads(line)["outputs"].values()}
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError, IndexError):
                continue  # a torn line: dropped too (load_cache ignores it anyway)
            if names & digests:
                dropped += 1
            else:
                kept.append(line)
    tmp = cache.with_name(f".{cache.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(kept), encoding="utf-8")
    os.replace(tmp, cache)
    return dropped


def _stamp(path: str) -> None:
    """Give an object whose bytes were just verified the install mtime (a store of an older runner)."""
    if os.stat(path).st_mtime_ns != OBJECT_MTIME_NS:
        os.utime(path, ns=(OBJECT_MTIME_NS, OBJECT_MTIME_NS))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _drop(path: Path) -> str:
    path.unlink()
    return "removed (list datum shows nothing for this job)"


def fsck(state: State, repair: bool = False, progress: TextIO | None = None) -> FsckReport:
    """Check (and with ``repair``, fix) the whole state folder; call with the lock held."""
    if progress is None and sys.stderr.isatty():
        progress = sys.stderr
    run = _Fsck(state, repair, progress)
    run.check_pipelines()
    run.check_jobs()
    run.check_repos()
    run.check_objects()
    run.report_trees()
    run.clear_stale_marks()
    run.leftovers()
    if progress is not None:
        progress.write("\r\033[K")
    return run.report
