"""When a datum is processed again, as Pachyderm decides it.

A datum's hash (src/server/worker/common/common.go HashDatum) covers the datum's id (input names,
repos, branches, paths), its input files' hashes and the pipeline's salt, nothing else of the
spec. The salt is the spec's `salt` or a random one at creation, and an update keeps the old salt
unless it reprocesses (src/server/pps/server/api_server.go initializePipelineInfo: `if
!request.Reprocess { Salt = oldPipelineInfo.Details.Salt }`; `--reprocess` in
src/server/pps/cmds/cmds.go sets Reprocess). So a new image tag or cmd reruns nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, stage_cmd, write_files, write_spec

FILES = {"a.txt": "one", "b.txt": "two"}


def _setup(runner: Runner, tmp_path: Path, **extra: object) -> Path:
    data = write_files(tmp_path / "data", FILES)
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    spec = write_spec(
        tmp_path / "s", "copy", pfs("raw", "/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"), **extra
    )
    runner("create", "pipeline", "-f", str(spec))
    assert "2 datums, 2 processed, 0 skipped" in runner("run").out
    return spec


def _rewrite(spec: Path, change) -> None:
    doc = json.loads(spec.read_text())
    change(doc)
    spec.write_text(json.dumps(doc))


def test_new_image_tag_or_cmd_reruns_no_datum(runner: Runner, tmp_path: Path) -> None:
    """HashDatum has no part of the transform: an updated image or cmd makes a job (a new pipeline
    version) whose datums are all skipped; the output is unchanged."""
    spec = _setup(runner, tmp_path)
    before = runner.head_files("copy")
    _rewrite(spec, lambda d: d["transform"].update(image="test/copy:2"))
    assert "copy: updated" in runner("update", "pipeline", "-f", str(spec)).out
    assert "2 datums, 0 processed, 2 skipped" in runner("run").out
    _rewrite(spec, lambda d: d["transform"]["cmd"].append("/pfs/in"))  # the cmd changes too
    runner("update", "pipeline", "-f", str(spec))
    assert "2 datums, 0 processed, 2 skipped" in runner("run").out
    assert runner.head_files("copy") == before


def test_reprocess_reruns_every_datum_once(runner: Runner, tmp_path: Path) -> None:
    """`update pipeline --reprocess` draws a new salt: every datum's hash changes, all run; the next
    run with nothing new has nothing to do."""
    spec = _setup(runner, tmp_path)
    runner("update", "pipeline", "-f", str(spec), "--reprocess")
    assert "2 datums, 2 processed, 0 skipped" in runner("run").out
    assert runner("run").out.startswith("nothing to do")


def test_changed_salt_field_on_update_is_kept_from_before(runner: Runner, tmp_path: Path) -> None:
    """initializePipelineInfo keeps the old pipeline's salt on an update without Reprocess, even when
    the request carries another `salt`: the datums are skipped."""
    spec = _setup(runner, tmp_path, salt="s1")
    assert json.loads(runner("inspect", "pipeline", "copy").out)["salt"] == "s1"
    _rewrite(spec, lambda d: d.update(salt="s2"))
    runner("update", "pipeline", "-f", str(spec))
    assert json.loads(runner("inspect", "pipeline", "copy").out)["salt"] == "s1"
    assert "0 processed, 2 skipped" in runner("run").out


def test_salt_and_version_at_creation(runner: Runner, tmp_path: Path) -> None:
    """A pipeline created without `salt` gets a random one (uuid.NewWithoutDashes), with `salt` that
    one; Version starts at 1 and grows by one per update (initializePipelineInfo)."""
    spec = _setup(runner, tmp_path)
    doc = json.loads(runner("inspect", "pipeline", "copy").out)
    assert len(doc["salt"]) == 32 and doc["version"] == 1
    _rewrite(spec, lambda d: d.update(description="v2"))
    runner("update", "pipeline", "-f", str(spec))
    assert json.loads(runner("inspect", "pipeline", "copy").out)["version"] == 2


def test_changed_input_file_reruns_its_datum_only(runner: Runner, tmp_path: Path) -> None:
    """HashDatum covers the input file's hash: a changed file reruns its datum, the other is skipped."""
    _setup(runner, tmp_path)
    changed = write_files(tmp_path / "more", {"a.txt": "ONE"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(changed))
    assert "2 datums, 1 processed, 1 skipped" in runner("run").out


def test_reprocess_spec_every_job_ignores_the_cache(runner: Runner, tmp_path: Path) -> None:
    """src/server/worker/pipeline/transform/registry.go StartJob: noSkip when reprocessSpec is
    every_job."""
    _setup(runner, tmp_path, reprocessSpec="every_job")
    changed = write_files(tmp_path / "more", {"a.txt": "ONE"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(changed))
    assert "2 datums, 2 processed, 0 skipped" in runner("run").out


def test_a_failed_jobs_successful_datums_are_kept_a_deliberate_difference(
    runner: Runner, tmp_path: Path
) -> None:
    """Pachyderm bases a job on the last *successful* job (src/server/worker/pipeline/transform/
    pending_job.go load: the base meta commit must have no error), so datums that succeeded in a
    failed job run again (TestPipelineErrorHandling: DataSkipped 0 after the update). The runner
    keeps them on purpose: after a fix only the failed datums run (docs/conformance.md)."""
    data = write_files(tmp_path / "data", {"good.txt": "fine", "bad.txt": "bad stuff"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    spec = write_spec(
        tmp_path / "s",
        "check",
        pfs("raw", "/*", "in"),
        stage_cmd("fail", "/pfs/out", "/pfs/in"),
        datumTries=1,
    )
    runner("create", "pipeline", "-f", str(spec))
    assert "1 processed, 0 skipped, 1 failed" in runner("run", expect=1).out
    (data / "bad.txt").write_text("now fine")
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    assert "2 datums, 1 processed, 1 skipped" in runner("run").out
