"""Validation of /predict's inputs: query parameters and JSON batch bodies.

Every rejection is a RequestError naming the parameter, answered as 400 with a JSON body.
A value is accepted when it is a plain decimal number (``12``, ``0.5``, ``1e6``) that is
finite and not negative, written in ASCII digits; anything else (``nan``, ``inf``, ``1e999``,
``-1``, ``0x10``, ``1_000``, full-width or Arabic-Indic digits, spaces, an empty string) is
refused with the reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

#: A decimal number as JSON writes it (a leading minus is matched so it can be named as negative).
#: ASCII digits only: Python's float() also takes full-width and Arabic-Indic digits (and \d
#: matches them), which docs/serving.md does not accept.
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


class RequestError(ValueError):
    """An input the API refuses with 400 (or ``status``), naming the parameter at fault."""

    def __init__(self, parameter: str | None, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message
        self.status = status

    def as_json(self) -> dict[str, Any]:
        return {"error": self.message, "parameter": self.parameter}


def _checked(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise RequestError(name, f"{name} must be a finite number")
    if value < 0:
        raise RequestError(name, f"{name} must not be negative")
    return value


def parse_text_number(name: str, text: str) -> float:
    """The float value of query parameter ``name``, or RequestError saying why not."""
    if not _NUMBER.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise RequestError(name, f"{name} must be a decimal number, got {shown!r}")
    return _checked(name, float(text))


def parse_query(args: Any, features: Sequence[str]) -> np.ndarray:
    """One row (shape (1, n)) from a query string multidict (``request.args``).

    Each feature must appear exactly once; any other parameter is refused.
    """
    for name in args:
        if name not in features:
            raise RequestError(name, f"unknown parameter {name!r}; expected {', '.join(features)}")
    row = np.empty((1, len(features)), dtype=np.float64)
    for i, name in enumerate(features):
        values = args.getlist(name)
        if not values:
            raise RequestError(name, f"missing parameter {name}")
        if len(values) > 1:
            raise RequestError(name, f"parameter {name} is given {len(values)} times; give it once")
        row[0, i] = parse_text_number(name, values[0])
    return row


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array"}.get(type(value), "object")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


class _JsonObject(dict):
    """A decoded JSON object that remembers the first key it saw twice (json keeps the last silently)."""

    repeated: str | None = None


def _object_keeping_repeats(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    for key, value in pairs:
        if key in obj and obj.repeated is None:
            obj.repeated = key
        obj[key] = value
    return obj


def _json_value(name: str, value: Any) -> float:
    # bool is an int in Python but not a number in JSON's sense.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(name, f"{name} must be a JSON number, got {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise RequestError(name, f"{name} must be a finite number") from None
    return _checked(name, number)


def parse_batch(body: bytes, features: Sequence[str], max_rows: int) -> np.ndarray:
    """Rows (shape (n, len(features))) from a JSON list of objects keyed by the features."""
    try:
        data = json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_object_keeping_repeats)
    except RecursionError:
        raise RequestError("body", "body is nested too deeply to be a list of rows") from None
    except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
        raise RequestError("body", f"body is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise RequestError("body", f"body must be a JSON list of objects, got {_json_type(data)}")
    if len(data) > max_rows:
        raise RequestError("body", f"body has {len(data)} rows; at most {max_rows} per request", status=413)
    rows = np.empty((len(data), len(features)), dtype=np.float64)
    expected = set(features)
    for r, item in enumerate(data):
        if not isinstance(item, dict):
            raise RequestError(f"[{r}]", f"[{r}] must be an object, got {_json_type(item)}")
        if item.repeated is not None:
            where = f"[{r}].{item.repeated}"
            raise RequestError(where, f"parameter {where} is given more than once; give it once")
        for key in item:
            if key not in expected:
                raise RequestError(f"[{r}].{key}", f"[{r}]: unknown parameter {key!r}")
        for i, name in enumerate(features):
            where = f"[{r}].{name}"
            if name not in item:
                raise RequestError(where, f"missing parameter {where}")
            rows[r, i] = _json_value(where, item[name])
    return rows
