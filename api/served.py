"""The model a worker serves, with its prepared answers, held behind one reference that a swap replaces.

A request reads ``ModelHolder.current`` once and uses that ``ServedModel`` to its end, so a request
in flight finishes on the model it started with, and every later one sees the new model whole:
predictions, ``/model`` and ``/openapi.json`` come from one object, never from two commits.
Replacing the reference is one attribute assignment (atomic under the GIL), so readers take no
lock. api/hot_swap.py builds the new ``ServedModel`` in the background and calls ``swap``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.model import LoadedModel, load_model
from api.openapi import build_openapi
from stages.common.model_contract import FEATURE_COLUMNS

#: The API's query parameters: the model must take exactly these, in this order (the model contract's).
API_FEATURES: tuple[str, ...] = FEATURE_COLUMNS


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: what decides whether a reload has anything new to load."""

    model_dir: str
    provenance_file: str | None
    train_commit: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelSource:
        """The source the app's configuration names (MODEL_DIR, MODEL_PROVENANCE, TRAIN_COMMIT)."""
        provenance = config.get("MODEL_PROVENANCE")
        commit = config.get("TRAIN_COMMIT")
        return cls(str(config["MODEL_DIR"]), str(provenance) if provenance else None, commit or None)

    def describe(self) -> str:
        """``train@<commit> (<folder>)`` or the folder alone: for log lines."""
        return f"train@{self.train_commit} ({self.model_dir})" if self.train_commit else self.model_dir


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and the answers that depend only on it, serialised once."""

    source: ModelSource
    model: LoadedModel
    model_body: str
    openapi_body: str

    @property
    def features(self) -> tuple[str, ...]:
        return self.model.features


def load_served(source: ModelSource, max_rows: int, max_content_length: int) -> ServedModel:
    """Load ``source``'s model folder and prepare ``/model`` and ``/openapi.json`` for it.

    Raises api.model.ModelLoadError naming the file when the folder cannot be served.
    """
    model = load_model(
        Path(source.model_dir),
        Path(source.provenance_file) if source.provenance_file else None,
        expected_features=API_FEATURES,
    )
    return ServedModel(
        source=source,
        model=model,
        model_body=json.dumps(model.describe(source.train_commit), indent=2, sort_keys=True),
        openapi_body=json.dumps(build_openapi(model.features, max_rows, max_content_length)),
    )


class ModelHolder:
    """The one reference to the served model; ``current`` is read once per request."""

    def __init__(self, served: ServedModel) -> None:
        self.current = served

    def swap(self, served: ServedModel) -> ServedModel:
        """Serve ``served`` from now on (one assignment); returns the model it replaced."""
        old, self.current = self.current, served
        return old
