"""The time a job spent paused by ``runner up``, so that ``datumTimeout`` counts only running time.

``runner up`` pauses a background job (SIGSTOP, ``docker pause``: runner/loop.py) while a job on
the path to a service needs its cores. A datum's ``datumTimeout`` bounds the time it runs (on
Pachyderm a context deadline around the user code, src/server/worker/driver/driver.go
``RunUserCode``), and a stopped datum does not run, so the pauses are not counted against it.

The loop owns the record: on every resume, before the job's processes get SIGCONT, it writes the
job's whole list of pauses (:class:`PauseRecord`, each a :class:`Pause` of two
``time.monotonic()`` readings) to ``.jobs/<job>/pauses/pauses.json`` (:func:`pause_file`),
atomically. CLOCK_MONOTONIC is one clock for every process of the machine, containers included (docker
gives them no time namespace), so a worker compares the pauses with its own readings.

A datum's timer is armed for the whole ``datumTimeout`` as before; only when it expires does the
worker read the record (:meth:`DatumClock.time_left`): the pauses that overlap the datum's run are
added to its deadline, and the timer is armed again for what is left. A job that was never paused
costs one failed ``open`` per datum that times out, and nothing per datum otherwise. Reading the
list instead of a running total means a datum needs no reading of the record when it starts.

Standard library only: the docker executor's container worker imports this module too.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: The folder of a job's pause record, under the job's folder; the docker executor mounts it
#: read-only into the job's containers, so they see nothing else of the state folder.
PAUSE_FOLDER = "pauses"
PAUSE_FILE = "pauses.json"


def pause_file(job_dir: Path) -> Path:
    """Where the loop writes the pauses of the job whose folder is ``job_dir``."""
    return job_dir / PAUSE_FOLDER / PAUSE_FILE


@dataclass(frozen=True)
class Pause:
    """One pause of a job: ``time.monotonic()`` when the loop stopped it and when it resumed it."""

    stopped: float
    resumed: float

    def overlap(self, start: float, end: float) -> float:
        """Seconds of this pause within ``[start, end]``."""
        return max(0.0, min(self.resumed, end) - max(self.stopped, start))


@dataclass(frozen=True)
class PauseRecord:
    """Every pause of one job so far, oldest first."""

    pauses: tuple[Pause, ...] = ()

    @property
    def total(self) -> float:
        return sum(p.resumed - p.stopped for p in self.pauses)

    def paused_between(self, start: float, end: float) -> float:
        """Seconds the job was paused within ``[start, end]`` (monotonic readings)."""
        return sum(p.overlap(start, end) for p in self.pauses)

    def with_pause(self, pause: Pause) -> PauseRecord:
        return PauseRecord((*self.pauses, pause))

    def to_json(self) -> dict[str, list[list[float]]]:
        return {"pauses": [[p.stopped, p.resumed] for p in self.pauses]}

    @classmethod
    def from_json(cls, doc: object) -> PauseRecord:
        """The record of ``doc``; ValueError naming what is wrong with it."""
        if not isinstance(doc, dict) or not isinstance(doc.get("pauses"), list):
            raise ValueError('expected {"pauses": [[stopped, resumed], ...]}')
        pauses = []
        for i, pair in enumerate(doc["pauses"]):
            numbers = isinstance(pair, list) and all(isinstance(t, int | float) for t in pair)
            if not (numbers and len(pair) == 2):
                raise ValueError(f"pauses[{i}]: expected [stopped, resumed] (two numbers), got {pair!r}")
            if pair[1] < pair[0]:
                raise ValueError(f"pauses[{i}]: resumed before it was stopped ({pair!r})")
            pauses.append(Pause(float(pair[0]), float(pair[1])))
        return cls(tuple(pauses))


def write_pauses(path: Path, record: PauseRecord) -> None:
    """Write ``record`` to ``path`` under a temporary name, then rename it: a reader sees the old
    record or the new one, never part of one. Readable by every uid (a container's user)."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record.to_json(), fh)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_pauses(path: str) -> PauseRecord:
    """The record at ``path``: empty when there is none (the job was never paused, or ``path`` is
    ""). A damaged record counts as no pause (the datum's timeout stays as strict as without a
    record) and is logged."""
    if not path:
        return PauseRecord()
    try:
        with open(path, encoding="utf-8") as fh:
            return PauseRecord.from_json(json.load(fh))
    except FileNotFoundError:
        return PauseRecord()
    except (OSError, ValueError) as exc:
        log.warning("%s: pause record not readable, pauses not counted: %s", path, exc)
        return PauseRecord()


@dataclass
class DatumClock:
    """A datum's ``datumTimeout`` in running time: the wall time since ``started`` less the time its
    job was paused meanwhile (read from ``pause_path`` only once the wall time is up)."""

    timeout: float
    pause_path: str = ""
    started: float = field(default_factory=time.monotonic)
    #: seconds paused within the datum's run, as last read (0 until the wall time is first up)
    paused: float = 0.0

    def time_left(self) -> float:
        """Seconds of running time the datum still has; <= 0 once it has used its ``timeout``."""
        now = time.monotonic()
        left = self.timeout - (now - self.started) + self.paused
        if left > 0:
            return left  # no reading while the deadline known so far is ahead
        self.paused = read_pauses(self.pause_path).paused_between(self.started, now)
        return self.timeout - (now - self.started) + self.paused

    def timed_out_message(self) -> str:
        """The datum log's line when ``time_left`` ran out (as before pauses existed, if none)."""
        return timed_out_message(self.timeout, self.paused)


def timed_out_message(timeout: float, paused: float = 0.0) -> str:
    """How a datum that used up its ``datumTimeout`` is reported; ``paused``: seconds not counted."""
    not_counted = f"; {paused:.1f}s paused by runner up not counted" if paused else ""
    return f"datum timed out after {timeout:g}s (datumTimeout{not_counted})"
