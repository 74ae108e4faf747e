"""Helpers of the runner's tests: spec and data writers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def runner_argv(state: Path, *args: str) -> list[str]:
    """The command line of ``python -m runner --state STATE ARGS...`` in a child process (tests that
    signal, kill or race real runner processes)."""
    return [sys.executable, "-m", "runner", "--state", str(state), *args]


def stage_cmd(stage: str, *args: str) -> list[str]:
    return ["python3", "-m", f"tests.runner.stages.{stage}", *args]


def write_spec(folder: Path, name: str, input_: dict[str, Any], cmd: list[str], **extra: Any) -> Path:
    """Write ``folder/<name>.json``: a pipeline over ``input_`` running ``cmd``."""
    spec = {
        "pipeline": {"name": name},
        "input": input_,
        "transform": {"image": f"test/{name}:1", "cmd": cmd, **extra.pop("transform", {})},
        **extra,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def pfs(repo: str, glob: str, name: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"repo": repo, "glob": glob}
    if name:
        node["name"] = name
    return {"pfs": node}


def write_files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def autogroup_nice(pid: int) -> int | None:
    """The nice of ``pid``'s session group, from ``/autogroup-<n> nice <v>`` (None: no text, as for
    the boot session's group, or the process is gone)."""
    try:
        fields = Path(f"/proc/{pid}/autogroup").read_text().split()
    except OSError:
        return None
    return int(fields[-1]) if len(fields) == 3 else None
