"""A datum runs as Pachyderm's worker runs it: what it sees, where, with which variables, and
what becomes of its outputs. Sources (pachyderm/pachyderm at e237475e) are named in each test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.visible import is_hidden, links_dir
from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, stage_cmd, write_files, write_spec


def _put(runner: Runner, tmp_path: Path, repo: str, files: dict[str, str]) -> None:
    data = write_files(tmp_path / f"data-{repo}", files)
    runner("put", "file", "-r", f"{repo}@master:/", "-f", str(data))


def _outputs(runner: Runner, repo: str, branch: str = "master") -> dict[str, str]:
    root = runner.state / repo / branch
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("mode", ["warm", "subprocess"], ids=["warm", "subprocess"])
def test_every_datum_sees_an_empty_out_and_only_its_own_inputs(
    runner: Runner, tmp_path: Path, mode: str
) -> None:
    """src/server/worker/datum/datum.go withData: each datum gets a fresh folder (MkdirAll of
    <datum>/pfs/out, RemoveAll after), so no datum sees what an earlier one left. The stage leaves an
    empty folder tree in /pfs/out, files and folders beside its inputs and at the top of /pfs; one
    worker runs all three datums (parallelism 1), warm and as a subprocess."""
    _put(runner, tmp_path, "raw", {"a/1.txt": "one", "b/2.txt": "two", "c.txt": "three"})
    extra = {"stdin": ["not read: makes the command run as a subprocess"]} if mode == "subprocess" else {}
    spec = write_spec(
        tmp_path / "s", "seen", pfs("raw", "/*", "in"), stage_cmd("seen", "/pfs/out"), transform=extra
    )
    runner("create", "pipeline", "-f", str(spec))
    assert "3 datums, 3 processed" in runner("run").out
    listings = sorted(
        json.dumps(json.loads(v)["entries"], sort_keys=True) for v in _outputs(runner, "seen").values()
    )
    expected = [
        {"in": "dir", "out": "dir", "in/c.txt": "file"},
        {"in": "dir", "out": "dir", "in/a": "dir", "in/a/1.txt": "file"},
        {"in": "dir", "out": "dir", "in/b": "dir", "in/b/2.txt": "file"},
    ]
    assert listings == sorted(json.dumps(e, sort_keys=True) for e in expected)
    # the leftovers are not outputs either: only the three listings were committed
    assert sorted(_outputs(runner, "seen")) == sorted(f"{d['id']}.json" for d in _datums(runner, "seen"))


def _datums(runner: Runner, pipeline: str) -> list[dict]:
    return json.loads(runner("list", "datum", pipeline, "--json").out)


def test_staging_path_has_no_hidden_component_even_with_a_hidden_state_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/shuffle/shuffle.pipeline.json finds its inputs with `find -L /pfs -not -path "*/\\.*"`
    (written for the worker's /pfs/.env and /pfs/.scratch: src/internal/client/pps.go PPSScratchSpace,
    src/server/worker/common/common.go EnvFileName): with the state in a hidden `.pfs` folder the
    datum's /pfs must still be a path with no hidden component."""
    runner = Runner(tmp_path / ".pfs", capsys)
    _put(runner, tmp_path, "raw", {"x/f.csv": "1", "g.csv": "2"})
    cmd = ["bash"]
    stdin = [
        'found=$(find -L /pfs -not -path "*/\\.*" -type f | sed "s|^/pfs/||" | sort)',
        'echo "$found" > /pfs/out/found.txt',
    ]
    spec = write_spec(tmp_path / "s", "find", pfs("raw", "/", "in"), cmd, transform={"stdin": stdin})
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    found = _outputs(runner, "find")["found.txt"].split()
    assert found == ["in/g.csv", "in/x/f.csv"]
    assert not is_hidden(str(links_dir()))


def test_environment_names_are_the_workers(runner: Runner, tmp_path: Path) -> None:
    """src/server/worker/driver/driver.go UserCodeEnv: <input>, <input>_COMMIT, PACH_DATUM_ID,
    PACH_JOB_ID, PACH_OUTPUT_COMMIT_ID; src/server/pps/server/worker_rc.go: PPS_PROJECT_NAME and
    PPS_PIPELINE_NAME on the worker (names in src/internal/client/pps.go). PACH_PIPELINE_NAME is not
    a Pachyderm variable and is not set."""
    _put(runner, tmp_path, "raw", {"f.txt": "x"})
    names = [
        "in", "in_COMMIT", "PACH_DATUM_ID", "PACH_JOB_ID", "PACH_OUTPUT_COMMIT_ID",
        "PPS_PROJECT_NAME", "PPS_PIPELINE_NAME", "PACH_PIPELINE_NAME",
    ]  # fmt: skip
    spec = write_spec(tmp_path / "s", "envs", pfs("raw", "/*", "in"), stage_cmd("env", "/pfs/out", *names))
    proj = write_spec(
        tmp_path / "p", "envp", pfs("raw", "/*", "in"), stage_cmd("env", "/pfs/out", "PPS_PROJECT_NAME")
    )
    doc = json.loads(proj.read_text())
    doc["pipeline"]["project"] = {"name": "research"}
    proj.write_text(json.dumps(doc))
    runner("create", "pipeline", "-f", str(spec))
    runner("create", "pipeline", "-f", str(proj))
    runner("run")
    (values,) = [json.loads(t) for t in _outputs(runner, "envs").values()]
    commit = runner.inspect("envs@master")
    assert values["PACH_OUTPUT_COMMIT_ID"] == commit["id"]
    assert values["PACH_JOB_ID"] == commit["job"]
    assert values["PPS_PROJECT_NAME"] == "default" and values["PPS_PIPELINE_NAME"] == "envs"
    assert values["PACH_PIPELINE_NAME"] is None
    assert (
        values["in"].endswith("/pfs/in/f.txt") and values["in_COMMIT"] == runner.inspect("raw@master")["id"]
    )
    assert values["PACH_DATUM_ID"] == _datums(runner, "envs")[0]["id"]
    (other,) = [json.loads(t) for t in _outputs(runner, "envp").values()]
    assert other["PPS_PROJECT_NAME"] == "research"


def test_working_dir_is_honoured(runner: Runner, tmp_path: Path) -> None:
    """src/server/worker/driver/driver.go RunUserCode: cmd.Dir = filepath.Join(rootDir,
    transform.workingDir). Under /pfs it is the datum's staging; a folder that does not exist fails
    the datum naming the field (exec fails to chdir on a cluster too)."""
    _put(runner, tmp_path, "raw", {"d/f.txt": "x"})
    stdin = ["ls > /pfs/out/listing.txt"]
    spec = write_spec(
        tmp_path / "s",
        "wd",
        pfs("raw", "/d", "in"),
        ["bash"],
        transform={"stdin": stdin, "workingDir": "/pfs/in/d"},
    )
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    assert _outputs(runner, "wd") == {"listing.txt": "f.txt\n"}
    bad = write_spec(
        tmp_path / "b",
        "wdbad",
        pfs("raw", "/d", "in"),
        ["bash"],
        transform={"stdin": stdin, "workingDir": "/no/such/dir"},
        datumTries=1,
    )
    runner("create", "pipeline", "-f", str(bad))
    result = runner("run", expect=1)
    assert "transform.workingDir /no/such/dir: no such folder" in result.err


def test_err_cmd_recovers_datums_as_test_pipeline_error_handling(runner: Runner, tmp_path: Path) -> None:
    """src/server/pachyderm_test.go TestPipelineErrorHandling (ErrCmd, RecoveredDatums) and
    src/server/worker/datum/datum.go run/handleFailed/finish: when cmd fails, errCmd runs; if it
    succeeds the datum is recovered: the job does not fail for it, and its /pfs/out is not uploaded.
    cmd succeeds for file1, errCmd for file3: 1 processed, 1 recovered, 1 failed, the job fails.
    With errCmd `true`, 2 recovered and the job succeeds. Where the runner differs on purpose: file1
    succeeded in the failed job and is skipped (Pachyderm bases a job on the last successful one and
    processes it again: src/server/worker/pipeline/transform/pending_job.go load)."""
    _put(runner, tmp_path, "data", {"file1": "foo\n", "file2": "bar\n", "file3": "bar\n"})
    cmd_stdin = [
        "if [ -e /pfs/data/file1 ]; then echo ok > /pfs/out/file1.out; exit 0; fi",
        "echo partial > /pfs/out/partial-$PACH_DATUM_ID",
        "exit 1",
    ]
    transform = {
        "stdin": cmd_stdin,
        "errCmd": ["bash"],
        "errStdin": ["if [ -e /pfs/data/file3 ]; then exit 0; fi", "exit 1"],
    }
    spec = write_spec(tmp_path / "s", "errs", pfs("data", "/*"), ["bash"], transform=transform, datumTries=1)
    runner("create", "pipeline", "-f", str(spec))
    result = runner("run", expect=1)
    assert "3 datums, 1 processed, 0 skipped, 1 failed, 1 recovered" in result.out
    job = runner.jobs("errs")[0]
    assert job["state"] == "failure" and job["datums"]["recovered"] == 1
    assert job["failed_datums"][0]["inputs"] == ["data:/file2"]
    states = {d["inputs"][0]["matched"]: d["state"] for d in _datums(runner, "errs")}
    assert states == {"/file1": "success", "/file2": "failed", "/file3": "recovered"}
    # the pipeline updated with an errCmd that always succeeds: both failing datums are recovered
    transform = {"stdin": cmd_stdin, "errCmd": ["true"]}
    spec = write_spec(tmp_path / "s", "errs", pfs("data", "/*"), ["bash"], transform=transform, datumTries=1)
    runner("update", "pipeline", "-f", str(spec))
    assert "3 datums, 0 processed, 1 skipped, 0 failed, 2 recovered" in runner("run").out
    assert runner.jobs("errs")[0]["state"] == "success"
    assert _outputs(runner, "errs") == {"file1.out": "ok\n"}  # nothing of the recovered datums
    # RecoveredDatums: recovered datums are not cached; a fixed cmd processes them
    spec = write_spec(
        tmp_path / "s", "errs", pfs("data", "/*"), ["bash"], transform={"stdin": ["cp /pfs/data/* /pfs/out/"]}
    )
    runner("update", "pipeline", "-f", str(spec))
    assert "3 datums, 2 processed, 1 skipped, 0 failed in" in runner("run").out
    assert _outputs(runner, "errs") == {"file1.out": "ok\n", "file2": "bar\n", "file3": "bar\n"}


def test_err_cmd_runs_after_every_failed_try(runner: Runner, tmp_path: Path) -> None:
    """src/server/worker/datum/datum.go WithDatum: every try runs cmd then (on failure) the recovery
    callback; the datum is recovered only after the last try (datumTries, worker.go WithRetry)."""
    _put(runner, tmp_path, "data", {"f": "x"})
    counts = tmp_path / "counts"
    counts.mkdir()
    transform = {"stdin": ["exit 1"], "errCmd": ["bash", "-c", f"echo try >> {counts}/errcmd"]}
    spec = write_spec(tmp_path / "s", "tries", pfs("data", "/*"), ["bash"], transform=transform, datumTries=2)
    runner("create", "pipeline", "-f", str(spec))
    assert "1 recovered" in runner("run").out
    assert (counts / "errcmd").read_text() == "try\ntry\n"


@pytest.mark.parametrize("mode", ["warm", "subprocess"], ids=["warm", "subprocess"])
def test_err_cmd_runs_within_the_datums_one_timeout(runner: Runner, tmp_path: Path, mode: str) -> None:
    """src/server/worker/datum/datum.go ``Run``/``run``: the recovery callback (errCmd) runs with the
    same timeout context as cmd, so it gets what cmd left of ``datumTimeout``, and nothing once cmd
    used it all. Here cmd fails after 1.5 s of a 3 s timeout and errCmd needs 2.5 s: killed at the
    deadline, the datum is not recovered (with a fresh timeout it would be). Then cmd runs past the
    timeout: errCmd does not run at all."""
    _put(runner, tmp_path, "data", {"f": "x"})
    marks = tmp_path / "marks"
    marks.mkdir()
    err_cmd = ["bash", "-c", f"echo started >> {marks}/errcmd; sleep 2.5; echo done >> {marks}/errcmd"]

    def spec(cmd_seconds: float) -> Path:
        if mode == "warm":  # python3 -m: runs in the worker, sleeps, then exits 1
            cmd = stage_cmd("slow", "/pfs/out", "/pfs/data", str(cmd_seconds), "1")
            transform: dict[str, object] = {"errCmd": err_cmd}
        else:
            cmd = ["bash"]
            transform = {"stdin": [f"sleep {cmd_seconds}", "exit 1"], "errCmd": err_cmd}
        return write_spec(
            tmp_path / "s",
            "deadline",
            pfs("data", "/*"),
            cmd,
            transform=transform,
            datumTries=1,
            datumTimeout="3s",
        )

    runner("create", "pipeline", "-f", str(spec(1.5)))
    result = runner("run", expect=1)
    assert "1 failed" in result.out and "recovered" not in result.out.split("failed", 1)[1][:20]
    assert (marks / "errcmd").read_text() == "started\n"  # killed at the deadline, before "done"
    assert "datum timed out after 3s (datumTimeout)" in runner("logs", "-p", "deadline").out

    (marks / "errcmd").unlink()
    runner("update", "pipeline", "-f", str(spec(10)), "--reprocess")
    runner("run", expect=1)
    assert not (marks / "errcmd").exists()
    assert "errCmd not run: cmd used up the datum's datumTimeout (3s)" in runner("logs", "-p", "deadline").out


def test_empty_files_are_staged_empty(runner: Runner, tmp_path: Path) -> None:
    """src/server/worker/datum/datum.go downloadData: an input with emptyFiles is downloaded with
    pfssync.WithEmpty (every file there, each empty)."""
    _put(runner, tmp_path, "raw", {"a.bin": "12345", "b.bin": "678"})
    node = pfs("raw", "/", "in")
    node["pfs"]["emptyFiles"] = True
    spec = write_spec(tmp_path / "s", "sizes", node, stage_cmd("seen", "/pfs/out"))
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    (listing,) = [json.loads(t) for t in _outputs(runner, "sizes").values()]
    assert listing["sizes"] == {"in/a.bin": 0, "in/b.bin": 0}


def test_output_symlinks_to_empty_inputs_upload_the_input_file(runner: Runner, tmp_path: Path) -> None:
    """src/server/worker/datum/datum.go handleSymlinks: a symlink in /pfs/out to a file of an
    emptyFiles (or lazy) input is copied from the input commit (its real content); a symlink to any
    other file uploads that file; a symlink to a folder every file below it."""
    _put(runner, tmp_path, "raw", {"d/a.txt": "alpha", "d/b.txt": "beta"})
    node = pfs("raw", "/d", "in")
    node["pfs"]["emptyFiles"] = True
    stdin = ["ln -s /pfs/in/d/a.txt /pfs/out/link-a.txt", "ln -s /pfs/in/d /pfs/out/folder"]
    spec = write_spec(tmp_path / "s", "links", node, ["bash"], transform={"stdin": stdin})
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    assert _outputs(runner, "links") == {
        "link-a.txt": "alpha",
        "folder/a.txt": "alpha",
        "folder/b.txt": "beta",
    }


def test_output_branch_is_honoured(runner: Runner, tmp_path: Path) -> None:
    """src/server/pps/server/api_server.go: the pipeline's output commits are made on outputBranch
    (default master)."""
    _put(runner, tmp_path, "raw", {"f.txt": "x"})
    spec = write_spec(
        tmp_path / "s",
        "copy",
        pfs("raw", "/*", "in"),
        stage_cmd("copy", "/pfs/out", "/pfs/in"),
        outputBranch="dev",
    )
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    assert _outputs(runner, "copy", "dev") == {"f.txt": "x"}
    assert not (runner.state / "copy" / "master").exists()
    assert runner.inspect("copy@dev")["branch"] == "dev"
    assert runner("run").out.startswith("nothing to do")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["input"]["pfs"].update(s3=True), "input.pfs.s3"),
        (lambda d: d.update(s3Out=True), "s3Out"),
    ],
    ids=["s3-input", "s3Out"],
)
def test_s3_gateway_fields_are_refused_at_create(runner: Runner, tmp_path: Path, change, field: str) -> None:
    """src/server/worker/datum/datum.go downloadData (an s3 input gets an empty folder and is read
    through the S3 gateway) and driver.go UserCodeEnv (S3_ENDPOINT): the runner has no gateway, so a
    spec that needs one is refused naming the field, and nothing is created."""
    _put(runner, tmp_path, "raw", {"f": "x"})
    spec = write_spec(tmp_path / "s", "s3", pfs("raw", "/", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"))
    doc = json.loads(spec.read_text())
    change(doc)
    spec.write_text(json.dumps(doc))
    result = runner("create", "pipeline", "-f", str(spec), expect=2)
    assert f"{spec}: {field}: " in result.err and "S3 gateway" in result.err
    assert runner("list", "pipeline", "--json").out.strip() == "[]"


def test_egress_is_said_not_done(runner: Runner, tmp_path: Path) -> None:
    """Egress (src/server/pps/server/api_server.go, pps.proto Egress) copies a finished output commit
    to an external store; it changes nothing a datum sees or writes. The runner does not copy, and
    create and run say so."""
    spec = write_spec(
        tmp_path / "s",
        "eg",
        pfs("raw", "/*", "in"),
        stage_cmd("copy", "/pfs/out", "/pfs/in"),
        egress={"URL": "s3://bucket/dir"},
    )
    _put(runner, tmp_path, "raw", {"f": "x"})
    out = runner("create", "pipeline", "-f", str(spec)).out
    assert (
        "eg: egress to s3://bucket/dir is not made by the local runner; the output stays in eg@master" in out
    )
    assert "egress to s3://bucket/dir" in runner("run").out


COLLIDE = [
    "if [ -e /pfs/in/a ]; then echo file > /pfs/out/x; fi",
    "if [ -e /pfs/in/b ]; then mkdir -p /pfs/out/x && echo below > /pfs/out/x/y; fi",
]


def test_file_directory_collision_fails_the_job_naming_both_datums(runner: Runner, tmp_path: Path) -> None:
    """src/internal/storage/fileset/validator.go CheckIndex: "file / directory path collision" when one
    datum writes /x and another /x/y. The job fails (recorded as failed, not left running), no commit
    is made, and the message names both datums and their inputs."""
    _put(runner, tmp_path, "raw", {"a": "1", "b": "2"})
    spec = write_spec(tmp_path / "s", "col", pfs("raw", "/*", "in"), ["bash"], transform={"stdin": COLLIDE})
    runner("create", "pipeline", "-f", str(spec))
    result = runner("run", expect=1)
    assert "file / directory path collision" in result.err
    assert "wrote the file /x" in result.err and "wrote /x/y below it" in result.err
    assert "in:/a" in result.err and "in:/b" in result.err and "Traceback" not in result.err
    job = runner.jobs("col")[0]
    assert job["state"] == "failure" and job["output_commit"] is None
    assert not (runner.state / "col" / "master").exists()


def test_collision_with_a_skipped_datums_output_fails_too(runner: Runner, tmp_path: Path) -> None:
    """The output commit holds skipped datums' outputs as well (src/server/worker/pipeline/transform
    registry: the parent job's outputs are kept), so a new datum's folder colliding with an earlier
    datum's file fails the job the same way."""
    _put(runner, tmp_path, "raw", {"a": "1"})
    spec = write_spec(tmp_path / "s", "col", pfs("raw", "/*", "in"), ["bash"], transform={"stdin": COLLIDE})
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    data = write_files(tmp_path / "more", {"b": "2"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    result = runner("run", expect=1)
    assert "0 processed" not in result.out and "file / directory path collision" in result.err
    assert runner.head_files("col") == {"x": "file\n"}  # the previous head stays


def test_output_file_names_pachyderm_refuses_fail_the_job(runner: Runner, tmp_path: Path) -> None:
    """src/server/worker/datum/datum.go uploadOutput calls ValidateFilename (src/internal/storage/
    paths.go: no glob characters, printable ASCII, no . or .. elements) on every output file."""
    pytest.importorskip("runner.paths", reason="runner/paths.py (ValidateFilename rules) not merged yet")
    _put(runner, tmp_path, "raw", {"a": "1"})
    spec = write_spec(
        tmp_path / "s",
        "names",
        pfs("raw", "/*", "in"),
        ["bash"],
        transform={"stdin": ["echo 1 > '/pfs/out/x(1).txt'"]},
    )
    runner("create", "pipeline", "-f", str(spec))
    result = runner("run", expect=1)
    assert "x(1).txt" in result.err and "in:/a" in result.err
    assert runner.jobs("names")[0]["state"] == "failure"


def test_no_staging_or_link_is_left_after_a_job(runner: Runner, tmp_path: Path) -> None:
    """Staging is removed after the job (datum.go WithSet RemoveAll), and so is its visible link."""
    _put(runner, tmp_path, "raw", {"f": "x"})
    spec = write_spec(
        tmp_path / "s", "copy", pfs("raw", "/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in")
    )
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    job = runner.jobs("copy")[0]["id"]
    assert not (runner.state / ".work" / job).exists()
    assert not os.path.lexists(links_dir() / job)


def test_a_link_left_by_an_interrupted_job_is_removed_by_the_next_run(runner: Runner, tmp_path: Path) -> None:
    """A killed run leaves its staging and its visible link; the next `run` (the jobs lock holder:
    a put must not touch a running job's staging) removes both (State.recover_jobs), and only links
    into this state's staging."""
    _put(runner, tmp_path, "raw", {"f": "x"})
    work = runner.state / ".work" / "deadjob"
    work.mkdir(parents=True)
    links_dir().mkdir(parents=True, exist_ok=True)
    ours, other = links_dir() / f"dead-{os.getpid()}", links_dir() / f"other-{os.getpid()}"
    os.symlink(work, ours)
    os.symlink(tmp_path / "elsewhere", other)
    try:
        _put(runner, tmp_path, "raw2", {"g": "y"})
        assert os.path.lexists(ours) and work.exists()  # a put leaves jobs' staging alone
        runner("run")
        assert not os.path.lexists(ours) and not work.exists()
        assert os.path.lexists(other)
    finally:
        for link in (ours, other):
            if os.path.lexists(link):
                os.unlink(link)
