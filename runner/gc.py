"""``runner gc``: remove objects nothing references, and what interrupted verbs left behind.

An object is referenced by a commit's manifest (any commit of any repo, not only heads) or by a
pipeline's datum cache (a skipped datum reuses the outputs it names). Everything else in
``.objects`` is garbage: the objects of a ``put file`` that failed (a full disk) or was killed,
and those of deleted repos. A failed put removes what it installed itself
(``removing_failed_put``); a killed one leaves a journal the next changing verb reads
(``ObjectStore.remove_journaled``, from ``State.recover``). Runs with the state lock held.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

from runner.state import State, StateError


@dataclass(frozen=True)
class GcResult:
    objects_removed: int
    bytes_freed: int
    objects_kept: int
    temporaries_removed: int


def referenced_digests(state: State) -> set[str]:
    """Every object a manifest or a datum cache names; a manifest that cannot be read stops gc
    (what it references is unknown), naming it and fsck."""
    digests: set[str] = set()
    for repo in state.list_repos():
        for record in sorted((state.repo_dir(repo) / "commits").glob("*.files.json")):
            commit_id = record.name[: -len(".files.json")]
            digests.update(digest for digest, _size in state.manifest(repo, commit_id).values())
    for name in state.pipeline_names():
        cache = state.datum_cache_file(name)
        if not cache.exists():
            continue
        with open(cache, encoding="utf-8") as fh:
            for line in fh:
                with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError, AttributeError):
                    digests.update(str(blob[0]) for blob in json.loads(line)["outputs"].values())
    return digests


def stored_objects(state: State) -> Iterator[tuple[str, str]]:
    """(digest, path) of every object file in the store."""
    root = state.objects.root
    if not root.is_dir():
        return
    with os.scandir(root) as shards:
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
                continue
            with os.scandir(shard.path) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False):
                        yield shard.name + entry.name, entry.path


def collect_garbage(state: State) -> GcResult:
    """Delete unreferenced objects and temporaries (call with the lock held)."""
    try:
        keep = referenced_digests(state)
    except StateError as exc:
        raise StateError(f"gc stopped, nothing removed: {exc}") from None
    temporaries = state.objects.remove_temporaries() + state.objects.remove_journaled()
    removed = freed = kept = 0
    for digest, path in list(stored_objects(state)):
        if digest in keep:
            kept += 1
            continue
        with contextlib.suppress(FileNotFoundError):
            size = os.stat(path).st_size
            os.unlink(path)
            removed += 1
            freed += size
    return GcResult(removed, freed, kept, temporaries)


@contextlib.contextmanager
def removing_failed_put(state: State) -> Iterator[None]:
    """Run a ``put file``; if it fails (a full disk, Ctrl-C), delete the objects it installed, so the
    space is free for the next put. A killed put leaves its journal for ``State.recover``."""
    store = state.objects
    with store.journal(store.journal_path()) as installed:
        try:
            yield
        except BaseException:
            for digest in installed:
                store.remove(digest)
            raise
