"""The root image's build context is an allow-list: credentials and local state never reach it.

Read as BuildKit reads .dockerignore (tests/deploy/dockerfiles.py: last match wins, `!` re-includes),
for the paths a developer's checkout may hold next to the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy import dockerfiles as df

REPO_ROOT = Path(__file__).resolve().parents[2]
ROOT_IGNORE = df.effective_dockerignore(REPO_ROOT / "Dockerfile", REPO_ROOT)

#: Credentials and keys, at the top and inside folders the image does copy.
CREDENTIALS = [
    "kaggle.json",
    ".kaggle/kaggle.json",
    "tools/kaggle.json",
    "data/sample/kaggle.json",
    ".env",
    "api/.env",
    ".env.production",
    "id_rsa",
    "stages/ingest/id_ed25519",
    "deploy/server.key",
    "api/hosting/cert.pem",
    "runner/client.p12",
    ".netrc",
    "access_token",
]
LOCAL_STATE = [".pfs/raw/master/x.csv", ".venv/bin/python", "data/synth/stocks/A.csv", "data/kaggle/x.zip"]
LOCAL_STATE += ["build/run-log/x", ".git/config", "runner/__pycache__/x.pyc", "api/hosting/model/model.txt"]
#: What `make pipeline` and `make serve` need in the image.
NEEDED = [
    "Makefile",
    "images.txt",
    "mk/api.mk",
    "runner/cli.py",
    "stages/ingest/ingest.py",
    "specs/ingest.json",
]
NEEDED += ["tools/fetch_raw.py", "api/app.py", "data/sample/symbols_valid_meta.csv", "requirements-dev.txt"]


def test_the_root_ignore_file_ignores_everything_first() -> None:
    assert ROOT_IGNORE.path == REPO_ROOT / ".dockerignore"
    rules = [line.strip() for line in ROOT_IGNORE.path.read_text(encoding="utf-8").splitlines()]
    assert next(r for r in rules if r and not r.startswith("#")) == "*", "an allow-list starts with `*`"


@pytest.mark.parametrize("path", CREDENTIALS + LOCAL_STATE)
def test_credentials_and_local_state_stay_out_of_the_context(path: str) -> None:
    assert ROOT_IGNORE.excludes(path), f".dockerignore lets {path} into the root image's build context"


@pytest.mark.parametrize("path", NEEDED)
def test_what_the_pipeline_needs_is_in_the_context(path: str) -> None:
    assert (REPO_ROOT / path).exists(), path
    assert not ROOT_IGNORE.excludes(path), f".dockerignore keeps {path} out, the root image needs it"


def test_unknown_new_top_level_files_stay_out() -> None:
    """Allow-list, not deny-list: a file nobody thought of (a dump, a notes file) is not copied."""
    for path in ("notes.txt", "secrets/prod.yaml", "dump.sql", "credentials.json"):
        assert ROOT_IGNORE.excludes(path), path
