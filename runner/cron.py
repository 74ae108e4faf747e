"""Cron specs as pachd parses them: ``parse_cron(spec) -> CronSchedule`` or ``CronError``.

pachd validates a cron input's ``spec`` with src/internal/cronutil/cronutil.go
``ParseCronExpression``: ``@never`` (surrounding spaces allowed), else robfig/cron v1.2.0
``ParseStandard`` (parser.go): five fields (minute hour day-of-month month day-of-week) or a
descriptor (``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
``@hourly``, ``@every <Go duration>``). A field is a comma list of ``*``/``?``/``N``/``N-M``,
each with an optional ``/step``; months and weekdays also take three-letter names. The error
texts are robfig/cron's, so a user sees what pachd would say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: (low, high, names) of minute, hour, day of month, month, day of week (robfig/cron spec.go).
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: i for i, name in enumerate(_WEEKDAYS)}),
)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_GO_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]*)")
#: Go's strconv.Atoi: optional sign, decimal digits.
_ATOI = re.compile(r"^[+-]?[0-9]+$")


class CronError(ValueError):
    """The spec is not a cron expression pachd accepts (message as robfig/cron words it)."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed spec: the allowed values of each field, or a fixed interval, or never."""

    spec: str
    fields: tuple[frozenset[int], ...] = ()
    every_seconds: float | None = None
    never: bool = False


def parse_cron(spec: str) -> CronSchedule:
    """Parse ``spec`` as pachd does; raises ``CronError`` with robfig/cron's reason."""
    if spec.strip() == "@never":
        return CronSchedule(spec, never=True)
    if not spec:
        raise CronError("Empty spec string")
    if spec.startswith("@"):
        return _descriptor(spec)
    parts = spec.split()
    if len(parts) != len(FIELDS):
        raise CronError(f"Expected exactly {len(FIELDS)} fields, found {len(parts)}: {spec}")
    return CronSchedule(spec, fields=tuple(_field(p, f) for p, f in zip(parts, FIELDS, strict=True)))


def _descriptor(spec: str) -> CronSchedule:
    if spec in DESCRIPTORS:
        return CronSchedule(spec)
    prefix = "@every "
    if spec.startswith(prefix):
        try:
            seconds = go_duration_seconds(spec[len(prefix) :])
        except ValueError as exc:
            raise CronError(f"Failed to parse duration {spec}: {exc}") from exc
        return CronSchedule(spec, every_seconds=max(seconds, 1.0))  # robfig rounds up to 1s
    raise CronError(f"Unrecognized descriptor: {spec}")


def go_duration_seconds(text: str) -> float:
    """Go's time.ParseDuration (``"1h30m"``, ``"10s"``, ``".5s"``, ``"0"``) in seconds."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, pos = 0.0, 0
    while pos < len(s):
        match = _GO_DURATION_PART.match(s, pos)
        if not match or match.group(1) in ("", "."):
            raise ValueError(f'time: invalid duration "{text}"')
        unit = match.group(2)
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _GO_DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(match.group(1)) * _GO_DURATION_UNITS[unit]
        pos = match.end()
    return sign * total


def _field(text: str, field: tuple[str, int, int, dict[str, int]]) -> frozenset[int]:
    values: set[int] = set()
    for expr in (r for r in text.split(",") if r):  # strings.FieldsFunc drops empty ranges
        values |= _range(expr, field)
    return frozenset(values)


def _range(expr: str, field: tuple[str, int, int, dict[str, int]]) -> set[int]:
    _, low, high, names = field
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise CronError(f"Too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if len(low_and_high) == 1:
            end = high  # "N/step" means "N-max/step"
    else:
        raise CronError(f"Too many slashes: {expr}")
    if start < low:
        raise CronError(f"Beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"End of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"Beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"Step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step))


def _int_or_name(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    return _atoi(text)


def _atoi(text: str) -> int:
    if not _ATOI.match(text):
        raise CronError(f'Failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    number = int(text)
    if number < 0:
        raise CronError(f"Negative number ({number}) not allowed: {text}")
    return number
