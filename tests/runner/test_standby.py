"""Standby jobs of ``runner up`` (runner/standby.py, runner/job_process.py): a warm worker records
the installed modules it imported, the loop forks a standby that imports them ahead while no job
runs, and the pipeline's next job runs in it; a job the standby was not prepared for (another
spec) starts in a fresh process, and stopping the loop leaves no standby behind.

Not a Pachyderm behaviour: a worker pod there runs each datum's command as a new process. What a
stage sees stays the same (its own modules are imported by the datum, with the datum's
variables); only installed libraries are loaded earlier, with the variables every datum of the
job shares.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runner.standby import import_ahead, imported_outside, imports_file, read_imports
from tests.runner.conftest import Runner
from tests.runner.helpers import autogroup_nice, pfs, stage_cmd, write_files, write_spec
from tests.runner.live_loop import LiveLoop

#: Generous bounds: the machine may be busy with other work; nothing here measures speed.
WAIT = 120


@pytest.fixture
def loops() -> Iterator[list[LiveLoop]]:
    started: list[LiveLoop] = []
    yield started
    for loop in started:
        loop.kill()


def test_the_record_holds_installed_modules_not_the_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_files(tmp_path / "project", {"own_module_zz.py": "import colorsys\n"})
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.delitem(sys.modules, "own_module_zz", raising=False)
    __import__("own_module_zz")
    names = imported_outside(str(project))
    assert "colorsys" in names and "json" in names  # the standard library counts as installed
    assert "own_module_zz" not in names and "runner" not in names
    assert all("." not in name for name in names)
    assert names.index("os") < names.index("colorsys")  # in the order first imported


def test_import_ahead_sets_the_jobs_variables_while_importing_and_puts_the_environment_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = write_files(
        tmp_path / "libs", {"reads_env_zz.py": "import os\nSEEN = os.environ.get('PROBE_SETTING')\n"}
    )
    monkeypatch.syspath_prepend(str(libs))
    monkeypatch.delitem(sys.modules, "reads_env_zz", raising=False)
    monkeypatch.delenv("PROBE_SETTING", raising=False)
    assert import_ahead(["reads_env_zz", "no_such_module_zz"], {"PROBE_SETTING": "job"}) == 1
    assert sys.modules["reads_env_zz"].SEEN == "job"  # a library reading its settings when loaded
    assert "PROBE_SETTING" not in os.environ
    assert import_ahead(["reads_env_zz"], {}) == 0  # already loaded: nothing to do


def _wait_for_a_child(loop: LiveLoop) -> psutil.Process:
    deadline = time.monotonic() + WAIT
    while not psutil.Process(loop.process.pid).children():
        assert time.monotonic() < deadline, f"no standby forked within {WAIT}s:\n{loop.output()}"
        time.sleep(0.05)
    return psutil.Process(loop.process.pid).children()[0]


def _probe(runner: Runner) -> dict[str, object]:
    return json.loads(runner.head_files("probe")["probe.json"])


def test_the_next_job_runs_in_a_standby_with_its_imports_done(
    runner: Runner, tmp_path: Path, loops: list[LiveLoop]
) -> None:
    specs = tmp_path / "specs"
    spec = write_spec(
        specs, "probe", pfs("raw", "/", "in"), stage_cmd("imports_probe", "/pfs/out", "/pfs/in")
    )
    runner("create", "repo", "raw")
    runner("create", "pipeline", "-f", str(spec))
    runner("put", "file", "-r", "raw@master:/", "-f", str(write_files(tmp_path / "a", {"a.txt": "1\n"})))
    loop = LiveLoop(runner.state, tmp_path / "up.log")
    loops.append(loop)
    first = loop.wait_for(r"probe: job \w+ ok", WAIT)
    assert _probe(runner)["ahead"] is False  # the first job imported it itself
    assert "colorsys" in read_imports(imports_file(runner.state, "probe"))
    assert not any(name.startswith("tests") for name in read_imports(imports_file(runner.state, "probe")))

    # the standby is forked once the loop is idle; the next put's job runs in it
    standby = _wait_for_a_child(loop)  # no job runs and there is no service: the loop's only child
    # it waits in a session of its own at the lowest weight (its imports take nothing from a service);
    # it makes that session as it starts, so a child seen at once may not have done so yet
    deadline = time.monotonic() + WAIT
    while os.getsid(standby.pid) == os.getsid(loop.process.pid):
        assert time.monotonic() < deadline, "the standby did not make a session of its own"
        time.sleep(0.05)
    if Path("/proc/self/autogroup").exists():
        deadline = time.monotonic() + WAIT
        while autogroup_nice(standby.pid) != 19:
            assert time.monotonic() < deadline, "the standby's session is not at nice 19"
            time.sleep(0.05)
    runner("put", "file", "-r", "raw@master:/", "-f", str(write_files(tmp_path / "b", {"b.txt": "2\n"})))
    started = loop.wait_for(
        r"probe: job started on raw@\w+ \(1 core\(s\)(?P<how>[^)]*)\)", WAIT, after=first.end()
    )
    second = loop.wait_for(r"probe: job \w+ ok", WAIT, after=started.end())
    probe = _probe(runner)
    assert probe["files"] == ["a.txt", "b.txt"]
    assert started.group("how") == ", in its standby" and probe["ahead"] is True, loop.output()

    # another spec: a job the standby was not made for starts in a fresh process
    write_spec(
        specs,
        "probe",
        pfs("raw", "/", "in"),
        stage_cmd("imports_probe", "/pfs/out", "/pfs/in"),
        transform={"env": {"PROBE_SETTING": "2"}},
    )
    runner("update", "pipeline", "-f", str(spec), "--reprocess")  # (the datum hash ignores the spec)
    fresh = loop.wait_for(
        r"probe: job started on raw@\w+ \(1 core\(s\)(?P<how>[^)]*)\)", WAIT, after=second.end()
    )
    loop.wait_for(r"probe: job \w+ ok", WAIT, after=fresh.end())
    assert fresh.group("how") == "" and _probe(runner)["ahead"] is False

    code, survivors = loop.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM and survivors == []
