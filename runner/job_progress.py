"""How far a running job is: its datum counts (saved by the job once a second) and, for the
datums still running, the last line each one's log printed so far (a long datum such as
train's single one logs its own progress there).

The logs are the workers' append-only files under the job's staging folder
(``State.work_dir/<job>/worker-*/datum.log``, runner/datum_log.py); a finished job has none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runner.records import JobRecord, JobState
from runner.state import State

#: How much of the end of a worker's log is read to find its last line.
TAIL_BYTES = 4096


@dataclass(frozen=True)
class JobProgress:
    done: int
    total: int
    last_lines: list[str]

    def describe(self, width: int = 80) -> str:
        text = f"{self.done}/{self.total}"
        if self.last_lines:
            line = self.last_lines[0]
            text += f" | {line if len(line) <= width else line[: width - 3] + '...'}"
        return text


def _last_line(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - TAIL_BYTES))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


def job_progress(state: State, job: JobRecord) -> JobProgress | None:
    """None unless the job is running; the newest worker log's line first."""
    if job.observed_state() is not JobState.RUNNING:
        return None
    counts = job.datums
    root = state.work_dir / job.id
    logs: list[tuple[float, str]] = []
    try:
        with os.scandir(root) as entries:
            for entry in entries:
                log = os.path.join(entry.path, "datum.log")
                try:
                    logs.append((os.stat(log).st_mtime, log))
                except OSError:
                    continue
    except OSError:
        pass
    lines = [line for _, log in sorted(logs, reverse=True) if (line := _last_line(log))]
    return JobProgress(counts.processed + counts.skipped + counts.failed, counts.total, lines)
