"""End-to-end behaviour of ``python -m runner`` on small test stages, in temporary folders."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from runner.jobs import Progress
from runner.visible import links_dir
from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, stage_cmd, write_files, write_spec

FILES = {"a/1.txt": "one\n", "a/2.txt": "two\n", "b/3.txt": "three\n", "top.txt": "top\n"}


def setup_copy(
    runner: Runner, tmp_path: Path, glob: str = "/*/*", files: dict[str, str] | None = None
) -> Path:
    data = write_files(tmp_path / "data", files or FILES)
    spec = write_spec(
        tmp_path / "specs", "copy", pfs("raw", glob, "in"), stage_cmd("copy", "/pfs/out", "/pfs/in")
    )
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(spec))
    return data


def test_copy_pipeline_output_is_a_plain_folder_with_provenance(runner: Runner, tmp_path: Path) -> None:
    setup_copy(runner, tmp_path)
    out = runner("run").out
    assert "copy: job" in out and "3 datums, 3 processed, 0 skipped, 0 failed" in out
    assert runner.head_files("copy") == {"a/1.txt": "one\n", "a/2.txt": "two\n", "b/3.txt": "three\n"}
    assert runner.head_files("raw")["top.txt"] == "top\n"
    raw, copy = runner.inspect("raw@master"), runner.inspect("copy@master")
    assert raw["provenance"] == [] and raw["parents"] == []
    assert copy["provenance"] == [{"repo": "raw", "commit": raw["id"]}]
    assert copy["job"] == runner.jobs("copy")[0]["id"] and len(copy["spec_hash"]) == 32
    assert set(copy) >= {"id", "repo", "branch", "parents", "created", "provenance", "spec_hash", "job"}
    assert runner("run").out.startswith("nothing to do")


def test_identical_put_makes_no_commit_and_reprocesses_nothing(runner: Runner, tmp_path: Path) -> None:
    data = setup_copy(runner, tmp_path)
    runner("run")
    assert "no change" in runner("put", "file", "-r", "raw@master:/", "-f", str(data)).out
    assert len(json.loads(runner("list", "commit", "raw", "--json").out)) == 1
    assert runner("run").out.startswith("nothing to do")


def test_changed_input_reruns_one_datum_and_deleted_input_removes_its_output(
    runner: Runner, tmp_path: Path
) -> None:
    data = setup_copy(runner, tmp_path)
    runner("run")
    (data / "a" / "1.txt").write_text("ONE\n")
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    assert "3 datums, 1 processed, 2 skipped" in runner("run").out
    assert runner.head_files("copy")["a/1.txt"] == "ONE\n"
    runner("delete", "file", "raw@master:/a/2.txt")
    assert "2 datums, 0 processed, 2 skipped" in runner("run").out
    assert runner.head_files("copy") == {"a/1.txt": "ONE\n", "b/3.txt": "three\n"}
    history = json.loads(runner("list", "commit", "copy", "--json").out)
    assert len(history) == 3 and history[0]["parents"] == [history[1]["id"]]


def test_changed_spec_skips_its_datums_unless_reprocess(runner: Runner, tmp_path: Path) -> None:
    """A changed spec makes a job whose datums are skipped (the pipeline keeps its salt); --reprocess
    reruns them all (src/server/pps/server/api_server.go initializePipelineInfo; more cases in
    test_fidelity_reprocess.py)."""
    setup_copy(runner, tmp_path)
    runner("run")
    spec = write_spec(
        tmp_path / "specs",
        "copy",
        pfs("raw", "/*/*", "in"),
        stage_cmd("copy", "/pfs/out", "/pfs/in"),
        salt="v2",
    )
    assert "copy: updated" in runner("update", "pipeline", "-f", str(spec)).out
    assert "copy: unchanged" in runner("update", "pipeline", "-f", str(spec)).out
    assert "0 processed, 3 skipped" in runner("run").out
    runner("update", "pipeline", "-f", str(spec), "--reprocess")
    assert "3 processed, 0 skipped" in runner("run").out


def test_every_glob_form(runner: Runner, tmp_path: Path) -> None:
    expected = {"/": 1, "/*": 3, "/*/*": 3, "/**": 6, "/top.txt": 1, "/a/*": 2}
    data = write_files(tmp_path / "data", FILES)
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    for i, glob in enumerate(expected):
        # /** gives a datum per folder and per file: the copy would collide, so write one file per datum
        cmd = stage_cmd("env", "/pfs/out", "in")
        spec = write_spec(tmp_path / "specs", f"g{i}", pfs("raw", glob, "in"), cmd)
        runner("create", "pipeline", "-f", str(spec))
    out = runner("run").out
    for i, (glob, n) in enumerate(expected.items()):
        assert f"g{i}: job" in out
        files = runner.head_files(f"g{i}")
        assert len(files) == n, (glob, files)
    matched = {json.loads(t)["in"] for t in runner.head_files("g5").values()}
    root = str(links_dir())  # the visible staging path (no hidden component: test_fidelity_datum.py)
    assert all(m.startswith(root) for m in matched)
    assert {m.split("/pfs/in", 1)[1] for m in matched} == {"/a/1.txt", "/a/2.txt"}


def test_cross_input_and_env_variables(runner: Runner, tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", {"x/1": "x1 ", "x/2": "x2 ", "y/a": "ya", "y/b": "yb"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    cross = {"cross": [pfs("raw", "/x/*", "left"), pfs("raw", "/y/*", "right")]}
    runner(
        "create",
        "pipeline",
        "-f",
        str(write_spec(tmp_path / "s", "pair", cross, stage_cmd("pair", "/pfs/out", "left", "right"))),
    )
    env_cmd = stage_cmd("env", "/pfs/out", "left", "left_COMMIT", "PACH_JOB_ID", "PACH_DATUM_ID", "MY_DIR")
    spec = write_spec(
        tmp_path / "s",
        "envs",
        {"cross": [pfs("raw", "/x/1", "left")]},
        env_cmd,
        transform={"env": {"MY_DIR": "/pfs/out/sub"}},
    )
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    assert runner.head_files("pair") == {"1_a": "x1 ya", "1_b": "x1 yb", "2_a": "x2 ya", "2_b": "x2 yb"}
    (values,) = [json.loads(t) for t in runner.head_files("envs").values()]
    raw_head = runner.inspect("raw@master")["id"]
    job = runner.jobs("envs")[0]
    assert values["left_COMMIT"] == raw_head and values["PACH_JOB_ID"] == job["id"]
    assert values["left"].endswith("/pfs/left/x/1") and os.path.isabs(values["left"])
    assert values["MY_DIR"] == values["left"].split("/pfs/left")[0] + "/pfs/out/sub"
    assert values["argv"][1].endswith("/pfs/out") and values["cwd"] == os.getcwd()
    datums = json.loads(runner("list", "datum", "envs", "--json").out)
    assert [d["id"] for d in datums] == [values["PACH_DATUM_ID"]]


def test_union_input(runner: Runner, tmp_path: Path) -> None:
    write_files(tmp_path / "d1", {"p.txt": "p"})
    write_files(tmp_path / "d2", {"q/r.txt": "r"})
    runner("put", "file", "-r", "one@master:/", "-f", str(tmp_path / "d1"))
    runner("put", "file", "-r", "two@master:/", "-f", str(tmp_path / "d2"))
    union = {"union": [pfs("one", "/*", "in"), pfs("two", "/*", "in")]}
    runner(
        "create",
        "pipeline",
        "-f",
        str(write_spec(tmp_path / "s", "u", union, stage_cmd("copy", "/pfs/out", "/pfs/in"))),
    )
    assert "2 datums, 2 processed" in runner("run").out
    assert runner.head_files("u") == {"p.txt": "p", "q/r.txt": "r"}
    assert {p["repo"] for p in runner.inspect("u@master")["provenance"]} == {"one", "two"}


def test_subprocess_stage_with_stdin_and_downstream_pipeline(runner: Runner, tmp_path: Path) -> None:
    setup_copy(runner, tmp_path)
    spec = write_spec(
        tmp_path / "specs",
        "cat",
        pfs("copy", "/"),
        ["bash"],
        transform={"stdin": ["cat /pfs/copy/*/* > /pfs/out/all.txt"]},
    )
    runner("create", "pipeline", "-f", str(spec))
    out = runner("run").out
    assert out.index("copy: job") < out.index("cat: job")
    assert runner.head_files("cat") == {"all.txt": "one\ntwo\nthree\n"}
    assert runner.inspect("cat@master")["provenance"][0]["commit"] == runner.inspect("copy@master")["id"]


def test_output_collision_fails_the_job_naming_both_datums(runner: Runner, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"a": "1", "b": "2"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    runner(
        "create",
        "pipeline",
        "-f",
        str(write_spec(tmp_path / "s", "col", pfs("raw", "/*"), stage_cmd("collide", "/pfs/out"))),
    )
    result = runner("run", expect=1)
    assert "FAILED" in result.out
    assert "both wrote /same.txt" in result.err and "raw:/a" in result.err and "raw:/b" in result.err
    assert runner.inspect("raw@master") and not (runner.state / "col" / "master").exists()
    assert runner.jobs("col")[0]["state"] == "failure"


def test_failing_datum_is_reported_in_one_line_and_blocks_downstream(runner: Runner, tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", {"good.txt": "fine", "bad.txt": "bad stuff"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    spec = write_spec(
        tmp_path / "s",
        "check",
        pfs("raw", "/*", "in"),
        stage_cmd("fail", "/pfs/out", "/pfs/in"),
        datumTries=2,
    )
    down = write_spec(tmp_path / "s", "down", pfs("check", "/"), stage_cmd("copy", "/pfs/out", "/pfs/check"))
    runner("create", "pipeline", "-f", str(tmp_path / "s"))
    result = runner("run", expect=1)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "check: job" in lines[0] and "in:/bad.txt" in lines[0] and "failed after 2 tries" in lines[0]
    assert "fail: bad.txt line 1: content is bad" in lines[0]
    assert "down: not run, an upstream pipeline failed" in result.out
    job = runner.jobs("check")[0]
    assert job["state"] == "failure" and job["failed_datums"][0]["inputs"] == ["in:/bad.txt"]
    did = job["failed_datums"][0]["datum"]
    log = runner("logs", "--job", job["id"], "--datum", did).out
    assert log.count("checking bad.txt") == 2 and all(line.startswith(did) for line in log.splitlines())
    debug = runner("debug", "datum", job["id"][:8], did, expect=1)
    assert "staged at" in debug.err and (runner.state / ".debug" / did / "pfs" / "in" / "bad.txt").exists()
    # fixing the input: the good datum is not run again (its success was cached), the bad one is
    (data / "bad.txt").write_text("now fine")
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    out = runner("run").out
    assert "check: job" in out and "1 processed, 1 skipped" in out and "down: job" in out
    assert runner.head_files("down") == {"bad.txt": "now fine", "good.txt": "fine"}
    del spec, down


def test_retries_until_datum_tries(runner: Runner, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"f": "x"})
    counts = tmp_path / "counts"
    counts.mkdir()
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    cmd = stage_cmd("flaky", "/pfs/out", "/pfs/raw", str(counts), "3")
    runner(
        "create",
        "pipeline",
        "-f",
        str(write_spec(tmp_path / "s", "flaky", pfs("raw", "/*"), cmd, datumTries=3)),
    )
    assert "1 processed" in runner("run").out
    assert runner.head_files("flaky") == {"f": "x"}
    (counter,) = counts.iterdir()
    assert counter.read_text() == "3"
    assert runner("logs", "-p", "flaky").out.count("fails on purpose") == 2


def test_put_file_forms_zip_and_get_file(runner: Runner, tmp_path: Path) -> None:
    archive = tmp_path / "kaggle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("symbols_valid_meta.csv", "meta\n")
        zf.writestr("stocks/A.csv", "a\n")
        zf.writestr("etfs/", "")
    runner("put", "file", "raw@master:/", "-f", str(archive))
    single = write_files(tmp_path / "single", {"one.txt": "1"})
    runner("put", "file", "raw@master:/extra/renamed.txt", "-f", str(single / "one.txt"))
    runner("put", "file", "raw@master:/dir/", "-f", str(single / "one.txt"))
    assert runner.head_files("raw") == {
        "symbols_valid_meta.csv": "meta\n",
        "stocks/A.csv": "a\n",
        "extra/renamed.txt": "1",
        "dir/one.txt": "1",
    }
    assert runner("get", "file", "raw@master:/stocks/A.csv").out == "a\n"
    assert "is a folder" in runner("get", "file", "raw@master:/stocks", expect=1).err
    assert "-r" in runner("put", "file", "raw@master:/", "-f", str(single), expect=1).err
    first = json.loads(runner("list", "commit", "raw", "--json").out)[-1]["id"]
    assert runner("get", "file", f"raw@{first[:10]}:/stocks/A.csv").out == "a\n"
    listing = runner("list", "file", "raw@master:/").out
    assert "/stocks" in listing and "dir" in listing


def test_head_files_are_read_only_hard_links(runner: Runner, tmp_path: Path) -> None:
    setup_copy(runner, tmp_path)
    runner("run")
    f = runner.state / "copy" / "master" / "a" / "1.txt"
    assert f.stat().st_nlink >= 2, "a hard link into the object store"
    assert oct(f.stat().st_mode & 0o777) == "0o444"


def test_service_pipeline_is_not_run(runner: Runner, tmp_path: Path) -> None:
    setup_copy(runner, tmp_path)
    spec = write_spec(
        tmp_path / "specs",
        "serve",
        pfs("copy", "/"),
        ["gunicorn", "api.wsgi:app"],
        service={"internalPort": 8000, "externalPort": 30080},
    )
    runner("create", "pipeline", "-f", str(spec))
    out = runner("run").out
    assert "serve: service pipeline, not run" in out and "make serve" in out
    graph = runner("graph").out
    assert graph.startswith("flowchart TD") and "n_raw[(raw)]" in graph and 'n_copy -->|"/"| n_serve' in graph


def test_verbs_for_listing_and_deleting(runner: Runner, tmp_path: Path) -> None:
    setup_copy(runner, tmp_path)
    runner("run")
    assert "copy" in runner("list", "repo").out and "raw" in runner("list", "pipeline").out
    assert "already exists" in runner("create", "pipeline", "-f", str(tmp_path / "specs"), expect=1).err
    assert "add --force" in runner("delete", "repo", "raw", expect=1).err
    assert (
        "is the output repo"
        in runner("put", "file", "copy@master:/x", "-f", str(tmp_path / "data" / "top.txt"), expect=1).err
    )
    runner("delete", "pipeline", "copy")
    assert "copy" not in runner("list", "repo").out
    runner("delete", "repo", "raw")
    assert runner("list", "repo", "--json").out.strip() == "[]"
    assert "not found" in runner("list", "commit", "raw", expect=1).err


def test_invalid_spec_exits_2_and_changes_nothing(runner: Runner, tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(
        json.dumps(
            {"pipeline": {"name": "bad"}, "input": {"pfs": {"repo": "raw"}}, "transform": {"cmd": ["x"]}}
        )
    )
    result = runner("create", "pipeline", "-f", str(spec), expect=2)
    assert result.err.strip() == f"{spec}: input.pfs.glob: required"
    assert not (runner.state / ".pipelines").exists()


def test_help_explains_every_verb_with_an_example(runner: Runner) -> None:
    top = runner("--help").out
    for verb in (
        "create",
        "update",
        "put",
        "list",
        "inspect",
        "get",
        "logs",
        "delete",
        "run",
        "graph",
        "debug",
    ):
        assert verb in top
    for argv in (
        ["put", "file"],
        ["run"],
        ["list", "datum"],
        ["inspect", "commit"],
        ["debug", "datum"],
        ["graph"],
    ):
        assert "example:" in runner(*argv, "--help").out


def test_datum_timeout_fails_the_datum(runner: Runner, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"f": "x"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    cmd = stage_cmd("slow", "/pfs/out", "/pfs/raw", "30")
    spec = write_spec(tmp_path / "s", "slowp", pfs("raw", "/*"), cmd, datumTimeout="0.5s", datumTries=1)
    runner("create", "pipeline", "-f", str(spec))
    assert "datum timed out after 0.5s (datumTimeout)" in runner("run", expect=1).err


def test_a_pipeline_reading_a_missing_repo_is_refused_until_it_exists(runner: Runner, tmp_path: Path) -> None:
    """As pachd refuses it (src/server/pfs/pfs.go ErrRepoNotFound); see docs/conformance.md."""
    later = write_spec(tmp_path / "a", "later", pfs("copy", "/"), stage_cmd("copy", "/pfs/out", "/pfs/copy"))
    assert "repo default/copy not found" in runner("create", "pipeline", "-f", str(later), expect=2).err
    setup_copy(runner, tmp_path)
    runner("create", "pipeline", "-f", str(later))
    out = runner("run").out
    assert out.index("copy: job") < out.index("later: job")
    assert runner.head_files("later") == runner.head_files("copy")


def test_python_m_stages_run_warm_in_at_most_parallelism_workers(runner: Runner, tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", {f"f{i}": str(i) for i in range(8)})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    warm = write_spec(
        tmp_path / "s",
        "warm",
        pfs("raw", "/*"),
        stage_cmd("env", "/pfs/out"),
        parallelismSpec={"constant": 2},
    )
    cold = write_spec(
        tmp_path / "s", "cold", pfs("raw", "/*"), ["bash", "-c", " ".join(stage_cmd("env", "/pfs/out"))]
    )
    runner("create", "pipeline", "-f", str(warm))
    runner("create", "pipeline", "-f", str(cold))
    runner("run")
    warm_values = [json.loads(t) for t in runner.head_files("warm").values()]
    pids = {v["pid"] for v in warm_values}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    # every datum of one worker saw the same imported module: it was imported once per worker
    assert len({v["loaded_token"] for v in warm_values}) == len(pids)
    cold_values = [json.loads(t) for t in runner.head_files("cold").values()]
    assert len({v["pid"] for v in cold_values}) == 8 and len({v["loaded_token"] for v in cold_values}) == 8


def test_progress_line_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        progress = Progress("ingest", 10, stream)
        progress.done = 4
        progress.tick(force=True)
        progress.close()
    assert "\ringest  4/10 datums" in tty.getvalue() and "/s" in tty.getvalue()
    assert pipe.getvalue() == ""


def test_verbose_run_lists_every_failed_datum_and_ignored_fields(runner: Runner, tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", {"bad1.txt": "bad", "bad2.txt": "bad", "ok.txt": "ok"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    cmd = stage_cmd("fail", "/pfs/out", "/pfs/in")
    spec = write_spec(
        tmp_path / "s", "check", pfs("raw", "/*", "in"), cmd, datumTries=1, resourceLimits={"memory": "1Gi"}
    )
    runner("create", "pipeline", "-f", str(spec))
    result = runner("run", "-v", expect=1)
    assert "check: cluster-only fields ignored locally: resourceLimits" in result.out
    assert "(in:/bad1.txt): fail: bad1.txt line 1" in result.err and "(in:/bad2.txt)" in result.err
    assert "(and 1 more failed datums)" in result.err
