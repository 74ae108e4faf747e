"""gunicorn's entry point (``api.wsgi:app``): the app configured from the environment.

Imported once in each worker (the config does not preload the app), so each worker loads
the model once at start. Environment: MODEL_DIR (default /pfs/train), MODEL_PROVENANCE
(optional JSON file describing the train commit), MAX_BATCH_ROWS, MAX_CONTENT_LENGTH.
"""

from __future__ import annotations

import logging

from flask import Flask

from api.app import config_from_env, create_app
from api.hot_swap import fall_back_to_start_env
from api.model import ModelLoadError


def _app() -> Flask:
    """The app on the configured model. Under ``runner up`` (swap mode) a worker that starts while
    env.json names a model that cannot load (a crashed worker replaced just after a bad commit)
    starts on the commit the service started on instead: its loader thread then logs the bad
    commit and takes the next good one, as the running workers do (api/hot_swap.py), rather than
    the boot error stopping the whole server."""
    try:
        return create_app(config_from_env())
    except (ModelLoadError, ValueError) as exc:
        if not fall_back_to_start_env():
            raise
        logging.getLogger("gunicorn.error").error(
            "api: cannot load the served commit at start (%s); starting on the commit the service started on",
            exc,
        )
        return create_app(config_from_env())


try:
    app = _app()
except (ModelLoadError, ValueError) as exc:
    logging.getLogger("api").error("api: cannot serve: %s", exc)
    # Exit code 3 is gunicorn's "worker failed to boot": the master stops instead of respawning.
    raise SystemExit(3) from None
