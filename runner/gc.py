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
    return state.referenced_digests()


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
    """Delete unreferenced objects and temporaries (call with the commit lock and the jobs lock
    held); refused while a ``put file`` runs (its objects are not referenced until it commits,
    and a put registers itself under the commit lock, so none starts meanwhile)."""
    running = state.objects.live_journals()
    if running:
        raise StateError(f"gc: {len(running)} put file still running; run gc after it ends")
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
    with state.locked():  # registered under the lock: a gc holding it sees this put, or none starts
        journal = store.journal_path()
        journal.touch()
    with store.journal(journal) as installed:
        try:
            yield
        except BaseException:
            # puts run concurrently: another may have found (and committed) an object this one
            # installed; only what nothing else uses goes
            with state.locked():
                for digest in set(installed) - state.referenced_elsewhere():
                    store.remove(digest)
            raise
