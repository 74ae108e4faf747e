"""gunicorn's entry point (``api.wsgi:app``): the app configured from the environment.

Imported once in each worker (the config does not preload the app), so each worker loads
the model once at start. Environment: MODEL_DIR (default /pfs/train), MODEL_PROVENANCE
(optional JSON file describing the train commit), MAX_BATCH_ROWS, MAX_CONTENT_LENGTH.
"""

from __future__ import annotations

import logging

from api.app import config_from_env, create_app
from api.model import ModelLoadError

try:
    app = create_app(config_from_env())
except (ModelLoadError, ValueError) as exc:
    logging.getLogger("api").error("api: cannot serve: %s", exc)
    # Exit code 3 is gunicorn's "worker failed to boot": the master stops instead of respawning.
    raise SystemExit(3) from None
