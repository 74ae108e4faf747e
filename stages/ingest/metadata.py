"""The metadata file (`symbols_valid_meta.csv`): parsed once per process, looked up by NASDAQ Symbol.

The file has CRLF line ends, quoted names containing commas, and names with trailing spaces.
``Security Name`` is stripped of leading and trailing whitespace (96 names end in a space in
the April 2020 file; it is an artefact of the export, not part of the name).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

log = logging.getLogger(__name__)

META_FILE_NAME = "symbols_valid_meta.csv"
KEY_COLUMN = "NASDAQ Symbol"
_NEEDED = ("Symbol", "Security Name", KEY_COLUMN)


class MetadataError(ValueError):
    """The metadata file is missing or unusable: every datum would be wrong, so the stage fails."""


@dataclass(frozen=True)
class SymbolInfo:
    symbol: str
    security_name: str | None


@dataclass(frozen=True)
class Metadata:
    """NASDAQ Symbol -> (Symbol, Security Name), plus what identifies the file it came from."""

    by_nasdaq_symbol: dict[str, SymbolInfo]
    digest: str  # blake2b of the file's bytes
    rows: int  # data rows of the file
    duplicate_keys: int  # rows whose NASDAQ Symbol repeats an earlier row (the first row wins)

    def lookup(self, nasdaq_symbol: str) -> SymbolInfo | None:
        return self.by_nasdaq_symbol.get(nasdaq_symbol)


def parse_metadata(data: bytes, source: str = META_FILE_NAME) -> Metadata:
    """Parse the metadata CSV bytes (pure: no file access)."""
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(_NEEDED),
                column_types=dict.fromkeys(_NEEDED, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as err:
        raise MetadataError(
            f"{source}: not a readable metadata CSV with columns {list(_NEEDED)}: {err}"
        ) from None
    by_key: dict[str, SymbolInfo] = {}
    duplicates = 0
    for symbol, name, key in zip(*(table[c].to_pylist() for c in _NEEDED), strict=True):
        key = key.strip()
        if not key:
            continue
        if key in by_key:
            duplicates += 1
            continue
        by_key[key] = SymbolInfo(symbol=symbol.strip() or key, security_name=name.strip() or None)
    if not by_key:
        raise MetadataError(f"{source}: no row has a {KEY_COLUMN!r}")
    if duplicates:
        log.warning("%s: %d rows repeat an earlier NASDAQ Symbol; the first row wins", source, duplicates)
    return Metadata(
        by_nasdaq_symbol=by_key,
        digest=hashlib.blake2b(data, digest_size=16).hexdigest(),
        rows=table.num_rows,
        duplicate_keys=duplicates,
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
