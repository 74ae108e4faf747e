"""The two real inputs of the generator: the metadata file and the trading calendar."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The real metadata file of the dataset (all 8,049 listings), copied byte for byte.
DEFAULT_META = REPO_ROOT / "data" / "sample" / "symbols_valid_meta.csv"
#: A real price file covering the whole span of the dataset: its dates are the NYSE trading
#: days from 1962-01-02 to 2020-04-01 (14,663 days, with the 1968 Wednesday closures, 9/11...).
DEFAULT_CALENDAR = REPO_ROOT / "data" / "sample" / "stocks" / "AA.csv"
LAST_DAY = np.datetime64("2020-04-01", "D")


@dataclass(frozen=True)
class Listing:
    """One price file to write: ``<folder>/<symbol>.csv``."""

    folder: str  # "stocks" or "etfs"
    symbol: str  # the NASDAQ Symbol

    @property
    def relpath(self) -> str:
        return f"{self.folder}/{self.symbol}.csv"

    @property
    def is_etf(self) -> bool:
        return self.folder == "etfs"


class SourceError(ValueError):
    """A real input of the generator is missing or not what it should be."""


def read_listings(meta_path: Path) -> list[Listing]:
    """The price files the metadata names, in metadata order (the ETF flag picks the folder)."""
    text = Path(meta_path).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    listings: list[Listing] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        symbol, etf = row.get("NASDAQ Symbol"), row.get("ETF")
        if not symbol or etf not in ("Y", "N"):
            raise SourceError(f"{meta_path} line {line}: needs a NASDAQ Symbol and an ETF flag Y or N")
        if symbol in seen:
            raise SourceError(f"{meta_path} line {line}: NASDAQ Symbol {symbol!r} repeats")
        seen.add(symbol)
        listings.append(Listing("etfs" if etf == "Y" else "stocks", symbol))
    return listings


def read_calendar(price_csv: Path) -> np.ndarray:
    """The dates (datetime64[D], ascending, weekdays only) of a real price file ending on LAST_DAY."""
    with open(price_csv, encoding="utf-8") as f:
        next(f)
        days = np.array([line[:10] for line in f if line.strip()], dtype="datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
    if len(days) == 0 or days[-1] != LAST_DAY or np.any(np.diff(days) <= np.timedelta64(0, "D")):
        raise SourceError(f"{price_csv}: dates must be strictly ascending and end on {LAST_DAY}")
    if np.any(weekday >= 5):
        raise SourceError(f"{price_csv}: a date falls on a weekend")
    return days
