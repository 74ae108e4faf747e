"""The service pipeline from its image (runner/executors/service.py): `docker_service_command` starts
specs/serve.json's cmd and env in stockpipe/api:0.1.0 with the train commit at /pfs/train, as a
Pachyderm service pod; its port is published on 127.0.0.1 only. Real gunicorn in the real image,
serving the model the docker executor trained on the bundled sample."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.executors.service import (
    docker_service_command,
    docker_service_stop_command,
    service_container_name,
    service_inputs,
)
from runner.spec import load_spec
from runner.state import State
from tests.conftest import REPO_ROOT
from tests.executor.conftest import SampleRuns, needs_docker

pytestmark = [needs_docker(), pytest.mark.slow]
SERVE_SPEC = REPO_ROOT / "specs" / "serve.json"
#: The API answers a few seconds after gunicorn starts (the model is loaded first).
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def api_url(sample_runs: SampleRuns) -> Iterator[str]:
    spec = load_spec(SERVE_SPEC)
    port = _free_port()
    command = docker_service_command(spec, service_inputs(State(sample_runs.docker), spec), port)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                subprocess.run(docker_service_stop_command(spec), capture_output=True, check=False)
                output = proc.communicate(timeout=30)[0]
                pytest.fail(f"the API container did not answer /healthz: {' '.join(command)}\n{output}")
            time.sleep(0.3)
        yield url
    finally:
        subprocess.run(docker_service_stop_command(spec), capture_output=True, check=False)
        proc.wait(timeout=60)


def test_the_command_publishes_on_loopback_and_mounts_the_model_read_only(sample_runs: SampleRuns) -> None:
    spec = load_spec(SERVE_SPEC)
    command = docker_service_command(spec, service_inputs(State(sample_runs.docker), spec), 18123)
    assert command[command.index("--publish") + 1] == "127.0.0.1:18123:8000"
    mount = command[command.index("--mount") + 1]
    assert mount.endswith(",target=/pfs/train,readonly") and "/train/trees/" in mount
    assert command[-len(spec.cmd) - 1 :] == [spec.image, *spec.cmd]
    assert "MODEL_DIR=/pfs/train" in command


def test_predict_answers_an_integer(api_url: str) -> None:
    query = "vol_moving_avg=2500000&adj_close_rolling_med=41.5"
    with urllib.request.urlopen(f"{api_url}/predict?{query}", timeout=10) as response:
        assert response.status == 200
        value = json.loads(response.read())
    assert isinstance(value, int) and value > 0


def test_bad_input_is_a_400(api_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{api_url}/predict?vol_moving_avg=abc&adj_close_rolling_med=41.5", timeout=10)
    assert caught.value.code == 400


def _uids(pid: int) -> set[int]:
    """Real and effective uids of ``pid`` and of every process below it, as the kernel reports them."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        status = Path(f"/proc/{current}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        found |= {int(v) for v in uid_line.split()[1:3]}
        children = Path(f"/proc/{current}/task/{current}/children")
        pending += [int(c) for c in children.read_text().split()] if children.exists() else []
    return found


def test_the_service_runs_as_the_images_non_root_user(api_url: str) -> None:
    """gunicorn's master and workers in the container all run as UID 1000 (no process as root)."""
    spec = load_spec(SERVE_SPEC)
    name = service_container_name(spec)
    inspected = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Pid}}", name], capture_output=True, text=True, check=True
    )
    assert _uids(int(inspected.stdout)) == {1000}
