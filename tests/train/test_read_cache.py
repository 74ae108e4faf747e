"""Train's features cache (stages/train/read_cache.py): a read through the cache gives the arrays the
uncached read gives, whatever changed between two reads, and a broken cache is read around."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.common.schema import FEATURE_COLUMNS, TARGET_COLUMN
from stages.train.dataset import TrainingData, load_training_data
from stages.train.read_cache import (
    INDEX_FILE,
    FeatureCache,
    read_training_data,
)
from stages.train.splits import draw_permutation
from stages.train.train import main
from tests.train.synthetic_features import write_synthetic_features
from tests.train.test_stage import SMALL

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def features(tmp_path: Path) -> Path:
    root = tmp_path / "features"
    write_synthetic_features(root, total_rows=60_000, n_symbols=40, seed=3)
    return root


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def _cached_read(root: Path, cache_dir: Path) -> tuple[TrainingData, str]:
    """One read through the cache, then the cache written as the train stage writes it."""
    cache = FeatureCache(cache_dir)
    data, files, report = read_training_data(root, cache)
    rows_file = cache.start_writing_rows(data)
    cache.save(rows_file, data.rows, files, 42, None)
    return data, report.describe()


def _assert_same(cached: TrainingData, root: Path) -> None:
    plain = load_training_data(root, with_dates=False)
    assert np.array_equal(cached.features, plain.features)
    assert np.array_equal(cached.target, plain.target)
    assert (cached.rows_read, cached.rows_dropped_null) == (plain.rows_read, plain.rows_dropped_null)


def _rewrite(path: Path, change) -> None:
    pq.write_table(change(pq.read_table(path)), path)


def _set(table: pa.Table, row: int, value: float | None, column: str = TARGET_COLUMN) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    at = table.schema.get_field_index(column)
    return table.set_column(at, column, pa.array(values, table.schema.field(column).type))


def test_every_read_through_the_cache_equals_the_uncached_read(features: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first, said = _cached_read(features, cache_dir)
    assert "0 of 40 features files from the cache, 40 converted" in said
    _assert_same(first, features)

    again, said = _cached_read(features, cache_dir)
    assert "40 of 40 features files from the cache, 0 converted" in said
    _assert_same(again, features)

    files = _files(features)
    _rewrite(files[3], lambda t: _set(t, t.num_rows - 1, 123))  # a changed value
    _rewrite(files[7], lambda t: t.slice(0, t.num_rows - 5))  # fewer rows
    _rewrite(files[9], lambda t: _set(t, 40, None))  # a null: the row is left out
    _rewrite(files[11], lambda t: _set(t, 41, float("inf"), FEATURE_COLUMNS[0]))  # not finite: left out too
    files[20].unlink()
    shutil.copyfile(files[0], features / "etfs" / "ZZZZ.parquet")  # a new file, same content as another
    changed, said = _cached_read(features, cache_dir)
    # Files are known by content: the new file's rows come from the cache too.
    assert "36 of 40 features files from the cache, 4 converted" in said
    _assert_same(changed, features)

    once_more, said = _cached_read(features, cache_dir)  # the non-finite row moved the rows after it
    assert "40 of 40 features files from the cache" in said
    _assert_same(once_more, features)


def test_the_cache_keeps_one_read_and_its_folder_is_private(features: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    for _ in range(3):
        _cached_read(features, cache_dir)
    names = sorted(path.name for path in cache_dir.iterdir())
    assert len(names) == 2 and names[0] == INDEX_FILE and names[1].startswith("rows-"), names
    assert cache_dir.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "damage", ["garbled index", "other version", "rows misplaced", "rows file gone", "rows file short"]
)
def test_a_damaged_cache_is_read_around_and_replaced(features: Path, tmp_path: Path, damage: str) -> None:
    cache_dir = tmp_path / "cache"
    _cached_read(features, cache_dir)
    index = cache_dir / INDEX_FILE
    rows_file = cache_dir / json.loads(index.read_text())["rows_file"]
    if damage == "garbled index":
        index.write_text("{not json")
    elif damage == "other version":
        index.write_text(index.read_text().replace('"version":1', '"version":0'))
    elif damage == "rows misplaced":
        raw = json.loads(index.read_text())
        raw["files"][1][3] += 1  # the second file's start
        index.write_text(json.dumps(raw))
    elif damage == "rows file gone":
        rows_file.unlink()
    else:
        with open(rows_file, "r+b") as fh:
            fh.truncate(rows_file.stat().st_size - 8)
    data, said = _cached_read(features, cache_dir)
    assert "0 of 40 features files from the cache" in said
    _assert_same(data, features)
    _, said = _cached_read(features, cache_dir)
    assert "40 of 40 features files from the cache" in said


def _train(features: Path, out: Path, cache_dir: Path | None) -> int:
    extra = ["--cache-dir", str(cache_dir)] if cache_dir else []
    return main(["--features", str(features), "--out", str(out), *SMALL, *extra])


def test_train_with_the_cache_writes_the_model_it_writes_without(features: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    assert _train(features, tmp_path / "plain", None) == 0
    assert _train(features, tmp_path / "cold", cache_dir) == 0
    assert _train(features, tmp_path / "warm", cache_dir) == 0
    model = (tmp_path / "plain" / "model.txt").read_bytes()
    assert (tmp_path / "cold" / "model.txt").read_bytes() == model
    assert (tmp_path / "warm" / "model.txt").read_bytes() == model
    log = (tmp_path / "warm" / "train.log").read_text()
    assert "40 of 40 features files from the cache" in log
    # What the cache did is the log's, not the outputs': metrics.json is the same but for the times.
    timed = ("read_seconds", "total_seconds", "peak_rss_mb")
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text())["data"] for run in ("plain", "warm")]
    assert [{k: v for k, v in m.items() if k not in timed} for m in metrics] == [
        {k: v for k, v in metrics[0].items() if k not in timed}
    ] * 2

    # The cached permutation is the split's: RandomState(42).permutation(rows).
    index = json.loads((cache_dir / INDEX_FILE).read_text())
    permutation = np.fromfile(cache_dir / index["permutation_file"], dtype=np.int64)
    assert np.array_equal(permutation, draw_permutation(index["rows"], 42))

    _rewrite(_files(features)[5], lambda t: _set(t, t.num_rows - 1, 5_000_000))
    assert _train(features, tmp_path / "plain2", None) == 0
    assert _train(features, tmp_path / "warm2", cache_dir) == 0
    model2 = (tmp_path / "plain2" / "model.txt").read_bytes()
    assert model2 != model
    assert (tmp_path / "warm2" / "model.txt").read_bytes() == model2


def test_two_trains_sharing_a_cache_both_write_the_model(features: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    assert _train(features, tmp_path / "plain", None) == 0
    command = [sys.executable, "-m", "stages.train", "--features", str(features), *SMALL, "--cache-dir"]
    both = [
        subprocess.Popen([*command, str(cache_dir), "--out", str(tmp_path / f"out{i}")], cwd=REPO_ROOT)
        for i in range(2)
    ]
    assert [proc.wait(timeout=300) for proc in both] == [0, 0]
    model = (tmp_path / "plain" / "model.txt").read_bytes()
    assert all((tmp_path / f"out{i}" / "model.txt").read_bytes() == model for i in range(2))
    _, said = _cached_read(features, cache_dir)
    assert "40 of 40 features files from the cache" in said


def test_an_unwritable_cache_folder_is_logged_and_the_model_written(features: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    out = tmp_path / "out"
    assert _train(features, out, blocker / "cache") == 0
    assert (out / "model.txt").is_file()
    assert "features cache" in (out / "train.log").read_text()
