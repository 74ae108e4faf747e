"""The model folder written by the train stage, loaded once per worker, and its predictions.

The folder's files, the feature order and the served volume
``int(round(max(0, inverse_transform(raw_prediction))))`` are the model contract's
(docs/model-contract.md), imported from stages/common/model_contract.py as train imports them.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stages.common import model_contract as contract

if TYPE_CHECKING:
    import lightgbm

log = logging.getLogger(__name__)


class SingleRowPredictor:
    """LightGBM's single-row fast path for one thread: one C call per prediction.

    ``Booster.predict`` costs 20-40 us for one row, mostly Python-side set-up repeated per call;
    the C API's ``LGBM_BoosterPredictForMatSingleRowFast`` with a config prepared once (one
    thread: ``num_threads=1``) costs about 2 us and gives bit-identical results (the tests compare
    every answer with ``Booster.predict``). A prepared config must not be shared between threads,
    so each serving thread makes its own (``LoadedModel`` keeps them thread-local).
    """

    def __init__(self, booster: lightgbm.Booster, n_features: int) -> None:
        from lightgbm.basic import _LIB, _c_str, _safe_call

        self._lib, self._check = _LIB, _safe_call
        self._config = ctypes.c_void_p()
        self._check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(0),  # C_API_PREDICT_NORMAL: the raw score, as Booster.predict
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations
                ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                ctypes.c_int32(n_features),
                _c_str("num_threads=1"),
                ctypes.byref(self._config),
            )
        )
        self._booster = booster  # the config points into the booster: keep it alive
        self.row = np.zeros(n_features, dtype=np.float64)
        self._out = np.zeros(1, dtype=np.float64)
        self._out_len = ctypes.c_int64(0)
        self._row_ptr = self.row.ctypes.data_as(ctypes.c_void_p)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast

    def raw(self, values: Sequence[float]) -> float:
        """The booster's raw prediction for one row of feature values."""
        self.row[:] = values
        self._check(self._predict(self._config, self._row_ptr, ctypes.byref(self._out_len), self._out_ptr))
        return float(self._out[0])

    def __del__(self) -> None:
        config = getattr(self, "_config", None)
        if config is not None and config.value:
            self._lib.LGBM_FastConfigFree(config)


class ModelLoadError(RuntimeError):
    """The model folder is missing, incomplete or not what the API can serve."""


@dataclass(frozen=True)
class LoadedModel:
    """A Booster ready to predict, with everything /model reports about it."""

    booster: lightgbm.Booster
    features: tuple[str, ...]
    target_transform: str
    metadata: dict[str, Any]
    metrics: dict[str, Any] | None
    provenance: dict[str, Any] | None
    model_dir: Path
    model_sha256: str
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    _per_thread: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def predict_rows(self, rows: np.ndarray) -> list[int]:
        """Predicted volumes for a float64 array of shape (n, len(features)), as ints."""
        raw = self.booster.predict(rows, num_threads=1)
        return [int(v) for v in contract.served_volumes(raw, self.target_transform).tolist()]

    def predict_one(self, values: Sequence[float]) -> int:
        """Predicted volume for one row of feature values (in ``features`` order): the fast path."""
        predictor = getattr(self._per_thread, "predictor", None)
        if predictor is None:
            predictor = self._per_thread.predictor = SingleRowPredictor(self.booster, len(self.features))
        return contract.served_volume(predictor.raw(values), self.target_transform)

    def describe(self, train_commit: str | None = None) -> dict[str, Any]:
        """What GET /model answers: metadata, metrics, the train commit and its provenance.

        The commit is the provenance record's id, else ``train_commit`` (under Pachyderm the
        service's environment names it: ``train_COMMIT``).
        """
        provenance = self.provenance or {"id": train_commit}
        return {
            "model_dir": str(self.model_dir),
            "model_sha256": self.model_sha256,
            "loaded_at": self.loaded_at,
            "features": list(self.features),
            "target_transform": self.target_transform,
            "train_commit": provenance.get("id"),
            "provenance": self.provenance,
            "metadata": self.metadata,
            "metrics": self.metrics,
        }


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: {what} is not readable JSON ({exc})") from None


def _checked_metadata(metadata: Any, path: Path, expected_features: Sequence[str] | None) -> None:
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    features = metadata.get("features")
    if not (isinstance(features, list) and features and all(isinstance(f, str) for f in features)):
        raise ModelLoadError(f"{path}: 'features' must be a non-empty list of column names")
    if len(set(features)) != len(features):
        raise ModelLoadError(f"{path}: 'features' repeats a name: {features}")
    if expected_features is not None and list(features) != list(expected_features):
        raise ModelLoadError(f"{path}: features {features} are not the API's {list(expected_features)}")
    transform = metadata.get("target_transform", "none")
    if transform not in contract.TARGET_TRANSFORMS:
        raise ModelLoadError(
            f"{path}: target_transform {transform!r} is not one of {sorted(contract.TARGET_TRANSFORMS)}"
        )
    if metadata.get("library", contract.LIBRARY) != contract.LIBRARY:
        raise ModelLoadError(f"{path}: library {metadata.get('library')!r} is not lightgbm")


def _highest_raw_output(booster: lightgbm.Booster) -> float:
    """An upper bound of the booster's raw output over every possible input: sum of each tree's top leaf."""

    def top_leaf(node: dict[str, Any]) -> float:
        if "leaf_value" in node:
            return float(node["leaf_value"])
        return max(top_leaf(node["left_child"]), top_leaf(node["right_child"]))

    return sum(top_leaf(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"])


def read_metadata(model_dir: Path, expected_features: Sequence[str] | None = None) -> dict[str, Any]:
    """model.json of ``model_dir``, checked (without loading the model: cheap, no LightGBM import).

    gunicorn's master calls it before forking workers, so a missing or wrong model folder
    stops the server at once with one line instead of failing in every worker.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelLoadError(f"{model_dir}: model folder not found (has the train stage run?)")
    meta_path = model_dir / contract.METADATA_FILE
    metadata = _read_json(meta_path, "model metadata")
    _checked_metadata(metadata, meta_path, expected_features)
    model_file = model_dir / str(metadata.get("model_file", contract.MODEL_FILE))
    if not model_file.is_file():
        raise ModelLoadError(f"{model_file}: model file not found (named by {meta_path.name})")
    return metadata


def load_model(
    model_dir: Path,
    provenance_file: Path | None = None,
    expected_features: Sequence[str] | None = None,
) -> LoadedModel:
    """Load the model folder ``model_dir`` (and the train commit's description, if given).

    Raises ModelLoadError with a message naming the file when anything is missing or wrong.
    """
    import lightgbm  # here, not at import time: read_metadata runs in gunicorn's master

    model_dir = Path(model_dir)
    metadata = read_metadata(model_dir, expected_features)
    model_file = model_dir / str(metadata.get("model_file", contract.MODEL_FILE))
    try:
        model_bytes = model_file.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{model_file}: model file not readable ({exc.strerror})") from None
    try:
        booster = lightgbm.Booster(model_str=model_bytes.decode("utf-8"))
    except (lightgbm.basic.LightGBMError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{model_file}: not a LightGBM model ({exc})") from None
    features = tuple(metadata["features"])
    if booster.num_feature() != len(features):
        raise ModelLoadError(
            f"{model_file}: the booster takes {booster.num_feature()} features, "
            f"model.json names {len(features)}"
        )
    metrics_path = model_dir / contract.METRICS_FILE
    metrics = _read_json(metrics_path, "metrics") if metrics_path.exists() else None
    provenance = None
    if provenance_file is not None:
        provenance = _read_json(Path(provenance_file), "train commit description")
    model = LoadedModel(
        booster=booster,
        features=features,
        target_transform=metadata.get("target_transform", "none"),
        metadata=metadata,
        metrics=metrics,
        provenance=provenance,
        model_dir=model_dir,
        model_sha256=hashlib.sha256(model_bytes).hexdigest(),
    )
    with np.errstate(over="ignore"):
        highest = contract.INVERSE_TRANSFORMS[model.target_transform](
            np.array([_highest_raw_output(booster)])
        )[0]
    if not math.isfinite(highest):
        # Then some input would answer an infinite volume: refuse the model, not the request.
        raise ModelLoadError(f"{model_file}: the model's largest possible prediction is not finite")
    # One prediction at load time: the first request must not pay for lazy set-up.
    model.predict_one([0.0] * len(features))
    log.info("loaded %s (%s, %d trees)", model_file, model.model_sha256[:12], booster.num_trees())
    return model
