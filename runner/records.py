"""Typed records of the state folder: pipelines, jobs, datums, repos, and their JSON on disk.

Each record reads the JSON the runner has always written (``from_json`` tolerates fields an
older runner did not write) and writes the same keys back (``to_json``), so a state folder made
before these classes existed keeps working. ``State`` (state.py) reads and writes the files.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runner.spec import Spec, parse_spec


class JobState(StrEnum):
    """The state of a job, as written in ``job.json`` and shown by ``list job``."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    KILLED = "killed"


class DatumState(StrEnum):
    """The state of a datum in a job's ``datums.json`` (``list datum``)."""

    SUCCESS = "success"
    SKIPPED = "skipped"
    #: ``cmd`` failed on every try and ``errCmd`` succeeded: no output, the job is not failed by it
    RECOVERED = "recovered"
    FAILED = "failed"
    NOT_RUN = "not run"


class RepoKind(StrEnum):
    USER = "user"
    OUTPUT = "output"


@dataclass(frozen=True)
class RepoRecord:
    """``<repo>/repo.json``."""

    name: str
    kind: RepoKind
    created: str
    description: str = ""

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RepoRecord:
        return cls(
            doc["name"], RepoKind(doc.get("type", "user")), doc.get("created", ""), doc.get("description", "")
        )

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "type": self.kind.value,
            "created": self.created,
            "description": self.description,
        }


@dataclass(frozen=True)
class PipelineRecord:
    """``.pipelines/<name>.json``: the pipeline's current spec, its datum salt and version.

    ``salt`` is Pachyderm's pipeline salt (``PipelineInfo.Details.Salt``): with the input files it
    is all a datum's hash covers (src/server/worker/common/common.go ``HashDatum``). It is the
    spec's ``salt`` or a random one when the pipeline is created, and kept by every update unless
    ``--reprocess`` draws a new one (src/server/pps/server/api_server.go ``initializePipelineInfo``).
    """

    spec: Spec
    created: str
    updated: str
    salt: str = ""
    #: 1 when created, +1 for every update that changes the spec or reprocesses.
    version: int = 1

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def path(self) -> str:
        return self.spec.path

    @property
    def spec_hash(self) -> str:
        return self.spec.spec_hash

    @property
    def effective_hash(self) -> str:
        """What an output commit records as its ``spec_hash``: the spec's hash and the salt. A head
        made from another spec or salt gets a new job (its datums are skipped unless the salt moved)."""
        if not self.salt:
            return self.spec.spec_hash
        return hashlib.sha256(f"{self.spec.spec_hash}\0{self.salt}".encode()).hexdigest()[:32]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PipelineRecord:
        spec = parse_spec(doc["spec"], doc["path"])
        # A record of an older runner has no salt: its reprocess salt, or the spec's, stands in.
        salt = doc.get("salt") or doc.get("reprocess_salt") or str(spec.raw.get("salt") or "")
        return cls(
            spec=spec,
            created=doc.get("created", ""),
            updated=doc.get("updated", ""),
            salt=salt,
            version=int(doc.get("version", 1)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "spec": self.spec.raw,
            "spec_hash": self.spec_hash,
            "created": self.created,
            "updated": self.updated,
            "salt": self.salt,
            "version": self.version,
        }


@dataclass(frozen=True)
class InputCommit:
    """One input head a job read."""

    repo: str
    commit: str

    def to_json(self) -> dict[str, str]:
        return {"repo": self.repo, "commit": self.commit}


@dataclass
class DatumCounts:
    total: int = 0
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    #: datums whose ``cmd`` failed and whose ``errCmd`` succeeded (Pachyderm's ``DataRecovered``)
    recovered: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "total": self.total,
            "processed": self.processed,
            "skipped": self.skipped,
            "failed": self.failed,
            "recovered": self.recovered,
        }


@dataclass(frozen=True)
class FailedDatum:
    """A datum that failed every try: its id, its files (``name:/path``), tries and last log line."""

    datum: str
    inputs: list[str]
    tries: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"datum": self.datum, "inputs": list(self.inputs), "tries": self.tries, "error": self.error}


@dataclass
class JobRecord:
    """``.jobs/<id>/job.json``."""

    id: str
    pipeline: str
    state: JobState
    started: str
    finished: str | None = None
    pid: int | None = None
    spec_hash: str = ""
    inputs: list[InputCommit] = field(default_factory=list)
    output_commit: str | None = None
    datums: DatumCounts = field(default_factory=DatumCounts)
    reason: str = ""
    #: Wall time of the job; None while it runs (and not written then).
    seconds: float | None = None
    #: Written only when datums failed.
    failed_datums: list[FailedDatum] = field(default_factory=list)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> JobRecord:
        counts = doc.get("datums") or {}
        return cls(
            id=doc["id"],
            pipeline=doc.get("pipeline", ""),
            state=JobState(doc.get("state", JobState.KILLED)),
            started=doc.get("started", ""),
            finished=doc.get("finished"),
            pid=doc.get("pid"),
            spec_hash=doc.get("spec_hash", ""),
            inputs=[InputCommit(i["repo"], i["commit"]) for i in doc.get("inputs", [])],
            output_commit=doc.get("output_commit"),
            datums=DatumCounts(
                **{k: int(counts.get(k, 0)) for k in ("total", "processed", "skipped", "failed", "recovered")}
            ),
            reason=doc.get("reason", ""),
            seconds=doc.get("seconds"),
            failed_datums=[
                FailedDatum(f["datum"], list(f.get("inputs", [])), int(f.get("tries", 0)), f.get("error", ""))
                for f in doc.get("failed_datums", [])
            ],
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "pipeline": self.pipeline,
            "state": self.state.value,
            "started": self.started,
            "finished": self.finished,
            "pid": self.pid,
            "spec_hash": self.spec_hash,
            "inputs": [i.to_json() for i in self.inputs],
            "output_commit": self.output_commit,
            "datums": self.datums.to_json(),
            "reason": self.reason,
        }
        if self.seconds is not None:
            doc["seconds"] = self.seconds
        if self.failed_datums:
            doc["failed_datums"] = [f.to_json() for f in self.failed_datums]
        return doc

    @property
    def heads(self) -> dict[str, str]:
        """repo → the input commit the job read."""
        return {i.repo: i.commit for i in self.inputs}

    def observed_state(self) -> JobState:
        """The state, with a running job whose runner process is gone shown as killed
        (the next changing verb records it: ``State.recover``)."""
        if self.state is JobState.RUNNING and not _alive(self.pid):
            return JobState.KILLED
        return self.state


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class DatumInputRecord:
    name: str
    repo: str
    commit: str
    matched: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "repo": self.repo, "commit": self.commit, "matched": self.matched}


@dataclass(frozen=True)
class DatumRecord:
    """One row of a job's ``datums.json``."""

    id: str
    state: DatumState
    hash: str
    inputs: list[DatumInputRecord]
    #: ``name:/path`` of every input file
    files: list[str]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DatumRecord:
        return cls(
            id=doc["id"],
            state=DatumState(doc["state"]),
            hash=doc.get("hash", ""),
            inputs=[
                DatumInputRecord(i["name"], i.get("repo", ""), i.get("commit", ""), i["matched"])
                for i in doc.get("inputs", [])
            ],
            files=list(doc.get("files", [])),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "hash": self.hash,
            "inputs": [i.to_json() for i in self.inputs],
            "files": list(self.files),
        }


@dataclass(frozen=True)
class FileEntry:
    """One line of ``list file``: a file, or a folder with the total size of the files below it."""

    path: str
    kind: str
    size: int
