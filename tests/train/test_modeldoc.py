"""docs/model.md is generated from a train output folder: its numbers come from metrics.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stages.train.modeldoc import ModelDocError, fill, generate_blocks, main
from stages.train.train import main as train_main
from tests.train.synthetic_features import write_synthetic_features

BLOCKS = ("source", "metrics", "comparison", "loss")


@pytest.fixture(scope="module")
def train_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("modeldoc")
    write_synthetic_features(root / "features", total_rows=8000, n_symbols=10, seed=5)
    args = ["--num-boost-round", "10", "--rf-sample", "1000", "--score-rows", "1000", "--plot-rows", "300"]
    assert train_main(["--features", str(root / "features"), "--out", str(root / "out"), *args]) == 0
    return root / "out"


def test_the_committed_doc_has_every_generated_block(repo_root: Path) -> None:
    text = (repo_root / "docs" / "model.md").read_text()
    for name in BLOCKS:
        assert f"<!-- BEGIN generated:{name} -->" in text and f"<!-- END generated:{name} -->" in text
    assert "model-predictions.png" in text and (repo_root / "docs" / "model-predictions.png").is_file()


def test_doc_and_plot_are_written_from_the_output(
    train_output: Path, repo_root: Path, tmp_path: Path
) -> None:
    doc = tmp_path / "model.md"
    doc.write_text((repo_root / "docs" / "model.md").read_text())
    plot = tmp_path / "plot.png"
    assert main(["--model-dir", str(train_output), "--doc", str(doc), "--plot", str(plot)]) == 0
    text = doc.read_text()
    metrics = json.loads((train_output / "metrics.json").read_text())
    for split in ("random_80_20", "time_split"):
        assert f"{metrics[split]['chosen']['mae']:,.0f}" in text
        assert f"{metrics[split]['random_forest_reference']['mae']:,.0f}" in text
    assert metrics["time_split"]["split"]["cutoff_date"] in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Regenerating is idempotent: the blocks are replaced, not appended.
    assert main(["--model-dir", str(train_output), "--doc", str(doc)]) == 0
    assert doc.read_text() == text


def test_fill_replaces_only_named_blocks_and_requires_each() -> None:
    text = "a\n<!-- BEGIN generated:loss -->\nold\n<!-- END generated:loss -->\nb\n"
    assert (
        fill(text, {"loss": "new\n"})
        == "a\n<!-- BEGIN generated:loss -->\nnew\n<!-- END generated:loss -->\nb\n"
    )
    with pytest.raises(ModelDocError, match="no generated block"):
        fill(text, {"metrics": "x\n"})


def test_blocks_hold_no_placeholder(train_output: Path) -> None:
    blocks = generate_blocks(train_output)
    assert set(blocks) == set(BLOCKS)
    for body in blocks.values():
        assert not re.search(r"\bnan\b|\{|\}", body)


def test_missing_output_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    doc = tmp_path / "model.md"
    doc.write_text("x")
    assert main(["--model-dir", str(tmp_path / "none"), "--doc", str(doc)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make pipeline" in err[0]
