"""stages.common.per_datum: the same command line and stream are set up once, a new one at once."""

from __future__ import annotations

import argparse
import io
import logging
import sys

import pytest

from stages.common.per_datum import log_to_stderr, parse_args_once


def _build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stage")
    parser.add_argument("--out", default="/pfs/out")
    return parser


def test_a_repeated_command_line_is_parsed_once() -> None:
    first = parse_args_once(_build, ["--out", "/tmp/a"])
    assert first.out == "/tmp/a"
    assert parse_args_once(_build, ["--out", "/tmp/a"]) is first
    assert parse_args_once(_build, ["--out", "/tmp/b"]).out == "/tmp/b"
    with pytest.raises(SystemExit):  # errors are not cached away
        parse_args_once(_build, ["--nope"])


def test_logging_follows_a_new_stderr_and_a_new_format(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    log_to_stderr("a: %(message)s")
    handler = root.handlers[0]
    log_to_stderr("a: %(message)s")
    assert root.handlers == [handler]  # same stream, same format: kept
    logging.getLogger("x").info("one")
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    log_to_stderr("a: %(message)s")
    logging.getLogger("x").info("two")
    log_to_stderr("b: %(message)s")
    logging.getLogger("x").info("three")
    assert first.getvalue() == "a: one\n"
    assert second.getvalue() == "a: two\nb: three\n"
    assert len(root.handlers) == 1
