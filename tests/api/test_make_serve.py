"""`make serve`: refuses at once without a trained model, and serves the train repo's head with its commit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from api.devtools.server import free_port


def _make(repo_root: Path, *args: str, **kwargs) -> subprocess.Popen:
    # VENV_STAMP= : the test already runs inside the virtualenv; do not let make bootstrap it.
    return subprocess.Popen(
        ["make", "--no-print-directory", "serve", "VENV_STAMP=", *args],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: gunicorn and make stop together
        **kwargs,
    )


def test_make_serve_without_a_model_says_to_run_make_pipeline(repo_root: Path, tmp_path: Path) -> None:
    process = _make(repo_root, f"PFS_STATE={tmp_path / 'pfs'}")
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "no trained model" in output
    assert "make pipeline" in output


@pytest.mark.parametrize("target", ["serve", "hosting-model"])
def test_without_a_model_make_says_so_before_installing_anything(
    target: str, repo_root: Path, tmp_path: Path
) -> None:
    """A fresh clone (no .venv): the refusal comes first, and no virtualenv is created for it."""
    venv = tmp_path / "venv"
    started = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={venv}", f"PFS_STATE={tmp_path / 'pfs'}"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "run 'make pipeline' first" in result.stderr
    assert not venv.exists()
    assert time.monotonic() - started < 10  # generous: the check itself is one shell test


def test_make_serve_serves_the_train_head(repo_root: Path, tmp_path: Path, model_dir: Path) -> None:
    # The local runner's layout: $PFS_STATE/train/master is the head of the train repo.
    head = tmp_path / "pfs" / "train" / "master"
    shutil.copytree(model_dir, head)
    port = free_port()
    process = _make(repo_root, f"PFS_STATE={tmp_path / 'pfs'}", f"PORT={port}", "WORKERS=1")
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                time.sleep(0.1)
        else:
            raise AssertionError("make serve did not answer /healthz within 30 s")
        info = requests.get(f"{url}/model", timeout=5).json()
        assert info["model_dir"] == str(head.resolve())
        assert info["metadata"] == json.loads((model_dir / "model.json").read_text())
        answer = requests.get(f"{url}/predict?vol_moving_avg=1000&adj_close_rolling_med=10", timeout=5)
        assert answer.status_code == 200
        assert answer.text.isdigit()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)
