"""What `make deploy` and `make put-raw` do, as calls of a `pachyderm_sdk.Client`.

The client is passed in, so the same functions run against pachd or against the recording
gRPC server of the tests (tests/deploy/recording_pachd.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pachyderm_sdk.api import pfs

from deploy.rawfiles import CHUNK_BYTES, RawFile, read_chunks
from deploy.specs import PipelineSpec, dag_order, source_repos

if TYPE_CHECKING:
    from pachyderm_sdk import Client

log = logging.getLogger("deploy")

#: Log a progress line at most this often while files are sent.
PROGRESS_SECONDS = 5.0


@dataclass(frozen=True)
class PutSummary:
    """The one commit a put made."""

    branch: str
    commit_id: str
    files: int
    bytes: int
    seconds: float


def create_repos(client: Client, repos: Sequence[str], project: str = "default") -> None:
    """Create each input repo, or leave it as it is if it exists (``update=True``)."""
    for name in repos:
        client.pfs.create_repo(
            repo=pfs.Repo(name=name, type="user", project=pfs.Project(name=project)),
            description="stockpipe input: the Kaggle stock market dataset in its zip layout",
            update=True,
        )
        log.info("repo %s/%s ready", project, name)


def create_pipelines(client: Client, specs: Sequence[PipelineSpec], reprocess: bool = False) -> list[str]:
    """Create or update every pipeline, upstream first, sending each spec's JSON text as it is.

    pachd parses the text itself (``CreatePipelineV2``), exactly as ``pachctl create pipeline -f``
    does, so the file in specs/ is the single definition of the pipeline.
    """
    created: list[str] = []
    for spec in dag_order(list(specs)):
        client.pps.create_pipeline_v2(
            create_pipeline_request_json=spec.text, update=True, reprocess=reprocess
        )
        log.info("pipeline %s created or updated from %s", spec.name, spec.path)
        created.append(spec.name)
    return created


def deploy_pipelines(client: Client, specs: Sequence[PipelineSpec], project: str = "default") -> list[str]:
    """Create the input repos the specs read (``raw``) and then every pipeline in DAG order."""
    create_repos(client, source_repos(list(specs)), project)
    return create_pipelines(client, specs)


def modify_file_requests(
    commit: pfs.Commit, files: Iterable[RawFile], chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pfs.ModifyFileRequest]:
    """One ModifyFile stream that writes every file into ``commit``, replacing earlier content.

    Per file: a delete (so the put overwrites, as ``pachctl put file`` does), then its content in
    chunks below pachd's message size limit; an empty file is one empty add, so it still exists.
    """
    yield pfs.ModifyFileRequest(set_commit=commit)
    for raw in files:
        yield pfs.ModifyFileRequest(delete_file=pfs.DeleteFile(path=raw.repo_path))
        sent_any = False
        for chunk in read_chunks(raw, chunk_bytes):
            sent_any = True
            yield pfs.ModifyFileRequest(add_file=pfs.AddFile(path=raw.repo_path, raw=chunk))
        if not sent_any:
            yield pfs.ModifyFileRequest(add_file=pfs.AddFile(path=raw.repo_path, raw=b""))


def _with_progress(files: Sequence[RawFile], branch: str) -> Iterator[RawFile]:
    total_bytes = sum(f.size for f in files)
    start = last = time.monotonic()
    sent = 0
    for index, raw in enumerate(files, 1):
        yield raw
        sent += raw.size
        now = time.monotonic()
        if now - last >= PROGRESS_SECONDS:
            last = now
            log.info(
                "%s: %d/%d files, %.0f/%.0f MB, %.1f MB/s",
                branch,
                index,
                len(files),
                sent / 1e6,
                total_bytes / 1e6,
                sent / 1e6 / max(now - start, 1e-9),
            )


def put_files(
    client: Client, files: Sequence[RawFile], branch_uri: str = "raw@master", description: str = ""
) -> PutSummary:
    """Put ``files`` into ``branch_uri`` in ONE commit; if anything fails, drop the commit.

    Every downstream pipeline then sees one new input commit, as with ``pachctl put file -r``.
    """
    if not files:
        raise ValueError(f"nothing to put into {branch_uri}: no files")
    branch = pfs.Branch.from_uri(branch_uri)
    start = time.monotonic()
    commit = client.pfs.start_commit(branch=branch, description=description)
    try:
        client.pfs.modify_file(modify_file_requests(commit, _with_progress(files, branch_uri)))
    except BaseException:
        log.info("put into %s failed: dropping the unfinished commit %s", branch_uri, commit.id)
        client.pfs.drop_commit_set(commit_set=pfs.CommitSet(id=commit.id))
        raise
    client.pfs.finish_commit(commit=commit)
    return PutSummary(
        branch=branch_uri,
        commit_id=commit.id,
        files=len(files),
        bytes=sum(f.size for f in files),
        seconds=time.monotonic() - start,
    )
