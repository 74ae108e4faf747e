"""Cron inputs' ticks: the commits pachd makes in a cron input's repo, made by the runner.

pachd (src/server/pps/server/monitor.go ``makeCronCommits``/``cronTick``) creates the repo
``<pipeline>_<input name>`` with the pipeline and commits an empty file named by each tick's
time; with ``overwrite`` a tick replaces the earlier files. Locally, ``runner run`` makes one
tick per run (a one-shot run has no schedule to keep) and the long-running mode ticks on the
schedule (``due_ticks``). The file set of a tick is ``datums.cron_tick_files``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runner.cron import CronSchedule, parse_cron
from runner.datums import CronSource, cron_tick_files, input_tree
from runner.records import RepoKind
from runner.spec import Spec
from runner.state import State

#: The five-field form of each descriptor (robfig/cron v1.2.0 parser.go ``parseDescriptor``).
DESCRIPTOR_FIELDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: How far ahead a five-field schedule is searched for its next minute (robfig gives up after 5 years).
SEARCH_LIMIT = timedelta(days=5 * 366)


def cron_sources(spec: Spec) -> list[CronSource]:
    return [s for s in input_tree(spec).sources() if isinstance(s, CronSource)] if spec.input else []


def ensure_cron_repos(state: State, spec: Spec) -> list[str]:
    """Create the tick repo of each cron input, as pachd does with the pipeline; the new ones' names."""
    return [s.repo for s in cron_sources(spec) if state.create_repo(s.repo, kind=RepoKind.USER)]


def make_tick(state: State, source: CronSource, at: datetime) -> str:
    """Commit the tick at ``at`` into ``source.repo``; the commit's id."""
    head = state.head(source.repo)
    previous = state.manifest(source.repo, head) if head else {}
    files = cron_tick_files(previous, at, source.overwrite, state.objects.add_bytes(b""))
    return state.make_commit(source.repo, "master", files, description=f"cron tick {source.schedule}").id


def tick_now(state: State, spec: Spec, now: datetime | None = None) -> list[str]:
    """One tick of every cron input of ``spec`` (``runner run``); the tick commits."""
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    return [make_tick(state, source, at) for source in cron_sources(spec)]


def _day_matches(fields: tuple[frozenset[int], ...], when: datetime) -> bool:
    dom, dow = fields[2], fields[4]
    dom_star, dow_star = len(dom) == 31, len(dow) == 7
    in_dom, in_dow = when.day in dom, (when.weekday() + 1) % 7 in dow
    # robfig/cron spec.go dayMatches: both restricted -> either one; else both.
    return in_dom or in_dow if not (dom_star or dow_star) else in_dom and in_dow


def next_tick(schedule: CronSchedule, after: datetime) -> datetime | None:
    """The first tick strictly after ``after`` (UTC), or None for ``@never`` / no such time."""
    if schedule.never:
        return None
    if schedule.every_seconds is not None:
        return after + timedelta(seconds=schedule.every_seconds)
    fields = schedule.fields or parse_cron(DESCRIPTOR_FIELDS[schedule.spec]).fields
    when = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = after + SEARCH_LIMIT
    while when <= limit:
        if when.month not in fields[3] or not _day_matches(fields, when):
            when = (when + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if when.hour not in fields[1]:
            when = (when + timedelta(hours=1)).replace(minute=0)
            continue
        if when.minute in fields[0]:
            return when
        when += timedelta(minutes=1)
    return None


def last_tick(state: State, source: CronSource) -> datetime | None:
    """The time of the newest tick file at the head of the tick repo (None before the first)."""
    head = state.head(source.repo)
    names = sorted(state.manifest(source.repo, head)) if head else []
    for name in reversed(names):
        try:
            return datetime.fromisoformat(name.lstrip("/").replace("Z", "+00:00"))
        except ValueError:
            continue
    return None


def due_ticks(state: State, spec: Spec, now: datetime, started: datetime) -> list[str]:
    """The long-running mode: commit each cron input's tick that is due by ``now`` (the first
    tick counts from ``started``, the time the loop began watching). Returns the tick commits."""
    commits = []
    for source in cron_sources(spec):
        due = next_tick(parse_cron(source.schedule), last_tick(state, source) or started)
        if due is not None and due <= now:
            commits.append(make_tick(state, source, due))
    return commits
