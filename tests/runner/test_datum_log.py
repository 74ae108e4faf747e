"""runner.datum_log: each datum sees only its own log in one append-only worker file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner import datum_log
from runner.datum_log import DatumLog


def test_each_datum_gets_only_what_it_appended_and_no_file_is_recreated(tmp_path: Path) -> None:
    log = DatumLog(tmp_path / "datum.log")
    inode = os.fstat(log.fd).st_ino
    log.begin()
    log.write("first datum\n")
    assert log.tail() == "first datum\n" and log.written() == len("first datum\n")
    log.begin()
    assert log.written() == 0 and log.tail() == ""
    os.write(log.fd, b"second \xff datum\n")  # a stage writing bytes on fd 1/2
    assert log.tail() == "second \ufffd datum\n"
    assert os.stat(tmp_path / "datum.log").st_ino == inode
    log.close()


def test_the_tail_is_capped_and_a_big_log_is_emptied_before_the_next_datum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datum_log, "LOG_TAIL_BYTES", 10)
    monkeypatch.setattr(datum_log, "MAX_LOG_BYTES", 100)
    log = DatumLog(tmp_path / "datum.log")
    log.begin()
    log.write("x" * 150 + "last line\n")
    assert log.tail() == "last line\n"
    log.begin()
    assert os.fstat(log.fd).st_size == 0 and log.start == 0
    log.write("small\n")
    assert log.tail() == "small\n"
    log.close()
