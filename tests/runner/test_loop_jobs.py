"""``runner up`` on small test stages: jobs start when an input moves, a failed job is reported in
one line and the loop keeps watching, a put during a running job lands and is taken by the next
job, background jobs yield their cores to the path to a service, and SIGINT/SIGTERM stop every
child process and leave a state the next start resumes.

Pachyderm's behaviour these follow: a new input commit triggers a job of every pipeline
reading it; a job finishes on the input commits it started with (its commit set) and commits
that arrive meanwhile get the next job (docs.pachyderm.com, "Pipeline triggers" / "Job").
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runner.loop import cores_wanted, critical_pipelines
from runner.pause_clock import pause_file, read_pauses
from runner.spec import load_specs
from runner.state import State
from tests.runner.conftest import Runner
from tests.runner.helpers import autogroup_nice, pfs, stage_cmd, write_files, write_spec
from tests.runner.live_loop import LiveLoop

#: Generous bounds: the machine may be busy with other work; nothing here measures speed.
WAIT = 120


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[list[LiveLoop]]:
    started: list[LiveLoop] = []
    yield started
    for loop in started:
        loop.kill()


def _start(loops: list[LiveLoop], runner: Runner, tmp_path: Path, *args: str) -> LiveLoop:
    loop = LiveLoop(runner.state, tmp_path / f"up-{len(loops)}.log", *args)
    loops.append(loop)
    return loop


def _put(runner: Runner, tmp_path: Path, files: dict[str, str]) -> str:
    data = write_files(tmp_path / f"put-{len(list(tmp_path.glob('put-*')))}", files)
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    return runner.inspect("raw@master")["id"]


def test_a_failed_job_is_one_line_and_the_loop_keeps_watching(
    runner: Runner, tmp_path: Path, loops: list[LiveLoop]
) -> None:
    spec = write_spec(
        tmp_path / "specs", "check", pfs("raw", "/*", "in"), stage_cmd("fail", "/pfs/out", "/pfs/in")
    )
    runner("create", "repo", "raw")  # pachd refuses a pipeline over a missing repo
    runner("create", "pipeline", "-f", str(spec))
    _put(runner, tmp_path, {"good.txt": "fine\n", "bad.txt": "bad\n"})
    loop = _start(loops, runner, tmp_path)
    failure = loop.wait_for(r"^.*runner: check: job \w+ failed: .*$", WAIT)
    line = failure.group(0)
    assert "(in:/bad.txt)" in line and "bad.txt line 1: content is bad" in line, line
    # the loop keeps watching: the fixed file gets a job that succeeds, the failure is not repeated
    _put(runner, tmp_path, {"bad.txt": "fixed\n"})
    loop.wait_for(r"check: job \w+ ok: 2 datums, 1 processed, 1 skipped", WAIT, after=failure.end())
    assert loop.output().count("failed:") == 1
    assert runner.head_files("check") == {"good.txt": "fine\n", "bad.txt": "fixed\n"}
    code, survivors = loop.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM and survivors == []


def test_a_put_during_a_running_job_lands_and_the_next_job_takes_it(
    runner: Runner, tmp_path: Path, loops: list[LiveLoop]
) -> None:
    spec = write_spec(
        tmp_path / "specs", "slow", pfs("raw", "/", "in"), stage_cmd("slow", "/pfs/out", "/pfs/in", "3")
    )
    runner("create", "repo", "raw")  # pachd refuses a pipeline over a missing repo
    runner("create", "pipeline", "-f", str(spec))
    first = _put(runner, tmp_path, {"one.txt": "1\n"})
    loop = _start(loops, runner, tmp_path)
    started = loop.wait_for(r"slow: job started on raw@(\w+)", WAIT)
    assert first.startswith(started.group(1))
    second = _put(runner, tmp_path, {"two.txt": "2\n"})  # accepted at once, while the job runs
    assert "is in use by runner up (pid" in runner("run", expect=1).err  # one process runs jobs
    assert "slow: job" not in loop.output()[started.end() :], "the put waited for the job"
    done = loop.wait_for(r"slow: job \w+ ok", WAIT)
    loop.wait_for(r"slow: job started on raw@" + second[:12], WAIT, after=done.end())
    loop.wait_for(r"slow: job \w+ ok", WAIT, after=done.end())
    commits = json.loads(runner("list", "commit", "slow", "--json").out)  # newest first
    assert [c["provenance"] for c in commits] == [
        [{"repo": "raw", "commit": second}],
        [{"repo": "raw", "commit": first}],
    ]
    old_tree = runner.state / "slow" / "trees" / commits[1]["id"]
    assert sorted(p.name for p in old_tree.iterdir()) == ["one.txt"], "the first job saw the second put"
    assert runner.head_files("slow") == {"one.txt": "1\n", "two.txt": "2\n"}
    assert loop.stop(signal.SIGTERM)[1] == []


def _service_dag(tmp_path: Path, runner: Runner, bg_seconds: str) -> Path:
    """raw -> fast -> svc (a service), and raw -> bg (slow, read by no service: background)."""
    specs = tmp_path / "specs"
    write_spec(specs, "fast", pfs("raw", "/", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"))
    write_spec(specs, "bg", pfs("raw", "/", "in"), stage_cmd("slow", "/pfs/out", "/pfs/in", bg_seconds))
    record = tmp_path / "served.txt"
    write_spec(
        specs,
        "svc",
        pfs("fast", "/", "in"),
        stage_cmd("idle_service", str(record)),
        service={"type": "NodePort", "internalPort": 8000, "externalPort": 30801},
    )
    runner("create", "repo", "raw")  # pachd refuses a pipeline over a missing repo
    runner("create", "pipeline", "-f", str(specs))
    return record


def test_background_jobs_yield_their_cores_to_the_path_to_a_service(
    runner: Runner, tmp_path: Path, loops: list[LiveLoop]
) -> None:
    """One core: bg (no service reads it) runs niced, and is paused while fast (read by svc) runs.

    bg runs 8 s, so that it is still running when the second put comes on a busy machine (with 4 s
    it once ended first under `pytest -n 2` and there was nothing to pause)."""
    record = _service_dag(tmp_path, runner, bg_seconds="8")
    _put(runner, tmp_path, {"a.txt": "a\n"})
    loop = _start(loops, runner, tmp_path, "--cores", "1")
    bg_started = loop.wait_for(r"bg: job started on raw@\w+ \(1 core\(s\), background\)", WAIT)
    # fast came first (critical path), and its output went to the service
    assert loop.output().index("fast: job started") < bg_started.start()
    loop.wait_for(r"svc: started on fast@", WAIT)
    assert any(p.nice() == 19 for p in loop.descendants()), "the background job is not niced"
    # in a session of its own, whose scheduling group has the weight of nice 19 (a nice counts only
    # against the processes of its own session): runner/job_process.py
    niced = [p for p in loop.descendants() if p.nice() == 19]
    assert all(os.getsid(p.pid) != os.getsid(loop.process.pid) for p in niced)
    if Path("/proc/self/autogroup").exists():
        assert any(autogroup_nice(p.pid) == 19 for p in niced)
    state = State(runner.state)
    # bg's job has recorded itself (a job paused before it has runs no datum: no pause to record)
    _wait_until(lambda: bool(state.list_jobs("bg")))
    second = _put(runner, tmp_path, {"b.txt": "b\n"})
    paused = loop.wait_for(r"bg: job paused \(SIGSTOP\)", WAIT, after=bg_started.end())
    # bg's job process and its worker, found from the job's record: not by their nice of 19, which
    # a standby keeps when it runs fast's job (its session's weight is raised, not its own nice)
    job_process = psutil.Process(state.list_jobs("bg")[0].pid)
    background = [job_process, *job_process.children(recursive=True)]
    assert len(background) >= 2
    # A process stops when it next runs after SIGSTOP: at nice 19 in a session of nice 19, on a
    # machine busy with the other tests, that can take a while after the loop said "paused".
    _wait_until(
        lambda: (
            "bg: job resumed" in loop.output() or {p.status() for p in background} == {psutil.STATUS_STOPPED}
        )
    )
    fast_done = loop.wait_for(r"fast: job \w+ ok", WAIT, after=paused.end())
    resumed = loop.wait_for(r"bg: job resumed", WAIT, after=fast_done.end())
    # the pause was recorded before the job resumed: its datums' datumTimeout does not count it
    bg_job = state.list_jobs("bg")[0].id  # the first (oldest) job of bg is the one paused
    pauses = read_pauses(str(pause_file(state.job_dir(bg_job)))).pauses
    assert len(pauses) == 1 and pauses[0].resumed > pauses[0].stopped, (pauses, loop.output())
    reload = loop.wait_for(r"svc: reloading on fast@(\w+)", WAIT, after=paused.end())
    bg_done = loop.wait_for(r"bg: job \w+ ok", WAIT, after=resumed.end())
    assert reload.start() < bg_done.start(), "the service waited for the background job"
    fast_commit = runner.inspect("fast@master")["id"]
    assert reload.group(1) == fast_commit
    assert runner.inspect("fast@master")["provenance"] == [{"repo": "raw", "commit": second}]
    lines = [ln.split() for ln in record.read_text().splitlines()]
    assert len({pid for pid, _ in lines}) == 1, "the service was restarted, not reloaded"
    assert lines[-1][1] == fast_commit
    assert loop.stop(signal.SIGINT)[1] == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_every_child_and_the_next_start_resumes(
    runner: Runner, tmp_path: Path, loops: list[LiveLoop], sig: signal.Signals
) -> None:
    record = _service_dag(tmp_path, runner, bg_seconds="0.5")
    spec = write_spec(
        tmp_path / "specs", "many", pfs("raw", "/*", "in"), stage_cmd("slow", "/pfs/out", "/pfs/in", "0.3"),
        parallelismSpec={"constant": 2},
    )  # fmt: skip
    runner("create", "pipeline", "-f", str(spec))
    _put(runner, tmp_path, {f"f{i:02d}.txt": f"{i}\n" for i in range(16)})
    loop = _start(loops, runner, tmp_path, "--cores", "2")
    loop.wait_for(r"svc: started on fast@", WAIT)
    loop.wait_for(r"many: job started", WAIT)
    cache = runner.state / ".pipelines" / "many.datums.jsonl"
    _wait_until(lambda: cache.exists() and len(cache.read_text().splitlines()) >= 2)
    processes = loop.descendants()
    assert len(processes) >= 3, "expected the service, a job process and its workers"
    code, survivors = loop.stop(sig)
    assert code == 128 + sig, loop.output()
    assert survivors == [], f"still running after {sig.name}: {[p.cmdline() for p in survivors]}"
    assert not any(psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE for p in processes)
    assert [j["state"] for j in runner.jobs("many")] == ["killed"]
    # the next start resumes: the job runs again, reusing the datums that had finished
    again = _start(loops, runner, tmp_path)
    done = again.wait_for(r"many: job \w+ ok: 16 datums, (\d+) processed, (\d+) skipped", WAIT)
    assert int(done.group(2)) >= 2
    assert len(runner.head_files("many")) == 16
    again.wait_for(r"svc: started on fast@", WAIT)
    assert record.read_text().count("\n") == 2  # one start per loop, no reload
    assert again.stop(signal.SIGTERM)[1] == []


def _wait_until(check, timeout: float = WAIT) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def test_the_project_specs_critical_path_and_core_grants(repo_root: Path) -> None:
    """What docs/architecture.md says of the project's DAG on 2 cores."""
    specs = {s.name: s for s in load_specs(repo_root / "specs")}
    critical = critical_pipelines(specs)
    assert {"ingest", "features", "train"} <= critical and "serve" not in critical
    assert "evaluate" not in critical  # read by no service: background, if the DAG has it
    assert {n: cores_wanted(specs[n], 2) for n in ("ingest", "features", "train")} == {
        "ingest": 2,
        "features": 2,
        "train": 2,
    }
    assert cores_wanted(specs["ingest"], 8) == 4  # parallelismSpec 4 > its cpu request 0.5
