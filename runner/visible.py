"""The path a datum sees for its staging folder: one with no hidden component.

Staging folders live in the state folder (``$PFS_STATE/.work``, on the object store's filesystem,
so inputs are hard links), whose path is hidden when the state is the default ``.pfs``. A datum's
code that skips hidden paths, as Pachyderm's examples do (examples/shuffle:
``find -L /pfs -not -path "*/\\.*"``, written for the worker's ``/pfs/.env`` and ``/pfs/.scratch``),
would then see nothing. So ``/pfs`` is mapped to a path under
``<tmp>/stockpipe-pfs-<uid>/``, a symlink to the staging folder: on a cluster ``/pfs/<input>`` are
symlinks into the worker's scratch space too (src/server/worker/driver/driver_unix.go
``WithActiveData``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def links_dir() -> Path:
    """``<tmp>/stockpipe-pfs-<uid>``: where the visible links are (``/tmp`` if the temporary folder's
    own path is hidden)."""
    tmp = tempfile.gettempdir()
    if any(part.startswith(".") for part in Path(tmp).parts):
        tmp = "/tmp"
    return Path(tmp) / f"stockpipe-pfs-{os.getuid()}"


def is_hidden(path: str) -> bool:
    """True if a component of ``path`` starts with a dot."""
    return any(part.startswith(".") for part in Path(path).parts)


def make_link(target: Path, name: str) -> str:
    """A visible path for the folder ``target``: the symlink ``links_dir()/name``; returns its path."""
    base = links_dir()
    base.mkdir(mode=0o700, exist_ok=True)
    link = base / name
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(target, link)
    return str(link)


def remove_link(link: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)


def remove_links_into(folder: Path) -> int:
    """Remove the visible links pointing into ``folder`` (left by an interrupted job); returns how many."""
    base = links_dir()
    prefix = str(folder).rstrip("/") + "/"
    removed = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(base) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_symlink() and (os.readlink(entry.path) + "/").startswith(prefix):
                    os.unlink(entry.path)
                    removed += 1
    return removed
