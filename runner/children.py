"""Child process groups of ``runner up``: jobs and services, each in its own process group.

Each job process (with its workers) and each service (a gunicorn master with its workers) runs
in a process group of its own, so that the loop can pause, resume or stop it as one unit with
one signal, and a Ctrl-C at the terminal reaches only the loop, which then stops its children
in order. Children also ask the kernel to send them SIGTERM when the loop dies
(``PR_SET_PDEATHSIG``), so a killed loop leaves no orphan behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _lookup_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


#: libc's prctl, looked up at import: ``die_with_parent`` runs between fork and exec, where
#: loading a library is unsafe.
_PRCTL = _lookup_prctl()


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies (Linux; no-op elsewhere);
    with ``parent``, exit at once if it is already gone (it died before the request took effect).
    Safe as a ``preexec_fn``: stage processes use SIGKILL (runner/workers.py), the loop's own
    children SIGTERM so they can stop their own."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists (a job's runner, a writer of a partial object)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to every process of group ``pgid``; False if the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _descendant_groups(pid: int) -> set[int]:
    """Process groups of every descendant of ``pid`` (from /proc: a job's workers run in a group
    of their own, led by its guard, runner/workers.py ``GroupGuard``)."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[2])))
    groups, pending = set(), [pid]
    while pending:
        for child, pgid in parents.get(pending.pop(), []):
            groups.add(pgid)
            pending.append(child)
    return groups


def signal_tree(pgid: int, sig: int) -> bool:
    """Send ``sig`` to group ``pgid`` (led by its first process) and to every process group its
    descendants are in; False if the group is gone."""
    groups = {pgid, *_descendant_groups(pgid)}
    return any([signal_group(group, sig) for group in sorted(groups)])


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still exists."""
    return signal_group(pgid, 0)


def stop_group(pgid: int, leader_done: Callable[[float], bool], timeout: float) -> None:
    """Stop the group ``pgid``: SIGTERM (and SIGCONT, for a paused group), wait up to ``timeout``
    seconds for its leader to exit (``leader_done(seconds)`` waits and says whether it did), then
    SIGKILL whatever is left of the group."""
    if signal_group(pgid, signal.SIGTERM):
        signal_group(pgid, signal.SIGCONT)
        leader_done(timeout)
    deadline = time.monotonic() + 2.0
    while signal_group(pgid, signal.SIGKILL) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the kernel has removed the group (zombies are reaped by their parents)
