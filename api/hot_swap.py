"""Swapping a new model into a running worker on SIGHUP, under the local runner's ``up``.

``runner up`` (runner/services.py) writes a new commit's variables to a new ``env.json``, points
``RUNNER_SERVICE_ENV`` (``current/env.json``) at it and sends SIGHUP to the gunicorn master. gunicorn's
own answer to SIGHUP restarts every worker (a fork, the import of ``api.wsgi``, the model load);
measured, that restart is most of the 1.5-3 s between train's job ending and the new model answering
(docs/serving.md, "Reloading a new model"). In ``swap`` mode instead:

- the master forwards SIGHUP to each of its workers (api/gunicorn_conf.py ``when_ready``);
- each worker's SIGHUP handler (api/worker.py) only queues a reload request (signal-safe: a
  ``queue.SimpleQueue.put_nowait``, as gunicorn's arbiter queues its own signals);
- the worker's loader thread re-reads ``env.json``, loads that commit's model folder in the
  background while the worker keeps serving, and swaps it in with one assignment
  (api/served.py ``ModelHolder``). After each load it reads ``env.json`` again, so when HUPs come
  faster than loads the newest commit wins; a model that fails to load is logged in one line and
  the old one keeps serving until a commit that loads.

Without RUNNER_SERVICE_ENV (``make serve``, Pachyderm) or with ``MODEL_RELOAD=restart`` SIGHUP keeps
gunicorn's full reload.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from api.app import config_from_env
from api.model import ModelLoadError
from api.served import ModelHolder, ModelSource, ServedModel

log = logging.getLogger(__name__)

#: The file of the served commit's variables, set by ``runner up`` (runner/services.py).
SERVICE_ENV = "RUNNER_SERVICE_ENV"
#: The variable that chooses how a SIGHUP reloads the model (``ReloadMode``).
RELOAD_VARIABLE = "MODEL_RELOAD"
#: Set by post_fork in a new worker: the master's values (JSON) of the variables env.json overrode,
#: i.e. the commit the service started on, a worker's fallback when env.json's model cannot load.
START_ENV_VARIABLE = "API_SERVICE_START_ENV"


def remember_start_env(overrides: Mapping[str, str], environ: os._Environ[str] = os.environ) -> None:
    """Before a new worker takes env.json's variables (``overrides``), keep the master's values of them."""
    environ[START_ENV_VARIABLE] = json.dumps({key: environ.get(key) for key in overrides})


def fall_back_to_start_env(environ: os._Environ[str] = os.environ) -> bool:
    """In swap mode, put back the master's values of the variables env.json overrode (the commit the
    service started on); False when there is nothing to fall back to."""
    text = environ.pop(START_ENV_VARIABLE, "")
    if not text or reload_mode(environ) is not ReloadMode.SWAP:
        return False
    for key, value in json.loads(text).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return True


class ReloadMode(enum.Enum):
    """What SIGHUP does to the model."""

    #: gunicorn's graceful reload: new workers, each loading the model at start.
    RESTART = "restart"
    #: the running workers load the new commit's model and swap it in (this module).
    SWAP = "swap"


def reload_mode(environ: Mapping[str, str] = os.environ) -> ReloadMode:
    """SWAP under ``runner up`` (RUNNER_SERVICE_ENV set) unless MODEL_RELOAD=restart; RESTART otherwise.

    Raises ValueError naming the variable when MODEL_RELOAD is neither.
    """
    text = environ.get(RELOAD_VARIABLE, "")
    if text and text not in {mode.value for mode in ReloadMode}:
        raise ValueError(f"{RELOAD_VARIABLE}={text!r} is not one of {sorted(m.value for m in ReloadMode)}")
    if not environ.get(SERVICE_ENV):
        return ReloadMode.RESTART
    return ReloadMode(text) if text else ReloadMode.SWAP


class ServiceEnvError(RuntimeError):
    """The service's variables file is missing or not a JSON object of strings."""


def read_service_env(path: Path) -> dict[str, str]:
    """The variables of the commit being served, from ``path`` (``RUNNER_SERVICE_ENV``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServiceEnvError(f"{path}: the service's variables file is not there") from None
    except (OSError, ValueError) as exc:
        raise ServiceEnvError(f"{path}: the service's variables are not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ServiceEnvError(f"{path}: expected a JSON object of strings")
    return data


class ModelSwapper:
    """A worker's loader thread: on each request, load the commit ``env_file`` names and swap it in."""

    def __init__(
        self,
        holder: ModelHolder,
        env_file: Path,
        load: Callable[[ModelSource], ServedModel],
        base_env: Mapping[str, str] = os.environ,
        logger: logging.Logger = log,
        requests: queue.SimpleQueue[None] | None = None,
    ) -> None:
        self.holder, self.env_file, self.load = holder, Path(env_file), load
        #: where the reload's lines go (in a worker: gunicorn's error log, "gunicorn.error")
        self.log = logger
        #: the worker's variables, which env.json's override (as post_fork applies them at start)
        self.base_env = dict(base_env)
        #: the source that failed last: not tried again until env.json names another
        self.failed: ModelSource | None = None
        #: reload requests (a worker makes the queue before the app exists: its SIGHUP handler fills it)
        self._requests: queue.SimpleQueue[None] = requests if requests is not None else queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a reload. Safe in a signal handler (SimpleQueue.put_nowait is reentrant)."""
        self._requests.put_nowait(None)

    def start(self) -> ModelSwapper:
        """Start the loader thread; it checks env.json once at once (a HUP sent before the worker
        could take it is not lost), then on every request."""
        self.request()
        self._thread = threading.Thread(target=self._run, name="model-swapper", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self._requests.get()
            self._drain()
            try:
                self.swap_to_newest()
            except Exception:  # the thread must live on: the next HUP tries again
                self.log.exception("api: model reload failed unexpectedly; still serving %s", self._serving())

    def _drain(self) -> None:
        """Take every pending request: one reload answers all of them."""
        while True:
            try:
                self._requests.get_nowait()
            except queue.Empty:
                return

    def _serving(self) -> str:
        return self.holder.current.source.describe()

    def wanted(self) -> ModelSource:
        """The model source env.json names now. Raises ServiceEnvError or ValueError."""
        return ModelSource.from_config(config_from_env({**self.base_env, **read_service_env(self.env_file)}))

    def swap_to_newest(self) -> ServedModel:
        """Load and swap in what env.json names until it names what is served (or what just failed).

        Returns the model served at the end.
        """
        while True:
            try:
                source = self.wanted()
            except (ServiceEnvError, ValueError) as exc:
                self.log.error("api: not reloading, still serving %s: %s", self._serving(), exc)
                return self.holder.current
            if source == self.holder.current.source or source == self.failed:
                return self.holder.current
            self.log.info("api: loading %s (pid %d)", source.describe(), os.getpid())
            try:
                served = self.load(source)
            except (ModelLoadError, ValueError) as exc:
                self.failed = source
                self.log.error(
                    "api: cannot load %s, still serving %s: %s", source.model_dir, self._serving(), exc
                )
                continue  # env.json may name a newer commit already
            self.failed = None
            old = self.holder.swap(served)
            self.log.info(
                "api: swapped in %s, sha256 %s, replacing %s (pid %d)",
                source.describe(),
                served.model.model_sha256[:12],
                old.source.describe(),
                os.getpid(),
            )
