"""Write a Parquet file atomically, encoded in memory first and written with one system call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stages.common.atomic import write_bytes_atomic


def write_parquet_atomic(table: pa.Table, final: Path, **options: Any) -> None:
    """``pq.write_table(table, final, **options)``, atomically.

    Encoding into memory and writing the bytes once is cheaper than letting the Parquet writer
    write to the file: it issues a ``write`` (and a seek) per page and per column chunk, about
    50 system calls for a typical per-symbol file.
    """
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options)
    write_bytes_atomic(final, sink.getvalue())
