"""A real, small model folder made from the bundled sample, for tests and demos before `make pipeline`.

It follows the model contract exactly (model.json, model.txt, metrics.json): a LightGBM
Booster fit on the sample's rolling features (30-row mean of Volume, median of Adj Close
per symbol, the current day included), target log1p(Volume), with honest metrics on a
random 80/20 split. The real model comes from the train stage; this one only stands in
for it where no pipeline has run.

    python -m api.devtools.sample_model OUT_DIR [--sample data/sample] [--rounds 60]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
from datetime import UTC, datetime
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd

from api.app import API_FEATURES

log = logging.getLogger(__name__)

WINDOW_ROWS = 30
SEED = 42


def sample_features(sample_dir: Path) -> pd.DataFrame:
    """The two rolling features and Volume of every price file of the sample, null rows dropped."""
    frames = []
    for csv in sorted([*sample_dir.glob("stocks/*.csv"), *sample_dir.glob("etfs/*.csv")]):
        prices = pd.read_csv(csv).dropna(subset=["Volume", "Adj Close"]).sort_values("Date")
        frames.append(
            pd.DataFrame(
                {
                    "vol_moving_avg": prices["Volume"].rolling(WINDOW_ROWS).mean(),
                    "adj_close_rolling_med": prices["Adj Close"].rolling(WINDOW_ROWS).median(),
                    "Volume": prices["Volume"].astype("int64"),
                }
            )
        )
    if not frames:
        raise FileNotFoundError(f"{sample_dir}: no stocks/*.csv or etfs/*.csv")
    return pd.concat(frames, ignore_index=True).dropna()


def _scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    err = predicted - actual
    mse = float(np.mean(err**2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "mse": mse,
        "r2": 1.0 - mse / float(np.var(actual)),
        "rows": len(actual),
    }


def build_sample_model(sample_dir: Path, out_dir: Path, rounds: int = 60) -> Path:
    """Fit the small model on ``sample_dir`` and write the model folder ``out_dir``; returns it."""
    table = sample_features(Path(sample_dir))
    x = table[list(API_FEATURES)].to_numpy(np.float64)
    y = table["Volume"].to_numpy(np.float64)
    order = np.random.default_rng(SEED).permutation(len(y))
    cut = int(len(y) * 0.8)
    train, test = order[:cut], order[cut:]
    params = {
        "objective": "l1",
        "num_leaves": 15,
        "learning_rate": 0.1,
        "num_threads": 1,
        "deterministic": True,
        "force_col_wise": True,
        "seed": SEED,
        "verbose": -1,
    }
    booster = lightgbm.train(params, lightgbm.Dataset(x[train], np.log1p(y[train])), num_boost_round=rounds)
    predicted = np.maximum(np.expm1(booster.predict(x[test], num_threads=1)), 0)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out_dir / "model.txt"))
    metadata = {
        "model_file": "model.txt",
        "library": "lightgbm",
        "library_versions": {"lightgbm": lightgbm.__version__, "python": platform.python_version()},
        "features": list(API_FEATURES),
        "target": "Volume",
        "target_transform": "log1p",
        "training_rows": len(train),
        "input_commit": None,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": SEED,
        "params": {**params, "num_boost_round": rounds},
        "source": f"api.devtools.sample_model on {sample_dir} (stand-in for the train stage)",
    }
    (out_dir / "model.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    metrics = {
        "random_80_20": {
            "chosen": _scores(y[test], predicted),
            "naive_vol_moving_avg": _scores(y[test], x[test, 0]),
            "train_rows": len(train),
            "test_rows": len(test),
        }
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log.info(
        "sample model: %d training rows, MAE %.0f -> %s",
        len(train),
        metrics["random_80_20"]["chosen"]["mae"],
        out_dir,
    )
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
    build_sample_model(args.sample, args.out_dir, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
