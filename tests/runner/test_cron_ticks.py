"""When cron ticks fall (runner/cron_ticks.py), as robfig/cron v1.2.0 schedules them for pachd
(spec.go ``Next``, ``dayMatches``; constantdelay.go for ``@every``; parser.go descriptors) and
src/server/pps/server/monitor.go ticks a cron input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.cron import parse_cron
from runner.cron_ticks import cron_sources, due_ticks, last_tick, next_tick
from runner.spec import load_spec
from runner.state import State
from tests.runner.helpers import stage_cmd, write_spec

T0 = datetime(2026, 12, 1, 16, 31, 20, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("@every 10s", T0 + timedelta(seconds=10)),
        ("@every 1m30s", T0 + timedelta(seconds=90)),
        ("*/15 * * * *", datetime(2026, 12, 1, 16, 45, tzinfo=UTC)),
        ("0 * * * *", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("@hourly", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("@daily", datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        ("@weekly", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),  # the next Sunday
        ("@monthly", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("30 9 * * mon-fri", datetime(2026, 12, 2, 9, 30, tzinfo=UTC)),
        # dayMatches: day of month and day of week both restricted -> either one will do
        ("0 0 13 * fri", datetime(2026, 12, 4, 0, 0, tzinfo=UTC)),
        ("0 0 31 2 *", None),  # never (February has no 31st): robfig gives up too
    ],
)
def test_next_tick(spec: str, expected: datetime | None) -> None:
    assert next_tick(parse_cron(spec), T0) == expected


def test_never_has_no_tick() -> None:
    """cronutil.go: ``@never`` is accepted and never ticks."""
    assert next_tick(parse_cron("@never"), T0) is None


def test_due_ticks_commit_the_scheduled_time_once_it_has_passed(tmp_path: Path) -> None:
    state = State(tmp_path / "pfs")
    path = write_spec(
        tmp_path / "specs", "p", {"cron": {"name": "tick", "spec": "@every 10s"}}, stage_cmd("copy")
    )
    spec = load_spec(path)
    (source,) = cron_sources(spec)
    state.create_repo(source.repo)
    assert due_ticks(state, spec, now=T0 + timedelta(seconds=5), started=T0) == []
    assert len(due_ticks(state, spec, now=T0 + timedelta(seconds=12), started=T0)) == 1
    assert last_tick(state, source) == T0 + timedelta(seconds=10)
    assert "/2026-12-01T16:31:30Z" in state.manifest(source.repo, state.head(source.repo))
    assert due_ticks(state, spec, now=T0 + timedelta(seconds=15), started=T0) == []
