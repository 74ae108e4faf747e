"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The bundled real sample of the Kaggle dataset (a copy of ../shared/data/kaggle-sample).
SAMPLE_DIR = REPO_ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    assert (SAMPLE_DIR / "symbols_valid_meta.csv").is_file(), f"bundled sample missing at {SAMPLE_DIR}"
    return SAMPLE_DIR
