"""The metadata file (`symbols_valid_meta.csv`): parsed once per process, looked up by NASDAQ Symbol.

The file has CRLF line ends, quoted names containing commas, and names with trailing spaces.
``Security Name`` is stripped of leading and trailing whitespace (96 names end in a space in
the April 2020 file; it is an artefact of the export, not part of the name). ``ETF`` (``Y``/``N``,
optional) says which price folder a symbol belongs in (docs/data-quality.md, "One series per
symbol"). A NASDAQ Symbol listed more than once keeps its first row; rows that give it another
Symbol or Security Name are kept as ``conflicts`` and reported in the summary.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

log = logging.getLogger(__name__)

META_FILE_NAME = "symbols_valid_meta.csv"
KEY_COLUMN = "NASDAQ Symbol"
_NEEDED = ("Symbol", "Security Name", KEY_COLUMN)
ETF_COLUMN = "ETF"
_ETF_FLAGS = {"Y": True, "N": False}


class MetadataError(ValueError):
    """The metadata file is missing or unusable: every datum would be wrong, so the stage fails."""


@dataclass(frozen=True)
class SymbolInfo:
    symbol: str
    security_name: str | None
    etf: bool | None = None  # the ETF column: True for Y, False for N, None if absent or other

    @property
    def folder(self) -> str | None:
        """The price folder the ETF flag names (``etfs`` or ``stocks``), None without a flag."""
        return None if self.etf is None else ("etfs" if self.etf else "stocks")


@dataclass(frozen=True)
class Metadata:
    """NASDAQ Symbol -> (Symbol, Security Name), plus what identifies the file it came from."""

    by_nasdaq_symbol: dict[str, SymbolInfo]
    digest: str  # blake2b of the file's bytes
    rows: int  # data rows of the file
    duplicate_keys: int  # rows whose NASDAQ Symbol repeats an earlier row (the first row wins)
    #: NASDAQ Symbol -> every distinct (Symbol, Security Name) its rows give, the used one first;
    #: only for symbols whose rows disagree.
    conflicts: dict[str, tuple[SymbolInfo, ...]] = field(default_factory=dict)

    def lookup(self, nasdaq_symbol: str) -> SymbolInfo | None:
        return self.by_nasdaq_symbol.get(nasdaq_symbol)

    def conflict_of(self, nasdaq_symbol: str) -> str | None:
        """One line naming the rows that disagree about ``nasdaq_symbol``, or None."""
        infos = self.conflicts.get(nasdaq_symbol)
        if not infos:
            return None
        shown = "; ".join(f"Symbol {i.symbol!r}, Security Name {i.security_name!r}" for i in infos)
        return (
            f"NASDAQ Symbol {nasdaq_symbol!r} has {len(infos)} different metadata rows ({shown}): "
            "the first is used"
        )


def parse_metadata(data: bytes, source: str = META_FILE_NAME) -> Metadata:
    """Parse the metadata CSV bytes (pure: no file access)."""
    header = next(
        csv.reader(io.StringIO(data[:4096].decode("utf-8", errors="replace").split("\n", 1)[0])), []
    )
    columns = (*_NEEDED, ETF_COLUMN) if ETF_COLUMN in (c.strip() for c in header) else _NEEDED
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(columns),
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as err:
        raise MetadataError(
            f"{source}: not a readable metadata CSV with columns {list(_NEEDED)}: {err}"
        ) from None
    by_key: dict[str, SymbolInfo] = {}
    conflicts: dict[str, tuple[SymbolInfo, ...]] = {}
    duplicates = 0
    flags = table[ETF_COLUMN].to_pylist() if ETF_COLUMN in columns else [None] * table.num_rows
    rows = zip(*(table[c].to_pylist() for c in _NEEDED), flags, strict=True)
    for symbol, name, key, flag in rows:
        key = key.strip()
        if not key:
            continue
        info = SymbolInfo(
            symbol=symbol.strip() or key,
            security_name=name.strip() or None,
            etf=_ETF_FLAGS.get((flag or "").strip().upper()),
        )
        first = by_key.get(key)
        if first is not None:
            duplicates += 1
            seen = conflicts.get(key, (first,))
            if all((info.symbol, info.security_name) != (s.symbol, s.security_name) for s in seen):
                conflicts[key] = (*seen, info)
            continue
        by_key[key] = info
    if not by_key:
        raise MetadataError(f"{source}: no row has a {KEY_COLUMN!r}")
    if duplicates:
        log.warning(
            "%s: %d rows repeat an earlier NASDAQ Symbol (%d symbols with rows that differ); first row wins",
            source,
            duplicates,
            len(conflicts),
        )
    return Metadata(
        by_nasdaq_symbol=by_key,
        digest=hashlib.blake2b(data, digest_size=16).hexdigest(),
        rows=table.num_rows,
        duplicate_keys=duplicates,
        conflicts=conflicts,
    )


def resolve_metadata_path(meta: Path) -> Path:
    """``--meta`` may name the file itself or a folder holding ``symbols_valid_meta.csv``."""
    path = meta / META_FILE_NAME if meta.is_dir() else meta
    if not path.is_file():
        raise MetadataError(f"{path}: metadata file not found")
    return path


class MetadataCache:
    """Parsed metadata kept across datums of one worker process.

    Keyed first by the file's identity (device, inode, size, mtime: the runner stages one file
    by hard link into every datum, so this hits without reading it), then by a digest of its
    bytes (a copy of the same content elsewhere is not parsed again). Bounded to a few entries.
    """

    def __init__(self, max_entries: int = 4) -> None:
        self._max_entries = max_entries
        self._by_identity: OrderedDict[tuple[int, int, int, int], Metadata] = OrderedDict()
        self._by_digest: OrderedDict[str, Metadata] = OrderedDict()

    def load(self, path: Path) -> Metadata:
        st = os.stat(path)
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        found = self._by_identity.get(identity)
        if found is not None:
            self._by_identity.move_to_end(identity)
            return found
        data = path.read_bytes()
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        found = self._by_digest.get(digest)
        if found is None:
            found = parse_metadata(data, str(path))
            log.info("parsed %s: %d symbols (kept for the next datums of this process)", path, found.rows)
            self._remember(self._by_digest, digest, found)
        self._remember(self._by_identity, identity, found)
        return found

    def _remember(self, table: OrderedDict, key: object, value: Metadata) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._max_entries:
            table.popitem(last=False)
