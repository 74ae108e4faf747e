"""Train's read of the features folder, with an on-disk cache of what each file converted to.

Train reads every features file on every job, although a changed symbol file in raw changes one
features file: at Kaggle scale that read (8,049 Parquet files, 26 M rows, into the arrays the
booster is fit on) was most of a job under the live loop's load (docs/model.md, "Train's read
cache"). The cache keeps, for the last read, each file's rows as converted (features and target,
rows with a null or non-finite value left out) and the split's permutation; the next read
converts only the files whose content changed and copies the others' rows from the cache.

A file is known by the SHA-256 of its bytes (read and hashed in two threads, about a fifth of a
Parquet read), never by its name, size or times: the runner's store gives every object the same
mtime, and a Pachyderm worker writes its inputs afresh for each datum. The result is the array
the uncached read gives, row for row (tests/train/test_read_cache.py), so the model is the same
file byte for byte.

Layout of the cache folder (``--cache-dir``, made mode 0700)::

    index.json           the last read: its files (path, digest, rows read, rows kept) in order,
                         the rows file and the permutation file it names
    rows-<id>.f64        features (n x 2, C order) then target (n), float64, native byte order
    permutation-<id>.i64 RandomState(seed).permutation(n) (splits.py), int64

Every file is written under a temporary name and renamed; ``index.json`` is replaced last, so a
reader sees an old read or a new one, whole. Two train jobs may share a folder: each writes files
of its own, and a file another one removed (it replaced the index first) makes the read fall back
to converting every file. Anything wrong with the cache (missing, unreadable, another version)
is logged and read around: the cache never changes what train writes, only how long it takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from stages.common.atomic import temporary_name, write_text_atomic
from stages.common.schema import FEATURE_COLUMNS, TARGET_COLUMN
from stages.train.dataset import (
    TrainingData,
    TrainInputError,
    all_finite,
    check_kept_rows,
    check_numeric,
    complete_rows,
    copy_complete_rows,
    features_dataset,
)

log = logging.getLogger(__name__)

#: Bumped whenever what a file converts to changes (columns, dropping rules, dtypes).
CACHE_VERSION = 1
INDEX_FILE = "index.json"
ROWS_PREFIX = "rows-"
PERMUTATION_PREFIX = "permutation-"
#: A temporary file older than this is a crashed writer's, and removed by the next writer.
STALE_SECONDS = 3600
HASH_THREADS = 2
#: The columns a file converts to, in the rows file's order.
COLUMNS = (*FEATURE_COLUMNS, TARGET_COLUMN)


@dataclass(frozen=True)
class FileRows:
    """One features file in a read: where its kept rows are in the rows arrays."""

    path: str  # relative to the features folder
    digest: str  # SHA-256 of the file's bytes
    rows_read: int
    start: int
    count: int


@dataclass(frozen=True)
class CacheIndex:
    version: int
    columns: list[str]
    rows_file: str
    rows: int
    files: list[FileRows]
    permutation_file: str = ""
    permutation_rows: int = 0
    permutation_seed: int = 0

    @classmethod
    def parse(cls, text: str) -> CacheIndex:
        raw = json.loads(text)
        raw["files"] = [FileRows(*entry) for entry in raw["files"]]
        return cls(**raw)

    def to_json(self) -> str:
        raw = asdict(self)
        raw["files"] = [[f.path, f.digest, f.rows_read, f.start, f.count] for f in self.files]
        return json.dumps(raw, separators=(",", ":"))


@dataclass
class ReadReport:
    """What a cached read did, for train.log."""

    files: int = 0
    from_cache: int = 0
    converted: int = 0
    hash_seconds: float = 0.0
    note: str = ""

    def describe(self) -> str:
        text = (
            f"{self.from_cache} of {self.files} features files from the cache, {self.converted} converted "
            f"(hashing {self.hash_seconds:.1f} s)"
        )
        return text + (f"; {self.note}" if self.note else "")


def file_digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def digests(paths: list[str]) -> list[str]:
    """The SHA-256 of each file, in two threads (hashlib lets go of the GIL while it hashes)."""
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        return list(pool.map(file_digest, paths, chunksize=64))


@dataclass
class FeatureCache:
    """The cache folder and, once :meth:`load` ran, the read it holds."""

    folder: Path
    index: CacheIndex | None = None
    rows: np.ndarray | None = None  # the memory-mapped rows file of ``index``
    _writer: threading.Thread | None = field(default=None, repr=False)
    _written: list[str] = field(default_factory=list, repr=False)
    _write_error: OSError | None = field(default=None, repr=False)

    def load(self) -> str:
        """Open the last read; returns why there is none ('' when there is one)."""
        try:
            index = CacheIndex.parse((self.folder / INDEX_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "the cache is empty"
        except (OSError, ValueError, TypeError, KeyError) as exc:
            return f"the cache index is unreadable ({type(exc).__name__}: {exc})"
        if index.version != CACHE_VERSION or index.columns != list(COLUMNS):
            return f"the cache holds version {index.version} of {index.columns}"
        at = 0
        for entry in index.files:  # each file's rows follow the previous file's, and fill the rows file
            if entry.start != at or entry.count < 0:
                return f"the cache index places {entry.path} at row {entry.start}, not {at}"
            at += entry.count
        if at != index.rows:
            return f"the cache index's files hold {at} rows, not {index.rows}"
        try:
            rows = np.memmap(self.folder / index.rows_file, dtype=np.float64, mode="r")
        except (OSError, ValueError) as exc:
            return f"the cache's rows file is unreadable ({exc})"
        if rows.shape[0] != len(COLUMNS) * index.rows:
            return f"the cache's rows file holds {rows.shape[0]} values, not {len(COLUMNS) * index.rows}"
        self.index, self.rows = index, rows
        return ""

    def cached_features(self) -> np.ndarray:
        assert self.index is not None and self.rows is not None
        n = self.index.rows
        return self.rows[: len(FEATURE_COLUMNS) * n].reshape(n, len(FEATURE_COLUMNS))

    def cached_target(self) -> np.ndarray:
        assert self.index is not None and self.rows is not None
        n = self.index.rows
        return self.rows[len(FEATURE_COLUMNS) * n :]

    def permutation(self, n_rows: int, seed: int) -> np.ndarray | None:
        """The cached ``RandomState(seed).permutation(n_rows)``, if the cache holds that one."""
        index = self.index
        if index is None or not index.permutation_file:
            return None
        if (index.permutation_rows, index.permutation_seed) != (n_rows, seed):
            return None
        try:
            values = np.fromfile(self.folder / index.permutation_file, dtype=np.int64)
        except (OSError, ValueError) as exc:
            log.warning("cache: permutation file unreadable (%s); drawing it", exc)
            return None
        return values if values.shape[0] == n_rows else None

    def _write_file(self, name: str, arrays: tuple[np.ndarray, ...]) -> None:
        final = self.folder / name
        tmp = temporary_name(str(final))
        try:
            with open(tmp, "wb") as fh:
                for array in arrays:
                    fh.write(np.ascontiguousarray(array).data)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._written.append(name)

    def start_writing_rows(self, data: TrainingData) -> str:
        """Write ``data``'s rows under a new name in a background thread; returns that name."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{ROWS_PREFIX}{uuid.uuid4().hex}.f64"

        def write() -> None:
            try:
                self._write_file(name, (data.features, data.target))
            except OSError as exc:  # reported by save, in the stage's log
                self._write_error = exc

        self._writer = threading.Thread(target=write, name="cache-rows", daemon=True)
        self._writer.start()
        return name

    def save(
        self, rows_file: str, rows: int, files: list[FileRows], seed: int, drawn: np.ndarray | None
    ) -> None:
        """Name this read (``files``, ``rows`` rows in ``rows_file``, being written) in a new index
        with the split's permutation for ``seed``: ``drawn`` when it was drawn now (written here),
        else the one the last read's index named, if it is for as many rows. Waits for the rows
        file, replaces the index, then removes what it replaced."""
        if self._writer is not None:
            self._writer.join()
        if self._write_error is not None:
            raise self._write_error
        if rows_file not in self._written:
            raise OSError(f"the rows file {rows_file} was not written")
        old = self.index
        permutation_file = ""
        if drawn is not None:
            permutation_file = f"{PERMUTATION_PREFIX}{uuid.uuid4().hex}.i64"
            self._write_file(permutation_file, (drawn.astype(np.int64, copy=False),))
        elif old is not None and (old.permutation_rows, old.permutation_seed) == (rows, seed):
            permutation_file = old.permutation_file
        index = CacheIndex(CACHE_VERSION, list(COLUMNS), rows_file, rows, files, permutation_file, rows, seed)
        write_text_atomic(self.folder / INDEX_FILE, index.to_json())
        self._remove_replaced(index)

    def _remove_replaced(self, index: CacheIndex) -> None:
        """Remove the files of the read this one replaced (the index :meth:`load` opened) and any
        file no index names that is older than ``STALE_SECONDS`` (a crashed writer's, or a
        concurrent writer's whose index was replaced by another). A file only this writer's index
        stopped naming goes at once: another writer's newer one never does, so each writer removes
        what it replaced and nothing another one may still be naming."""
        keep = {INDEX_FILE, index.rows_file, index.permutation_file}
        replaced = {self.index.rows_file, self.index.permutation_file} if self.index is not None else set()
        now = time.time()
        for entry in os.scandir(self.folder):
            name = entry.name
            if name in keep or not name.startswith((ROWS_PREFIX, PERMUTATION_PREFIX, ".")):
                continue
            with contextlib.suppress(FileNotFoundError):
                if name in replaced or now - entry.stat().st_mtime > STALE_SECONDS:
                    os.unlink(entry.path)


@dataclass(frozen=True)
class _Converted:
    """A file read now: its batches and, per batch, the rows with no null (None: all of them) and
    how many those are."""

    batches: list[pa.RecordBatch]
    masks: list[np.ndarray | None]
    counts: list[int]

    @property
    def rows_read(self) -> int:
        return sum(len(batch) for batch in self.batches)

    @property
    def count(self) -> int:
        return sum(self.counts)


def _convert_batches(batches: list[pa.RecordBatch]) -> _Converted:
    masks = [complete_rows(batch, list(COLUMNS)) for batch in batches]
    counts = [
        len(batch) if mask is None else int(np.count_nonzero(mask))
        for batch, mask in zip(batches, masks, strict=True)
    ]
    return _Converted(batches, masks, counts)


def _read_files(root: Path, relative: list[str]) -> dict[str, _Converted]:
    """Scan ``relative`` (paths under ``root``) for the train columns, batches grouped by file (the
    scan yields each file's batches in order, files in the order given)."""
    if not relative:
        return {}
    dataset = ds.dataset([str(root / path) for path in relative], format="parquet")
    scan_options = ds.ParquetFragmentScanOptions(pre_buffer=False)  # as dataset.read_features_table
    grouped: dict[str, list[pa.RecordBatch]] = {path: [] for path in relative}
    prefix = str(root) + os.sep
    scanner = dataset.scanner(columns=list(COLUMNS), fragment_scan_options=scan_options)
    for tagged in scanner.scan_batches():
        grouped[tagged.fragment.path.removeprefix(prefix)].append(tagged.record_batch)
    return {path: _convert_batches(batches) for path, batches in grouped.items()}


def _drop_non_finite(
    features: np.ndarray, target: np.ndarray, entries: list[FileRows]
) -> tuple[np.ndarray, np.ndarray, list[FileRows]]:
    """Leave out rows with a non-finite value (as dataset.training_data_from_table does) and move
    each file's start and count with them."""
    finite = np.isfinite(features).all(axis=1) & np.isfinite(target)
    kept_before = np.concatenate(([0], np.cumsum(finite)))
    moved = []
    for entry in entries:
        start, end = int(kept_before[entry.start]), int(kept_before[entry.start + entry.count])
        moved.append(FileRows(entry.path, entry.digest, entry.rows_read, start, end - start))
    return features[finite], target[finite], moved


def read_training_data(
    root: Path,
    cache: FeatureCache | None,
    on_row_count: Callable[[int], None] | None = None,
) -> tuple[TrainingData, list[FileRows], ReadReport]:
    """The features and target of every file under ``root`` as :func:`dataset.load_training_data`
    reads them (same rows, same order), the files of this read (for the cache's next index) and
    what the cache did. Without a cache every file is converted and nothing is hashed."""
    root = Path(root)
    dataset = features_dataset(root, list(COLUMNS))
    relative = [os.path.relpath(path, root) for path in dataset.files]
    report = ReadReport(files=len(relative))
    known: dict[str, FileRows] = {}
    hashes = [""] * len(relative)
    if cache is not None:
        started = time.perf_counter()
        hashes = digests([str(root / path) for path in relative])
        report.hash_seconds = time.perf_counter() - started
        report.note = cache.load()
        if cache.index is not None:
            known = {entry.digest: entry for entry in cache.index.files}
    check_numeric(dataset.schema, str(root), list(COLUMNS))
    missing = [path for path, digest in zip(relative, hashes, strict=True) if digest not in known]
    converted = _read_files(root, missing)
    report.converted, report.from_cache = len(missing), len(relative) - len(missing)
    sources: list[_Converted | FileRows] = [
        converted.get(path) or known[digest] for path, digest in zip(relative, hashes, strict=True)
    ]
    counts = [source.count for source in sources]
    kept = sum(counts)
    rows_read = sum(source.rows_read for source in sources)
    if rows_read == 0:
        raise TrainInputError(f"{root}: the features files hold no rows")
    if on_row_count is not None:
        on_row_count(kept)
    features = np.empty((kept, len(FEATURE_COLUMNS)), dtype=np.float64)
    target = np.empty(kept, dtype=np.float64)
    columns = [*(features[:, i] for i in range(len(FEATURE_COLUMNS))), target]
    cached_features = cache.cached_features() if known and cache is not None else None
    cached_target = cache.cached_target() if known and cache is not None else None
    entries: list[FileRows] = []
    at = 0
    for path, digest, count, piece in zip(relative, hashes, counts, sources, strict=True):
        if isinstance(piece, FileRows):
            old = piece
            assert cached_features is not None and cached_target is not None
            features[at : at + count] = cached_features[old.start : old.start + count]
            target[at : at + count] = cached_target[old.start : old.start + count]
            entries.append(FileRows(path, digest, old.rows_read, at, count))
        else:
            row = at
            for batch, mask, size in zip(piece.batches, piece.masks, piece.counts, strict=True):
                copy_complete_rows(batch, mask, list(COLUMNS), columns, row, size)
                row += size
            entries.append(FileRows(path, digest, piece.rows_read, at, count))
        at += count
    del converted
    if not (all_finite(features) and all_finite(target)):
        features, target, entries = _drop_non_finite(features, target, entries)
    check_kept_rows(target, str(root))
    data = TrainingData(
        features=features,
        target=target,
        day=None,
        rows_read=rows_read,
        rows_dropped_null=int(rows_read - target.shape[0]),
    )
    return data, entries, report
