"""``runner up`` end to end with the project's specs on the bundled sample: the raw put reaches a
served model by itself, a changed CSV put into raw reaches the reloaded model, and requests
under a small bounded load during the reload all succeed.

Real parts: the real stages, the real gunicorn (api/gunicorn_conf.py) on 127.0.0.1. The reload is
gunicorn's graceful one (SIGHUP: the master keeps the listening socket, new workers load the new
commit's model, old workers finish their requests); the app is not preloaded in the master, and
this test checks that the new workers serve the new model (the sha256 of its model.txt, and the
answer LightGBM gives for it), not only that the train commit moved.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from api.devtools.server import free_port
from bench.loop import wait_served
from bench.pipeline import change_last_volume
from runner.cpu_weight import service_nice
from runner.spec import Spec
from runner.state import State
from tests.runner.conftest import Runner
from tests.runner.live_loop import LiveLoop, swap_under_load

#: Generous bounds: the bundled sample's run takes ~11 s on a quiet machine, minutes on a busy one.
FIRST_RUN = 600
CHANGE = 600
LOAD_CONNECTIONS = 4
AUTOGROUP = Path("/proc/self/autogroup")


def _specs(state: State) -> dict[str, Spec]:
    return {record.name: record.spec for record in state.list_pipelines()}


@pytest.fixture
def live(runner: Runner, tmp_path: Path, sample_dir: Path):  # type: ignore[no-untyped-def]
    """``make up`` on the bundled sample (RAW's default), as the README shows it."""
    port = free_port()
    # VENV_STAMP= : the test already runs inside the virtualenv; do not let make bootstrap it.
    command = [
        "make",
        "--no-print-directory",
        "up",
        "VENV_STAMP=",
        f"PFS_STATE={runner.state}",
        f"PORT={port}",
    ]
    loop = LiveLoop(runner.state, tmp_path / "up.log", command=command)
    try:
        yield loop, port
    finally:
        loop.kill()


def test_a_changed_csv_reaches_the_served_model_without_a_failed_request(
    runner: Runner, tmp_path: Path, sample_dir: Path, live: tuple[LiveLoop, int]
) -> None:
    loop, port = live
    state = State(runner.state)
    loop.wait_for(rf"make up: the API will answer on http://127.0.0.1:{port}", FIRST_RUN)
    loop.wait_for(r"runner up: watching", FIRST_RUN)
    first_raw = state.head("raw")
    assert first_raw
    first = wait_served(state, port, first_raw, FIRST_RUN)
    started = loop.wait_for(
        rf"serve: started on train@{first['train_commit']} at http://127.0.0.1:{port} "
        r"\(pid (\d+), CPU weight of nice (\d+)",
        10,
    )
    # serve requests 1 CPU, train 2: the service's session runs at half the jobs' weight
    # (runner/cpu_weight.py, as Kubernetes turns CPU requests into cpu shares), workers included.
    assert int(started.group(2)) == service_nice(state.pipeline("serve").spec, _specs(state)) == 3
    if AUTOGROUP.exists():
        gunicorn = [p for p in loop.descendants() if any("gunicorn" in part for part in p.cmdline())]
        assert len(gunicorn) >= 2, "expected gunicorn's master and its workers"
        for process in gunicorn:
            group = Path(f"/proc/{process.pid}/autogroup").read_text()
            assert group.strip().endswith("nice 3"), (process.cmdline(), group)

    changed = tmp_path / "A.csv"
    changed.write_text(change_last_volume((sample_dir / "stocks" / "A.csv").read_text()).text)
    swap_under_load(
        loop,
        state,
        port,
        first,
        lambda: runner("put", "file", "raw@master:/stocks/A.csv", "-f", str(changed)),
        CHANGE,
        LOAD_CONNECTIONS,
    )

    _code, survivors = loop.stop(signal.SIGINT, group=True)  # Ctrl-C at the terminal of `make up`
    assert "runner up: stopped (SIGINT)" in loop.output()
    assert survivors == [], [p.cmdline() for p in survivors]
