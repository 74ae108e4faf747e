"""Fixtures of the API tests: a real model folder fit on the bundled sample, and a live gunicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from api.devtools.sample_model import build_sample_model
from api.devtools.server import Server, running_server


@pytest.fixture(scope="session")
def model_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder per the model contract, trained on the bundled real sample (log1p target)."""
    return build_sample_model(sample_dir, tmp_path_factory.mktemp("model"), rounds=40)


@pytest.fixture(scope="session")
def booster(model_dir: Path) -> lightgbm.Booster:
    """The same model loaded independently of the API, to check its answers against."""
    return lightgbm.Booster(model_file=str(model_dir / "model.txt"))


@pytest.fixture(scope="session")
def expected_volume(booster: lightgbm.Booster):
    """What the API must answer for rows: int(round(max(0, expm1(raw prediction))))."""

    def expected(rows: list[list[float]]) -> list[int]:
        raw = booster.predict(np.array(rows, dtype=np.float64), num_threads=1)
        return [round(max(0.0, float(v))) for v in np.expm1(raw)]

    return expected


@pytest.fixture(scope="session")
def provenance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A train commit description as `python -m runner inspect commit train@master --json` prints it."""
    path = tmp_path_factory.mktemp("provenance") / "train-commit.json"
    path.write_text(
        '{"id": "c0ffee01", "repo": "train", "branch": "master", "parents": [], '
        '"created": "2026-11-27T07:00:00Z", "provenance": [{"repo": "features", "commit": "feed0002"}], '
        '"spec_hash": "abc123", "job": "job-1"}',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def server(
    model_dir: Path, provenance_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The real API: gunicorn with api/gunicorn_conf.py, 2 workers, on a free loopback port."""
    log_path = tmp_path_factory.mktemp("server") / "gunicorn.log"
    with running_server(model_dir, provenance=provenance_file, log_path=log_path) as live:
        yield live
