"""Fixtures of the runner's tests: a runner bound to a temporary state folder, spec writers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str


class Runner:
    """Calls ``runner.cli.main`` in-process with ``--state`` set; returns code, stdout, stderr."""

    def __init__(self, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.state = state
        self.capsys = capsys

    def __call__(self, *argv: str, expect: int | None = 0) -> Outcome:
        self.capsys.readouterr()
        code = main(["--state", str(self.state), *argv])
        captured = self.capsys.readouterr()
        result = Outcome(code, captured.out, captured.err)
        if expect is not None:
            assert code == expect, f"runner {' '.join(argv)} exited {code}\n{captured.out}\n{captured.err}"
        return result

    def head_files(self, repo: str) -> dict[str, str]:
        """relative path → text of every file at the head of repo@master (the plain folder)."""
        root = self.state / repo / "master"
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}

    def inspect(self, ref: str) -> dict[str, Any]:
        return json.loads(self("inspect", "commit", ref, "--json").out)

    def jobs(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        argv = ["list", "job", "--json"] + (["-p", pipeline] if pipeline else [])
        return json.loads(self(*argv).out)


@pytest.fixture
def runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Runner:
    return Runner(tmp_path / "pfs", capsys)
