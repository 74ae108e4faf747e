"""``put file`` on hostile or unlucky input: real links, fifos, sockets, devices, zips, bad names, Ctrl-C.

Every refusal is one line naming the file, a non-zero exit, and nothing stored or committed.
The name rules are Pachyderm's ValidateFilename (pachyderm/pachyderm src/internal/storage/paths.go,
read at commit e237475e99); the folder walk is stricter than pachctl's (src/server/pfs/cmds/cmds.go
``putFileHelper`` follows file links anywhere), see runner/sources.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import subprocess
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from runner.archive import ZipLimits, parse_size
from runner.paths import InvalidFilename, filename_problem, printable, validate_filename
from runner.putfile import PutOptions, put_file
from runner.state import State
from tests.runner.conftest import Runner
from tests.runner.helpers import pfs, runner_argv, stage_cmd, write_files, write_spec

FILES = {"a.csv": "a\n", "sub/b.csv": "b\n"}
SECRET = "s3cr3t-token-value\n"


def _cli(repo_root: Path, state: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command line, in a subprocess, so a hang fails the test instead of blocking it."""
    return subprocess.run(
        runner_argv(state, *args),
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _objects(state: Path) -> list[str]:
    """The stored objects (``ab/cdef...``; not the store's own markers and journals)."""
    root = state / ".objects"
    return sorted(str(p.relative_to(root)) for p in root.glob("??/*") if p.is_file()) if root.exists() else []


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_files(tmp_path / "data", FILES)


def _make_special(folder: Path, kind: str, tmp_path: Path) -> str:
    """Create one non-regular entry ``folder/<name>``; returns its name."""
    secret = tmp_path / "outside" / "credentials"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text(SECRET)
    if kind == "fifo":
        os.mkfifo(folder / "pipe.csv")
        return "pipe.csv"
    if kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(folder / "sock.csv"))
        sock.close()
        return "sock.csv"
    links = {
        "link to /dev/zero": ("zero.csv", "/dev/zero"),
        "link outside": ("creds.csv", str(secret)),
        "relative link outside": ("up.csv", "../outside/credentials"),
        "dangling link": ("gone.csv", "nowhere.csv"),
        "folder link outside": ("elsewhere", str(secret.parent)),
        "in-tree link": ("again.csv", "a.csv"),
        "in-tree folder link": ("sub2", "sub"),
    }
    name, target = links[kind]
    os.symlink(target, folder / name)
    return name


@pytest.mark.parametrize(
    "kind",
    [
        "fifo",
        "socket",
        "link to /dev/zero",
        "link outside",
        "relative link outside",
        "dangling link",
        "folder link outside",
        "in-tree link",
        "in-tree folder link",
    ],
)
def test_a_folder_with_anything_but_regular_files_is_refused_in_one_line(
    repo_root: Path, tmp_path: Path, data: Path, kind: str
) -> None:
    """Before: a fifo or /dev/zero hung the put forever, a link to a credentials file was committed,
    a folder link was skipped silently and a dangling link gave a traceback."""
    state = tmp_path / "pfs"
    assert _cli(repo_root, state, "put", "file", "-r", "raw@master:/", "-f", str(data)).returncode == 0
    head = State(state).head("raw")
    objects = _objects(state)
    name = _make_special(data, kind, tmp_path)
    result = _cli(repo_root, state, "put", "file", "-r", "raw@master:/", "-f", str(data), timeout=30)
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"runner: {data}/{name}: "), line
    assert SECRET.strip() not in result.stdout + result.stderr
    assert State(state).head("raw") == head and _objects(state) == objects


def test_follow_links_follows_links_inside_the_folder_only(
    repo_root: Path, tmp_path: Path, data: Path
) -> None:
    state = tmp_path / "pfs"
    _make_special(data, "in-tree link", tmp_path)
    _make_special(data, "in-tree folder link", tmp_path)
    result = _cli(repo_root, state, "put", "file", "-r", "--follow-links", "raw@master:/", "-f", str(data))
    assert result.returncode == 0, result.stderr
    head = state / "raw" / "master"
    assert {str(p.relative_to(head)) for p in head.rglob("*") if p.is_file()} == {
        "a.csv",
        "again.csv",
        "sub/b.csv",
        "sub2/b.csv",
    }
    assert (head / "again.csv").read_text() == "a\n" and not (head / "again.csv").is_symlink()
    _make_special(data, "link outside", tmp_path)
    refused = _cli(repo_root, state, "put", "file", "-r", "--follow-links", "raw@master:/", "-f", str(data))
    assert refused.returncode == 1 and "outside" in _one_line(refused.stderr)
    assert SECRET.strip() not in refused.stderr


def test_a_folder_link_loop_is_refused(repo_root: Path, tmp_path: Path, data: Path) -> None:
    os.symlink("..", data / "sub" / "up")
    result = _cli(
        repo_root, tmp_path / "pfs", "put", "file", "-r", "--follow-links", "raw@master:/", "-f", str(data)
    )
    assert result.returncode == 1
    assert _one_line(result.stderr) == f"runner: {data}/sub/up: symbolic link loop (-> .., a folder above)"


def test_several_problems_name_the_first_and_count_the_rest(
    repo_root: Path, tmp_path: Path, data: Path
) -> None:
    os.mkfifo(data / "p1")
    os.mkfifo(data / "p2")
    result = _cli(
        repo_root, tmp_path / "pfs", "put", "file", "-r", "raw@master:/", "-f", str(data), timeout=30
    )
    assert _one_line(result.stderr) == (
        f"runner: {data}/p1: a fifo (named pipe): only regular files can be put (and 1 more problem)"
    )


@pytest.mark.parametrize("source", ["/dev/zero", "fifo"])
def test_a_single_source_that_is_not_a_regular_file_is_refused(
    repo_root: Path, tmp_path: Path, source: str
) -> None:
    if source == "fifo":
        source = str(tmp_path / "fifo")
        os.mkfifo(source)
    result = _cli(repo_root, tmp_path / "pfs", "put", "file", "raw@master:/x.csv", "-f", source, timeout=30)
    assert result.returncode == 1
    assert "only regular files can be put" in _one_line(result.stderr) and source in result.stderr


def test_a_dangling_link_named_as_the_source_is_one_line(repo_root: Path, tmp_path: Path) -> None:
    os.symlink("nowhere", tmp_path / "gone.csv")
    result = _cli(
        repo_root, tmp_path / "pfs", "put", "file", "raw@master:/x.csv", "-f", str(tmp_path / "gone.csv")
    )
    assert _one_line(result.stderr) == f"runner: {tmp_path}/gone.csv: dangling symbolic link (-> nowhere)"


# -- Ctrl-C -----------------------------------------------------------------------------------------
def _wait_until_reading(proc: subprocess.Popen[str], cpu_seconds: float = 0.5, timeout: float = 30) -> None:
    """Wait until the put has spent ``cpu_seconds`` of CPU (it is hashing the input by then)."""
    ps = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = ps.cpu_times()
        if times.user + times.system >= cpu_seconds:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the put never started reading")


def test_ctrl_c_stops_a_put_reading_big_files_at_once_and_commits_nothing(
    repo_root: Path, tmp_path: Path
) -> None:
    """Before: the hashing threads kept reading their files to the end after Ctrl-C (minutes for
    big files) and the interpreter waited for them. The input is 5 sparse files of 8 GiB (no disk
    used): reading them all takes far longer than the 15 s the put is given to stop."""
    data = tmp_path / "big"
    data.mkdir()
    for i in range(5):
        with open(data / f"big{i}.csv", "wb") as fh:
            fh.truncate(8 << 30)
    state = tmp_path / "pfs"
    proc = subprocess.Popen(
        runner_argv(state, "put", "file", "-r", "raw@master:/", "-f", str(data)),
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_reading(proc)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert _one_line(err) == "runner: put interrupted: nothing committed, raw@master is unchanged"
    assert State(state).head("raw") is None
    assert not list((state / ".objects").glob(".tmp-*")) if (state / ".objects").exists() else True


def test_ctrl_c_stops_a_zip_put_while_it_unpacks_and_commits_nothing(repo_root: Path, tmp_path: Path) -> None:
    """The zip path unpacks in the main thread: Ctrl-C there removes the partial object too."""
    archive = tmp_path / "zeros.zip"
    with (
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("stocks/ZERO.csv", "w", force_zip64=True) as member,
    ):
        chunk = bytes(64 << 20)
        for _ in range(12):  # 768 MiB of zeros, 3.5 MB compressed: seconds to unpack, hash and write
            member.write(chunk)
    state = tmp_path / "pfs"
    proc = subprocess.Popen(
        runner_argv(state, "put", "file", "raw@master:/", "-f", str(archive)),
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_reading(proc, cpu_seconds=0.5)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert _one_line(err) == "runner: put interrupted: nothing committed, raw@master is unchanged"
    assert State(state).head("raw") is None
    assert not list((state / ".objects").glob(".tmp-*")), "the partial object is removed"


def test_a_long_put_reports_its_progress(tmp_path: Path) -> None:
    files = {f"stocks/S{i}.csv": f"{i}\n" for i in range(5)}
    data = write_files(tmp_path / "data", files)
    state = State(tmp_path / "pfs")
    state.create_repo("raw")
    seen: list[tuple[int, int, int]] = []
    options = PutOptions(recursive=True, progress=lambda *p: seen.append(p), progress_seconds=0)
    result = put_file(state, "raw", "master", "/", data, options)
    assert result.commit is not None and result.changes.added == 5
    assert seen[-1] == (5, 5, sum(len(t) for t in files.values()))
    assert [files for files, _total, _size in seen] == [1, 2, 3, 4, 5]


# -- file names ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (b"B\xffD.csv", "not UTF-8"),
        ("\u00e9t\u00e9.csv".encode(), "printable ASCII"),
        (b"tab\there.csv", "printable ASCII"),
        (b"A*.csv", "glob character '*'"),
        (b"A?.csv", "glob character '?'"),
        (b"A[1].csv", "glob character '['"),
        (b"A(1).csv", "glob character '('"),
        (b"A{1}.csv", "glob character '{'"),
        (b"A!.csv", "glob character '!'"),
        (b"A@B.csv", "glob character '@'"),
        (b"A+B.csv", "glob character '+'"),
        (b"A^B.csv", "glob character '^'"),
    ],
)
def test_a_file_name_pachyderm_refuses_is_refused_at_put(
    repo_root: Path, tmp_path: Path, data: Path, name: bytes, reason: str
) -> None:
    """Pachyderm's ValidateFilename: printable ASCII only, no glob characters ``*?[]{}!()@+^``.
    Before: a non-UTF-8 name was accepted and every later ``run`` died with UnicodeEncodeError."""
    with open(os.path.join(os.fsencode(data), name), "wb") as fh:
        fh.write(b"x\n")
    state = tmp_path / "pfs"
    result = _cli(repo_root, state, "put", "file", "-r", "raw@master:/", "-f", str(data))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    shown = printable(os.fsdecode(name))
    assert line.startswith(f"runner: {data}/{shown}: file name refused: ") and reason in line, line
    assert State(state).head("raw") is None and _objects(state) == [], "nothing stored"


@pytest.mark.parametrize(
    "path",
    ["/stocks/A.csv", "/stocks/BRK-A.csv", "/a b/c_d.csv", "/x/$y~z.csv", "/a,b;c=d'e\"f#g%h&i.csv", "/"],
)
def test_names_pachyderm_accepts(path: str) -> None:
    validate_filename(path)


@pytest.mark.parametrize(
    "path", ["/a/./b", "/a/../b", "/a*", "/a]", "/a}", "/a)", "/\u00e9", "/a\nb", "/a\x7f", "/b\udcffd", ""]
)
def test_names_pachyderm_refuses(path: str) -> None:
    with pytest.raises(InvalidFilename) as caught:
        validate_filename(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(printable(path))
    assert filename_problem(path)


def _state_with_a_refused_name(runner: Runner, tmp_path: Path) -> tuple[str, str]:
    """A state as an older runner left it: a head holding a name that is not UTF-8."""
    spec = write_spec(
        tmp_path / "specs", "copy", pfs("raw", "/*", "in"), stage_cmd("copy", "/pfs/out", "/pfs/in")
    )
    runner("put", "file", "-r", "raw@master:/", "-f", str(write_files(tmp_path / "data", FILES)))
    runner("create", "pipeline", "-f", str(spec))
    state = State(runner.state)
    manifest = state.manifest("raw", state.head("raw"))
    bad = "/B\udcffD.csv"
    manifest[bad] = manifest["/a.csv"]
    state.make_commit("raw", "master", manifest)  # written directly, as put file no longer would
    return bad, printable(bad)


def test_run_on_a_state_holding_a_refused_name_is_one_line_and_delete_file_repairs_it(
    runner: Runner, tmp_path: Path
) -> None:
    _bad, shown = _state_with_a_refused_name(runner, tmp_path)
    failed = runner("run", expect=1)
    assert _one_line(failed.err) == (
        f"runner: raw@master:{shown}: file name refused: the name is not UTF-8; only printable ASCII "
        f"characters are allowed; remove it with: python -m runner delete file 'raw@master:{shown}'"
    )
    assert runner.jobs() == []
    runner("delete", "file", f"raw@master:{shown}")  # the path exactly as the message prints it
    assert "copy: job" in runner("run").out
    assert runner.head_files("copy") == {"a.csv": "a\n", "sub/b.csv": "b\n"}


def test_delete_file_takes_the_raw_name_too(runner: Runner, tmp_path: Path) -> None:
    bad, _shown = _state_with_a_refused_name(runner, tmp_path)
    runner("delete", "file", f"raw@master:{bad}")
    assert bad not in State(runner.state).manifest("raw", State(runner.state).head("raw"))


# -- zips ------------------------------------------------------------------------------------------
def _zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    """Write ``path`` with (name, content, unix mode) entries; mode 0 leaves the mode unset."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode:
                info.create_system = 3
                info.external_attr = mode << 16
            zf.writestr(info, content)
    return path


def _put_zip(repo_root: Path, state: Path, archive: Path, *flags: str, env: dict[str, str] | None = None):
    return subprocess.run(
        runner_argv(state, "put", "file", "raw@master:/", "-f", str(archive), *flags),
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([("/etc/cron.d/x", b"a", 0)], "entry /etc/cron.d/x: an absolute path"),
        ([("C:/x.csv", b"a", 0)], "entry C:/x.csv: an absolute path"),
        ([("stocks/../../x.csv", b"a", 0)], "entry stocks/../../x.csv: '..' in its path"),
        (
            [("a.csv", b"1", 0), ("a.csv", b"2", 0)],
            "entry a.csv: duplicate entry (the archive holds a.csv twice)",
        ),
        (
            [("a.csv", b"1", 0), ("./a.csv", b"2", 0)],
            "entry ./a.csv: duplicate entry (the archive holds a.csv twice)",
        ),
        (
            [("link.csv", b"/etc/passwd", stat.S_IFLNK | 0o777)],
            "entry link.csv: a symbolic link entry: only regular files can be put",
        ),
        (
            [("fifo", b"", stat.S_IFIFO | 0o644)],
            "entry fifo: not a regular file entry: only regular files can be put",
        ),
        ([("x(1).csv", b"a", 0)], "entry x(1).csv: file name refused: the glob character '(' is not allowed"),
    ],
)
def test_unsafe_zip_entries_are_refused_before_anything_is_stored(
    repo_root: Path, tmp_path: Path, entries: list[tuple[str, bytes, int]], expected: str
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns when writing a duplicate name
        archive = _zip(tmp_path / "bad.zip", [("ok.csv", b"fine\n", 0), *entries])
    state = tmp_path / "pfs"
    result = _put_zip(repo_root, state, archive)
    assert result.returncode == 1
    assert _one_line(result.stderr).startswith(f"runner: {archive}: {expected}"), result.stderr
    assert State(state).head("raw") is None and _objects(state) == []


def test_a_zip_over_the_expanded_size_cap_is_refused_and_the_cap_can_be_raised(
    repo_root: Path, tmp_path: Path
) -> None:
    """A 300 MiB entry of zeros (about 300 KB compressed) under a 100 MiB cap, from the flag and the env."""
    archive = _zip(tmp_path / "bomb.zip", [("zeros.csv", bytes(300 << 20), 0)])
    assert archive.stat().st_size < 1 << 20
    state = tmp_path / "pfs"
    for flags, env in ((("--zip-max-bytes", "100MiB"), {}), ((), {"RUNNER_ZIP_MAX_BYTES": "100MiB"})):
        result = _put_zip(repo_root, state, archive, *flags, env=env)
        assert result.returncode == 1
        assert _one_line(result.stderr) == (
            f"runner: {archive}: expands to 300.0 MiB, more than the cap of 100.0 MiB; if you trust this "
            "archive, raise it with --zip-max-bytes SIZE or RUNNER_ZIP_MAX_BYTES=SIZE"
        )
        assert _objects(state) == []
    raised = _put_zip(
        repo_root, state, archive, "--zip-max-bytes", "400MiB", env={"RUNNER_ZIP_MAX_BYTES": "1MiB"}
    )
    assert raised.returncode == 0, raised.stderr  # the flag wins over the environment
    assert (state / "raw" / "master" / "zeros.csv").stat().st_size == 300 << 20


def test_a_zip_over_the_entry_count_cap_is_refused(repo_root: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", [(f"f{i}.csv", b"", 0) for i in range(30)])
    state = tmp_path / "pfs"
    result = _put_zip(repo_root, state, archive, env={"RUNNER_ZIP_MAX_FILES": "20"})
    assert _one_line(result.stderr) == (
        f"runner: {archive}: 30 files, more than the cap of 20; if you trust this archive, raise it with "
        "--zip-max-files N or RUNNER_ZIP_MAX_FILES=N"
    )
    assert _put_zip(repo_root, state, archive, "--zip-max-files", "30").returncode == 0


def test_a_zip_entry_larger_than_it_declares_is_refused(repo_root: Path, tmp_path: Path) -> None:
    """A zip whose headers declare 10 bytes for a 1 MiB entry (a lying bomb) stops at the CRC check."""
    archive = _zip(tmp_path / "liar.zip", [("liar.csv", bytes(1 << 20), 0)])
    raw = bytearray(archive.read_bytes())
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.index(signature)
        struct.pack_into("<I", raw, at + size_offset, 10)
    archive.write_bytes(bytes(raw))
    state = tmp_path / "pfs"
    result = _put_zip(repo_root, state, archive)
    assert result.returncode == 1
    assert _one_line(result.stderr).startswith(f"runner: {archive}: entry liar.csv: damaged ("), result.stderr
    assert State(state).head("raw") is None
    assert not list((state / ".objects").glob(".tmp-*"))


@pytest.mark.parametrize(
    ("field", "local_offset", "central_offset", "value", "expected"),
    [
        ("flag bits", 6, 8, 0x1, "entry secret.csv: encrypted: decrypt the archive first"),
        (
            "method",
            8,
            10,
            9,
            "entry secret.csv: compression method 9 is not supported: repack it with deflate",
        ),
    ],
)
def test_encrypted_or_deflate64_entries_are_one_line(
    repo_root: Path,
    tmp_path: Path,
    field: str,
    local_offset: int,
    central_offset: int,
    value: int,
    expected: str,
) -> None:
    """zipfile raises RuntimeError / NotImplementedError for these when reading: refused up front instead."""
    archive = _zip(tmp_path / "odd.zip", [("secret.csv", b"x" * 100, 0)])
    raw = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        struct.pack_into("<H", raw, raw.index(signature) + offset, value)
    archive.write_bytes(bytes(raw))
    state = tmp_path / "pfs"
    result = _put_zip(repo_root, state, archive)
    assert result.returncode == 1, field
    assert _one_line(result.stderr) == f"runner: {archive}: {expected}"
    assert State(state).head("raw") is None


def test_a_file_that_is_not_a_zip_is_one_line(repo_root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "fake.zip"
    archive.write_text("not a zip\n")
    result = _put_zip(repo_root, tmp_path / "pfs", archive)
    assert _one_line(result.stderr) == f"runner: {archive}: not a readable zip file (File is not a zip file)"


def test_the_default_caps_fit_the_kaggle_zip_with_room() -> None:
    """The Kaggle zip holds 8,049 symbol files + the metadata file and expands to about 2.7 GB."""
    limits = ZipLimits()
    assert (limits.max_bytes, limits.max_files) == (4 << 30, 20_000)  # as docs/running.md states
    assert limits.max_files >= 2 * 8_050 and limits.max_bytes >= 1.4 * 2.7e9
    assert parse_size("4GiB", "x") == parse_size("4G", "x") == 4 << 30 and parse_size("4GB", "x") == 4 * 10**9
    assert parse_size("1048576", "x") == 1 << 20


# -- adding and replacing --------------------------------------------------------------------------
def _head_paths(state: Path) -> set[str]:
    head = state / "raw" / "master"
    return {str(p.relative_to(head)) for p in head.rglob("*") if p.is_file()}


def test_put_adds_and_put_replace_makes_the_head_exactly_the_source(repo_root: Path, tmp_path: Path) -> None:
    """pachctl's put file adds (files not named stay); --replace is delete file PATH + put file in
    one commit (pachctl: inside start commit / finish commit). Both print what changed."""
    state = tmp_path / "pfs"
    full = write_files(
        tmp_path / "full", {f"stocks/S{i}.csv": f"{i}\n" for i in range(6)} | {"meta.csv": "m\n"}
    )
    subset = write_files(
        tmp_path / "subset", {"stocks/S0.csv": "0\n", "stocks/S1.csv": "changed\n", "meta.csv": "m\n"}
    )
    first = _cli(repo_root, state, "put", "file", "-r", "raw@master:/", "-f", str(full))
    assert first.stdout.splitlines()[-1].endswith(
        "(7 files, 14 B): 7 added, 0 changed, 0 deleted, 0 unchanged"
    )
    added = _cli(repo_root, state, "put", "file", "-r", "raw@master:/", "-f", str(subset))
    assert added.stdout.strip().endswith(
        ": 0 added, 1 changed, 0 deleted, 2 unchanged; "
        "4 other file(s) of the head kept (--replace deletes them)"
    )
    assert len(_head_paths(state)) == 7
    replaced = _cli(repo_root, state, "put", "file", "-r", "--replace", "raw@master:/", "-f", str(subset))
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.strip().endswith("(3 files, 12 B): 0 added, 0 changed, 4 deleted, 3 unchanged")
    assert _head_paths(state) == {"stocks/S0.csv", "stocks/S1.csv", "meta.csv"}
    commits = json.loads(_cli(repo_root, state, "list", "commit", "raw@master", "--json").stdout)
    assert len(commits) == 3, "the replacement is one commit"
    again = _cli(repo_root, state, "put", "file", "-r", "--replace", "raw@master:/", "-f", str(subset))
    assert again.stdout.strip() == (
        "raw@master: no change, content identical to the head; no new commit "
        "(0 added, 0 changed, 0 deleted, 3 unchanged)"
    )


def test_replace_under_a_path_leaves_the_rest_of_the_repo(repo_root: Path, tmp_path: Path) -> None:
    state = tmp_path / "pfs"
    write_files(tmp_path / "full", {"stocks/A.csv": "a\n", "stocks/B.csv": "b\n", "etfs/E.csv": "e\n"})
    _cli(repo_root, state, "put", "file", "-r", "raw@master:/", "-f", str(tmp_path / "full"))
    write_files(tmp_path / "new", {"C.csv": "c\n"})
    result = _cli(
        repo_root, state, "put", "file", "-r", "--replace", "raw@master:/stocks", "-f", str(tmp_path / "new")
    )
    assert result.stdout.strip().endswith(": 1 added, 0 changed, 2 deleted, 0 unchanged")
    assert _head_paths(state) == {"stocks/C.csv", "etfs/E.csv"}
