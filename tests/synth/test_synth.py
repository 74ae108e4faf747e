"""The synthetic dataset generator: layout, determinism, formatting, invariants and quirks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from tools.synth.cli import main
from tools.synth.generate import generate, make_file, summary_path
from tools.synth.model import ETF_MAX_ROWS, draw_profile, file_rng, scaled_rows
from tools.synth.sources import DEFAULT_CALENDAR, DEFAULT_META, SourceError, read_calendar, read_listings

SCALE = 0.05
HEADER = b"Date,Open,High,Low,Close,Adj Close,Volume\n"
PRICES = ("Open", "High", "Low", "Close", "Adj Close")


@pytest.fixture(scope="module")
def listings():
    return read_listings(DEFAULT_META)


@pytest.fixture(scope="module")
def calendar():
    return read_calendar(DEFAULT_CALENDAR)


@pytest.fixture(scope="module")
def profiles(listings, calendar):
    return [draw_profile(file_rng(0, x.symbol), x.folder, len(calendar)) for x in listings]


@pytest.fixture(scope="module")
def limit(profiles) -> int:
    """Enough listings, in metadata order, to include a file with empty rows at SCALE."""
    first_quirky = next(
        i for i, p in enumerate(profiles) if p.empty_rows and scaled_rows(p.full_rows, SCALE) >= 10
    )
    return max(first_quirky + 1, 60)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, limit) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate(out, scale=SCALE, seed=0, processes=1, limit=limit)
    return out


def price_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.csv"))


def read_prices(path: Path) -> pa.Table:
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"Date": pa.string()}))


def test_calendar_is_the_real_nyse_calendar(calendar):
    assert len(calendar) == 14_663
    assert str(calendar[0]) == "1962-01-02" and str(calendar[-1]) == "2020-04-01"


def test_metadata_is_copied_byte_for_byte_and_folders_follow_the_etf_flag(dataset, listings, limit):
    assert (dataset / "symbols_valid_meta.csv").read_bytes() == DEFAULT_META.read_bytes()
    written = {p.relative_to(dataset).as_posix() for p in price_files(dataset)}
    assert written == {x.relpath for x in listings[:limit]}
    assert {p.name for p in dataset.iterdir()} == {"symbols_valid_meta.csv", "stocks", "etfs"}
    assert len(listings) == 8049
    assert sum(x.is_etf for x in listings) == 2165


def test_every_file_has_the_real_header_and_lf_line_ends(dataset):
    for path in price_files(dataset):
        data = path.read_bytes()
        assert data.startswith(HEADER), path
        assert data.endswith(b"\n") and b"\r" not in data, path


def test_same_seed_same_bytes_and_files_independent_of_the_run(tmp_path, dataset, listings, calendar):
    again = tmp_path / "again"
    generate(again, scale=SCALE, seed=0, processes=2, limit=12)
    for path in price_files(again):
        assert path.read_bytes() == (dataset / path.relative_to(again)).read_bytes(), path
    data, _ = make_file(listings[0], 0, SCALE, calendar)
    assert data == (dataset / listings[0].relpath).read_bytes()
    other, _ = make_file(listings[0], 1, SCALE, calendar)
    assert other != data


def test_files_parse_and_hold_the_price_invariants(dataset):
    for path in price_files(dataset):
        table = read_prices(path)
        dates = np.array(table["Date"].to_pylist(), dtype="datetime64[D]")
        assert dates[-1] == np.datetime64("2020-04-01"), path
        assert np.all(np.diff(dates) > np.timedelta64(0, "D")), path
        assert np.all((dates.astype(np.int64) + 3) % 7 < 5), f"{path}: a weekend date"
        df = table.to_pandas().dropna()
        assert (df["Adj Close"] <= df["Close"]).all(), path
        assert (df["High"] >= df[["Open", "Close"]].max(axis=1)).all(), path
        assert (df["Low"] <= df[["Open", "Close"]].min(axis=1)).all(), path
        assert (df["Low"] > 0).all(), path
        assert (df["Volume"] >= 0).all() and (df["Volume"] == df["Volume"].round()).all(), path


def test_prices_are_printed_like_the_real_files(dataset, sample_dir):
    def check(path: Path) -> None:
        for line in path.read_text().splitlines()[1:]:
            for text in line.split(",")[1:6]:
                if text:
                    assert text == repr(float(np.float32(float(text)))), (path, line)

    check(sample_dir / "stocks" / "A.csv")  # the rule holds for a real file
    for path in price_files(dataset):
        check(path)


def test_bytes_per_row_is_close_to_the_real_sample(dataset, sample_dir):
    def bytes_per_row(paths: list[Path]) -> float:
        return sum(p.stat().st_size for p in paths) / sum(len(p.read_bytes().splitlines()) - 1 for p in paths)

    real = bytes_per_row(price_files(sample_dir))
    synthetic = bytes_per_row(price_files(dataset))
    assert abs(synthetic - real) / real < 0.08, (synthetic, real)


def test_quirks_are_present(dataset):
    float_volume_files = zero_rows = 0
    for path in price_files(dataset):
        lines = path.read_text().splitlines()[1:]
        empty = [x for x in lines if x.endswith(",,,,,,")]
        volumes = [x.rsplit(",", 1)[1] for x in lines if x not in empty]
        if empty:
            float_volume_files += 1
            assert all(len(x) == len("2001-09-12,,,,,,") for x in empty), path
            assert all(v.endswith(".0") for v in volumes), path
        else:
            assert all(v.isdigit() for v in volumes), path
        for x in lines:
            fields = x.split(",")
            if fields[-1] in ("0", "0.0"):
                zero_rows += 1
                assert len(set(fields[1:5])) == 1, f"{path}: zero-volume row is not a placeholder quote: {x}"
    assert float_volume_files >= 1
    assert zero_rows >= 1


def test_row_counts_follow_the_real_skew(profiles, listings, calendar):
    full = np.array([p.full_rows for p in profiles])
    etf = np.array([x.is_etf for x in listings])
    assert 26_000_000 <= full.sum() <= 27_000_000
    assert full.max() == len(calendar) == 14_663
    assert full[etf].max() <= ETF_MAX_ROWS
    assert full.min() <= 10
    assert np.mean(full < 500) > 0.1  # many young listings
    assert 0.005 < np.mean([p.empty_rows > 0 for p in profiles]) < 0.02


def test_scale_keeps_every_file_and_shrinks_rows(dataset, profiles, limit):
    summary = json.loads(summary_path(dataset).read_text())
    assert summary["files"] == limit
    listings = read_listings(DEFAULT_META)[:limit]
    rows = 0
    for listing, profile in zip(listings, profiles[:limit], strict=True):
        lines = (dataset / listing.relpath).read_bytes().count(b"\n") - 1
        assert lines == scaled_rows(profile.full_rows, SCALE), listing
        rows += lines
    assert summary["rows"] == rows
    assert summary["bytes"] == sum(p.stat().st_size for p in price_files(dataset))


def test_cli_writes_summary_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--scale", "0.01", "--limit", "3", "--processes", "1"]) == 0
    assert "synth: 3 files" in capsys.readouterr().out
    assert main(["--out", str(out), "--scale", "0.01", "--limit", "3", "--processes", "1"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "x"), "--scale", "2"]) == 1
    assert not list(tmp_path.glob(".*tmp*")), "no temporary folder left behind"


def test_bad_metadata_is_reported_with_its_line(tmp_path):
    meta = tmp_path / "meta.csv"
    meta.write_text("Symbol,ETF,NASDAQ Symbol\r\nA,N,A\r\nB,?,B\r\n")
    with pytest.raises(SourceError, match="line 3"):
        read_listings(meta)
