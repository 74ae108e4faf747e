"""Unreadable price files are quarantined (or fail with --strict); bad metadata fails the datum."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.ingest.ingest import main
from tests.ingest.conftest import Ingest, quality, write_price

GOOD = "2020-01-02,1.5,2.25,1.25,2.0,1.75,1000"

UNREADABLE = {
    "wrong header": (b"Date,Open,High,Low,Close,Volume\n" + GOOD.encode() + b"\n", 1, "header is"),
    "bytes not UTF-8": (
        f"Date,Open,High,Low,Close,Adj Close,Volume\n{GOOD}\n{GOOD}\n2020-01-0\xff3,1,1,1,1,1,1\n".encode(
            "latin-1"
        ),
        4,
        "not UTF-8",
    ),
    "too many fields": (
        f"Date,Open,High,Low,Close,Adj Close,Volume\n{GOOD}\n{GOOD},7\n".encode(),
        3,
        "expected 7 fields, got 8",
    ),
    "too few fields": (
        f"Date,Open,High,Low,Close,Adj Close,Volume\n{GOOD}\n\n2020-01-03,1,1\n".encode(),
        4,
        "expected 7 fields, got 3",
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_file_is_quarantined(raw: Path, ingest: Ingest, case: str, capsys) -> None:
    content, line, why = UNREADABLE[case]
    bad = write_price(raw, "stocks/A.csv", content)
    write_price(raw, "stocks/AA.csv", [GOOD])
    code, out = ingest()
    assert code == 0  # the other files go on
    record = quality(out, "stocks/A.csv")
    assert record["status"] == "rejected" and record["output"] is None
    # The record names the file by its path under the input, never by where it was read from
    # (a datum's staging folder changes from run to run): issue 16.8.
    shown = f"{raw.name}:/stocks/A.csv"
    assert record["error"].startswith(f"{shown} line {line}: ") and why in record["error"], record["error"]
    assert str(bad) not in record["error"]
    assert not (out / "stocks" / "A.parquet").exists()
    assert (out / "stocks" / "AA.parquet").exists()
    assert not [p for p in out.rglob(".*")], "temporary files left behind"
    assert any("REJECTED" in line and shown in line for line in capsys.readouterr().err.splitlines())


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_strict_mode_fails_with_one_line(raw: Path, ingest: Ingest, case: str, capsys) -> None:
    content, line, why = UNREADABLE[case]
    bad = write_price(raw, "stocks/A.csv", content)
    code, out = ingest(bad, "--strict")
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"ingest: {raw.name}:/stocks/A.csv line {line}: ") and why in err[-1]
    assert not (out / "stocks" / "A.parquet").exists()
    assert not (out / "_quality" / "stocks" / "A.json").exists()


def test_rejected_file_removes_a_stale_output(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", [GOOD])
    _, out = ingest()
    assert (out / "stocks" / "A.parquet").exists()
    write_price(raw, "stocks/A.csv", UNREADABLE["too many fields"][0])
    ingest()
    assert not (out / "stocks" / "A.parquet").exists()
    assert quality(out, "stocks/A.csv")["status"] == "rejected"


def test_missing_metadata_fails_with_one_line(raw: Path, tmp_path: Path, capsys) -> None:
    write_price(raw, "stocks/A.csv", [GOOD])
    code = main(["--prices", str(raw), "--meta", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0] and "metadata file not found" in err[0]
    assert not (tmp_path / "out").exists()


def test_metadata_without_nasdaq_symbol_column_fails(raw: Path, tmp_path: Path, capsys) -> None:
    write_price(raw, "stocks/A.csv", [GOOD])
    meta = tmp_path / "meta.csv"
    meta.write_text("Symbol,Security Name\r\nA,Agilent\r\n")
    code = main(["--prices", str(raw), "--meta", str(meta), "--out", str(tmp_path / "out")])
    assert code == 1
    assert "NASDAQ Symbol" in capsys.readouterr().err


def test_missing_price_folder_fails(raw: Path, tmp_path: Path, capsys) -> None:
    code = main(["--prices", str(tmp_path / "nope"), "--meta", str(raw), "--out", str(tmp_path / "out")])
    assert code == 1
    assert "price folder not found" in capsys.readouterr().err


def test_files_outside_stocks_and_etfs_are_ignored_with_a_warning(raw: Path, ingest: Ingest, capsys) -> None:
    write_price(raw, "stocks/A.csv", [GOOD])
    write_price(raw, "other/B.csv", [GOOD])
    write_price(raw, "stocks/notes.txt", "hello")
    code, out = ingest()
    assert code == 0
    assert sorted(p.name for p in out.rglob("*.parquet")) == ["A.parquet"]
    warnings = capsys.readouterr().err
    assert "other" in warnings and "notes.txt" in warnings


def test_single_price_file_must_lie_in_stocks_or_etfs(raw: Path, ingest: Ingest, capsys) -> None:
    path = write_price(raw, "misc/A.csv", [GOOD])
    code, out = ingest(path)
    assert code == 1
    assert "must lie in stocks/ or etfs/" in capsys.readouterr().err
    assert not out.exists()


def test_failed_record_write_leaves_no_parquet(raw: Path, ingest: Ingest, monkeypatch, capsys) -> None:
    import stages.ingest.ingest as program

    def disk_full(path: Path, text: str) -> None:
        raise OSError(f"{path}: No space left on device")

    write_price(raw, "stocks/A.csv", [GOOD])
    monkeypatch.setattr(program, "write_text_atomic", disk_full)
    code, out = ingest()
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ingest: ") and "A.json: No space left on device" in err[-1]
    assert not list(out.rglob("*.parquet")) and not list(out.rglob(".*"))


def test_unexpected_error_ends_with_one_line_naming_the_file(raw: Path, ingest: Ingest, monkeypatch, capsys):
    import stages.ingest.ingest as program

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    path = write_price(raw, "stocks/A.csv", [GOOD])
    monkeypatch.setattr(program, "ingest_bytes", broken)
    code, _ = ingest()
    assert code == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"ingest: {path}: unexpected error: RuntimeError('boom')"
