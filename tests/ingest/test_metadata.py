"""Metadata parsing (CRLF, quoted commas, trailing spaces) and the per-process cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stages.ingest import metadata as metadata_module
from stages.ingest.metadata import MetadataCache, MetadataError, parse_metadata
from tests.ingest.conftest import SMALL_META


def test_parse_small_metadata() -> None:
    meta = parse_metadata(SMALL_META.encode())
    assert meta.rows == 7 and meta.duplicate_keys == 0
    assert meta.lookup("A").security_name == "Agilent Technologies, Inc. Common Stock"
    assert meta.lookup("AA").security_name == "Alcoa Corporation Common Stock"
    assert meta.lookup("AGM-A").symbol == "AGM$A"
    assert meta.lookup("CARR#").symbol == "CARR.V"
    assert meta.lookup("AGM$A") is None  # the join is on NASDAQ Symbol, not Symbol
    assert all("\r" not in (info.security_name or "") for info in meta.by_nasdaq_symbol.values())


def test_real_metadata_file(sample_dir: Path) -> None:
    data = (sample_dir / "symbols_valid_meta.csv").read_bytes()
    assert b"\r\n" in data
    meta = parse_metadata(data)
    assert meta.rows == 8049 and len(meta.by_nasdaq_symbol) == 8049
    names = [info.security_name for info in meta.by_nasdaq_symbol.values()]
    assert all(n == n.strip() for n in names if n)
    assert sum("," in n for n in names if n) == 2671
    assert meta.lookup("AGM-A").symbol == "AGM$A"
    assert meta.lookup("CARR#").symbol == "CARR.V"
    assert meta.lookup("UTX#").symbol == "UTX.V"


def test_duplicate_nasdaq_symbol_first_row_wins() -> None:
    text = SMALL_META + "Y,A2,Second A,N, ,N,100,N,,A2,A,N\r\n"
    meta = parse_metadata(text.encode())
    assert meta.duplicate_keys == 1
    assert meta.lookup("A").symbol == "A"


def test_unusable_metadata_raises() -> None:
    with pytest.raises(MetadataError, match="NASDAQ Symbol"):
        parse_metadata(b"Symbol,Security Name\nA,B\n")
    with pytest.raises(MetadataError):
        parse_metadata(b"")


def test_cache_parses_once_per_file_identity_and_content(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real_parse = metadata_module.parse_metadata
    monkeypatch.setattr(metadata_module, "parse_metadata", lambda *a: calls.append(a) or real_parse(*a))
    first = tmp_path / "one" / "symbols_valid_meta.csv"
    first.parent.mkdir()
    first.write_bytes(SMALL_META.encode())
    linked = tmp_path / "two" / "symbols_valid_meta.csv"
    linked.parent.mkdir()
    os.link(first, linked)  # how the runner stages one file into every datum
    copied = tmp_path / "three.csv"
    shutil.copy(first, copied)
    cache = MetadataCache()
    a = cache.load(first)
    assert cache.load(first) is a and cache.load(linked) is a
    assert cache.load(copied) is a  # other inode, same bytes: found by digest
    assert len(calls) == 1
    copied.write_bytes(SMALL_META.encode() + b"Y,NEW,New Co,N, ,N,100,N,,NEW,NEW,N\r\n")
    assert cache.load(copied).lookup("NEW") is not None  # changed content is parsed again
    assert len(calls) == 2
