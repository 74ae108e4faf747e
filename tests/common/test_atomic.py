"""stages.common.atomic and .parquet: outputs appear whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.common import atomic
from stages.common.atomic import write_bytes_atomic, write_text_atomic
from stages.common.parquet import write_parquet_atomic


def test_short_writes_are_completed_and_parents_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    monkeypatch.setattr(atomic.os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    target = tmp_path / "a" / "b" / "file.bin"
    write_bytes_atomic(target, b"0123456789")
    monkeypatch.undo()
    assert target.read_bytes() == b"0123456789"
    write_text_atomic(target, "é\n")
    assert target.read_text(encoding="utf-8") == "é\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_a_failed_write_leaves_neither_file_nor_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_full(fd: int, data: bytes) -> None:
        os.write(fd, b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(atomic, "write_all", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        write_bytes_atomic(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_parquet_written_in_memory_reads_back_with_its_options(tmp_path: Path) -> None:
    table = pa.table({"Date": ["2020-01-02", "2020-01-03"], "Close": [1.5, 2.25]})
    target = tmp_path / "stocks" / "A.parquet"
    options = {"compression": "snappy", "use_dictionary": False, "use_byte_stream_split": ["Close"]}
    write_parquet_atomic(table, target, **options)
    assert pq.read_table(target).equals(table)
    column = pq.ParquetFile(target).metadata.row_group(0).column(1)
    assert column.compression == "SNAPPY" and "BYTE_STREAM_SPLIT" in column.encodings
