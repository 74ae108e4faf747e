"""Global commit ids, as in Pachyderm 2.x: a put into an input repo and every output commit it causes
downstream share one id (a commit set). Sources: src/server/pfs/server/server_commit_set.go
(inspectCommitSetImmediateTx: the commits with that id plus those they rely on, TopologicalSort);
src/server/pfs/cmds/cmds.go (`list commit <id>`: "commits with a given ID across different repos");
src/server/pfs/pretty/pretty.go (inspect commit prints the commit's provenance)."""

from __future__ import annotations

import json
from pathlib import Path

from runner.state import State
from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, stage_cmd, write_files, write_spec


def _chain(runner: Runner, tmp_path: Path) -> Path:
    """raw → copy → cat (cat reads copy), like raw → ingest → features → train."""
    data = write_files(tmp_path / "data", {"a/1.txt": "one\n", "b/2.txt": "two\n"})
    write_spec(tmp_path / "s", "copy", pfs("raw", "/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in"))
    write_spec(
        tmp_path / "s",
        "cat",
        pfs("copy", "/"),
        ["bash"],
        transform={"stdin": ["cat /pfs/copy/*/* > /pfs/out/all"]},
    )
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("create", "pipeline", "-f", str(tmp_path / "s"))
    runner("run")
    return data


def _set(runner: Runner, commit_id: str) -> list[tuple[str, str]]:
    return [(c["repo"], c["id"]) for c in json.loads(runner("list", "commit", commit_id, "--json").out)]


def test_a_put_and_the_commits_it_causes_share_one_id(runner: Runner, tmp_path: Path) -> None:
    _chain(runner, tmp_path)
    raw = runner.inspect("raw@master")["id"]
    assert runner.inspect("copy@master")["id"] == raw and runner.inspect("cat@master")["id"] == raw
    assert runner.inspect(f"cat@{raw}")["repo"] == "cat"  # inspect commit REPO@ID
    assert _set(runner, raw) == [("raw", raw), ("copy", raw), ("cat", raw)]  # provenance first
    table = runner("list", "commit", raw).out
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["raw", "copy", "cat"]


def test_inspect_commit_shows_provenance_back_to_the_input_repo(runner: Runner, tmp_path: Path) -> None:
    _chain(runner, tmp_path)
    raw = runner.inspect("raw@master")["id"]
    cat = runner.inspect("cat@master")
    assert cat["provenance"] == [{"repo": "copy", "commit": raw}, {"repo": "raw", "commit": raw}]
    assert cat["direct_provenance"] == [{"repo": "copy", "commit": raw}]
    text = runner("inspect", "commit", "cat@master").out
    assert f"raw@{raw}  (through an upstream pipeline)" in text and f"copy@{raw}\n" in text


def test_the_next_put_makes_the_next_set(runner: Runner, tmp_path: Path) -> None:
    data = _chain(runner, tmp_path)
    first = runner.inspect("raw@master")["id"]
    (data / "a" / "1.txt").write_text("ONE\n")
    runner("put", "file", "-r", "raw@master:/", "-f", str(data))
    runner("run")
    second = runner.inspect("raw@master")["id"]
    assert second != first and _set(runner, second) == [("raw", second), ("copy", second), ("cat", second)]
    assert _set(runner, first) == [("raw", first), ("copy", first), ("cat", first)]  # older sets stay
    assert runner.inspect("cat@master")["parents"] == [first]


def test_a_pipeline_update_starts_a_set_that_includes_the_inputs_it_relies_on(
    runner: Runner, tmp_path: Path
) -> None:
    """An update (no new input commit) gives its output a new id, shared downstream; the set lists
    the input commit it was made from first (inspectCommitSetImmediateTx includes the commit set's
    provenance from earlier sets)."""
    _chain(runner, tmp_path)
    raw = runner.inspect("raw@master")["id"]
    runner("update", "pipeline", "-f", str(tmp_path / "s" / "copy.json"), "--reprocess")
    runner("run")
    new = runner.inspect("copy@master")["id"]
    assert new != raw and runner.inspect("cat@master")["id"] == new
    assert _set(runner, new) == [("raw", raw), ("copy", new), ("cat", new)]


def test_two_inputs_take_the_newest_input_commits_id(runner: Runner, tmp_path: Path) -> None:
    """A job over two moved inputs writes one commit; it joins the set of the newer input commit."""
    for repo in ("left", "right"):
        runner("put", "file", "-r", f"{repo}@master:/", "-f", str(write_files(tmp_path / repo, {"f": repo})))
    cross = {"cross": [pfs("left", "/"), pfs("right", "/")]}
    spec = write_spec(
        tmp_path / "s", "both", cross, ["bash"], transform={"stdin": ["cat /pfs/*/f > /pfs/out/f"]}
    )
    runner("create", "pipeline", "-f", str(spec))
    runner("run")
    assert runner.inspect("both@master")["id"] == runner.inspect("right@master")["id"]
    runner("put", "file", "left@master:/f", "-f", str(write_files(tmp_path / "l2", {"f": "left2"}) / "f"))
    runner("run")
    assert runner.inspect("both@master")["id"] == runner.inspect("left@master")["id"]


def test_an_older_state_with_one_id_per_commit_stays_readable(runner: Runner, tmp_path: Path) -> None:
    """Commits an older runner made have their own ids, with provenance naming the input's id; inspect
    and list commit still follow them."""
    state = State(runner.state)
    with state.locked():
        state.create_repo("raw")
        state.create_repo("copy")
        raw = state.make_commit("raw", "master", {"/f": state.objects.add_bytes(b"x")})
        copy = state.make_commit(
            "copy",
            "master",
            {"/f": state.objects.add_bytes(b"x")},
            provenance=[{"repo": "raw", "commit": raw.id}],
        )
    assert copy.id != raw.id
    assert runner.inspect("copy@master")["provenance"] == [{"repo": "raw", "commit": raw.id}]
    assert _set(runner, copy.id) == [("raw", raw.id), ("copy", copy.id)]
    assert "no commit has this id" in runner("list", "commit", "f" * 32, expect=1).err
