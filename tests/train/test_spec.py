"""specs/train.json: one datum over the whole features repo, the stage's cmd, a pinned image."""

from __future__ import annotations

import json
from pathlib import Path

from stages.train.models import BoosterConfig
from stages.train.train import parse_args

REPO_ROOT = Path(__file__).resolve().parents[2]


def spec_cpus() -> int:
    """The cores specs/train.json requests: the stage's default thread count uses them all."""
    return json.loads((REPO_ROOT / "specs" / "train.json").read_text())["resourceRequests"]["cpu"]


def test_train_spec_runs_the_stage_on_one_datum(repo_root: Path) -> None:
    spec = json.loads((repo_root / "specs" / "train.json").read_text())
    assert spec["pipeline"]["name"] == "train"
    assert spec["input"] == {"pfs": {"name": "features", "repo": "features", "glob": "/"}}
    transform = spec["transform"]
    assert transform["image"] == "stockpipe/train:0.1.0"
    cmd = ["python3", "-m", "stages.train", "--features", "/pfs/features", "--out", "/pfs/out"]
    # The features cache lives in the worker's own /tmp, outside /pfs (stages/train/read_cache.py).
    assert transform["cmd"] == [*cmd, "--cache-dir", "/tmp/stockpipe-train-cache"]
    assert spec["parallelismSpec"]["constant"] == 1
    assert spec["datumTimeout"].endswith("s") and int(spec["datumTimeout"][:-1]) >= 600
    memory = spec["resourceRequests"]["memory"]
    assert memory.endswith("Gi") and int(memory[:-2]) >= 6
    assert spec["description"]


def test_the_cmd_parses_with_the_real_run_defaults() -> None:
    cmd = json.loads((REPO_ROOT / "specs" / "train.json").read_text())["transform"]["cmd"]
    args = parse_args(cmd[3:])
    assert str(args.features) == "/pfs/features" and str(args.out) == "/pfs/out"
    assert str(args.cache_dir) == "/tmp/stockpipe-train-cache"
    assert args.score_rows == 200_000 and args.num_boost_round == 50
    assert args.sample_rows == BoosterConfig().sample_rows and args.threads == 2 == spec_cpus()
