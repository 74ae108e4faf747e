"""Every input file is accounted for (issue 16.4): files not ingested, one series per symbol,
metadata rows that disagree, and no bytes of a non-CSV file in records or the summary.

Through the real stage on real files (crafted beside the small metadata, and the bundled sample),
and through `python -m runner run` of specs/ingest.json where the datum layout matters: the spec's
glob ``/*/*`` hands ``stocks/sub/X.csv`` to the stage as the datum ``/stocks/sub``, a folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stages.ingest.summary import main as summary_main
from tests.ingest.conftest import SMALL_META, Ingest, output, quality, write_price

SECRET = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def rows(n: int, start: dt.date = dt.date(2019, 1, 1)) -> list[str]:
    """``n`` valid price rows on consecutive days."""
    return [f"{start + dt.timedelta(days=i)},1.5,2.25,1.25,2.0,1.75,{1000 + i}" for i in range(n)]


def not_ingested(out: Path, rel: str) -> dict:
    return json.loads((out / "_quality" / "_not_ingested" / f"{rel}.json").read_text())


def summary_of(out: Path, capsys, *extra: str) -> tuple[str, dict]:
    assert summary_main([str(out), *extra]) == 0
    text = capsys.readouterr().out
    assert summary_main([str(out), "--json", *extra]) == 0
    return text, json.loads(capsys.readouterr().out)


def test_files_not_ingested_are_listed_with_reason_and_rows(raw: Path, ingest: Ingest, capsys) -> None:
    write_price(raw, "stocks/A.csv", rows(10))
    write_price(raw, "stocks/X.CSV", rows(200))
    write_price(raw, "bonds/X.csv", rows(200))
    write_price(raw, "stocks/sub/X.csv", rows(200))
    write_price(raw, "etfs/notes.txt", "two\nlines\n")
    write_price(raw, "stocks/.A.csv.swp", rows(3))
    code, out = ingest()
    assert code == 0
    expected = {
        "stocks/X.CSV": ("extension_case", 200),
        "bonds/X.csv": ("unknown_folder", 200),
        "stocks/sub/X.csv": ("too_deep", 200),
        "etfs/notes.txt": ("not_csv", 1),
        "stocks/.A.csv.swp": ("hidden", 3),
    }
    for rel, (reason, count) in expected.items():
        record = not_ingested(out, rel)
        assert (record["file"], record["reason"], record["rows"]) == (rel, reason, count)
        assert rel in record["detail"] and f"{count} rows" in record["detail"]
    assert quality(out, "stocks/A.csv")["rows_kept"] == 10
    # Features read every *.parquet outside "_" folders: nothing not ingested has one.
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == ["stocks/A.parquet"]
    text, as_json = summary_of(out, capsys)
    assert "5 files not ingested (604 rows)" in text
    assert "stocks/sub/X.csv: not ingested (200 rows): price files lie directly in stocks/ or etfs/" in text
    assert "stocks/X.CSV: not ingested (200 rows): the extension must be exactly .csv" in text
    assert sorted(n["file"] for n in as_json["not_ingested"]) == sorted(expected)


def test_a_clean_folder_says_0_files_not_ingested(raw: Path, ingest: Ingest, capsys) -> None:
    write_price(raw, "stocks/A.csv", rows(3))
    assert ingest()[0] == 0
    text, as_json = summary_of(raw.parent / "out", capsys)
    assert "  0 files not ingested\n" in text + "\n"
    assert as_json["not_ingested"] == []


def test_same_symbol_in_both_folders_is_ingested_once_from_the_metadata_folder(
    raw: Path, ingest: Ingest, capsys
) -> None:
    """The metadata says SPY is an ETF (ETF=Y): etfs/SPY.csv is its series, stocks/SPY.csv is set aside.

    Each file is its own datum (run one at a time here, as Pachyderm does), so the rule cannot
    depend on seeing the other file: the ETF flag decides for each file alone.
    """
    write_price(raw, "etfs/SPY.csv", rows(30))
    write_price(raw, "stocks/SPY.csv", rows(20))
    out = raw.parent / "out"
    for rel in ("stocks/SPY.csv", "etfs/SPY.csv"):
        datum = raw.parent / "datum" / rel
        datum.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(raw / rel, datum)
        assert ingest(raw.parent / "datum")[0] == 0
        shutil.rmtree(raw.parent / "datum")
    assert output(out, "etfs/SPY.csv").num_rows == 30
    assert not (out / "stocks" / "SPY.parquet").exists()
    record = not_ingested(out, "stocks/SPY.csv")
    assert record["reason"] == "folder_contradicts_metadata" and record["rows"] == 20
    assert "ETF=Y" in record["detail"] and "etfs/SPY.csv" in record["detail"]
    # Training reads every Parquet file: each (Symbol, Date) of SPY is there once.
    symbols = pq.read_table(out / "etfs" / "SPY.parquet", columns=["Symbol", "Date"]).to_pylist()
    assert len({(r["Symbol"], r["Date"]) for r in symbols}) == len(symbols) == 30
    text, as_json = summary_of(out, capsys)
    assert "symbols with a file in both stocks/ and etfs/: 1" in text
    assert as_json["both_folders"]["SPY"].startswith("SPY: etfs/SPY.csv used; stocks/SPY.csv not ingested")
    assert "1 files not ingested (20 rows)" in text


def test_a_stock_in_etfs_alone_is_set_aside_too(raw: Path, ingest: Ingest) -> None:
    """The rule is the flag, not the presence of a twin: A (ETF=N) under etfs/ is never read as an ETF."""
    write_price(raw, "etfs/A.csv", rows(5))
    code, out = ingest()
    assert code == 0
    assert not_ingested(out, "etfs/A.csv")["reason"] == "folder_contradicts_metadata"
    assert not list(out.rglob("*.parquet"))


def test_same_symbol_without_metadata_in_both_folders_is_reported(raw: Path, ingest: Ingest, capsys) -> None:
    """No metadata row, no flag to decide: both ingested; the summary says training counts them twice."""
    write_price(raw, "stocks/NOMETA.csv", rows(4))
    write_price(raw, "etfs/NOMETA.csv", rows(4))
    code, out = ingest()
    assert code == 0
    text, as_json = summary_of(out, capsys)
    line = as_json["both_folders"]["NOMETA"]
    assert "etfs/NOMETA.csv and stocks/NOMETA.csv both ingested" in line
    assert "counts their shared dates twice" in line and line in text


def test_metadata_symbol_listed_twice_with_different_names_is_reported(
    raw: Path, ingest: Ingest, capsys
) -> None:
    meta = SMALL_META + (
        'Y,A,"Another Name For A",N, ,N,100,N,,A,A,N\r\n'  # disagrees with the first A row
        "Y,AA,Alcoa Corporation Common Stock ,N, ,N,100,N,,AA,AA,N\r\n"  # the same row again: no conflict
        "Y,Q,Quux Inc,N, ,N,100,N,,Q,CARR#,N\r\n"  # CARR# again, another Symbol; no price file
    )
    (raw / "symbols_valid_meta.csv").write_bytes(meta.encode())
    write_price(raw, "stocks/A.csv", rows(3))
    write_price(raw, "stocks/AA.csv", rows(3))
    code, out = ingest()
    assert code == 0
    record = quality(out, "stocks/A.csv")
    assert "Agilent Technologies, Inc. Common Stock" in record["metadata_conflict"]
    assert "Another Name For A" in record["metadata_conflict"]
    assert "the first is used" in record["metadata_conflict"]
    assert quality(out, "stocks/AA.csv")["metadata_conflict"] is None
    assert set(output(out, "stocks/A.csv")["Security Name"].to_pylist()) == {
        "Agilent Technologies, Inc. Common Stock"
    }
    text, as_json = summary_of(out, capsys)
    assert "metadata symbols listed more than once with different names: 2; with a price file: 1" in text
    assert list(as_json["metadata_conflicts"]) == ["A"]
    text, as_json = summary_of(out, capsys, "--meta", str(raw))
    assert sorted(as_json["metadata_conflicts"]) == ["A", "CARR#"]


@pytest.mark.parametrize("rel", ["stocks/PW.csv", "etfs/PW.csv"])
def test_a_non_csv_file_leaks_no_bytes_into_records_or_summary(
    raw: Path, ingest: Ingest, capsys, rel: str
) -> None:
    write_price(raw, rel, SECRET)
    code, out = ingest()
    assert code == 0
    captured = capsys.readouterr()
    record_text = (out / "_quality" / rel.replace(".csv", ".json")).read_text()
    record = json.loads(record_text)
    assert record["status"] == "rejected"
    assert "not a price CSV" in record["error"] and "not shown" in record["error"]
    text, as_json = summary_of(out, capsys)
    for shown in (record_text, text, json.dumps(as_json), captured.err, captured.out):
        assert "root:x" not in shown and "/bin/bash" not in shown and "daemon:x" not in shown


def test_a_recognisable_wrong_header_is_still_quoted(raw: Path, ingest: Ingest) -> None:
    write_price(raw, "stocks/A.csv", "Date,Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,5\n")
    _, out = ingest()
    error = quality(out, "stocks/A.csv")["error"]
    assert "header is 'Date,Open,High,Low,Close,Volume'" in error and "missing Adj Close" in error


def test_through_the_runner_every_file_of_the_sample_and_the_odd_ones_is_accounted_for(
    repo_root: Path, sample_dir: Path, tmp_path: Path
) -> None:
    """specs/ingest.json under `python -m runner run`: the datum /stocks/sub is a folder, /bonds/X.csv a
    file of an unknown folder, /stocks/X.CSV a file the stage must not skip silently."""
    raw = tmp_path / "raw"
    shutil.copytree(sample_dir, raw)
    write_price(raw, "stocks/X.CSV", rows(200))
    write_price(raw, "bonds/X.csv", rows(200))
    write_price(raw, "stocks/sub/X.csv", rows(200))
    shutil.copy(raw / "stocks" / "AAPL.csv", raw / "etfs" / "AAPL.csv")  # AAPL has ETF=N: a stray copy
    aapl_rows = sum(1 for line in (raw / "stocks" / "AAPL.csv").read_text().splitlines()[1:] if line.strip())
    env = {**os.environ, "PFS_STATE": str(tmp_path / "pfs")}

    def runner(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=repo_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    runner("put", "file", "-r", "raw@master:/", "-f", str(raw))
    runner("create", "pipeline", "-f", "specs/ingest.json")
    runner("run")
    head = tmp_path / "pfs" / "ingest" / "master"
    summary = subprocess.run(
        [sys.executable, "-m", "stages.ingest.summary", str(head)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert summary.returncode == 0, summary.stderr
    text = summary.stdout
    assert f"4 files not ingested ({600 + aapl_rows:,} rows)" in text
    for line in (
        "stocks/X.CSV: not ingested (200 rows)",
        "bonds/X.csv: not ingested (200 rows)",
        "stocks/sub/X.csv: not ingested (200 rows)",
        f"etfs/AAPL.csv: not ingested ({aapl_rows:,} rows): the metadata says ETF=N",
        "AAPL: stocks/AAPL.csv used; etfs/AAPL.csv not ingested",
    ):
        assert line in text, text
    sample_files = sum(1 for p in sample_dir.glob("*/*.csv"))
    assert f"files: {sample_files} (" in text  # the sample's files, all ingested as before


def test_a_rejected_files_record_is_the_same_in_every_run(
    repo_root: Path, sample_dir: Path, tmp_path: Path
) -> None:
    """Issue 16.8: records name the file by its path in the input (prices:/stocks/X.csv), not the
    datum's staging folder, so reprocessing the same bytes writes the same record."""
    raw = tmp_path / "raw"
    (raw / "stocks").mkdir(parents=True)
    shutil.copy(sample_dir / "symbols_valid_meta.csv", raw)
    (raw / "stocks" / "A.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,1\n")
    env = {**os.environ, "PFS_STATE": str(tmp_path / "pfs")}

    def runner(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "runner", *args], cwd=repo_root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    runner("put", "file", "-r", "raw@master:/", "-f", str(raw))
    runner("create", "pipeline", "-f", "specs/ingest.json")
    record_file = tmp_path / "pfs" / "ingest" / "master" / "_quality" / "stocks" / "A.json"
    records = []
    for _ in range(2):
        runner("run")
        records.append(record_file.read_text())
        runner("update", "pipeline", "-f", "specs/ingest.json", "--reprocess")
    assert records[0] == records[1]
    assert json.loads(records[0])["error"].startswith("prices:/stocks/A.csv line 2: ")
