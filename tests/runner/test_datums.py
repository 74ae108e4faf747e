"""Datums from globs, cross, union, join, group and cron (pure functions over manifests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runner.datums import (
    UnsupportedInput,
    compute_datums,
    cron_tick_files,
    cron_tick_name,
    input_tree,
    match_glob,
)
from runner.spec import parse_spec

PATHS = ["/symbols_valid_meta.csv", "/stocks/A.csv", "/stocks/AA.csv", "/etfs/AAAU.csv", "/etfs/deep/X.csv"]


def test_root_glob_is_one_datum_with_everything() -> None:
    assert match_glob("/", PATHS) == {"/": sorted(PATHS)}
    assert match_glob("/", []) == {}


def test_star_matches_top_level_files_and_folders() -> None:
    assert match_glob("/*", PATHS) == {
        "/etfs": ["/etfs/AAAU.csv", "/etfs/deep/X.csv"],
        "/stocks": ["/stocks/A.csv", "/stocks/AA.csv"],
        "/symbols_valid_meta.csv": ["/symbols_valid_meta.csv"],
    }


def test_star_star_segments_match_second_level() -> None:
    assert match_glob("/*/*", PATHS) == {
        "/etfs/AAAU.csv": ["/etfs/AAAU.csv"],
        "/etfs/deep": ["/etfs/deep/X.csv"],
        "/stocks/A.csv": ["/stocks/A.csv"],
        "/stocks/AA.csv": ["/stocks/AA.csv"],
    }


def test_double_star_matches_every_file_and_folder_at_any_depth() -> None:
    matches = match_glob("/**", PATHS)
    assert set(matches) == {
        "/symbols_valid_meta.csv",
        "/stocks",
        "/stocks/A.csv",
        "/stocks/AA.csv",
        "/etfs",
        "/etfs/AAAU.csv",
        "/etfs/deep",
        "/etfs/deep/X.csv",
    }
    assert matches["/etfs"] == ["/etfs/AAAU.csv", "/etfs/deep/X.csv"]
    # ``**`` is ``.*`` in ohmyglob's compiler (compiler/compiler.go), so the ``/`` after it must
    # be there: a top-level file is not matched by ``/**/*.csv``.
    assert set(match_glob("/**/*.csv", PATHS)) == set(PATHS) - {"/symbols_valid_meta.csv"}


def test_exact_paths_and_patterns() -> None:
    assert match_glob("/symbols_valid_meta.csv", PATHS) == {
        "/symbols_valid_meta.csv": ["/symbols_valid_meta.csv"]
    }
    assert match_glob("/stocks/A?.csv", PATHS) == {"/stocks/AA.csv": ["/stocks/AA.csv"]}
    assert list(match_glob("/stocks/[A]*", PATHS)) == ["/stocks/A.csv", "/stocks/AA.csv"]
    assert match_glob("/nothing/*", PATHS) == {}


def _spec(input_: dict) -> object:
    return parse_spec({"pipeline": {"name": "p"}, "input": input_, "transform": {"cmd": ["true"]}}, "p.json")


def _manifest(paths: list[str]) -> dict[str, tuple[str, int]]:
    return {p: (f"h{p}", 1) for p in paths}


def test_cross_forms_every_combination_and_ids_ignore_content() -> None:
    spec = _spec(
        {
            "cross": [
                {"pfs": {"repo": "raw", "glob": "/*/*", "name": "prices"}},
                {"pfs": {"repo": "raw", "glob": "/symbols_valid_meta.csv", "name": "meta"}},
            ]
        }
    )
    manifests = {"raw": _manifest(PATHS)}
    datums = compute_datums(input_tree(spec), {"raw": "c1"}, manifests, "s")
    assert [d.describe() for d in datums] == [
        "prices:/etfs/AAAU.csv, meta:/symbols_valid_meta.csv",
        "prices:/etfs/deep, meta:/symbols_valid_meta.csv",
        "prices:/stocks/A.csv, meta:/symbols_valid_meta.csv",
        "prices:/stocks/AA.csv, meta:/symbols_valid_meta.csv",
    ]
    changed = dict(manifests["raw"], **{"/stocks/A.csv": ("other", 2)})
    again = compute_datums(input_tree(spec), {"raw": "c2"}, {"raw": changed}, "s")
    assert [d.id for d in again] == [d.id for d in datums]
    assert [d.hash == e.hash for d, e in zip(datums, again, strict=True)] == [True, True, False, True]
    other_spec = compute_datums(input_tree(spec), {"raw": "c1"}, manifests, "t")
    assert all(d.hash != e.hash for d, e in zip(datums, other_spec, strict=True))


def test_union_lists_the_datums_of_each_branch() -> None:
    spec = _spec({"union": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "b", "glob": "/"}}]})
    datums = compute_datums(
        input_tree(spec),
        {"a": "1", "b": "2"},
        {"a": _manifest(["/x", "/y"]), "b": _manifest(["/z/1", "/z/2"])},
        "s",
    )
    assert [d.describe() for d in datums] == ["a:/x", "a:/y", "b:/"]
    assert len(datums[2].inputs[0].files) == 2


def test_cross_with_an_empty_side_has_no_datums() -> None:
    spec = _spec({"cross": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "b", "glob": "/*"}}]})
    assert (
        compute_datums(input_tree(spec), {"a": "1", "b": "2"}, {"a": _manifest(["/x"]), "b": {}}, "s") == []
    )


# --- join, group, cron: the cases of Pachyderm's src/server/worker/datum/iterator_test.go --------

FOO = [f"/foo{i}" for i in range(50)]


def _opts(name: str, glob: str, **opts: object) -> dict:
    return {"pfs": {"repo": "data", "name": name, "glob": glob, **opts}}


def _datums(input_: dict, files: list[str] = FOO, repo: str = "data") -> list:
    spec = _spec(input_)
    return compute_datums(input_tree(spec), {repo: "c1"}, {repo: _manifest(files)}, "s")


def _paths(datums: list) -> list[str]:
    """A datum as TestIterators' validateDI keys it: its inputs' paths, concatenated."""
    return ["".join(i.matched for i in d.inputs) for d in datums]


def test_join_on_capture_groups() -> None:
    """iterator_test.go TestIterators "Join": ``/foo(?)(?)`` joined on ``$1$2`` with ``$2$1``
    gives the 16 pairs /foo<ij>, /foo<ji> for i, j in 1..4; the inputs of a datum come in the
    join's order, the datums in the order of their key."""
    datums = _datums(
        {"join": [_opts("a", "/foo(?)(?)", joinOn="$1$2"), _opts("b", "/foo(?)(?)", joinOn="$2$1")]}
    )
    expected = [f"/foo{i}{j}/foo{j}{i}" for i in range(1, 5) for j in range(1, 5)]
    assert _paths(datums) == expected
    assert datums[1].describe() == "a:/foo12, b:/foo21"
    assert [i.join_on for i in datums[1].inputs] == ["12", "12"]


def test_outer_join_keeps_unpartnered_files() -> None:
    """iterator_test.go TestIterators "OuterJoin": ``/foo1(?)`` and ``/foo(?)1`` joined on ``$1``,
    both ``outerJoin``: the four pairs plus /foo10, /foo15../foo19 alone."""
    datums = _datums(
        {
            "join": [
                _opts("a", "/foo1(?)", joinOn="$1", outerJoin=True),
                _opts("b", "/foo(?)1", joinOn="$1", outerJoin=True),
            ]
        }
    )
    assert sorted(_paths(datums)) == sorted(
        ["/foo10", "/foo11/foo11", "/foo12/foo21", "/foo13/foo31", "/foo14/foo41"]
        + [f"/foo1{i}" for i in range(5, 10)]
    )


def test_join_without_outer_join_drops_unpartnered_files() -> None:
    """worker.go processMergeTask (MergeTask_JOIN): a key some input lacks keeps only the inputs
    marked outerJoin, so without it /foo10 and /foo15../foo19 give no datum; with outerJoin on the
    side that has no unpartnered file the result is the same four pairs."""
    inner = _datums({"join": [_opts("a", "/foo1(?)", joinOn="$1"), _opts("b", "/foo(?)1", joinOn="$1")]})
    assert _paths(inner) == ["/foo11/foo11", "/foo12/foo21", "/foo13/foo31", "/foo14/foo41"]
    other_side = _datums(
        {"join": [_opts("a", "/foo1(?)", joinOn="$1"), _opts("b", "/foo(?)1", joinOn="$1", outerJoin=True)]}
    )
    assert _paths(other_side) == _paths(inner)


def test_join_without_join_on_crosses_everything() -> None:
    """worker.go processPFSTask: an empty joinOn template is the key ``""`` for every file, so the
    join is the cross product of its inputs."""
    datums = _datums({"join": [_opts("a", "/foo1?"), _opts("b", "/foo2?")]})
    assert len(datums) == 100


def test_join_trailing_slash_glob() -> None:
    """iterator_test.go TestJoinTrailingSlash: ``/(*)`` and ``/(*)/`` over two repos of
    foo-0..foo-9 joined on ``$1`` give the same ten pairs."""
    files = [f"/foo-{i}" for i in range(10)]
    for glob in ("/(*)", "/(*)/"):
        spec = _spec(
            {
                "join": [
                    {"pfs": {"repo": "r0", "glob": glob, "joinOn": "$1"}},
                    {"pfs": {"repo": "r1", "glob": glob, "joinOn": "$1"}},
                ]
            }
        )
        manifests = {"r0": _manifest(files), "r1": _manifest(files)}
        datums = compute_datums(input_tree(spec), {"r0": "a", "r1": "b"}, manifests, "s")
        assert [d.describe() for d in datums] == [f"r0:/foo-{i}, r1:/foo-{i}" for i in range(10)]


def test_group_single() -> None:
    """iterator_test.go TestIterators "GroupSingle": ``/foo(?)(?)`` grouped by ``$1`` gives four
    datums of ten files each, in path order."""
    datums = _datums({"group": [_opts("a", "/foo(?)(?)", groupBy="$1")]})
    assert _paths(datums) == ["".join(f"/foo{t}{u}" for u in range(10)) for t in range(1, 5)]


def test_group_doubles() -> None:
    """iterator_test.go TestIterators "GroupDoubles": two inputs grouped by ``$1`` and ``$2``: one
    datum per digit holding the first input's files then the second's; digit 0 and 5..9 exist in
    one input only and still form a group."""
    datums = _datums(
        {"group": [_opts("a", "/foo(?)(?)", groupBy="$1"), _opts("b", "/foo(?)(?)", groupBy="$2")]}
    )
    by_key = dict(zip([d.inputs[0].group_by for d in datums], _paths(datums), strict=True))
    assert by_key["0"] == "/foo10/foo20/foo30/foo40"
    assert by_key["1"] == "".join(f"/foo1{u}" for u in range(10)) + "/foo11/foo21/foo31/foo41"
    assert by_key["9"] == "/foo19/foo29/foo39/foo49"
    assert len(datums) == 10


def test_group_of_a_join() -> None:
    """iterator_test.go TestIterators "GroupJoin": a join on ``$1$2``/``$2$1`` grouped by each
    input's own groupBy (``$1`` / ``$2``) gives four datums of four pairs."""
    join = {
        "join": [
            _opts("a", "/foo(?)(?)", joinOn="$1$2", groupBy="$1"),
            _opts("b", "/foo(?)(?)", joinOn="$2$1", groupBy="$2"),
        ]
    }
    datums = _datums({"group": [join]})
    assert _paths(datums) == ["".join(f"/foo{i}{j}/foo{j}{i}" for j in range(1, 5)) for i in range(1, 5)]


def test_union_of_pfs_and_group() -> None:
    """iterator_test.go TestIterators "UnionGroup": 40 single-file datums plus 10 groups by ``$2``."""
    datums = _datums(
        {"union": [_opts("a", "/foo(?)(?)"), {"group": [_opts("a", "/foo(?)(?)", groupBy="$2")]}]}
    )
    assert len(datums) == 50
    assert "/foo10/foo20/foo30/foo40" in _paths(datums)


def test_empty_groups() -> None:
    """worker.go processMergeTask (MergeTask_GROUP): a group's datums are the keys its inputs
    hold, so a glob that matches nothing adds nothing (and alone gives no datum); an empty
    groupBy puts every file in one group."""
    assert _datums({"group": [_opts("a", "/bar*", groupBy="$1")]}) == []
    with_empty = _datums(
        {"group": [_opts("a", "/foo4(?)", groupBy="$1"), _opts("b", "/bar(?)", groupBy="$1")]}
    )
    assert _paths(with_empty) == [f"/foo4{i}" for i in range(10)]
    (everything,) = _datums({"group": [_opts("a", "/foo*")]})
    assert len(everything.inputs) == 50


def test_cron_input_is_its_tick_repo_with_glob_star() -> None:
    """datum/create.go createCron: the cron input is repo ``<pipeline>_<name>`` (api_server.go sets
    it) on master with glob ``/*``: one datum per tick file, named by the input's name."""
    spec = _spec({"cron": {"name": "tick", "spec": "@every 1m"}})
    tree = input_tree(spec)
    assert tree is not None and tree.cron is not None and tree.cron.repo == "p_tick"
    assert tree.sources() == [tree.cron] and tree.cron.schedule == "@every 1m"
    ticks = ["/2026-12-01T16:00:00Z", "/2026-12-01T16:01:00Z"]
    datums = compute_datums(tree, {"p_tick": "c1"}, {"p_tick": _manifest(ticks)}, "s")
    assert [d.describe() for d in datums] == [f"tick:{t}" for t in ticks]


def test_cron_without_a_tick_is_refused_with_its_repo_named() -> None:
    """The local runner has no tick yet for a cron input: the error names the input and repo."""
    spec = _spec({"cron": {"name": "tick", "spec": "@every 1m"}})
    with pytest.raises(UnsupportedInput, match=r"'tick'.*'p_tick'"):
        compute_datums(input_tree(spec), {}, {}, "s")


def test_cron_tick_files() -> None:
    """monitor.go cronTick: the tick adds an empty file named ``time.RFC3339`` of the tick
    (``2006-01-02T15:04:05Z07:00``); ``overwrite`` deletes the earlier files first."""
    tick = datetime(2026, 12, 1, 16, 45, 7, 123456, tzinfo=UTC)
    assert cron_tick_name(tick) == "/2026-12-01T16:45:07Z"
    paris = timezone(timedelta(hours=1))
    assert cron_tick_name(tick.astimezone(paris)) == "/2026-12-01T17:45:07+01:00"
    assert cron_tick_name(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))) == (
        "/2026-01-01T00:00:00-05:30"
    )
    empty = ("e" * 40, 0)
    earlier = {"/2026-12-01T16:44:07Z": empty}
    assert cron_tick_files(earlier, tick, False, empty) == {**earlier, "/2026-12-01T16:45:07Z": empty}
    assert cron_tick_files(earlier, tick, True, empty) == {"/2026-12-01T16:45:07Z": empty}


def test_lazy_does_not_change_the_datums() -> None:
    """worker.go processPFSTask copies ``Lazy`` onto each datum input untouched: it decides how
    files are fetched on a cluster, not which files a datum holds."""
    eager = _datums({"join": [_opts("a", "/foo1(?)", joinOn="$1"), _opts("b", "/foo(?)1", joinOn="$1")]})
    lazy = _datums(
        {
            "join": [
                _opts("a", "/foo1(?)", joinOn="$1", lazy=True),
                _opts("b", "/foo(?)1", joinOn="$1", lazy=True),
            ]
        }
    )
    assert [d.id for d in lazy] == [d.id for d in eager] and len(eager) == 4
