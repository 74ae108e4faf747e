"""Cron specs as pachd parses them: src/internal/cronutil/cronutil.go ParseCronExpression, which
is robfig/cron v1.2.0 ParseStandard (parser.go) plus ``@never``."""

from __future__ import annotations

import pytest

from runner.cron import CronError, go_duration_seconds, parse_cron


@pytest.mark.parametrize(
    "spec",
    [
        "* * * * *",
        "*/10 * * * *",
        "0 0 1 1 *",
        "0-30/5 9-17 * * mon-fri",
        "15 3 * JAN,jul SUN",
        "5/15 * ? * *",  # '?' is '*'; "N/step" runs N to the maximum
        "0 0 1,,15 * *",  # strings.FieldsFunc drops the empty range
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
        "@every 10s",
        "@every 1h30m",
        "@every 1.5m",
        "@never",
        "   @never   ",  # cronutil trims spaces around @never only
    ],
)
def test_specs_pachd_accepts(spec: str) -> None:
    parse_cron(spec)


def test_fields_expand_as_robfig_cron_expands_them() -> None:
    schedule = parse_cron("0-30/10 */6 1 jan-mar 1-5/2")
    minute, hour, dom, month, dow = schedule.fields
    assert minute == {0, 10, 20, 30} and hour == {0, 6, 12, 18} and dom == {1}
    assert month == {1, 2, 3} and dow == {1, 3, 5}
    assert parse_cron("5/20 * * * *").fields[0] == {5, 25, 45}
    assert parse_cron("@every 10s").every_seconds == 10.0
    assert parse_cron("@every 100ms").every_seconds == 1.0  # constantdelay.go: rounded up to 1s
    assert parse_cron("@never").never


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "Empty spec string"),
        ("* * * *", "Expected exactly 5 fields, found 4: * * * *"),
        ("0 * * * * *", "Expected exactly 5 fields, found 6"),  # no seconds field in ParseStandard
        ("60 * * * *", "End of range (60) above maximum (59): 60"),
        ("* 24 * * *", "End of range (24) above maximum (23): 24"),
        ("* * 0 * *", "Beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "End of range (13) above maximum (12): 13"),
        ("* * * * 7", "End of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "Beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "Step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "Too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "Too many slashes: */2/3"),
        ("x * * * *", "Failed to parse int from x"),
        ("@every", "Unrecognized descriptor: @every"),
        ("@every 10", 'Failed to parse duration @every 10: time: missing unit in duration "10"'),
        ("@every 10y", 'time: unknown unit "y" in duration "10y"'),
        ("@every ten", "Failed to parse duration @every ten"),
        ("@fortnightly", "Unrecognized descriptor: @fortnightly"),
        (" @daily", "Expected exactly 5 fields, found 1"),  # only @never is trimmed
    ],
)
def test_specs_pachd_refuses_with_robfig_crons_reason(spec: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(spec)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("1h30m", 5400), (".5s", 0.5), ("1.5m", 90), ("250ms", 0.25), ("0", 0), ("-1m", -60)],
)
def test_go_durations(text: str, seconds: float) -> None:
    """Go's time.ParseDuration, which robfig/cron's @every uses."""
    assert go_duration_seconds(text) == pytest.approx(seconds)
