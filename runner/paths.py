"""File names a repo may hold: Pachyderm's ``ValidateFilename`` rules, and a printable form of a name.

Pachyderm refuses a file path (at ``put file`` and for a datum's outputs) unless

- every character is printable ASCII, space to ``~`` (so a name that is not UTF-8, or holds
  ``é``, a tab or a newline, is refused);
- it holds none of the glob characters ``* ? [ ] { } ! ( ) @ + ^``;
- no element of it is ``.`` or ``..``.

Source: pachyderm/pachyderm ``src/internal/storage/paths.go`` (``ValidateFilename``, with
``validRangeRegex = ^[ -~]+$`` and ``globRegex = [*?[\\]{}!()@+^]``), which
``src/server/pfs/server/paths.go`` and the datum output upload (``src/server/worker/datum/datum.go``)
call; read at commit e237475e99.

A name that is not UTF-8 arrives here as a ``str`` holding surrogate escapes (how Python decodes
file names from the OS); ``printable`` turns any name into text that can be printed and copied
back (``\\xff`` for an undecodable byte), which ``delete file`` also accepts.
"""

from __future__ import annotations

import re

from runner.records import RepoKind
from runner.state import State, StateError

_PRINTABLE_ASCII = re.compile(r"[ -~]+\Z")
_GLOB_CHARACTER = re.compile(r"[*?\[\]{}!()@+^]")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InvalidFilename(StateError):
    """A path Pachyderm would refuse; the message names the path and the rule."""


def printable(path: str) -> str:
    """``path`` as printable text: undecodable bytes as ``\\xNN``, control characters escaped."""
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def filename_problem(path: str) -> str | None:
    """Why Pachyderm's ValidateFilename refuses ``path``, or None if it accepts it."""
    if _PRINTABLE_ASCII.match(path):
        glob = _GLOB_CHARACTER.search(path)
        if glob:
            return f"the glob character {glob.group()!r} is not allowed in a file name"
        if any(part in (".", "..") for part in path.split("/")):
            return "'.' and '..' are not allowed as path elements"
        return None
    if not path:
        return "the name is empty"
    if _SURROGATE.search(path):
        return "the name is not UTF-8; only printable ASCII characters are allowed"
    bad = next(ch for ch in path if not " " <= ch <= "~")
    return f"only printable ASCII characters are allowed (found '{printable(bad)}')"


def validate_filename(path: str) -> None:
    """Raise InvalidFilename naming ``path`` unless Pachyderm's ValidateFilename accepts it."""
    problem = filename_problem(path)
    if problem:
        raise InvalidFilename(f"{printable(path)}: file name refused: {problem}")


def check_input_heads(state: State) -> None:
    """Raise InvalidFilename for the first input-repo branch head holding a name Pachyderm refuses.

    An older runner accepted such names at ``put file``; this says which file and how to remove it
    (``delete file``), before a job would fail on it. Output repos are left to the check of a
    datum's outputs: their fix is a new job, which this check must not block.
    """
    for repo in state.list_repos():
        if state.repo_info(repo).kind is RepoKind.OUTPUT:
            continue
        for branch in state.branches(repo):
            for path in state.manifest(repo, state.head(repo, branch)):
                problem = filename_problem(path)
                if problem is not None:
                    where = f"{repo}@{branch}:{printable(path)}"
                    raise InvalidFilename(
                        f"{where}: file name refused: {problem}; "
                        f"remove it with: python -m runner delete file '{where}'"
                    )
