"""schemathesis (CLI, 4.x) against the live server's own OpenAPI document: no 5xx, no schema violation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from api.devtools.server import Server


def test_schemathesis_finds_nothing(server: Server, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(schemathesis),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "100",
        "--workers",
        "2",
        "--seed",
        "42",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated, output[-3000:]
    assert int(generated.group(1)) >= 200  # a few hundred cases over every operation
    assert generated.group(1) == generated.group(2)
