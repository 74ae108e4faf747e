"""``datumTimeout`` counts the time a datum runs, not the time ``runner up`` kept its job paused.

On Pachyderm the timeout is a context deadline around the user code (src/server/worker/datum/datum.go
``(*Datum).Run``: ``context.WithTimeout(ctx, d.timeout)``, set from the spec's ``datumTimeout`` in
src/server/worker/pipeline/transform/worker.go ``forEachDatum``; the code is started with
``exec.CommandContext`` in src/server/worker/driver/driver.go ``RunUserCode``); nothing there pauses
a job, so the whole deadline is running time. The local runner pauses background jobs (SIGSTOP,
``docker pause``: runner/loop.py) and gives the time back (runner/pause_clock.py). See
docs/conformance.md ("datumTimeout and paused jobs").

Each test runs a real ``python -m runner run`` in a session of its own, over a datum whose code
sleeps in 0.1 s steps (wall time that stops while the process is stopped), and pauses the job as
the loop does: SIGSTOP to the job's process groups (and ``docker pause`` of its containers), the
pause written to the job's pause record, then SIGCONT. The datum's code runs warm (a ``python3 -m``
module) or as a subprocess (``python3 -c``), on the local executor and, when a daemon answers, in
an image.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.children import die_with_parent, signal_tree
from runner.executors import Executor, LocalExecutor
from runner.executors.docker import DockerExecutor
from runner.executors.docker_client import docker_problem, image_facts
from runner.executors.kinds import ExecutorUnavailable
from runner.pause_clock import Pause, PauseRecord, pause_file, read_pauses, write_pauses
from runner.records import JobState
from runner.state import State
from tests.conftest import REPO_ROOT
from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, runner_argv, stage_cmd, write_files, write_spec

#: Generous bounds for waits (a busy machine); nothing here measures speed.
WAIT = 120.0
#: The image of the docker variants (any image with python3; this one runs as UID 1000).
IMAGE = "stockpipe/ingest:0.1.0"


def _docker_problem() -> str | None:
    problem = docker_problem()
    if problem is None:
        try:
            image_facts(IMAGE, "(test)")
        except ExecutorUnavailable as exc:
            return str(exc)
    return problem


DOCKER_PROBLEM = _docker_problem()
EXECUTORS = [
    pytest.param("local", id="local"),
    pytest.param(
        "docker",
        id="docker",
        marks=pytest.mark.skipif(
            DOCKER_PROBLEM is not None, reason=f"docker variant skipped: {DOCKER_PROBLEM}"
        ),
    ),
]


def pace_code(steps: int) -> str:
    """Python that marks its start in /pfs/out, sleeps ``steps`` times 0.1 s, then writes /pfs/out/done
    (what tests/runner/stages/pace.py does, for images that hold no test stage)."""
    return (
        "import pathlib, time; pathlib.Path('/pfs/out/started').touch(); "
        f"[time.sleep(0.1) for _ in range({steps})]; pathlib.Path('/pfs/out/done').write_text('ok')"
    )


def pace_cmd(path: str, executor: str, steps: int) -> list[str]:
    """The datum's cmd: warm (a ``python3 -m`` module) or a subprocess (``python3 -c``). Warm in an
    image is ``python3 -m timeit`` over the same code (its bare ``except:`` catches a timeout, and
    the datum still fails as timed out: test_a_warm_datum_that_catches_its_timeout_still_times_out)."""
    if path == "subprocess":
        return ["python3", "-c", pace_code(steps)]
    if executor == "docker":
        return ["python3", "-m", "timeit", "-n", "1", "-r", "1", pace_code(steps)]
    return stage_cmd("pace", "/pfs/out", str(steps))


@dataclass
class BackgroundRun:
    """``python -m runner run`` in a session of its own (its group is the job's, as under ``up``)."""

    state: Path
    process: subprocess.Popen[bytes]
    log: Path

    def finish(self) -> tuple[int, str]:
        code = self.process.wait(timeout=WAIT)
        return code, self.log.read_text(errors="replace")

    def job_id(self) -> str:
        jobs = [j for j in State(self.state).list_jobs("pace") if j.state is JobState.RUNNING]
        assert len(jobs) == 1, jobs
        return jobs[0].id

    def wait_datum_started(self) -> None:
        deadline = time.monotonic() + WAIT
        while not list(self.state.glob(".work/*/worker-*/pfs/out/started")):
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the datum did not start"
            time.sleep(0.05)

    def pause(self, executor: Executor, seconds: float) -> Pause:
        """Pause the job ``seconds`` as runner/loop.py does (``_pause_background``, ``_resume``)."""
        job_id = self.job_id()
        stopped = time.monotonic()
        assert signal_tree(self.process.pid, signal.SIGSTOP)
        executor.pause(job_id)
        time.sleep(seconds)
        pause = Pause(stopped, time.monotonic())
        write_pauses(pause_file(State(self.state).job_dir(job_id)), PauseRecord((pause,)))
        executor.resume(job_id)
        signal_tree(self.process.pid, signal.SIGCONT)
        return pause


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[BackgroundRun]]:
    started: list[BackgroundRun] = []
    yield started
    for run in started:
        if run.process.poll() is None:
            signal_tree(run.process.pid, signal.SIGCONT)
            run.process.kill()
            run.process.wait()


def _pace_pipeline(
    runner: Runner, tmp_path: Path, path: str, executor: str, steps: int, timeout: str
) -> None:
    write_files(tmp_path / "data", {"f.txt": "x\n"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    image = IMAGE if executor == "docker" else "test/pace:1"
    spec = write_spec(
        tmp_path / "specs", "pace", pfs("raw", "/*"), pace_cmd(path, executor, steps),
        datumTimeout=timeout, datumTries=1, transform={"image": image},
    )  # fmt: skip
    runner("create", "pipeline", "-f", str(spec))


def _start_run(runs: list[BackgroundRun], runner: Runner, tmp_path: Path, executor: str) -> BackgroundRun:
    log = tmp_path / "run.log"
    with open(log, "wb") as fh:
        process = subprocess.Popen(
            runner_argv(runner.state, "run", "--executor", executor),
            cwd=REPO_ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    run = BackgroundRun(runner.state, process, log)
    runs.append(run)
    return run


def _executor(kind: str) -> Executor:
    return DockerExecutor() if kind == "docker" else LocalExecutor()


@pytest.mark.slow
@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("path", ["warm", "subprocess"])
def test_a_datum_paused_longer_than_its_timeout_still_gets_its_running_time(
    runner: Runner, tmp_path: Path, runs: list[BackgroundRun], path: str, executor: str
) -> None:
    """datumTimeout 3 s, a datum that needs about 1.5 s of running time, stopped 4 s midway."""
    _pace_pipeline(runner, tmp_path, path, executor, steps=15, timeout="3s")
    run = _start_run(runs, runner, tmp_path, executor)
    run.wait_datum_started()
    time.sleep(0.3)
    pause = run.pause(_executor(executor), seconds=4.0)
    code, output = run.finish()
    assert code == 0, output
    assert runner.head_files("pace") == {"started": "", "done": "ok"}
    assert pause.resumed - pause.stopped >= 4.0


@pytest.mark.parametrize("path", ["warm", "subprocess"])
def test_a_datum_never_paused_times_out_as_before(runner: Runner, tmp_path: Path, path: str) -> None:
    """A job never paused: the same one-line failure, at the wall-clock timeout."""
    _pace_pipeline(runner, tmp_path, path, "local", steps=300, timeout="1s")
    failed = runner("run", expect=1).err
    assert "datum timed out after 1s (datumTimeout)" in failed and "paused" not in failed, failed
    assert runner.head_files("pace") == {}


#: Lines of a ``python3 -m timeit`` statement that catches everything while it sleeps: a warm
#: datum's ``DatumTimeout`` is swallowed and it runs on.
DEAF_LINES = [
    "import time",
    "while True:",
    "    try:",
    "        time.sleep(0.05)",
    "    except BaseException:",
    "        pass",
]


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("stage", ["catches-and-exits", "catches-and-runs-on"])
def test_a_warm_datum_that_catches_its_timeout_still_times_out(
    runner: Runner, tmp_path: Path, stage: str, executor: str
) -> None:
    """Pachyderm's timeout context kills the datum's process whatever it does (driver.go RunUserCode,
    exec.CommandContext). A warm datum gets DatumTimeout raised in it: ``timeit``'s bare ``except``
    catches it and exits 1, and the datum still fails as timed out; a datum that catches it and runs
    on has its worker process ended TIMEOUT_GRACE_SECONDS later, and fails saying so."""
    write_files(tmp_path / "data", {"f.txt": "x\n"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    lines = [pace_code(300)] if stage == "catches-and-exits" else DEAF_LINES
    # The deaf loop must be running when the timeout fires: raised earlier (timeit still compiling,
    # on a loaded machine), DatumTimeout ends the datum the usual way. 1 s was too short once under
    # `make test`'s two processes (docker variant).
    timeout = "1s" if stage == "catches-and-exits" else "4s"
    image = IMAGE if executor == "docker" else "test/deaf:1"
    cmd = ["python3", "-m", "timeit", "-n", "1", "-r", "1", *lines]
    spec = write_spec(
        tmp_path / "specs",
        "deaf",
        pfs("raw", "/*"),
        cmd,
        datumTimeout=timeout,
        datumTries=1,
        transform={"image": image},
    )
    runner("create", "pipeline", "-f", str(spec))
    failed = runner("run", "--executor", executor, expect=1).err
    if stage == "catches-and-exits":
        assert f"datum timed out after {timeout} (datumTimeout)" in failed, failed
    else:
        assert "did not stop when told" in failed and "datumTimeout" in failed, failed
    assert runner.head_files("deaf") == {}


@pytest.mark.slow
@pytest.mark.parametrize("path", ["warm", "subprocess"])
def test_a_paused_datum_that_runs_past_its_timeout_still_fails(
    runner: Runner, tmp_path: Path, runs: list[BackgroundRun], path: str
) -> None:
    """The pause is given back, no more: 2 s of running time, then the datum fails, saying so."""
    _pace_pipeline(runner, tmp_path, path, "local", steps=300, timeout="2s")
    run = _start_run(runs, runner, tmp_path, "local")
    run.wait_datum_started()
    pause = run.pause(LocalExecutor(), seconds=2.5)
    code, output = run.finish()
    assert code == 1, output
    # the whole pause was given back (it lies within the datum's run), and only the pause
    paused = f"{pause.resumed - pause.stopped:.1f}s"
    assert f"datum timed out after 2s (datumTimeout; {paused} paused by runner up not counted)" in output
    jobs = runner.jobs("pace")
    assert [j["state"] for j in jobs] == ["failure"], jobs


def test_the_pause_record_round_trips_and_counts_only_the_pauses_within_a_datum(tmp_path: Path) -> None:
    record = PauseRecord((Pause(10.0, 14.0), Pause(20.0, 21.5)))
    path = tmp_path / "job" / "pauses" / "pauses.json"
    write_pauses(path, record)
    assert read_pauses(str(path)) == record
    assert path.stat().st_mode & 0o777 == 0o644  # a container's user reads it
    assert record.total == 5.5
    assert record.paused_between(0.0, 30.0) == 5.5
    assert record.paused_between(12.0, 20.5) == 2.5  # the end of one, the start of the other
    assert record.paused_between(15.0, 19.0) == 0.0
    assert read_pauses(str(tmp_path / "none.json")) == PauseRecord()
    assert read_pauses("") == PauseRecord()


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"pauses": [[1.0]]}, "pauses[0]: expected [stopped, resumed] (two numbers)"),
        ({"pauses": [[2.0, 1.0]]}, "pauses[0]: resumed before it was stopped"),
        ([], 'expected {"pauses": [[stopped, resumed], ...]}'),
    ],
)
def test_a_damaged_pause_record_counts_as_no_pause_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, doc: object, why: str
) -> None:
    path = tmp_path / "pauses.json"
    path.write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        assert read_pauses(str(path)) == PauseRecord()
    assert f"{path}: pause record not readable, pauses not counted: {why}" in caplog.text


def test_a_datum_container_sees_only_the_pause_records_folder_read_only(tmp_path: Path) -> None:
    """The docker executor mounts the folder of the job's pause record, read-only, where the container
    worker reads it (no daemon needed: the ``docker run`` command line)."""
    from runner.executors.container_worker import CONTAINER_PAUSE_FOLDER
    from runner.executors.docker import ContainerPlan
    from runner.executors.docker_client import ImageFacts

    plan = ContainerPlan(ImageFacts(IMAGE, "1000", "/"), "pace", "j" * 32, ())
    folder = pause_file(tmp_path / ".jobs" / ("j" * 32)).parent
    command = plan.command("name", tmp_path / "pfs", tmp_path / "channel", folder)
    assert f"type=bind,source={folder.resolve()},target={CONTAINER_PAUSE_FOLDER},readonly" in command
    assert not any(CONTAINER_PAUSE_FOLDER in arg for arg in plan.command("name", tmp_path, tmp_path))
