"""Datums from globs, cross and union (pure functions over manifests)."""

from __future__ import annotations

from runner.datums import compute_datums, match_glob
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
    assert set(match_glob("/**/*.csv", PATHS)) == {p for p in PATHS}


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
    datums = compute_datums(spec.input, {"raw": "c1"}, manifests, "s")
    assert [d.describe() for d in datums] == [
        "prices:/etfs/AAAU.csv, meta:/symbols_valid_meta.csv",
        "prices:/etfs/deep, meta:/symbols_valid_meta.csv",
        "prices:/stocks/A.csv, meta:/symbols_valid_meta.csv",
        "prices:/stocks/AA.csv, meta:/symbols_valid_meta.csv",
    ]
    changed = dict(manifests["raw"], **{"/stocks/A.csv": ("other", 2)})
    again = compute_datums(spec.input, {"raw": "c2"}, {"raw": changed}, "s")
    assert [d.id for d in again] == [d.id for d in datums]
    assert [d.hash == e.hash for d, e in zip(datums, again, strict=True)] == [True, True, False, True]
    other_spec = compute_datums(spec.input, {"raw": "c1"}, manifests, "t")
    assert all(d.hash != e.hash for d, e in zip(datums, other_spec, strict=True))


def test_union_lists_the_datums_of_each_branch() -> None:
    spec = _spec({"union": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "b", "glob": "/"}}]})
    datums = compute_datums(
        spec.input,
        {"a": "1", "b": "2"},
        {"a": _manifest(["/x", "/y"]), "b": _manifest(["/z/1", "/z/2"])},
        "s",
    )
    assert [d.describe() for d in datums] == ["a:/x", "a:/y", "b:/"]
    assert len(datums[2].inputs[0].files) == 2


def test_cross_with_an_empty_side_has_no_datums() -> None:
    spec = _spec({"cross": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "b", "glob": "/*"}}]})
    assert compute_datums(spec.input, {"a": "1", "b": "2"}, {"a": _manifest(["/x"]), "b": {}}, "s") == []
