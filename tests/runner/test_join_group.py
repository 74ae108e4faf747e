"""join, group and cron inputs end to end through the runner's command line, on small specs.

Pachyderm sources: src/server/worker/datum/create.go (createJoin, createGroup, createCron),
src/server/worker/datum/worker.go (processPFSTask, processKeyTask, processMergeTask),
src/server/worker/datum/iterator_test.go (TestIterators: Join, OuterJoin, GroupDoubles).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.runner.conftest import Runner
from tests.runner.helpers import stage_cmd, write_files, write_spec

ROOT = Path(__file__).resolve().parents[2]
PRICES = {"A.csv": "a-price\n", "B.csv": "b-price\n", "C.csv": "c-price\n"}
META = {"A.json": "a-meta\n", "B.json": "b-meta\n", "D.json": "d-meta\n"}


def keyed(repo: str, glob: str, **opts: Any) -> dict[str, Any]:
    return {"pfs": {"repo": repo, "glob": glob, **opts}}


def put(runner: Runner, tmp_path: Path, repo: str, files: dict[str, str]) -> None:
    runner("put", "file", "-r", f"{repo}@master:/", "-f", str(write_files(tmp_path / repo, files)))


def join_spec(tmp_path: Path, name: str, cmd: list[str], outer_prices: bool = False) -> Path:
    prices = keyed("prices", "/(*).csv", joinOn="$1", outerJoin=outer_prices)
    return write_spec(
        tmp_path / "specs", name, {"join": [prices, keyed("meta", "/(*).json", joinOn="$1")]}, cmd
    )


def datum_inputs(runner: Runner, pipeline: str) -> list[list[str]]:
    rows = json.loads(runner("list", "datum", pipeline, "--json").out)
    return sorted([f"{i['name']}:{i['matched']}" for i in row["inputs"]] for row in rows)


def test_join_pairs_files_by_capture_group(runner: Runner, tmp_path: Path) -> None:
    """worker.go processMergeTask (JOIN), iterator_test.go TestIterators "Join": files pair up by
    the ``$1`` of their globs; C.csv and D.json have no partner and give no datum. A datum sees
    both inputs (the pair stage reads each input's path from its variable) in the join's order."""
    put(runner, tmp_path, "prices", PRICES)
    put(runner, tmp_path, "meta", META)
    runner(
        "create",
        "pipeline",
        "-f",
        str(join_spec(tmp_path, "joined", stage_cmd("pair", "/pfs/out", "prices", "meta"))),
    )
    out = runner("run").out
    assert "joined: job" in out and "2 datums, 2 processed, 0 skipped, 0 failed" in out
    assert runner.head_files("joined") == {
        "A.csv_A.json": "a-price\na-meta\n",
        "B.csv_B.json": "b-price\nb-meta\n",
    }
    assert datum_inputs(runner, "joined") == [
        ["prices:/A.csv", "meta:/A.json"],
        ["prices:/B.csv", "meta:/B.json"],
    ]
    # A partner for C.csv arrives: one new datum, the two earlier ones are reused.
    put(runner, tmp_path, "meta", {**META, "C.json": "c-meta\n"})
    assert "3 datums, 1 processed, 2 skipped" in runner("run").out
    assert runner.head_files("joined")["C.csv_C.json"] == "c-price\nc-meta\n"


def test_outer_join_keeps_files_without_partner(runner: Runner, tmp_path: Path) -> None:
    """worker.go processMergeTask (JOIN), iterator_test.go TestIterators "OuterJoin": with
    ``outerJoin`` on prices, C.csv is a datum on its own; D.json (meta has no outerJoin) is not."""
    put(runner, tmp_path, "prices", PRICES)
    put(runner, tmp_path, "meta", META)
    cmd = stage_cmd("copy", "/pfs/out", "/pfs/prices", "/pfs/meta")
    runner("create", "pipeline", "-f", str(join_spec(tmp_path, "outer", cmd, outer_prices=True)))
    assert "3 datums, 3 processed" in runner("run").out
    assert runner.head_files("outer") == {
        "A.csv": "a-price\n",
        "A.json": "a-meta\n",
        "B.csv": "b-price\n",
        "B.json": "b-meta\n",
        "C.csv": "c-price\n",
    }
    assert ["prices:/C.csv"] in datum_inputs(runner, "outer")


def test_group_collects_every_file_of_a_key(runner: Runner, tmp_path: Path) -> None:
    """worker.go processMergeTask (GROUP), iterator_test.go TestIterators "GroupDoubles": one
    datum per ``groupBy`` key holding the files of every input with that key; a key one input
    lacks still forms a group (2020-02 has no return)."""
    put(runner, tmp_path, "sales", {"2020-01-a.csv": "1\n", "2020-01-b.csv": "2\n", "2020-02-a.csv": "3\n"})
    put(runner, tmp_path, "returns", {"2020-01-r.csv": "4\n"})
    group = {
        "group": [
            keyed("sales", "/(*)-(*)-*.csv", groupBy="$1-$2"),
            keyed("returns", "/(*)-(*)-*.csv", groupBy="$1-$2"),
        ]
    }
    listing = "cd /pfs && find . -name '*.csv' | sort > out/$PACH_DATUM_ID.txt"
    spec = write_spec(tmp_path / "specs", "monthly", group, ["sh"], transform={"stdin": [listing]})
    runner("create", "pipeline", "-f", str(spec))
    assert "2 datums, 2 processed" in runner("run").out
    assert sorted(runner.head_files("monthly").values()) == [
        "./returns/2020-01-r.csv\n./sales/2020-01-a.csv\n./sales/2020-01-b.csv\n",
        "./sales/2020-02-a.csv\n",
    ]


def test_run_makes_one_cron_tick_per_run(runner: Runner, tmp_path: Path) -> None:
    """pachd creates the tick repo ``<pipeline>_<name>`` with the pipeline (api_server.go) and
    commits an empty file named by the tick's time (monitor.go cronTick); ``runner run`` ticks once
    per run, so each run gives the pipeline one new datum (glob ``/*``: create.go createCron)."""
    spec = write_spec(
        tmp_path / "specs",
        "nightly",
        {"cron": {"name": "tick", "spec": "@daily"}},
        stage_cmd("copy", "/pfs/out", "/pfs/tick"),
    )
    assert "created cron repo nightly_tick" in runner("create", "pipeline", "-f", str(spec)).out
    runner("run")
    first = runner.head_files("nightly_tick")
    assert len(first) == 1 and next(iter(first)).endswith("Z") and runner.head_files("nightly") == first
    time.sleep(1.1)  # tick files are named to the second
    runner("run")
    assert len(runner.head_files("nightly_tick")) == 2
    jobs = runner.jobs("nightly")
    assert [j["datums"]["processed"] for j in jobs] == [1, 1] and jobs[0]["datums"]["skipped"] == 1


def test_cron_overwrite_keeps_only_the_newest_tick(runner: Runner, tmp_path: Path) -> None:
    """monitor.go cronTick: with ``overwrite`` the earlier tick files are deleted in the new commit."""
    cron = {"cron": {"name": "tick", "spec": "@every 1h", "overwrite": True}}
    spec = write_spec(tmp_path / "specs", "hourly", cron, stage_cmd("copy", "/pfs/out", "/pfs/tick"))
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    time.sleep(1.1)
    runner("run")
    assert len(runner.head_files("hourly_tick")) == 1
    assert len(runner("list", "commit", "hourly_tick", "--json").out.split('"id"')) == 3  # two ticks


def test_join_through_python_dash_m_runner(tmp_path: Path) -> None:
    """The same join as test_join_pairs_files_by_capture_group, run as ``python -m runner`` in a
    child process (iterator_test.go TestIterators "Join")."""
    env = {**os.environ, "PFS_STATE": str(tmp_path / "pfs")}

    def cli(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "runner", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    for repo, files in (("prices", PRICES), ("meta", META)):
        cli("put", "file", "-r", f"{repo}@master:/", "-f", str(write_files(tmp_path / repo, files)))
    cli(
        "create",
        "pipeline",
        "-f",
        str(join_spec(tmp_path, "joined", stage_cmd("pair", "/pfs/out", "prices", "meta"))),
    )
    assert "2 datums, 2 processed" in cli("run")
    out = tmp_path / "pfs" / "joined" / "master"
    assert sorted(p.name for p in out.iterdir()) == ["A.csv_A.json", "B.csv_B.json"]


def test_a_glob_that_does_not_compile_fails_the_run_naming_input_and_glob(
    runner: Runner, tmp_path: Path
) -> None:
    """api_server.go validateInput does not parse globs; the job fails when pfs compiles the
    glob (paths.go globMatchFunction, ohmyglob's lexer: an unterminated ``[``). The runner says
    which input and glob, exits 1, and records no job."""
    put(runner, tmp_path, "prices", PRICES)
    spec = write_spec(tmp_path / "specs", "broken", keyed("prices", "/[AB.csv"), ["true"])
    runner("create", "pipeline", "-f", str(spec))
    err = runner("run", expect=1).err
    assert "input 'prices'" in err and "'/[AB.csv'" in err and "Traceback" not in err
    assert runner.jobs("broken") == []
