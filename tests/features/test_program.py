"""The stage program on folders: what it reads, what it writes, how it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.common import atomic
from stages.common.schema import FEATURES_SCHEMA, INGEST_SCHEMA
from stages.features.program import main
from stages.features.table import add_features
from tests.features.tables import ingest_table


def write_ingest_output(root: Path) -> dict[str, pa.Table]:
    """An ingest-like output: two symbols, quality records, a stray file; returns path -> table."""
    tables = {
        "stocks/AAA.parquet": ingest_table(list(range(40)), [float(i % 7) for i in range(40)], symbol="AAA"),
        "etfs/BBB.parquet": ingest_table([0] * 31, [2.5] * 31, symbol="BBB"),
        "stocks/C#.parquet": INGEST_SCHEMA.empty_table(),
    }
    for rel, table in tables.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / rel)
    quality = root / "_quality" / "stocks" / "AAA.json"
    quality.parent.mkdir(parents=True)
    quality.write_text(json.dumps({"rows_read": 40}))
    pq.write_table(tables["stocks/AAA.parquet"], root / "_quality" / "stocks" / "hidden.parquet")
    (root / "stocks" / "README.txt").write_text("not a parquet file")
    return tables


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_whole_folder_mirrors_paths_and_ignores_quality_and_other_files(tmp_path: Path) -> None:
    ingest, out = tmp_path / "ingest", tmp_path / "out"
    tables = write_ingest_output(ingest)
    assert main(["--ingest", str(ingest), "--out", str(out)]) == 0
    assert files_under(out) == sorted(tables)
    for rel, table in tables.items():
        written = pq.read_table(out / rel)
        assert written.schema.equals(FEATURES_SCHEMA, check_metadata=True)
        assert written.equals(add_features(table))
    assert pq.read_table(out / "stocks/C#.parquet").num_rows == 0


def test_one_datum_at_a_time_as_the_runner_stages_them(tmp_path: Path) -> None:
    """Glob /*/* gives one symbol file per datum, and also the _quality/<dir> folders."""
    ingest = tmp_path / "ingest"
    tables = write_ingest_output(ingest)
    merged = tmp_path / "merged"
    for i, rel in enumerate([*tables, "_quality/stocks"]):
        datum_in, datum_out = tmp_path / f"datum{i}" / "ingest", tmp_path / f"datum{i}" / "out"
        if (ingest / rel).is_dir():
            shutil.copytree(ingest / rel, datum_in / rel)
        else:
            (datum_in / rel).parent.mkdir(parents=True)
            os.link(ingest / rel, datum_in / rel)
        # Warm workers call main() many times in one process.
        assert main(["--ingest", str(datum_in), "--out", str(datum_out)]) == 0
        for path in datum_out.rglob("*.parquet"):
            target = merged / path.relative_to(datum_out)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
    assert files_under(merged) == sorted(tables)
    assert pq.read_table(merged / "stocks/AAA.parquet").equals(add_features(tables["stocks/AAA.parquet"]))


def test_missing_input_folder_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == f"features: --ingest {tmp_path / 'nope'}: no such folder\n"


def test_unreadable_parquet_fails_naming_the_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest, out = tmp_path / "ingest", tmp_path / "out"
    (ingest / "stocks").mkdir(parents=True)
    (ingest / "stocks" / "BAD.parquet").write_bytes(b"Date,Open\n2020-01-01,1\n")
    assert main(["--ingest", str(ingest), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"features: {ingest / 'stocks' / 'BAD.parquet'}: not a readable Parquet file")
    assert err.count("\n") == 1
    assert not out.exists() or files_under(out) == []


def test_bad_content_fails_naming_file_and_row_and_leaves_no_partial_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest, out = tmp_path / "ingest", tmp_path / "out"
    good = ingest_table([1, 2, 3], [1.0, 2.0, 3.0])
    bad = good.set_column(8, "Volume", pa.array([1, None, 3], pa.int64()))
    (ingest / "stocks").mkdir(parents=True)
    pq.write_table(bad, ingest / "stocks" / "BAD.parquet")
    assert main(["--ingest", str(ingest), "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"features: {ingest / 'stocks' / 'BAD.parquet'}: row 2 (Date 2020-01-02): Volume is null\n"
    )
    assert not out.exists() or files_under(out) == []


def test_failed_write_is_one_line_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest, out = tmp_path / "ingest", tmp_path / "out"
    (ingest / "stocks").mkdir(parents=True)
    pq.write_table(ingest_table([1, 2], [1.0, 2.0]), ingest / "stocks" / "X.parquet")

    def failing_write(fd: int, data: bytes) -> None:
        os.write(fd, b"half")
        raise OSError("disk full")

    monkeypatch.setattr(atomic, "write_all", failing_write)
    assert main(["--ingest", str(ingest), "--out", str(out)]) == 1
    assert (
        capsys.readouterr().err
        == f"features: {out / 'stocks' / 'X.parquet'}: cannot write the output: disk full\n"
    )
    assert files_under(out) == []


def test_runs_as_a_module_with_the_spec_command_shape(tmp_path: Path, repo_root: Path) -> None:
    ingest, out = tmp_path / "ingest", tmp_path / "out"
    tables = write_ingest_output(ingest)
    spec = json.loads((repo_root / "specs" / "features.json").read_text())
    cmd = [sys.executable if arg == "python3" else arg for arg in spec["transform"]["cmd"]]
    cmd = [str(ingest) if arg == "/pfs/ingest" else str(out) if arg == "/pfs/out" else arg for arg in cmd]
    done = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("features: 3 file(s), 71 rows from")
    assert files_under(out) == sorted(tables)


def test_spec_runs_this_program_once_per_symbol_file(repo_root: Path) -> None:
    spec = json.loads((repo_root / "specs" / "features.json").read_text())
    assert spec["pipeline"]["name"] == "features"
    assert spec["input"] == {"pfs": {"name": "ingest", "repo": "ingest", "glob": "/*/*"}}
    assert spec["transform"]["image"] == "stockpipe/features:0.1.0"
    assert spec["transform"]["cmd"] == [
        "python3",
        "-m",
        "stages.features",
        "--ingest",
        "/pfs/ingest",
        "--out",
        "/pfs/out",
    ]
    assert spec["datumTimeout"] == "600s" and spec["datumTries"] >= 1
    assert spec["parallelismSpec"]["constant"] >= 2 and spec["description"]
    assert set(spec["resourceRequests"]) == {"cpu", "memory"}


def test_does_not_import_pandas(tmp_path: Path, repo_root: Path) -> None:
    """pandas is not in the image; locally, importing it would cost each warm worker ~0.3 s and ~60 MB."""
    ingest, out = tmp_path / "ingest", tmp_path / "out"
    write_ingest_output(ingest)
    code = (
        "import sys; from stages.features.program import main; "
        f"assert main(['--ingest', {str(ingest)!r}, '--out', {str(out)!r}]) == 0; "
        "assert 'pandas' not in sys.modules, 'pandas was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
