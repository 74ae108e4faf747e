"""Pachyderm's glob matcher (runner/glob.py) against Pachyderm's and ohmyglob's own tests.

Sources: github.com/pachyderm/pachyderm src/server/pfs/server/testing/server_test.go
(TestGlobFile, TestGlobFile2, TestGlobFile3), src/server/worker/datum/iterator_test.go
(TestIterators, TestJoinTrailingSlash), src/server/pfs/server/paths.go (globMatchFunction),
src/internal/pfsfile/pfsfile.go (CleanPath); github.com/pachyderm/ohmyglob glob_test.go,
capture_test.go, glob.go, compiler/compiler.go, syntax/lexer/lexer.go.
"""

from __future__ import annotations

import re

import pytest

from runner.glob import GlobError, clean_path, compile_glob, glob_regex, match_paths

# TestGlobFile's commit: file0..99, dir1/file0..99, dir2/dir3/file0..99.
GLOB_FILE_TREE = [
    *(f"/file{i}" for i in range(100)),
    *(f"/dir1/file{i}" for i in range(100)),
    *(f"/dir2/dir3/file{i}" for i in range(100)),
]
# TestGlobFile3's commit.
GLOB_FILE3_TREE = ["/dir1/file1.1", "/dir1/file1.2", "/dir2/file2.1", "/dir2/file2.2"]
# TestIterators' commit: /foo0 .. /foo49.
FOO_TREE = [f"/foo{i}" for i in range(50)]


def matches(glob: str, files: list[str]) -> dict[str, list[str]]:
    return match_paths(compile_glob(glob), files)


@pytest.mark.parametrize(
    ("glob", "count"),
    [("*", 102), ("file*", 100), ("dir1/*", 100), ("dir2/dir3/*", 100), ("*/*", 101)],
)
def test_glob_file_counts(glob: str, count: int) -> None:
    """server_test.go TestGlobFile: GlobFileAll counts (files and folders, no leading slash)."""
    assert len(matches(glob, GLOB_FILE_TREE)) == count


def test_double_star_crosses_slashes_at_any_depth() -> None:
    """server_test.go TestGlobFile: ``**file1?`` reads 30 one-byte files (10 per level),
    ``dir2/dir3/file1?`` 10, ``**file1`` the file1 of each level; after deleting everything ``**``
    gives nothing."""
    held = [f for files in matches("**file1?", GLOB_FILE_TREE).values() for f in files]
    assert len(held) == 30 and "/dir2/dir3/file19" in held and "/file1" not in held
    assert len(matches("dir2/dir3/file1?", GLOB_FILE_TREE)) == 10
    assert list(matches("**file1", GLOB_FILE_TREE)) == ["/dir1/file1", "/dir2/dir3/file1", "/file1"]
    assert matches("**", []) == {}


def test_prefix_star() -> None:
    """server_test.go TestGlobFile2: ``/1*`` over /0../99 gives /1 and /10../19."""
    tree = [f"/{i}" for i in range(100)]
    assert sorted(matches("/1*", tree)) == sorted(["/1", *(f"/1{i}" for i in range(10))])


def test_glob_file3() -> None:
    """server_test.go TestGlobFile3: ``**.2``, ``/dir1/*``, ``/*`` (folders), ``/`` (the root).
    Pachyderm names the folders ``/dir1/``; the runner names matched folders without the slash."""
    assert list(matches("**.2", GLOB_FILE3_TREE)) == ["/dir1/file1.2", "/dir2/file2.2"]
    assert list(matches("/dir1/*", GLOB_FILE3_TREE)) == ["/dir1/file1.1", "/dir1/file1.2"]
    assert matches("/*", GLOB_FILE3_TREE) == {
        "/dir1": ["/dir1/file1.1", "/dir1/file1.2"],
        "/dir2": ["/dir2/file2.1", "/dir2/file2.2"],
    }
    assert matches("/", GLOB_FILE3_TREE) == {"/": GLOB_FILE3_TREE}


def test_double_star_slash_needs_a_folder() -> None:
    """ohmyglob compiler/compiler.go: ``**`` compiles to ``.*`` and the ``/`` after it stays, so
    ``/**/*.csv`` matches ``/d/a.csv`` and ``/d/e/a.csv`` but not ``/a.csv``."""
    glob = compile_glob("/**/*.csv")
    assert not glob.match("/a.csv")
    assert glob.match("/d/a.csv") and glob.match("/d/e/a.csv")


def test_single_star_and_question_mark_stay_in_one_segment() -> None:
    """ohmyglob glob_test.go (separator '/'): ``*/*/*`` does not match four segments,
    ``**/**/**`` does; glob.go: ``?`` is one non-separator character."""
    assert not re.match(glob_regex("*/*/*"), "foo/bb/aa/rr")
    assert re.match(glob_regex("**/**/**"), "foo/bb/aa/rr")
    assert not compile_glob("/a?b").match("/a/b")


@pytest.mark.parametrize(
    ("ok", "pattern", "fixture"),
    [
        (True, "* ?at * eyes", "my cat has very bright eyes"),
        (True, "", ""),
        (False, "", "b"),
        (True, "*ä", "åä"),
        (True, "a*c", "a12345c"),
        (True, "a?c", "a1c"),
        (True, r"\*", "*"),
        (False, "?at", "at"),
        (True, "*is*a*", "this is a test"),
        (True, "**is**a***test*", "this is a test"),
        (False, "*is", "this is a test"),
        (True, "[!a]*", "this is a test3"),
        (True, "?*?", "ac"),
        (False, "sta?n", "stagnation"),
        (True, "{abc,def}ghi", "defghi"),
        (True, "{abc,abcd}a", "abcda"),
        (True, "{a,ab}{bc,f}", "abc"),
        (True, "{*,**}{a,b}", "ab"),
        (False, "{*,**}{a,b}", "ac"),
        (True, "[a-z]", "c"),
        (False, "[a-z]", "C"),
        (True, "[[:alpha:]]", "C"),
        (False, "[[:alpha:]]", "5"),
        (True, "[[:^alpha:]]", "."),
        (True, "[^[:alpha:]]", "."),
        (True, "[[:space:]]", "\t"),
        (False, "[![:graph:]]", "!"),
        (True, "/{rate,[0-9][0-9][0-9]}*", "/rate"),
        (True, "/{rate,[a-z][a-z][a-z]}*", "/usd"),
        (True, "*//{,*.}example.com", "https://www.example.com"),
        (True, "*//{,*.}example.com", "http://example.com"),
        (False, "*//{,*.}example.com", "http://example.com.net"),
    ],
)
def test_ohmyglob_match_table(ok: bool, pattern: str, fixture: str) -> None:
    """ohmyglob glob_test.go TestGlob: its cases without a separator other than '/'."""
    assert bool(re.match(glob_regex(pattern), fixture)) is ok


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("{cat,bat,[fr]at}", ["cat", "bat", "fat", "rat"], ["at", "zat"]),
        ("[abc]at", ["cat", "bat"], ["fat", "at"]),
        ("[!abc]at", ["fat"], ["cat", "bat", "at"]),
        ("[a-c]at", ["cat", "bat"], ["fat", "at"]),
        ("[!a-c]at", ["fat"], ["cat", "bat", "at"]),
        ("@(a)", ["a"], ["", "aa", "aaX", "bbb"]),
        ("*(a)", ["", "a", "aa", "aaa"], ["aaX", "bbb"]),
        ("+(a)", ["a", "aa", "aaa"], ["", "aaX", "bbb"]),
        ("?(a)", ["", "a"], ["aa", "aaa", "aaX", "bbb"]),
        ("!(a)", ["", "aa", "aaa", "aaX", "bbb"], ["a"]),
    ],
)
def test_readme_examples(pattern: str, yes: list[str], no: list[str]) -> None:
    """ohmyglob readme.md: alternatives, character lists and ranges, extended globs."""
    rx = re.compile(glob_regex(pattern))
    assert [f for f in yes if rx.match(f)] == yes
    assert [f for f in no if rx.match(f)] == []


def test_negated_class_also_matches_the_separator() -> None:
    """ohmyglob compiler/compiler.go (KindList): ``[!a]`` is ``[^a]`` with no separator excluded,
    so it matches ``/`` as pfs does."""
    assert compile_glob("/x[!a]y").match("/x/y")


@pytest.mark.parametrize(
    ("pattern", "fixture", "groups"),
    [
        ("test/(a|b)/x.go", "test/b/x.go", ["b"]),
        ("test/a*(a|b)/x.go", "test/a/x.go", [""]),
        ("test/a*(a|b)/x.go", "test/aba/x.go", ["ba"]),
        ("test/+(a|b)/x.go", "test/aba/x.go", ["aba"]),
        ("test/a?(a|b)/x.go", "test/ab/x.go", ["b"]),
        ("test/@(a|b)/x.go", "test/a/x.go", ["a"]),
        ("test/!(a|b)/x.go", "test/x/x.go", ["x"]),
        ("test/(a|b)/(*).go", "test/a/x.go", ["a", "x"]),
        ("test/a*(a|b)/*(*).go", "test/aaaa/x.go", ["aaa", "x"]),
        ("test/a?(a|b)/?(*).go", "test/aa/x.go", ["a", "x"]),
        ("test*(/?(+(a|b)/*.go))", "test/a/x.go", ["/a/x.go", "a/x.go", "a"]),
        ("test/(a|b)", "hi/123", None),
    ],
)
def test_capture_groups(pattern: str, fixture: str, groups: list[str] | None) -> None:
    """ohmyglob capture_test.go TestCaptureGlob (with '/' as separator, as pfs compiles it)."""
    found = re.match(glob_regex(pattern), fixture)
    if groups is None:
        assert found is None
    else:
        assert found is not None and [g or "" for g in found.groups()] == groups


def test_foo_two_digit_captures_give_forty_datums() -> None:
    """iterator_test.go TestIterators: ``/foo(?)(?)`` matches /foo10../foo49 (40 datums); its
    groups feed joinOn ``$1$2`` / ``$2$1``."""
    glob = compile_glob("/foo(?)(?)")
    assert len(match_paths(glob, FOO_TREE)) == 40
    assert glob.captures("/foo12") == ("/foo12", "1", "2")
    assert glob.replace("/foo12", "$2$1") == "21"


def test_replace_templates() -> None:
    """ohmyglob glob.go Replace/extract: ``$n`` and ``${n}``, ``$$`` is ``$``, a group past the
    last is empty, a ``$`` without a number stays, a path that does not match gives no groups."""
    glob = compile_glob("/(*)-(*).csv")
    assert glob.replace("/2020-01.csv", "${1}_$2") == "2020_01"
    assert glob.replace("/2020-01.csv", "$$1 $9 $x $0") == "$1  $x /2020-01.csv"
    assert glob.replace("/other.txt", "key-$1") == "key-"
    assert glob.replace("/2020-01.csv", "") == ""


def test_escapes_and_literal_specials() -> None:
    """ohmyglob glob.go: ``\\c`` matches c; syntax/lexer/lexer.go: ``}``, ``)``, ``,`` and ``|``
    outside a group are plain text."""
    assert compile_glob(r"/a\*b").match("/a*b") and not compile_glob(r"/a\*b").match("/axb")
    assert compile_glob(r"/\{x\}").match("/{x}")
    assert compile_glob("/a,b}").match("/a,b}")
    assert compile_glob("/a|b)").match("/a|b)")


def test_zero_datums_glob() -> None:
    """iterator_test.go TestIterators ZeroDatums: ``!(**)`` matches nothing."""
    assert matches("!(**)", FOO_TREE) == {}


def test_cleaning_and_the_root() -> None:
    """pfsfile.go CleanPath: a leading ``/`` added, a trailing one removed (TestJoinTrailingSlash:
    ``/(*)/`` is ``/(*)``), ``""`` is ``/``; paths.go globMatchFunction: the root only matches ``/``,
    a folder path is matched without its trailing ``/``."""
    assert clean_path("") == "/" and clean_path("abc/") == "/abc" and clean_path("/a//b/./c") == "/a/b/c"
    assert compile_glob("/(*)/").pattern == "/(*)"
    assert not compile_glob("/**").match("/")
    assert compile_glob("").match("/") and compile_glob("/").match("/")
    assert compile_glob("/*").match("/dir1/")


def test_a_matched_folder_holds_everything_below_it() -> None:
    """server_file.go globFile with fileset/transforms.go indexFilter (full): a glob matching a
    folder gives that folder, with every file below it, as one datum; ``/**`` also gives each
    file and folder below on its own."""
    tree = ["/a/b/c.txt", "/a/d.txt", "/e.txt"]
    assert matches("/a", tree) == {"/a": ["/a/b/c.txt", "/a/d.txt"]}
    assert matches("/**", tree) == {
        "/a": ["/a/b/c.txt", "/a/d.txt"],
        "/a/b": ["/a/b/c.txt"],
        "/a/b/c.txt": ["/a/b/c.txt"],
        "/a/d.txt": ["/a/d.txt"],
        "/e.txt": ["/e.txt"],
    }


@pytest.mark.parametrize("pattern", ["/[abc", "/[]", "/^(x)"])
def test_invalid_globs_name_the_pattern(pattern: str) -> None:
    """ohmyglob syntax/lexer/lexer.go (unterminated class), compiler/compiler.go (an empty class
    does not compile, ``^(`` has no quantifier): the error names the glob."""
    with pytest.raises(GlobError, match=re.escape(repr(pattern))):
        compile_glob(pattern)
