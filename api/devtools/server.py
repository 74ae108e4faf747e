"""Start the real API (gunicorn with api/gunicorn_conf.py) on a free loopback port, and stop it.

Used by the tests, the load test and `make demo-notebook`:

    with running_server(model_dir) as server:
        requests.get(server.url + "/healthz")
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: gunicorn's --config, as the image's CMD and specs/serve.json give it (api/ importable from REPO_ROOT).
GUNICORN_CONF = "python:api.gunicorn_conf"


class ServerStartError(RuntimeError):
    """gunicorn exited or did not answer /healthz in time; the message holds its log's tail."""


@dataclass(frozen=True)
class Server:
    """A running gunicorn: its base URL, process and log file."""

    url: str
    port: int
    process: subprocess.Popen
    log_path: Path

    def worker_pids(self) -> list[int]:
        """Process ids of the gunicorn workers (children of the master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ServerStartError(f"gunicorn exited with {process.returncode}:\n{tail}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url + "/healthz", timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.05)
    raise ServerStartError(f"gunicorn did not answer {url}/healthz within {timeout} s; log: {log_path}")


def stop(process: subprocess.Popen, timeout: float = 15) -> int:
    """Stop gunicorn gracefully (SIGTERM: workers finish and run worker_exit), SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextlib.contextmanager
def running_server(
    model_dir: Path,
    *,
    port: int | None = None,
    workers: int = 2,
    threads: int = 1,
    provenance: Path | None = None,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30,
    gunicorn_args: Sequence[str] = (),
) -> Iterator[Server]:
    """Run gunicorn serving ``model_dir`` on 127.0.0.1 until the block ends.

    ``gunicorn_args`` go on gunicorn's command line after the config and override it (the load
    test's ``--worker-class sync`` round measures the configuration before api/worker.py).
    """
    port = port or free_port()
    if log_path is None:
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"stockpipe-api-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server_env = {
        **os.environ,
        "MODEL_DIR": str(model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": str(workers),
        "THREADS": str(threads),
        "PYTHONPATH": str(REPO_ROOT),
        **({"MODEL_PROVENANCE": str(provenance)} if provenance else {}),
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONF, *gunicorn_args, "api.wsgi:app"]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=server_env, stdout=log_file, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log_path, startup_timeout)
        yield Server(url=url, port=port, process=process, log_path=log_path)
    finally:
        stop(process)
