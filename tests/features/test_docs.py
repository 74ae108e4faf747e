"""docs/features.md's worked example is what the code computes.

Print the table for the doc with: .venv/bin/python -m tests.features.test_docs
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from stages.features.table import add_features
from tests.features.tables import ingest_table

# Ten trading days around a weekend and a market holiday (Monday 2020-01-20, MLK Day).
DATES = [
    "2020-01-14",
    "2020-01-15",
    "2020-01-16",
    "2020-01-17",
    "2020-01-21",
    "2020-01-22",
    "2020-01-23",
    "2020-01-24",
    "2020-01-27",
    "2020-01-28",
]
VOLUME = [1200, 900, 0, 1500, 1100, 800, 2000, 1300, 1000, 1700]
ADJ_CLOSE = [10.00, 10.50, 10.20, 9.80, 10.10, 11.00, 10.70, 10.90, 10.40, 10.60]


def cell(value: float | None) -> str:
    return "null" if value is None or value != value else f"{value:.2f}"


def worked_example_table() -> str:
    """The doc's Markdown table: 3-row features, a 4-row median, and pandas' calendar '3D' mean."""
    table = ingest_table(VOLUME, ADJ_CLOSE, DATES)
    three = add_features(table, window=3)
    four = add_features(table, window=4)
    calendar = pd.Series(VOLUME, index=pd.to_datetime(DATES), dtype="float64").rolling("3D").mean().tolist()
    columns: list[tuple[str, list]] = [
        ("Date", DATES),
        ("Volume", [str(v) for v in VOLUME]),
        ("Adj Close", [f"{p:.2f}" for p in ADJ_CLOSE]),
        ("vol_moving_avg (3 rows)", [cell(v) for v in _pylist(three, "vol_moving_avg")]),
        ("adj_close_rolling_med (3 rows)", [cell(v) for v in _pylist(three, "adj_close_rolling_med")]),
        ("median over 4 rows", [cell(v) for v in _pylist(four, "adj_close_rolling_med")]),
        ("pandas `rolling('3D').mean()` of Volume", [cell(v) for v in calendar]),
    ]
    lines = [
        "| " + " | ".join(name for name, _ in columns) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(columns))) + "|",
    ]
    lines += ["| " + " | ".join(values[i] for _, values in columns) + " |" for i in range(len(DATES))]
    return "\n".join(lines) + "\n"


def _pylist(table: pa.Table, name: str) -> list[float | None]:
    return table.column(name).to_pylist()


def test_worked_example_in_the_doc_matches_the_code(repo_root: Path) -> None:
    doc = (repo_root / "docs" / "features.md").read_text()
    assert worked_example_table() in doc


def test_worked_example_checked_by_hand() -> None:
    """A few cells of the table, computed by hand, so the table itself is not trusted blindly."""
    table = worked_example_table().splitlines()
    row = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table[2:]}
    # 2020-01-16: volumes 1200, 900, 0 -> 700; closes 10.00, 10.50, 10.20 -> 10.20
    assert row["2020-01-16"][3:5] == ["700.00", "10.20"]
    # 2020-01-21 (after the weekend and the holiday): 0, 1500, 1100 -> 866.67; 10.20, 9.80, 10.10 -> 10.10
    assert row["2020-01-21"][3:5] == ["866.67", "10.10"]
    # 4 rows to 2020-01-22: 9.80, 10.10, 10.20, 11.00 -> (10.10 + 10.20) / 2 = 10.15
    assert row["2020-01-22"][5] == "10.15"
    # the calendar window of 2020-01-21 holds only that day (01-19 and 01-20 have no rows)
    assert row["2020-01-21"][6].rstrip(" |") == "1100.00"


if __name__ == "__main__":
    print(worked_example_table(), end="")
