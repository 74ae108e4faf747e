"""``debug datum`` runs a datum through the run path of ``run``: same staging, same warm or
subprocess choice, same exit-status rules (``acceptReturnCode``) and ``datumTimeout``.

``acceptReturnCode`` as Pachyderm reads it: an exit status listed there makes the datum succeed
(and its output is kept), like 0; any other non-zero status fails it
(pachyderm src/server/worker/driver/driver.go, ``RunUserCode``: the loop over
``Transform.AcceptReturnCode`` that returns nil on a match).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.records import DatumState, JobState
from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, stage_cmd, write_files, write_spec

STAGE = "python3 -m tests.runner.stages.exitcode /pfs/out /pfs/raw"
#: (cmd, transform extras, what the stage says about warm): the same stage run warm and as a subprocess
MODES = {
    "warm": (stage_cmd("exitcode", "/pfs/out", "/pfs/raw"), {}, "warm: True"),
    "subprocess": (["bash"], {"stdin": [f"exec {STAGE}"]}, "warm: False"),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_run_and_debug_datum_agree_on_accept_return_code(runner: Runner, tmp_path: Path, mode: str) -> None:
    cmd, transform, warm_line = MODES[mode]
    write_files(tmp_path / "data", {"accepted.txt": "3", "refused.txt": "4"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    spec = write_spec(
        tmp_path / "s",
        "codes",
        pfs("raw", "/*"),
        cmd,
        datumTries=1,
        transform={**transform, "acceptReturnCode": [3]},
    )
    runner("create", "pipeline", "-f", str(spec))
    assert "refused.txt" in runner("run", expect=1).err
    job = runner.jobs("codes")[0]
    assert job["state"] == JobState.FAILURE
    states = {d["files"][0]: d["state"] for d in json.loads(runner("list", "datum", "codes", "--json").out)}
    assert states == {"raw:/accepted.txt": DatumState.SUCCESS, "raw:/refused.txt": DatumState.FAILED}
    ids = {d["files"][0]: d["id"] for d in json.loads(runner("list", "datum", "codes", "--json").out)}

    accepted = runner("debug", "datum", job["id"][:8], ids["raw:/accepted.txt"], expect=0)
    assert warm_line in accepted.err and "datum succeeded" in accepted.err
    out = runner.state / ".debug" / ids["raw:/accepted.txt"] / "pfs" / "out" / "accepted.txt"
    assert out.read_text() == "3"  # kept for inspection, not moved into the object store

    refused = runner("debug", "datum", job["id"][:8], ids["raw:/refused.txt"], expect=1)
    assert warm_line in refused.err and "datum failed" in refused.err


def test_debug_datum_applies_the_datum_timeout(runner: Runner, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"f": "x"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    cmd = stage_cmd("slow", "/pfs/out", "/pfs/raw", "30")
    spec = write_spec(tmp_path / "s", "slowp", pfs("raw", "/*"), cmd, datumTimeout="0.5s", datumTries=1)
    runner("create", "pipeline", "-f", str(spec))
    runner("run", expect=1)
    job = runner.jobs("slowp")[0]
    did = job["failed_datums"][0]["datum"]
    debug = runner("debug", "datum", job["id"][:8], did, expect=1)
    assert "datum timed out after 0.5s (datumTimeout)" in debug.err


def test_unknown_datum_is_a_one_line_error(runner: Runner, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"f": "x"})
    runner("put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "data"))
    spec = write_spec(tmp_path / "s", "copy", pfs("raw", "/*"), stage_cmd("copy", "/pfs/out", "/pfs/raw"))
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    job = runner.jobs("copy")[0]
    err = runner("debug", "datum", job["id"][:8], "ffffffffffff", expect=1).err
    assert err.strip().count("\n") == 0 and "is not a datum of job" in err
