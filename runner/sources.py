"""What ``put file`` reads from a folder or a file: regular files only, each checked before any is read.

Every entry of a source folder is looked at with ``lstat`` first, so nothing that is not a
regular file is ever opened: a fifo would block the reader forever, a device (``/dev/zero``)
never ends, a socket cannot be read. Symbolic links are refused by default; with
``follow_links`` a link whose target lies inside the source folder is followed (a folder link
walked, with loops refused), one pointing outside is always refused, and a dangling link is
named. Every problem is found before anything is stored, and reported as one line (the first,
with how many more). A file is then opened with ``O_NOFOLLOW | O_NONBLOCK`` and ``fstat``-checked
again, so a file swapped for a link or a fifo between the walk and the read is refused too.

``pachctl put file -r`` (src/server/pfs/cmds/cmds.go, ``putFileHelper``) walks with
``filepath.Walk``: it opens file links wherever they point and fails on a folder link; the
runner is stricter on purpose (a put must never copy ``/etc/passwd`` or a credentials file into a
repo because a link pointed there).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from runner.paths import filename_problem, printable
from runner.state import StateError

#: how an open for reading must behave: never follow a final link, never wait on a fifo
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
FOLLOW_HINT = "--follow-links"


class SourceRefused(StateError):
    """Something in the source of a put cannot be put; the message names it."""


@dataclass(frozen=True)
class LocalFile:
    """One regular file of a put's source."""

    repo_path: str  #: where it goes in the repo, normalised: ``/stocks/A.csv``
    local: str  #: the path opened (a followed link's resolved target)
    shown: str  #: the path as the user would write it, for messages


def normalise(path: str) -> str:
    """``stocks//A.csv`` → ``/stocks/A.csv``; ``..`` is refused."""
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise StateError(f"path {printable(path)!r} may not contain '..'")
    return "/" + "/".join(parts)


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    for test, words in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a fifo (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def refuse_if_any(problems: list[str]) -> None:
    """Raise SourceRefused with the first problem (and how many more) if there are any."""
    if problems:
        extra = len(problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        raise SourceRefused(problems[0] + more)


def open_regular(path: str, shown: str) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading if it is a regular file (not following a final link, not blocking).

    Returns the descriptor and its ``fstat``.
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        raise SourceRefused(f"{printable(shown)}: cannot open it ({exc.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise SourceRefused(f"{printable(shown)}: {kind(st.st_mode)}: only regular files can be put")
    return fd, st


def single_file(source: Path, repo_path: str) -> LocalFile:
    """The file named by ``put file -f FILE`` (a link the user names is followed: they chose it)."""
    shown = str(source)
    try:
        mode = os.stat(source).st_mode
    except FileNotFoundError:
        if os.path.islink(source):
            target = printable(os.readlink(source))
            raise SourceRefused(f"{printable(shown)}: dangling symbolic link (-> {target})") from None
        raise SourceRefused(f"{printable(shown)}: no such file or folder") from None
    except OSError as exc:
        raise SourceRefused(f"{printable(shown)}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise SourceRefused(f"{printable(shown)}: {kind(mode)}: only regular files can be put")
    problem = filename_problem(repo_path)
    if problem:
        raise SourceRefused(f"{printable(shown)}: file name refused: {problem}")
    return LocalFile(repo_path, os.path.realpath(source), shown)


def folder_files(root: Path, target: str, follow_links: bool) -> list[LocalFile]:
    """Every regular file below ``root``, to be put under ``target``; raises SourceRefused."""
    real_root = os.path.realpath(root)
    files: list[LocalFile] = []
    problems: list[str] = []

    def inside(real: str) -> bool:
        return real == real_root or real.startswith(real_root.rstrip("/") + "/")

    def add(local: str, shown: str, rel: str) -> None:
        repo_path = normalise(f"{target}/{rel}")
        problem = filename_problem(repo_path)
        if problem:
            problems.append(f"{printable(shown)}: file name refused: {problem}")
        else:
            files.append(LocalFile(repo_path, local, shown))

    def link(path: str, shown: str, rel: str, chain: frozenset[str]) -> None:
        target_text = printable(os.readlink(path))
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            problems.append(f"{printable(shown)}: dangling symbolic link (-> {target_text})")
            return
        except OSError as exc:
            problems.append(f"{printable(shown)}: symbolic link (-> {target_text}): {exc.strerror}")
            return
        resolved = os.path.realpath(path)
        if not inside(resolved):
            problems.append(
                f"{printable(shown)}: symbolic link to {target_text}, outside {printable(str(root))}: "
                "only regular files inside the source can be put"
            )
        elif not follow_links:
            problems.append(
                f"{printable(shown)}: symbolic link (-> {target_text}): put the file itself, "
                f"or add {FOLLOW_HINT} to follow links that stay inside {printable(str(root))}"
            )
        elif stat.S_ISDIR(mode):
            if resolved in chain:
                problems.append(f"{printable(shown)}: symbolic link loop (-> {target_text}, a folder above)")
            else:
                walk(resolved, shown, rel, chain | {resolved})
        elif stat.S_ISREG(mode):
            add(resolved, shown, rel)
        else:
            problems.append(f"{printable(shown)}: links to {kind(mode)}: only regular files can be put")

    def walk(real_dir: str, shown_dir: str, rel_dir: str, chain: frozenset[str]) -> None:
        try:
            with os.scandir(real_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{printable(shown_dir)}: cannot read the folder ({exc.strerror})")
            return
        for entry in entries:
            shown = f"{shown_dir}/{entry.name}"
            rel = f"{rel_dir}/{entry.name}"
            try:  # the entry's type from the folder listing: no stat call per file
                if entry.is_file(follow_symlinks=False):
                    add(entry.path, shown, rel)
                elif entry.is_dir(follow_symlinks=False):
                    walk(entry.path, shown, rel, chain | {entry.path})
                elif entry.is_symlink():
                    link(entry.path, shown, rel, chain)
                else:
                    mode = entry.stat(follow_symlinks=False).st_mode
                    problems.append(f"{printable(shown)}: {kind(mode)}: only regular files can be put")
            except OSError as exc:
                problems.append(f"{printable(shown)}: cannot read it ({exc.strerror})")

    walk(real_root, str(root).rstrip("/") or "/", "", frozenset({real_root}))
    refuse_if_any(problems)
    return files
