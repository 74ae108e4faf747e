"""``runner up --executor docker``: the live loop with every job's datums in its pipeline's image and
the serve pipeline run from stockpipe/api:0.1.0 as a container (runner/loop.py,
runner/executors/service.py ``DockerService``), on the bundled sample; and ``debug datum
--executor docker``.

Real parts only: a real Docker daemon, the project's images, the real stages, gunicorn inside the
API image published on 127.0.0.1. The reload is gunicorn's graceful one, sent into the container
with ``docker kill --signal HUP``; the test checks that the new workers serve the new model (the
sha256 of its model.txt and the answer LightGBM gives for it), not only that the train commit
moved, and that a bounded load on loopback during the swap sees no failed request, as
tests/runner/test_loop_serve.py does for the local service.

Pachyderm's counterparts (docs/conformance.md): the service's user container runs the pipeline's
image, a Kubernetes Service sends ``externalPort`` to its ``internalPort``
(src/server/pps/server/worker_rc.go, ``options.service``), the worker links ``/pfs/<input>`` to the
active data (src/server/worker/driver/driver_unix.go ``WithActiveData``), and a newer commit
cancels the user code and starts it again (src/server/worker/pipeline/service/service.go ``Run``,
``forLatestCommit``); the graceful reload in its place is the runner's one deliberate difference.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from api.devtools.server import free_port
from bench.loop import wait_served
from bench.pipeline import change_last_volume
from runner.executors.docker import JOB_LABEL, DockerExecutor
from runner.executors.service import SERVICE_LABEL, STATE_LABEL, service_container_name
from runner.records import JobState
from runner.spec import load_spec
from runner.state import State
from tests.conftest import REPO_ROOT, SAMPLE_DIR
from tests.executor.conftest import SampleRuns, copy_specs, needs_docker, run_runner
from tests.runner.helpers import runner_argv
from tests.runner.live_loop import LiveLoop, swap_under_load

pytestmark = [needs_docker(), pytest.mark.slow]
#: Generous bounds (containers on a busy 2-core machine); speed is measured in `make bench`.
FIRST_RUN = 600
CHANGE = 600
RESTART = 180
LOAD_CONNECTIONS = 4
SERVE_SPEC = REPO_ROOT / "specs" / "serve.json"


def _docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()


def _state_containers(state: Path) -> list[str]:
    """Every container (running or not) of a service of ``state`` or of one of its jobs."""
    found = _docker("ps", "-aq", "--filter", f"label={STATE_LABEL}={os.path.realpath(state)}").split()
    for job in State(state).list_jobs():
        found += _docker("ps", "-aq", "--filter", f"label={JOB_LABEL}={job.id}").split()
    return found


def _put_sample(state: Path, specs: Path) -> None:
    for args in (
        ("put", "file", "-r", "raw@master:/", "-f", str(SAMPLE_DIR)),
        ("update", "pipeline", "-f", str(specs)),
    ):
        done = run_runner(state, *args)
        assert done.code == 0, done.err


class DockerLoop:
    """``runner up --executor docker`` on a state folder holding the bundled sample."""

    def __init__(self, root: Path) -> None:
        self.state = root / "state"
        self.port = free_port()
        self.logs = 0
        self.root = root
        self.loop: LiveLoop | None = None

    def start(self) -> LiveLoop:
        self.logs += 1
        self.loop = LiveLoop(
            self.state, self.root / f"up-{self.logs}.log", "--executor", "docker", "--port", str(self.port)
        )
        return self.loop


@pytest.fixture(scope="module")
def docker_loop(stage_images: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerLoop]:
    root = tmp_path_factory.mktemp("up-docker")
    live = DockerLoop(root)
    specs = copy_specs(root / "specs")
    _put_sample(live.state, specs)
    try:
        yield live
    finally:
        if live.loop is not None:
            live.loop.kill()
        for container in _state_containers(live.state):
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def test_up_serves_from_the_container_and_swaps_models_without_a_failed_request(
    docker_loop: DockerLoop, tmp_path: Path
) -> None:
    loop = docker_loop.start()
    port = docker_loop.port
    state = State(docker_loop.state)
    loop.wait_for(r"runner up: watching", FIRST_RUN)
    first_raw = state.head("raw")
    assert first_raw
    first = wait_served(state, port, first_raw, FIRST_RUN)
    name = service_container_name(load_spec(SERVE_SPEC), docker_loop.state)
    commit = first["train_commit"]
    loop.wait_for(rf"serve: started on train@{commit} at http://127.0.0.1:{port} \(container {name}", 10)
    assert "stale container" not in loop.output()  # none was there to remove
    # the jobs ran in the images: each job's log names its worker containers and their image
    for pipeline, image in (("ingest", "stockpipe/ingest:0.1.0"), ("train", "stockpipe/train:0.1.0")):
        job = state.list_jobs(pipeline)[-1]
        assert f"({image}) started: uid 1000" in (state.job_dir(job.id) / "job.log").read_text()
    # what answers on the port is the API container: running, published on loopback, as UID 1000
    assert _docker("ps", "-q", "--filter", f"name=^/{name}$", "--filter", f"label={SERVICE_LABEL}=serve")
    assert _docker("port", name, "8000/tcp").splitlines() == [f"127.0.0.1:{port}"]
    assert _docker("exec", name, "id", "-u") == "1000"
    assert (
        _docker("exec", name, "cat", "/pfs/train/model.txt")
        == (state.tree("train", first["train_commit"]) / "model.txt").read_text().strip()
    )

    changed = tmp_path / "A.csv"
    changed.write_text(change_last_volume((SAMPLE_DIR / "stocks" / "A.csv").read_text()).text)

    def put() -> None:
        done = run_runner(docker_loop.state, "put", "file", "raw@master:/stocks/A.csv", "-f", str(changed))
        assert done.code == 0, done.err

    swap_under_load(loop, state, port, first, put, CHANGE, LOAD_CONNECTIONS)


def test_sigterm_leaves_no_container_and_the_next_start_resumes(docker_loop: DockerLoop) -> None:
    if docker_loop.loop is None or docker_loop.loop.process.poll() is not None:
        pytest.skip("needs the loop of the test before (run the module, not this test alone)")
    state = State(docker_loop.state)
    loop = docker_loop.loop
    served = state.head("train")
    code, survivors = loop.stop(signal.SIGTERM)
    assert code == 143
    assert "runner up: stopped (SIGTERM)" in loop.output()
    assert survivors == [], [p.cmdline() for p in survivors]
    assert _state_containers(docker_loop.state) == []
    interrupted = {job.pipeline for job in state.list_jobs() if job.state is JobState.KILLED}

    # a container left with the service's name (as by a loop killed with SIGKILL while the daemon
    # was busy) does not block the next start: it is removed, and the loop serves again
    name = service_container_name(load_spec(SERVE_SPEC), docker_loop.state)
    _docker("run", "-d", "--name", name, "--label", f"{STATE_LABEL}={os.path.realpath(docker_loop.state)}",
            "stockpipe/api:0.1.0", "sleep", "600")  # fmt: skip
    again = docker_loop.start()
    again.wait_for(rf"serve: removed a stale container {name}", RESTART)
    again.wait_for(rf"serve: started on train@{served}", RESTART)
    raw = state.head("raw")
    assert raw
    wait_served(state, docker_loop.port, raw, RESTART)
    # only what the SIGTERM interrupted runs again (evaluate, when it was still running); every
    # finished job's commit is reused
    restarted = set(re.findall(r"^\S+ (\w+): job started", again.output(), re.M))
    assert restarted <= interrupted, (restarted, interrupted)
    code, survivors = again.stop(signal.SIGTERM)
    assert code == 143 and survivors == []
    assert _state_containers(docker_loop.state) == []


def test_a_missing_image_is_one_line_and_nothing_starts(stage_images: list[str], tmp_path: Path) -> None:
    specs = copy_specs(tmp_path / "specs")
    serve = json.loads((specs / "serve.json").read_text())
    serve["transform"]["image"] = "stockpipe/absent:0.0.0"
    (specs / "serve.json").write_text(json.dumps(serve))
    state = tmp_path / "state"
    _put_sample(state, specs)
    done = run_runner(state, "up", "--executor", "docker", "--port", str(free_port()), timeout=120)
    assert done.code == 1
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done.err
    assert lines[0].startswith("runner: docker executor: image stockpipe/absent:0.0.0 of pipeline serve")
    assert "`make images`" in lines[0]
    assert "job started" not in done.out
    assert State(state).list_jobs() == []


def test_no_daemon_is_one_line(tmp_path: Path) -> None:
    """A daemon that does not answer (DOCKER_HOST naming a socket nobody listens on)."""
    done = run_runner(
        tmp_path / "state", "up", "--executor", "docker", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    )
    assert done.code == 1
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done.err
    assert lines[0].startswith("runner: docker executor: no Docker daemon reachable")
    assert "start it" in lines[0]


def test_debug_datum_runs_in_the_pipelines_image(sample_runs: SampleRuns) -> None:
    """``debug datum --executor docker`` runs the ingest datum of A.csv in stockpipe/ingest:0.1.0, through
    the executor's container worker, and writes what the job committed for it."""
    state = State(sample_runs.docker)
    job = state.list_jobs("ingest")[-1]
    datum = next(d for d in state.datum_list(job.id) if any(i.matched.endswith("/A.csv") for i in d.inputs))
    done = run_runner(sample_runs.docker, "debug", "datum", job.id, datum.id, "--executor", "docker")
    assert done.code == 0, done.err
    assert "running in stockpipe/ingest:0.1.0: python3 -m stages.ingest" in done.err
    assert "(stockpipe/ingest:0.1.0) started: uid 1000" in done.err
    out = sample_runs.docker / ".debug" / datum.id / "pfs" / "out"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    parquets = [path for path in written if path.endswith(".parquet")]
    assert parquets, written
    head = state.head("ingest")
    assert head
    for path in parquets:
        committed = state.tree("ingest", head) / path
        pd.testing.assert_frame_equal(pd.read_parquet(out / path), pd.read_parquet(committed))
    assert _docker("ps", "-aq", "--filter", f"label={JOB_LABEL}=debug-{datum.id[:12]}") == ""


def test_the_jobs_thread_budget_and_niceness_reach_its_containers(
    stage_images: list[str], tmp_path: Path
) -> None:
    """``up`` gives each job ``OMP_NUM_THREADS`` (its cores) and runs background jobs at nice 19
    (runner/loop.py). The datum containers are children of the daemon, not of the job, so the docker
    executor passes the variable on and turns the niceness into a lower ``--cpu-shares`` (CFS weight
    15 of 1024 at nice 19). Checked here with the runner started as a background job is: niced, with
    the variable set; the datum reports what its container got."""
    state = tmp_path / "pfs"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a\n")
    spec = {
        "pipeline": {"name": "probe"},
        "input": {"pfs": {"repo": "things", "glob": "/*"}},
        "transform": {
            "image": "stockpipe/ingest:0.1.0",
            "cmd": ["sh"],
            "stdin": [
                'echo "$OMP_NUM_THREADS" > /pfs/out/omp',
                "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu.weight 2>/dev/null > /pfs/out/shares",
                "true",
            ],
        },
        "resourceRequests": {"cpu": 2},
    }
    (tmp_path / "probe.json").write_text(json.dumps(spec))
    assert run_runner(state, "put", "file", "-r", "things@master:/", "-f", str(tmp_path / "in")).code == 0
    assert run_runner(state, "create", "pipeline", "-f", str(tmp_path / "probe.json")).code == 0
    done = subprocess.run(
        ["nice", "-n", "19", *runner_argv(state, "run", "--executor", "docker")],
        cwd=REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = state / "probe" / "master"
    assert (out / "omp").read_text() == "1\n"
    shares = (out / "shares").read_text().split()
    if Path("/sys/fs/cgroup/cpu/cpu.shares").exists():  # cgroup v1: the shares as docker set them
        assert shares == [str(round(2 * 1024 * 15 / 1024))]


def test_pause_and_resume_freeze_a_jobs_containers(stage_images: list[str]) -> None:
    """Pausing a background job (SIGSTOP to its process groups) also freezes its datum containers,
    which SIGSTOP does not reach: ``docker pause`` by the job's label, undone by ``docker unpause``."""
    job_id = f"test-pause-{os.getpid()}"
    label = f"{JOB_LABEL}={job_id}"
    container = _docker("run", "-d", "--rm", "--label", label, "stockpipe/api:0.1.0", "sleep", "300")
    executor = DockerExecutor()
    try:
        executor.pause(job_id)
        assert _docker("inspect", "--format", "{{.State.Paused}}", container) == "true"
        executor.resume(job_id)
        assert _docker("inspect", "--format", "{{.State.Paused}}", container) == "false"
    finally:
        executor.finish(job_id)
    assert _docker("ps", "-aq", "--filter", f"label={JOB_LABEL}={job_id}") == ""
