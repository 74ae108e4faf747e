"""A ``.zip`` put into a repo: every entry checked, and the whole archive capped, before anything is stored.

Refused, with one line naming the archive and the entry: an entry whose name is absolute
(``/etc/x``, ``C:...``) or holds ``..``, two entries with the same name, a symbolic link entry
(or any entry that is not a plain file or folder), an encrypted entry, an unsupported compression
method, a name Pachyderm refuses (runner/paths.py); and an archive that declares more than
``max_bytes`` expanded or ``max_files`` files. The defaults fit the Kaggle zip (8,050 files,
about 2.7 GB expanded) with room. Reading never trusts the declared sizes alone: an entry that
expands past what it declares fails its CRC check or the store's byte cap, and the put stops.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runner.objects import ObjectStore
from runner.paths import filename_problem, printable
from runner.sources import SourceRefused, normalise, refuse_if_any
from runner.state import Manifest, StateError

ENV_MAX_BYTES = "RUNNER_ZIP_MAX_BYTES"
ENV_MAX_FILES = "RUNNER_ZIP_MAX_FILES"
FLAG_MAX_BYTES = "--zip-max-bytes"
FLAG_MAX_FILES = "--zip-max-files"
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*\Z", re.IGNORECASE)
_SKIPPED_PREFIXES = ("__MACOSX/",)
_SKIPPED_NAMES = (".DS_Store",)


def parse_size(text: str, what: str) -> int:
    """``4GiB``, ``4G`` (= GiB), ``4GB`` (10^9), ``123`` → bytes; raises StateError naming ``what``."""
    match = _SIZE_RE.match(text)
    if not match:
        raise StateError(f"{what}={text!r}: expected a size such as 4GiB, 500MB or 1000000")
    number, unit, binary, byte = match.groups()
    power = "kmgt".index(unit.lower()) + 1 if unit else 0
    base = 1000 if byte and not binary else 1024
    return int(float(number) * base**power)


def _parse_count(text: str, what: str) -> int:
    if not text.strip().isdigit():
        raise StateError(f"{what}={text!r}: expected a whole number of files")
    return int(text)


@dataclass(frozen=True)
class ZipLimits:
    """Caps on what one zip may expand to."""

    max_bytes: int = 4 << 30
    max_files: int = 20_000

    @classmethod
    def resolve(cls, max_bytes: str | None, max_files: str | None, env: Mapping[str, str]) -> ZipLimits:
        """Flags first, then the environment, then the defaults."""
        limits = cls()
        bytes_text = max_bytes if max_bytes is not None else env.get(ENV_MAX_BYTES)
        files_text = max_files if max_files is not None else env.get(ENV_MAX_FILES)
        what_bytes = FLAG_MAX_BYTES if max_bytes is not None else ENV_MAX_BYTES
        what_files = FLAG_MAX_FILES if max_files is not None else ENV_MAX_FILES
        return cls(
            parse_size(bytes_text, what_bytes) if bytes_text else limits.max_bytes,
            _parse_count(files_text, what_files) if files_text else limits.max_files,
        )


@dataclass(frozen=True)
class ZipEntry:
    """One file entry of an archive and where it goes."""

    repo_path: str
    info: zipfile.ZipInfo


def _size(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def _skipped(name: str) -> bool:
    return name.startswith(_SKIPPED_PREFIXES) or name.rpartition("/")[2] in _SKIPPED_NAMES


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in parts:
        return "'..' in its path"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return f"{what} entry: only regular files can be put"
    if info.flag_bits & 0x1:
        return "encrypted: decrypt the archive first"
    if info.compress_type not in _SUPPORTED_METHODS:
        return f"compression method {info.compress_type} is not supported: repack it with deflate"
    return None


def zip_entries(zf: zipfile.ZipFile, shown: str, target: str, limits: ZipLimits) -> list[ZipEntry]:
    """The file entries of ``zf`` to put under ``target``, every check passed; raises SourceRefused."""
    problems: list[str] = []
    entries: list[ZipEntry] = []
    seen: dict[str, str] = {}
    for info in zf.infolist():
        if _skipped(info.filename):
            continue
        where = f"{printable(shown)}: entry {printable(info.filename)}"
        problem = _entry_problem(info)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        if info.is_dir() or stat.S_ISDIR(info.external_attr >> 16):
            continue
        repo_path = normalise(f"{target}/{info.filename}")
        if repo_path in seen:
            twice = printable(seen[repo_path])
            problems.append(f"{where}: duplicate entry (the archive holds {twice} twice)")
            continue
        seen[repo_path] = info.filename
        problem = filename_problem(repo_path)
        if problem:
            problems.append(f"{where}: file name refused: {problem}")
            continue
        entries.append(ZipEntry(repo_path, info))
    expanded = sum(e.info.file_size for e in entries)
    if len(entries) > limits.max_files:
        problems.insert(
            0,
            f"{printable(shown)}: {len(entries):,} files, more than the cap of {limits.max_files:,}; "
            f"if you trust this archive, raise it with {FLAG_MAX_FILES} N or {ENV_MAX_FILES}=N",
        )
    if expanded > limits.max_bytes:
        problems.insert(
            0,
            f"{printable(shown)}: expands to {_size(expanded)}, "
            f"more than the cap of {_size(limits.max_bytes)}; "
            f"if you trust this archive, raise it with {FLAG_MAX_BYTES} SIZE or {ENV_MAX_BYTES}=SIZE",
        )
    refuse_if_any(problems)
    return entries


def store_entries(
    store: ObjectStore,
    zf: zipfile.ZipFile,
    entries: list[ZipEntry],
    shown: str,
    on_stored: Callable[[int], None] | None = None,
) -> Manifest:
    """Store every entry's bytes (each at most its declared size); raises SourceRefused if damaged.

    ``on_stored`` is called with each stored entry's size (progress).
    """
    files: Manifest = {}
    for entry in entries:
        try:
            with zf.open(entry.info) as member:
                files[entry.repo_path] = store.add_stream(member, max_bytes=entry.info.file_size)
            if on_stored is not None:
                on_stored(files[entry.repo_path][1])
        except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
            why = str(exc) or type(exc).__name__
            where = f"{printable(shown)}: entry {printable(entry.info.filename)}"
            raise SourceRefused(f"{where}: damaged ({why})") from None
    return files


def open_zip(fileobj: object, shown: str) -> zipfile.ZipFile:
    """A ZipFile over an open file, or SourceRefused naming the archive."""
    try:
        return zipfile.ZipFile(fileobj)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise SourceRefused(f"{printable(shown)}: not a readable zip file ({exc})") from None
