"""specs/evaluate.json: one datum, train's model folder crossed with the whole features repo."""

from __future__ import annotations

import json
from pathlib import Path

from stages.evaluate.evaluate import parse_args


def test_evaluate_spec_crosses_train_and_features(repo_root: Path) -> None:
    spec = json.loads((repo_root / "specs" / "evaluate.json").read_text())
    assert spec["pipeline"]["name"] == "evaluate"
    assert spec["input"] == {
        "cross": [
            {"pfs": {"name": "train", "repo": "train", "glob": "/"}},
            {"pfs": {"name": "features", "repo": "features", "glob": "/"}},
        ]
    }
    transform = spec["transform"]
    assert transform["image"] == "stockpipe/evaluate:0.1.0"
    cmd = ["python3", "-m", "stages.evaluate", "--train", "/pfs/train", "--features", "/pfs/features"]
    assert transform["cmd"] == [*cmd, "--out", "/pfs/out"]
    assert spec["parallelismSpec"]["constant"] == 1
    assert spec["description"]


def test_the_cmd_parses_with_the_real_run_defaults() -> None:
    args = parse_args(["--train", "/pfs/train", "--features", "/pfs/features", "--out", "/pfs/out"])
    assert str(args.train) == "/pfs/train" and str(args.features) == "/pfs/features"
    assert args.rf_sample == 150_000 and args.score_rows == 200_000 and args.forest_jobs == 2
