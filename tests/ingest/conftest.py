"""Helpers for the ingest tests: a small metadata file, price files written by the tests, a runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.ingest.ingest import main

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"

#: Metadata like the real file: CRLF, quoted names with commas, trailing spaces, NASDAQ Symbol != Symbol.
SMALL_META = (
    "Nasdaq Traded,Symbol,Security Name,Listing Exchange,Market Category,ETF,Round Lot Size,"
    "Test Issue,Financial Status,CQS Symbol,NASDAQ Symbol,NextShares\r\n"
    'Y,A,"Agilent Technologies, Inc. Common Stock",N, ,N,100,N,,A,A,N\r\n'
    "Y,AA,Alcoa Corporation Common Stock ,N, ,N,100,N,,AA,AA,N\r\n"
    "Y,AGM$A,Federal Agricultural Mortgage Corporation Preferred Series A ,N, ,N,100,N,,AGM$A,AGM-A,N\r\n"
    "Y,CARR.V,Carrier Global Corporation Common Stock When Issued,N, ,N,100,N,,CARR.V,CARR#,N\r\n"
    'Y,LGF.B,"Lions Gate Entertainment Corporation Class B Non-Voting Shares",N, ,N,100,N,,LGF.B,LGF.B,N\r\n'
    "Y,SPY,SPDR S&P 500,P, ,Y,100,N,,SPY,SPY,N\r\n"
    "Y,ZZZ,Listed But No File Inc,N, ,N,100,N,,ZZZ,ZZZ,N\r\n"
)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A raw folder in the Kaggle layout holding only the small metadata file."""
    root = tmp_path / "raw"
    (root / "stocks").mkdir(parents=True)
    (root / "etfs").mkdir()
    (root / "symbols_valid_meta.csv").write_bytes(SMALL_META.encode())
    return root


def write_price(raw: Path, rel: str, rows: list[str] | str | bytes, header: str = HEADER) -> Path:
    """Write a price file: ``rows`` as lines after the header, or the exact content if str/bytes."""
    path = raw / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    text = rows if isinstance(rows, str | bytes) else header + "\n" + "".join(r + "\n" for r in rows)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


Ingest = Callable[..., tuple[int, Path]]


@pytest.fixture
def ingest(raw: Path, tmp_path: Path) -> Ingest:
    """Run ``main`` over ``raw`` (or one file of it) into ``tmp_path/out``; return (exit code, out)."""

    def run(prices: Path | None = None, *extra: str) -> tuple[int, Path]:
        out = tmp_path / "out"
        code = main(["--prices", str(prices or raw), "--meta", str(raw), "--out", str(out), *extra])
        return code, out

    return run


def quality(out: Path, rel: str) -> dict:
    """The quality record of ``<stocks|etfs>/<SYM>.csv``."""
    folder, name = rel.split("/")
    return json.loads((out / "_quality" / folder / (name[: -len(".csv")] + ".json")).read_text())


def output(out: Path, rel: str) -> pa.Table:
    folder, name = rel.split("/")
    return pq.read_table(out / folder / (name[: -len(".csv")] + ".parquet"))
