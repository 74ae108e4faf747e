"""The model contract is written once: docs/model-contract.md, and stages/common/model_contract.py,
which the train stage and the API both import (feature order, file names, inverse target transform)."""

from __future__ import annotations

import ast
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import api.app
import api.model
import stages.common.schema
import stages.train.models
import stages.train.train
from stages.common import model_contract as contract

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DOC = REPO_ROOT / "docs" / "model-contract.md"
#: Where a second copy of the contract would hide.
USERS = (
    "api/model.py",
    "api/app.py",
    "stages/train/models.py",
    "stages/train/train.py",
    "stages/train/fit.py",
)


def test_train_and_api_read_the_feature_order_from_the_one_module() -> None:
    assert api.app.API_FEATURES is contract.FEATURE_COLUMNS
    assert stages.common.schema.FEATURE_COLUMNS is contract.FEATURE_COLUMNS
    assert stages.common.schema.TARGET_COLUMN is contract.TARGET_COLUMN
    assert api.model.contract is contract and stages.train.train.contract is contract


def test_train_and_api_read_the_inverse_transform_from_the_one_module() -> None:
    assert stages.train.models.served_volumes is contract.served_volumes
    assert stages.train.models.to_model_target is contract.to_model_target


@pytest.mark.parametrize("path", USERS)
def test_no_user_of_the_contract_keeps_its_own_copy(path: str) -> None:
    """No feature-name literal and no expm1/log1p call outside stages/common/model_contract.py."""
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert not strings & set(contract.FEATURE_COLUMNS), path
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"expm1", "log1p"}, path


def test_served_volume_is_the_same_on_one_float_and_on_arrays() -> None:
    raw = np.array([-3.0, 0.0, 0.5, 1.0986122886681098, 10.0, 20.7, 0.6931471805599453])
    for transform in contract.TARGET_TRANSFORMS:
        batch = contract.served_volumes(raw, transform)
        assert [contract.served_volume(float(v), transform) for v in raw] == [int(v) for v in batch]
        assert (batch >= 0).all() and np.array_equal(batch, np.rint(batch))
    assert contract.served_volume(math.log1p(2.5), "log1p") == 2  # half to even, as Python's round
    volume = np.array([0.0, 1.0, 12345.0, 3e9])
    assert np.allclose(contract.served_volumes(contract.to_model_target(volume, "log1p"), "log1p"), volume)
    with pytest.raises(contract.UnknownTransformError, match="unknown target transform 'sqrt'"):
        contract.to_model_target(volume, "sqrt")


def test_the_api_answers_what_the_contract_computes(tmp_path: Path, sample_dir: Path) -> None:
    """A real model folder (train's own code on the bundled sample), loaded by the API."""
    from api.devtools.sample_model import build_sample_model

    model = api.model.load_model(build_sample_model(sample_dir, tmp_path / "model", rounds=10))
    rows = np.array([[2.5e6, 41.5], [1e3, 2.0], [0.0, 0.0]])
    raw = model.booster.predict(rows, num_threads=1)
    expected = [contract.served_volume(float(v), model.target_transform) for v in raw]
    assert model.predict_rows(rows) == expected
    assert [model.predict_one(row) for row in rows.tolist()] == expected


def test_the_contract_doc_names_every_file_and_the_prediction() -> None:
    text = CONTRACT_DOC.read_text(encoding="utf-8")
    for name in (contract.MODEL_FILE, contract.METADATA_FILE, contract.METRICS_FILE, contract.LOSS_FILE):
        assert f"`{name}`" in text, name
    for name in (*contract.FEATURE_COLUMNS, "expm1", "stages/common/model_contract.py"):
        assert name in text, name


def test_every_reference_to_the_contract_points_at_a_file_that_exists() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = {name for name in listed if (REPO_ROOT / name).is_file()}
    pattern = re.compile(r"[\w./-]*(?:MODEL_CONTRACT\.md|model-contract\.md|model_contract\.py)")
    found = 0
    for name in sorted(files):
        if not name.endswith((".py", ".md", ".json", ".mk", "Dockerfile", ".txt")):
            continue
        for reference in pattern.findall((REPO_ROOT / name).read_text(encoding="utf-8", errors="replace")):
            found += 1
            assert "MODEL_CONTRACT" not in reference, (
                f"{name}: {reference} (the contract is docs/model-contract.md)"
            )
            target = reference.lstrip("./")
            assert any(f == target or f.endswith("/" + target) for f in files), f"{name}: {reference}"
    assert found >= 5
