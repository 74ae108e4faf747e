"""The Arrow memory pool of the stages that read the whole features table (train, evaluate).

Run in child processes: the pool is a setting of the whole process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


PROBE = (
    "import pyarrow as pa; from stages.common.arrow_memory import use_jemalloc_pool; "
    "name = use_jemalloc_pool(); assert name == pa.default_memory_pool().backend_name; print(name)"
)


def _pool_in_child(**env: str) -> str:
    child_env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env={**child_env, **env}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc pool")
def test_the_stages_allocate_from_jemalloc_by_default() -> None:
    assert _pool_in_child() == "jemalloc"


def test_a_pool_named_in_the_environment_wins() -> None:
    assert _pool_in_child(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
