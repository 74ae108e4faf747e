"""Properties over generated files: every row accounted for, output sorted and unique, readers agree."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from stages.ingest.clean import clean_prices
from stages.ingest.parse import UnreadableFile, _strict_read, parse_prices
from tests.ingest.conftest import HEADER

dates = st.sampled_from(["2020-01-02", "2020-01-03", "2020-01-06", "2019-12-31", "2020-02-30", "", "x"])
numbers = st.one_of(
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(repr),
    st.sampled_from(["", "-1.5", "abc", "nan", "0", "1e5", "7.25"]),
)
volumes = st.one_of(
    st.integers(min_value=0, max_value=10**9).map(str), st.sampled_from(["", "-3", "2.5", "4.0"])
)
rows = st.one_of(
    st.tuples(dates, numbers, numbers, numbers, numbers, numbers, volumes).map(",".join),
    st.just(""),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, max_size=30))
def test_every_row_is_accounted_for_and_readers_agree(lines: list[str]) -> None:
    data = (HEADER + "\n" + "\n".join(lines) + "\n").encode()
    try:
        parsed = parse_prices(data)
    except UnreadableFile:
        raise AssertionError("rows with 7 fields are never unreadable") from None
    if parsed is None:
        assert all(not line for line in lines)
        return
    clean = clean_prices(parsed)
    assert clean.rows_read == len(lines)
    assert clean.rows_read == clean.table.num_rows + sum(clean.dropped.values())
    out_dates = clean.table["Date"].to_pylist()
    assert out_dates == sorted(set(out_dates))
    for name in ("Open", "High", "Low", "Close", "Adj Close", "Volume"):
        values = clean.table[name].to_pylist()
        assert None not in values and all(v >= 0 for v in values)
    strict = clean_prices(_strict_read(data.split(b"\n", 1)[1]))
    assert strict.dropped == clean.dropped
    assert strict.table.to_pylist() == clean.table.to_pylist()
