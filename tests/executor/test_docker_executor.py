"""``run --executor docker``: each pipeline's datums in its image, with the local executor's outputs.

As Pachyderm's worker runs user code (src/server/worker/driver/driver.go ``RunUserCode``): the
spec's cmd, stdin and env, in the image as its user, inputs at /pfs/<input>, output at /pfs/out.
Real images, real stages, the bundled sample; skipped with one stated reason without a daemon.
"""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runner.executors.resources import SHARES_PER_CPU
from tests.conftest import REPO_ROOT
from tests.executor.conftest import BATCH_PIPELINES, DOCKER_PROBLEM, SampleRuns, needs_docker, run_runner

#: Files whose content records the run itself (times, memory, the random commit ids), compared by name.
RUN_RECORDS = {"train/train.log", "evaluate/evaluate.log"}
#: Keys of JSON outputs that measure the run or name it: times, memory, the Python patch
#: release (the image's), the ids of input commits (new random ids in each state folder).
RUN_KEYS = re.compile(r"seconds|latency|rss|trained_at$|^trained_on$|^python$|_commit$")
#: Reference RandomForest scores: sums that may differ in the last bit between the image's build
#: of scikit-learn and the machine's (measured on the sample: 1 of 8,425 rows, relative 2e-16).
LAST_BIT_COLUMNS = {"random_forest_reference"}
PIPELINES = BATCH_PIPELINES
#: The UID of every image's runtime user (Pachyderm 2.x's worker UID, pachyderm/pachyderm#6417).
IMAGE_UID = 1000


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _without_run_keys(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_run_keys(v) for k, v in value.items() if not RUN_KEYS.search(k)}
    if isinstance(value, list):
        return [_without_run_keys(v) for v in value]
    return value


def _assert_same_table(local: pa.Table, docker: pa.Table, what: str) -> None:
    assert local.schema.equals(docker.schema), f"{what}: schemas differ"
    assert local.num_rows == docker.num_rows, f"{what}: row counts differ"
    for name in local.column_names:
        if name in LAST_BIT_COLUMNS:
            assert np.allclose(local[name].to_numpy(), docker[name].to_numpy(), rtol=1e-12, atol=0), what
        else:
            assert local[name].equals(docker[name]), f"{what}: column {name} differs"


@needs_docker()
@pytest.mark.slow
@pytest.mark.parametrize("pipeline", PIPELINES)
def test_docker_outputs_equal_the_local_executors(sample_runs: SampleRuns, pipeline: str) -> None:
    local, docker = sample_runs.local / pipeline / "master", sample_runs.docker / pipeline / "master"
    files = _files(local)
    assert files, f"the local run of {pipeline} wrote nothing"
    assert _files(docker) == files
    for relative in sorted(files):
        if f"{pipeline}/{relative}" in RUN_RECORDS:
            continue
        ours, theirs = local / relative, docker / relative
        if relative.endswith(".parquet"):
            _assert_same_table(pq.read_table(ours), pq.read_table(theirs), f"{pipeline}: {relative}")
        elif relative.endswith(".json"):
            assert _without_run_keys(json.loads(ours.read_bytes())) == _without_run_keys(
                json.loads(theirs.read_bytes())
            ), f"{pipeline}: {relative} differs beyond the run's times and ids"
        else:
            assert ours.read_bytes() == theirs.read_bytes(), f"{pipeline}: {relative} differs"


@needs_docker()
@pytest.mark.slow
def test_the_models_predict_the_same(sample_runs: SampleRuns) -> None:
    """Both model.txt files loaded by the machine's LightGBM predict the same on every feature row."""
    import lightgbm

    features = pa.concat_tables(
        pq.read_table(p) for p in sorted((sample_runs.local / "features" / "master").rglob("*.parquet"))
    )
    rows = features.select(["vol_moving_avg", "adj_close_rolling_med"]).to_pandas().dropna()
    assert len(rows) > 40_000
    predictions = [
        lightgbm.Booster(model_file=str(state / "train" / "master" / "model.txt")).predict(rows.to_numpy())
        for state in (sample_runs.local, sample_runs.docker)
    ]
    assert np.array_equal(predictions[0], predictions[1])


@needs_docker()
@pytest.mark.slow
def test_every_datum_ran_as_the_images_non_root_user(sample_runs: SampleRuns) -> None:
    """Files are owned by who wrote them: every output of the docker run by the image's UID 1000."""
    for pipeline in PIPELINES:
        head = sample_runs.docker / pipeline / "master"
        owners = {p.stat().st_uid for p in head.rglob("*") if p.is_file()}
        assert owners == {IMAGE_UID}, f"{pipeline}: outputs owned by {owners}"
    log = run_runner(sample_runs.docker, "logs", "-p", "ingest").out
    started = re.findall(
        r"runner: worker container (\S+) \(stockpipe/ingest:0\.1\.0\) started: uid (\d+)", log
    )
    assert started and {uid for _, uid in started} == {str(IMAGE_UID)}


@needs_docker()
@pytest.mark.slow
def test_each_worker_is_one_warm_container(sample_runs: SampleRuns) -> None:
    """ingest's 14 datums and features' 16 run in at most one container per worker, not one per datum."""
    for pipeline, datums in (("ingest", 14), ("features", 16)):
        log = run_runner(sample_runs.docker, "logs", "-p", pipeline).out
        containers = set(re.findall(r"runner: worker container (\S+) ", log))
        processed = len({line.split()[0] for line in log.splitlines()[1:] if line.strip()})
        assert processed >= datums - 1  # every datum logged (the job header aside)
        assert 1 <= len(containers) <= 2, f"{pipeline}: {len(containers)} containers for {datums} datums"


def test_the_datum_messages_go_over_a_mounted_socket_not_dockers_stdio(tmp_path: Path) -> None:
    """The worker's container gets no stdin from the runner (no ``-i``): its messages go over a Unix
    socket in a mounted folder, process to process, not through the daemon's attach stream (which
    cost 4.9 CPU s of dockerd and 27.6 s against 17.2 s for 8,049 small ingest datums)."""
    from runner.executors.container_worker import CHANNEL_ENV
    from runner.executors.docker import CHANNEL_SOCKET, CONTAINER_CHANNEL, ContainerPlan
    from runner.executors.docker_client import ImageFacts

    plan = ContainerPlan(ImageFacts("stockpipe/ingest:0.1.0", "1000", "/"), "ingest", "j" * 32, ())
    command = plan.command("name", tmp_path / "pfs", tmp_path / "channel")
    assert "-i" not in command and "--interactive" not in command
    channel = os.path.realpath(tmp_path / "channel")
    assert f"type=bind,source={channel},target={CONTAINER_CHANNEL}" in command
    assert f"{CHANNEL_ENV}={CONTAINER_CHANNEL}/{CHANNEL_SOCKET}" in command


def test_a_jobs_left_channel_folders_are_removed_when_it_finishes() -> None:
    """A worker killed with SIGKILL cannot remove its channel folder; the job's end does
    (``DockerExecutor.finish`` calls ``remove_channels``), and only that job's."""
    from runner.executors.docker import channel_prefix, remove_channels

    mine, other = "a" * 32, "b" * 32
    left = [Path(tempfile.mkdtemp(prefix=channel_prefix(mine))) for _ in range(2)]
    (left[0] / "worker.sock").write_text("")
    kept = Path(tempfile.mkdtemp(prefix=channel_prefix(other)))
    try:
        assert remove_channels(mine) == 2
        assert not any(folder.exists() for folder in left) and kept.is_dir()
    finally:
        shutil.rmtree(kept, ignore_errors=True)


@needs_docker()
@pytest.mark.slow
def test_any_spec_runs_in_its_image_with_cmd_stdin_env_and_resources(
    stage_images: list[str], tmp_path: Path
) -> None:
    """A spec that is no stage of the project: shell lines on stdin (so a subprocess, not warm), the
    datum's variables, and the cgroup limits docker set from resourceRequests/resourceLimits."""
    state = tmp_path / "pfs"
    (tmp_path / "in").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "in" / name).write_text(f"content of {name}\n")
    spec = {
        "pipeline": {"name": "probe"},
        "input": {"pfs": {"repo": "things", "glob": "/*"}},
        "transform": {
            "image": "stockpipe/ingest:0.1.0",
            "cmd": ["sh"],
            "stdin": [
                'd="/pfs/out/$(basename "$things")"; mkdir -p "$d"',
                'id -u > "$d/uid"; pwd > "$d/cwd"; echo "$GREETING" > "$d/env"; cp "$things" "$d/input"',
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max"
                ' 2>/dev/null > "$d/mem"',
                'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null > "$d/cpu"',
                'cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null > "$d/shares"',
                'cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes 2>/dev/null > "$d/soft"; true',
            ],
            "env": {"GREETING": "hello from the spec"},
        },
        "resourceRequests": {"cpu": 0.25, "memory": "64Mi"},
        "resourceLimits": {"cpu": 0.5, "memory": "256Mi"},
    }
    (tmp_path / "probe.json").write_text(json.dumps(spec))
    assert run_runner(state, "put", "file", "-r", "things@master:/", "-f", str(tmp_path / "in")).code == 0
    assert run_runner(state, "create", "pipeline", "-f", str(tmp_path / "probe.json")).code == 0
    done = run_runner(state, "run", "--executor", "docker")
    assert done.code == 0, done.out + done.err
    for name in ("a.txt", "b.txt"):
        out = state / "probe" / "master" / name
        assert (out / "uid").read_text() == f"{IMAGE_UID}\n"
        assert (out / "cwd").read_text() == "/app\n"  # the image's WORKDIR
        assert (out / "env").read_text() == "hello from the spec\n"
        assert (out / "input").read_text() == f"content of {name}\n"
        assert (out / "mem").read_text().split()[0] == str(256 * 2**20)
        quota = (out / "cpu").read_text().split()
        assert quota[0] == "50000"  # half of the 100 ms CFS period: resourceLimits.cpu 0.5
        shares = (out / "shares").read_text().split()
        if shares:  # cgroup v1 only
            assert shares == [str(round(0.25 * SHARES_PER_CPU))]
        soft = (out / "soft").read_text().split()
        if soft:  # cgroup v1: the memory request sets no soft limit (as kubelet sets none)
            assert int(soft[0]) > 2**40


@needs_docker()
def test_a_missing_image_is_one_line_naming_it_and_how_to_build_it(tmp_path: Path) -> None:
    state = tmp_path / "pfs"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.txt").write_text("x\n")
    spec = {
        "pipeline": {"name": "lost"},
        "input": {"pfs": {"repo": "things", "glob": "/*"}},
        "transform": {"image": "stockpipe/no-such-image:0.0.0", "cmd": ["true"]},
    }
    (tmp_path / "lost.json").write_text(json.dumps(spec))
    assert run_runner(state, "put", "file", "-r", "things@master:/", "-f", str(tmp_path / "in")).code == 0
    assert run_runner(state, "create", "pipeline", "-f", str(tmp_path / "lost.json")).code == 0
    done = run_runner(state, "run", "--executor", "docker")
    assert done.code == 1
    lines = done.err.splitlines()
    assert len(lines) == 1, done.err
    assert "stockpipe/no-such-image:0.0.0" in lines[0] and "pipeline lost" in lines[0]
    assert "make images" in lines[0] and "make base-image" in lines[0]
    assert not (state / ".jobs").exists() or not any((state / ".jobs").iterdir())  # no job started


def test_no_daemon_is_one_line_saying_how_to_start_one(tmp_path: Path) -> None:
    """Runs everywhere: a DOCKER_HOST nothing listens on stands for a machine without a daemon."""
    state = tmp_path / "pfs"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.txt").write_text("x\n")
    spec = {
        "pipeline": {"name": "probe"},
        "input": {"pfs": {"repo": "things", "glob": "/*"}},
        "transform": {"image": "stockpipe/ingest:0.1.0", "cmd": ["true"]},
    }
    (tmp_path / "probe.json").write_text(json.dumps(spec))
    assert run_runner(state, "put", "file", "-r", "things@master:/", "-f", str(tmp_path / "in")).code == 0
    assert run_runner(state, "create", "pipeline", "-f", str(tmp_path / "probe.json")).code == 0
    done = run_runner(
        state, "run", "--executor", "docker", env={"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"}
    )
    assert done.code == 1
    lines = done.err.splitlines()
    assert len(lines) == 1, done.err
    if DOCKER_PROBLEM is None or "daemon" in DOCKER_PROBLEM:
        assert "no Docker daemon reachable" in lines[0] and "dockerd" in lines[0]
    else:  # no docker client at all
        assert "no `docker` client" in lines[0]


def _probe_spec(tmp_path: Path, name: str, lines: list[str], **transform: object) -> Path:
    """A one-pipeline state over two small files, the spec's cmd being ``sh`` with ``lines`` on stdin."""
    (tmp_path / "in").mkdir(exist_ok=True)
    for file in ("a.txt", "b.txt"):
        (tmp_path / "in" / file).write_text(f"content of {file}\n")
    spec = {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "things", "glob": "/*"}},
        "transform": {"image": "stockpipe/ingest:0.1.0", "cmd": ["sh"], "stdin": lines, **transform},
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


@needs_docker()
@pytest.mark.slow
def test_a_numeric_transform_user_runs_the_datums_as_that_uid(
    stage_images: list[str], tmp_path: Path
) -> None:
    """worker_rc.go: a numeric ``transform.user`` is the user container's uid and gid."""
    state = tmp_path / "pfs"
    spec = _probe_spec(tmp_path, "as-user", ['id -u > "/pfs/out/$(basename "$things").uid"'], user="4321")
    assert run_runner(state, "put", "file", "-r", "things@master:/", "-f", str(tmp_path / "in")).code == 0
    assert run_runner(state, "create", "pipeline", "-f", str(spec)).code == 0
    done = run_runner(state, "run", "--executor", "docker")
    assert done.code == 0, done.out + done.err
    assert (state / "as-user" / "master" / "a.txt.uid").read_text() == "4321\n"


#: A uid for the runner that is neither root nor the images' user.
RUNNER_UID = 4242
SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture
def runner_home() -> Iterator[Path]:
    """A folder of /tmp that uid 4242 can reach (pytest's own tmp folders are root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="stockpipe-executor-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@needs_docker()
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the runner as another uid")
@pytest.mark.skipif(
    shutil.which("setpriv") is None or not SYSTEM_PYTHON.exists(), reason="needs setpriv and python3"
)
def test_a_runner_that_is_not_root_takes_the_images_users_files(
    stage_images: list[str], runner_home: Path
) -> None:
    """The runner as uid 4242 (in the docker group, with the system's Python: the runner is standard
    library only), the datums as the image's UID 1000 writing files in sub-folders of /pfs/out:
    the runner moves them into its store, and a second run skips them."""
    tmp_path = runner_home
    state = tmp_path / "pfs"
    lines = [
        'd="/pfs/out/$(basename "$things")/deeper"; mkdir -p "$d"',
        'cp "$things" "$d/copy"; chmod 600 "$d/copy"',
    ]
    spec = _probe_spec(tmp_path, "handover", lines)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chown(path, RUNNER_UID, RUNNER_UID)
    docker_gid = grp.getgrnam("docker").gr_gid

    def as_runner(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["setpriv", f"--reuid={RUNNER_UID}", f"--regid={docker_gid}", "--clear-groups"]
        command += [str(SYSTEM_PYTHON), "-m", "runner", "--state", str(state), *args]
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
        return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)

    for args in (
        ("put", "file", "-r", "things@master:/", "-f", str(tmp_path / "in")),
        ("create", "pipeline", "-f", str(spec)),
    ):
        done = as_runner(*args)
        assert done.returncode == 0, done.stderr
    done = as_runner("run", "--executor", "docker")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("a.txt", "b.txt"):
        out = state / "handover" / "master" / name / "deeper" / "copy"
        assert out.read_text() == f"content of {name}\n"
        assert out.stat().st_uid == RUNNER_UID  # the runner's own copy in its store
    again = as_runner("run", "--executor", "docker")
    assert again.returncode == 0 and "nothing to do" in again.stdout
