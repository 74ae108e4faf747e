"""docs/model.md is generated from train's and evaluate's outputs: its numbers come from their files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stages.evaluate.evaluate import main as evaluate_main
from stages.train.modeldoc import ModelDocError, fill, generate_blocks, main
from stages.train.train import main as train_main
from tests.train.synthetic_features import write_synthetic_features

BLOCKS = ("source", "metrics", "comparison", "loss")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train's output, evaluate's output) on a small synthetic features folder."""
    root = tmp_path_factory.mktemp("modeldoc")
    features = str(root / "features")
    write_synthetic_features(root / "features", total_rows=8000, n_symbols=10, seed=5)
    args = ["--num-boost-round", "10", "--score-rows", "1000", "--threads", "1"]
    assert train_main(["--features", features, "--out", str(root / "train"), *args]) == 0
    args = ["--rf-sample", "1000", "--score-rows", "1000", "--plot-rows", "300"]
    evaluate_args = ["--train", str(root / "train"), "--features", features, "--out", str(root / "evaluate")]
    assert evaluate_main([*evaluate_args, *args]) == 0
    return root / "train", root / "evaluate"


def _dirs(outputs: tuple[Path, Path]) -> list[str]:
    return ["--train-dir", str(outputs[0]), "--evaluate-dir", str(outputs[1])]


def test_the_committed_doc_has_every_generated_block(repo_root: Path) -> None:
    text = (repo_root / "docs" / "model.md").read_text()
    for name in BLOCKS:
        assert f"<!-- BEGIN generated:{name} -->" in text and f"<!-- END generated:{name} -->" in text
    assert "model-predictions.png" in text and (repo_root / "docs" / "model-predictions.png").is_file()


def test_doc_and_plot_are_written_from_the_outputs(
    outputs: tuple[Path, Path], repo_root: Path, tmp_path: Path
) -> None:
    doc = tmp_path / "model.md"
    doc.write_text((repo_root / "docs" / "model.md").read_text())
    plot = tmp_path / "plot.png"
    assert main([*_dirs(outputs), "--doc", str(doc), "--plot", str(plot)]) == 0
    text = doc.read_text()
    metrics = json.loads((outputs[1] / "comparison.json").read_text())
    for split in ("random_80_20", "time_split"):
        assert f"{metrics[split]['chosen']['mae']:,.0f}" in text
        assert f"{metrics[split]['random_forest_reference']['mae']:,.0f}" in text
    assert metrics["time_split"]["split"]["cutoff_date"] in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Regenerating is idempotent: the blocks are replaced, not appended.
    assert main([*_dirs(outputs), "--doc", str(doc)]) == 0
    assert doc.read_text() == text


def test_fill_replaces_only_named_blocks_and_requires_each() -> None:
    text = "a\n<!-- BEGIN generated:loss -->\nold\n<!-- END generated:loss -->\nb\n"
    assert (
        fill(text, {"loss": "new\n"})
        == "a\n<!-- BEGIN generated:loss -->\nnew\n<!-- END generated:loss -->\nb\n"
    )
    with pytest.raises(ModelDocError, match="no generated block"):
        fill(text, {"metrics": "x\n"})


def test_blocks_hold_no_placeholder(outputs: tuple[Path, Path]) -> None:
    blocks = generate_blocks(*outputs)
    assert set(blocks) == set(BLOCKS)
    for body in blocks.values():
        assert not re.search(r"\bnan\b|\{|\}", body)


def test_blocks_name_repo_relative_sources_and_the_command_never_a_folder_read(
    outputs: tuple[Path, Path], repo_root: Path
) -> None:
    blocks = generate_blocks(*outputs)
    text = "".join(blocks.values())
    assert str(outputs[0].parent) not in text and "/tmp" not in text
    assert not re.search(r"(^|[\s`(])/[a-z]", text), text  # no absolute path at all
    assert "`make model-doc`" in blocks["source"]
    for source in ("stages/train/modeldoc.py", "stages/train/train.py", "stages/evaluate/evaluate.py"):
        assert source in blocks["source"] and (repo_root / source).is_file()


def test_the_committed_doc_names_no_machine_path(repo_root: Path) -> None:
    text = (repo_root / "docs" / "model.md").read_text()
    for name in BLOCKS:
        body = text.split(f"<!-- BEGIN generated:{name} -->")[1].split(f"<!-- END generated:{name} -->")[0]
        assert not re.search(r"(^|[\s`(])/(tmp|work|home|root|var)/", body), (name, body)


def test_missing_output_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    doc = tmp_path / "model.md"
    doc.write_text("x")
    assert (
        main(["--train-dir", str(tmp_path / "none"), "--evaluate-dir", str(tmp_path), "--doc", str(doc)]) == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make pipeline" in err[0]
