"""The OpenAPI 3.0 description of the API, built from the served model's features and the limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "parameter"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "description": "What is wrong, in words a user can act on."},
        "parameter": {
            "type": "string",
            "nullable": True,
            "description": "The parameter at fault (for a batch: `[row].name` or `body`), or null.",
        },
    },
}


#: gunicorn's limit_request_line (bytes of "GET /predict?... HTTP/1.1"); api/gunicorn_conf.py sets it.
MAX_REQUEST_LINE = 8190


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _number_schema(name: str) -> dict[str, Any]:
    return {
        "type": "number",
        "minimum": 0,
        "description": f"`{name}`: a finite, non-negative decimal number.",
    }


def build_openapi(features: Sequence[str], max_batch_rows: int, max_body_bytes: int) -> dict[str, Any]:
    """The OpenAPI document of the API serving a model with these ``features`` (in order)."""
    row_schema = {
        "type": "object",
        "required": list(features),
        "additionalProperties": False,
        "properties": {name: _number_schema(name) for name in features},
    }
    volume = {"type": "integer", "minimum": 0, "description": "Predicted trading volume (shares)."}
    not_allowed = _error("Method not allowed for this path (the Allow header lists the allowed ones).")
    json_object = {"application/json": {"schema": {"type": "object"}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "stockpipe volume API",
            "version": "0.1.0",
            "description": (
                "Predicts a stock's or ETF's daily trading volume from two rolling features over the "
                "30 most recent trading days: the mean of Volume and the median of Adj Close. Every "
                "error answers JSON `{error, parameter}`; no input produces a 5xx."
            ),
        },
        "paths": {
            "/predict": {
                "get": {
                    "operationId": "predictOne",
                    "summary": "Predict the volume of one row; answers a bare JSON integer.",
                    "parameters": [
                        {"name": name, "in": "query", "required": True, "schema": _number_schema(name)}
                        for name in features
                    ],
                    "responses": {
                        "200": {
                            "description": "The predicted volume, e.g. `10350`.",
                            "content": {"application/json": {"schema": volume}},
                        },
                        "400": _error(
                            "A parameter is missing, repeated, unknown, not a decimal number, "
                            "NaN, infinite or negative."
                        ),
                        "405": not_allowed,
                        "414": {
                            "description": (
                                f"Request line over {MAX_REQUEST_LINE} bytes: answered by gunicorn "
                                "itself, before the application, as an HTML page."
                            ),
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                    },
                },
                "post": {
                    "operationId": "predictBatch",
                    "summary": f"Predict the volumes of up to {max_batch_rows} rows; answers a list of ints.",
                    "requestBody": {
                        "required": True,
                        "description": (
                            f"A JSON list of at most {max_batch_rows} objects, each with exactly the "
                            f"parameters {', '.join(features)} as JSON numbers; "
                            f"at most {max_body_bytes} bytes."
                        ),
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "maxItems": max_batch_rows, "items": row_schema}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The predicted volumes, in the order of the rows.",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "maxItems": max_batch_rows, "items": volume}
                                }
                            },
                        },
                        "400": _error("The body is not JSON, not a list of objects, or a row is invalid."),
                        "405": not_allowed,
                        "413": _error(
                            f"More than {max_batch_rows} rows, or a body over {max_body_bytes} bytes."
                        ),
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness: answers at once, without touching the model.",
                    "responses": {
                        "200": {
                            "description": "The server is up.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status"],
                                        "properties": {"status": {"type": "string", "enum": ["ok"]}},
                                    }
                                }
                            },
                        },
                        "405": not_allowed,
                    },
                }
            },
            "/model": {
                "get": {
                    "operationId": "modelInfo",
                    "summary": "The served model: metadata, metrics, its train commit and provenance.",
                    "responses": {
                        "200": {
                            "description": "Model description.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": [
                                            "model_dir",
                                            "model_sha256",
                                            "features",
                                            "target_transform",
                                            "train_commit",
                                            "provenance",
                                            "metadata",
                                            "metrics",
                                        ],
                                        "properties": {
                                            "model_dir": {"type": "string"},
                                            "model_sha256": {"type": "string"},
                                            "loaded_at": {"type": "string"},
                                            "features": {"type": "array", "items": {"type": "string"}},
                                            "target_transform": {"type": "string"},
                                            "train_commit": {"type": "string", "nullable": True},
                                            "provenance": {"type": "object", "nullable": True},
                                            "metadata": {"type": "object"},
                                            "metrics": {"type": "object", "nullable": True},
                                        },
                                    }
                                }
                            },
                        },
                        "405": not_allowed,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {
                        "200": {"description": "OpenAPI 3 document.", "content": json_object},
                        "405": not_allowed,
                    },
                }
            },
        },
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }
