"""The model contract (docs/model-contract.md) in code: what train writes and api serves.

Both sides import these names, so the feature order, the file names and the way a raw booster
output becomes a served volume cannot drift apart. numpy is the only dependency (the API
image has it, but not pyarrow): keep it that way.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: The model's inputs, in predict order, as the API's query parameters name them.
FEATURE_COLUMNS: tuple[str, ...] = ("vol_moving_avg", "adj_close_rolling_med")

#: What the model predicts.
TARGET_COLUMN: str = "Volume"

#: The files of a model folder (the train stage's output).
MODEL_FILE = "model.txt"  # the LightGBM booster, text format
METADATA_FILE = "model.json"  # features, target, target_transform, how it was fit
METRICS_FILE = "metrics.json"  # its own held-out scores (random 80/20 split)
LOSS_FILE = "loss.csv"  # its loss per boosting iteration

#: The library model.txt is written by (model.json's "library").
LIBRARY = "lightgbm"

#: Inverse of each target transform model.json may name, on arrays ...
INVERSE_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda raw: np.asarray(raw, dtype=np.float64),
    "log1p": np.expm1,
}
#: ... and on one float (the API's single-row fast path: no array round trip).
INVERSE_TRANSFORMS_SCALAR: dict[str, Callable[[float], float]] = {
    "none": float,
    "log1p": math.expm1,
}
TARGET_TRANSFORMS: tuple[str, ...] = tuple(INVERSE_TRANSFORMS)


class UnknownTransformError(ValueError):
    """model.json names a target transform this contract does not define."""


def _checked(transform: str) -> str:
    if transform not in INVERSE_TRANSFORMS:
        raise UnknownTransformError(
            f"unknown target transform {transform!r} (expected one of {', '.join(TARGET_TRANSFORMS)})"
        )
    return transform


def to_model_target(volume: np.ndarray, transform: str) -> np.ndarray:
    """What the booster is fit on: ``transform(Volume)``."""
    if _checked(transform) == "log1p":
        return np.log1p(volume)
    return np.asarray(volume, dtype=np.float64)


def served_volumes(raw: np.ndarray, transform: str) -> np.ndarray:
    """Served volume of each raw booster output: ``rint(max(0, inverse(raw)))``, as float64.

    ``np.rint`` and Python's ``round`` both round half to even, so this equals
    :func:`served_volume` element by element.
    """
    with np.errstate(over="ignore"):
        values = INVERSE_TRANSFORMS[_checked(transform)](raw)
    return np.rint(np.maximum(values, 0.0))


def served_volume(raw: float, transform: str) -> int:
    """Served volume of one raw booster output: ``int(round(max(0, inverse(raw))))``."""
    return round(max(0.0, INVERSE_TRANSFORMS_SCALAR[_checked(transform)](raw)))
