"""A real, small model folder made from the bundled sample, for tests and demos before `make pipeline`.

It is the train stage's own output: the sample goes through the ingest, features and train
stages' functions (``main`` of each, in this process, no runner), so the folder follows the
model contract (docs/model-contract.md) exactly and there is no second implementation of the
features or the model to drift. Only the number of boosting rounds differs, for speed.

    python -m api.devtools.sample_model OUT_DIR [--sample data/sample] [--rounds 60]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from stages.features.program import main as features_main
from stages.ingest.ingest import main as ingest_main
from stages.train.train import main as train_main

log = logging.getLogger(__name__)

META_FILE = "symbols_valid_meta.csv"


class SampleModelError(RuntimeError):
    """A stage failed on the sample; the message names the stage (its own error is on stderr)."""


def build_sample_model(sample_dir: Path, out_dir: Path, rounds: int = 60) -> Path:
    """Run ingest, features and train on ``sample_dir``; train's output becomes ``out_dir``; returns it."""
    sample_dir, out_dir = Path(sample_dir), Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="sample-model-") as work:
        ingest, features = Path(work) / "ingest", Path(work) / "features"
        steps = (
            ("ingest", ingest_main, ["--prices", str(sample_dir), "--meta", str(sample_dir / META_FILE)]),
            ("features", features_main, ["--ingest", str(ingest)]),
        )
        outs = {"ingest": ingest, "features": features}
        for name, stage_main, args in steps:
            if stage_main([*args, "--out", str(outs[name])]) != 0:
                raise SampleModelError(f"sample model: the {name} stage failed on {sample_dir}")
        trained = Path(work) / "train"
        # One thread: tests build this model while other tests run.
        train_args = ["--features", str(features), "--out", str(trained), "--num-boost-round", str(rounds)]
        if train_main([*train_args, "--threads", "1"]) != 0:
            raise SampleModelError(f"sample model: the train stage failed on {sample_dir}")
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in trained.iterdir():
            shutil.copy2(path, out_dir / path.name)
    log.info("sample model: trained on %s -> %s", sample_dir, out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--sample", type=Path, default=Path("data/sample"))
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    try:
        build_sample_model(args.sample, args.out_dir, args.rounds)
    except SampleModelError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
