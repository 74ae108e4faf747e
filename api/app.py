"""The Flask application factory: routes, limits and JSON error handling in one place.

``create_app(config)`` loads the model folder once (gunicorn calls it once per worker, see
``api.wsgi``) into a ``ModelHolder`` (api/served.py), which each request reads once, so that a
reload can swap the model under a running app (api/hot_swap.py), and serves:

- ``GET /predict?vol_moving_avg=..&adj_close_rolling_med=..`` -> a bare JSON integer;
- ``POST /predict`` with a JSON list of such objects -> a list of integers (at most
  ``MAX_BATCH_ROWS`` rows, 413 above; the body at most ``MAX_CONTENT_LENGTH`` bytes, 413 above);
- ``GET /healthz``, ``GET /model``, ``GET /openapi.json``.

Every error is JSON ``{"error": ..., "parameter": ...}``: 400 for bad input, 404, 405 (with
``Allow``), 413; an unexpected exception is logged and answered 500 in the same shape.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from api.params import RequestError, parse_batch, parse_query
from api.served import API_FEATURES, ModelHolder, ModelSource, ServedModel, load_served

__all__ = ["API_FEATURES", "DEFAULTS", "config_from_env", "create_app", "model_holder", "served_loader"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "MODEL_DIR": "/pfs/train",
    "MODEL_PROVENANCE": None,
    "MAX_BATCH_ROWS": 1000,
    "MAX_CONTENT_LENGTH": 256 * 1024,
    "TRAIN_COMMIT": None,
}

JSON = "application/json"
#: The key of the app's ModelHolder in ``app.extensions``.
_HOLDER = "stockpipe_model"


def config_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The factory's configuration from environment variables (names as the config keys)."""
    config: dict[str, Any] = {}
    for key in ("MODEL_DIR", "MODEL_PROVENANCE"):
        if environ.get(key):
            config[key] = environ[key]
    if environ.get("train_COMMIT"):  # set by Pachyderm for the input named `train`
        config["TRAIN_COMMIT"] = environ["train_COMMIT"]
    for key in ("MAX_BATCH_ROWS", "MAX_CONTENT_LENGTH"):
        if environ.get(key):
            try:
                config[key] = int(environ[key])
            except ValueError:
                raise ValueError(f"{key}={environ[key]!r} is not a whole number") from None
    return config


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype=JSON)


def _error(status: int, message: str, parameter: str | None = None) -> Response:
    return _json({"error": message, "parameter": parameter}, status)


def _body_within(cap: int) -> bytes:
    """The request body, or RequestError 413 when it is over ``cap`` bytes, however it is framed.

    A Content-Length over the cap is refused by werkzeug before anything is read (HTTPException
    413). A chunked body has no length up front: it is read up to one byte past the cap, and
    refused when that byte exists (werkzeug would cut it at the cap and parse the rest).
    """
    if request.content_length is not None:
        return request.get_data(cache=False)
    stream = request.environ["wsgi.input"]
    body = bytearray()
    while len(body) <= cap:
        chunk = stream.read(cap + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
    raise RequestError("body", f"413 Content Too Large: the body is over {cap} bytes", status=413)


def served_loader(config: Mapping[str, Any]) -> Callable[[ModelSource], ServedModel]:
    """What loads a model source with the app's caps (``config`` over DEFAULTS)."""
    settings = {**DEFAULTS, **config}
    max_rows, max_content_length = int(settings["MAX_BATCH_ROWS"]), int(settings["MAX_CONTENT_LENGTH"])
    return functools.partial(load_served, max_rows=max_rows, max_content_length=max_content_length)


def model_holder(app: Flask) -> ModelHolder:
    """The app's ModelHolder: what a reload swaps (api/hot_swap.py)."""
    return app.extensions[_HOLDER]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """A Flask app serving the model folder ``config['MODEL_DIR']`` (loaded now, once).

    Raises api.model.ModelLoadError if the model folder cannot be served.
    """
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    holder = ModelHolder(served_loader(app.config)(ModelSource.from_config(app.config)))
    app.extensions[_HOLDER] = holder
    max_rows = int(app.config["MAX_BATCH_ROWS"])
    health_body = json.dumps({"status": "ok"})

    def route(rule: str, methods: list[str]):
        # No automatic OPTIONS: a method a path does not list answers 405 with Allow.
        return app.route(rule, methods=methods, provide_automatic_options=False)

    @route("/predict", ["GET"])
    def predict_one() -> Response:
        served = holder.current  # read once: this request ends on this model whatever swaps meanwhile
        row = parse_query(request.args, served.features)
        return Response(str(served.model.predict_one(row[0])), mimetype=JSON)

    @route("/predict", ["POST"])
    def predict_batch() -> Response:
        served = holder.current
        rows = parse_batch(_body_within(int(app.config["MAX_CONTENT_LENGTH"])), served.features, max_rows)
        return _json(served.model.predict_rows(rows) if len(rows) else [])

    @route("/healthz", ["GET"])
    def healthz() -> Response:
        return Response(health_body, mimetype=JSON)

    @route("/model", ["GET"])
    def model_info() -> Response:
        return Response(holder.current.model_body, mimetype=JSON)

    @route("/openapi.json", ["GET"])
    def openapi() -> Response:
        return Response(holder.current.openapi_body, mimetype=JSON)

    @app.errorhandler(RequestError)
    def bad_request(exc: RequestError) -> Response:
        return _json(exc.as_json(), exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = exc.get_response()  # keeps headers such as Allow on 405
        parameter = "body" if exc.code == 413 else None
        response.set_data(
            json.dumps({"error": f"{exc.code} {exc.name}: {exc.description}", "parameter": parameter})
        )
        response.mimetype = JSON
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    return app
