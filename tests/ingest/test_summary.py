"""`python -m stages.ingest.summary`: one summary of an ingest output folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stages.ingest.summary import main as summary_main
from tests.ingest.conftest import Ingest, write_price

GOOD = "2020-01-02,1.5,2.25,1.25,2.0,1.75,1000"


@pytest.fixture
def out(raw: Path, ingest: Ingest) -> Path:
    write_price(raw, "stocks/A.csv", [GOOD, "2020-01-03,,,,,,", "2020-01-06,1,1,1,1,1,0"])
    write_price(raw, "stocks/AA.csv", [GOOD, GOOD])
    write_price(raw, "stocks/AGM-A.csv", b"Date,Open\n1,2\n")  # rejected
    write_price(raw, "stocks/LGF.B.csv", b"")  # empty
    write_price(raw, "etfs/SPY.csv", [GOOD, "2020-01-03,1,1,1,1,1,2.5"])
    write_price(raw, "etfs/NOMETA.csv", [GOOD])
    code, folder = ingest()
    assert code == 0
    return folder


def test_summary_json_counts(out: Path, capsys) -> None:
    assert summary_main([str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["files"] == {"ok": 4, "empty": 1, "rejected": 1}
    assert s["files_by_folder"] == {"stocks": 4, "etfs": 2}
    assert s["rows_read"] == 8 and s["rows_kept"] == 5
    assert s["dropped"] == {"empty_row": 1, "duplicate_identical": 1, "fractional_volume": 1}
    assert s["flags"]["zero_volume_rows"] == 1
    assert list(s["rejected"]) == ["stocks/AGM-A.csv"]
    assert s["empty"] == ["stocks/LGF.B.csv"]
    assert s["without_metadata"] == ["etfs/NOMETA.csv"]
    # 7 metadata rows; A, AA, AGM-A, LGF.B, SPY have files: CARR# and ZZZ do not.
    assert s["metadata_symbols"] == 7 and s["metadata_rows_without_file"] == 2


def test_summary_text_names_problems_and_exits_zero(out: Path, raw: Path, capsys) -> None:
    assert summary_main([str(out), "--meta", str(raw)]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "files: 6 (etfs 2, stocks 4): ok 4, empty 1, rejected 1" in text
    assert "rows: read 8, kept 5, dropped 3" in text
    assert "dropped fractional_volume" in text
    assert "files with no metadata row (Security Name null): 1: etfs/NOMETA.csv" in text
    assert "metadata rows with no file: 2 of 7: CARR#, ZZZ" in text
    assert "REJECTED FILES: 1" in text and "AGM-A.csv line 1: header is" in text
    assert "WARNING 1 price files rejected" in captured.err


def test_broken_folders_exit_non_zero(out: Path, tmp_path: Path, capsys) -> None:
    assert summary_main([str(tmp_path / "missing")]) == 1
    (tmp_path / "empty").mkdir()
    assert summary_main([str(tmp_path / "empty")]) == 1
    (out / "stocks" / "A.parquet").unlink()
    assert summary_main([str(out)]) == 1
    assert "recorded but missing" in capsys.readouterr().err


def test_unreadable_record_exits_non_zero(out: Path, capsys) -> None:
    (out / "_quality" / "stocks" / "A.json").write_text("{not json")
    assert summary_main([str(out)]) == 1
    assert "A.json" in capsys.readouterr().err


def test_record_whose_counts_do_not_add_up_is_refused(out: Path) -> None:
    path = out / "_quality" / "stocks" / "AA.json"
    record = json.loads(path.read_text())
    record["rows_kept"] += 1
    path.write_text(json.dumps(record))
    assert summary_main([str(out)]) == 1


def test_summary_as_subprocess(out: Path, repo_root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stages.ingest.summary", str(out)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.startswith(f"ingest summary of {out}")
