"""Imports done ahead: what a pipeline's warm workers imported, recorded, and imported again in a
standby job process before the pipeline's next job (``runner up``).

A warm worker (runner/warm.py) pays its stage's imports on its first datum: for train about
1.7 s (LightGBM pulls in scikit-learn), most of a one-datum job's start. Under ``runner up`` the
next job of a pipeline is known to come, so the loop forks, while the machine has no work on the
path to a service, one standby job process per pipeline that imports what the pipeline's workers
imported last time and then waits; the pipeline's next job runs in it, and its workers, forked
from it, find those modules loaded (runner/job_process.py, runner/loop.py).

What is recorded, after each worker's first datum: the top-level modules then loaded that are
installed (the standard library and site-packages, also of a virtualenv inside the project) and are
neither the runner nor the project's own modules (under the ``cwd`` datums run from), in the order
they were first imported. The stage's own modules are never imported ahead, so code that reads a
datum's variables when imported still reads them then. The imports ahead run with the variables
every datum of the job shares (the spec's ``transform.env``, ``PPS_PROJECT_NAME``,
``PPS_PIPELINE_NAME``, ``OMP_NUM_THREADS``: runner/workers.py ``job_variables``), as libraries that
read their settings when loaded (OpenMP reads ``OMP_*``) would see them in a datum; the rest of the
environment is put back before the job runs.

Measured in docs/architecture.md ("Standby jobs").
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
from pathlib import Path

from runner.state import write_json_atomic
from runner.warm import EnvironmentGuard

log = logging.getLogger(__name__)

#: The folder of the state that holds each pipeline's record of imports.
IMPORTS_FOLDER = ".standby"
_RUNNER_DIR = os.path.dirname(os.path.abspath(__file__))


def imports_file(state_root: Path, pipeline: str) -> Path:
    """Where the imports of ``pipeline``'s warm workers are recorded."""
    return Path(state_root) / IMPORTS_FOLDER / f"{pipeline}.imports.json"


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _installed(path: str) -> bool:
    """Whether ``path`` belongs to this Python's installation or environment (a virtualenv inside the
    project folder included)."""
    return any(_under(path, os.path.realpath(prefix)) for prefix in {sys.prefix, sys.base_prefix})


def imported_outside(cwd: str) -> list[str]:
    """The top-level modules loaded in this process, in the order they were first imported, that are
    installed (the standard library, site-packages) and not the runner or a module of the project
    folder ``cwd``. Builtins have no file and need no import."""
    project = os.path.realpath(cwd)
    names = []
    for name, module in list(sys.modules.items()):
        if "." in name or name.startswith("__") or module is None:
            continue
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        origin = os.path.realpath(origin)
        if _under(origin, _RUNNER_DIR) or (_under(origin, project) and not _installed(origin)):
            continue
        names.append(name)
    return names


class ImportRecorder:
    """Records, once per worker (after its first datum), the modules :func:`imported_outside` finds."""

    def __init__(self, path: str, cwd: str) -> None:
        self.path, self.cwd = path, cwd
        self.done = not path

    def after_datum(self) -> None:
        if self.done:
            return
        self.done = True
        names = imported_outside(self.cwd)
        try:
            write_imports(Path(self.path), names)
        except OSError as exc:  # a record is an optimisation: the job goes on without it
            log.warning("cannot record the imports of this pipeline in %s: %s", self.path, exc)


def write_imports(path: Path, names: list[str]) -> None:
    """Write the record atomically (two workers of a job write the same one)."""
    write_json_atomic(path, {"modules": names}, compact=True)


def read_imports(path: Path) -> list[str]:
    """The recorded module names; none when there is no record or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    modules = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(modules, list):
        return []
    return [m for m in modules if isinstance(m, str) and m.isidentifier()]


def import_ahead(modules: list[str], env: dict[str, str]) -> int:
    """Import ``modules`` with ``env`` set on top of the environment, then put the environment
    back as it was; returns how many imported. A module that fails to import is skipped: the
    datum that needs it imports it itself, and says why if it fails there too."""
    guard = EnvironmentGuard()
    guard.enter(env)
    count = 0
    try:
        for name in modules:
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
                count += 1
            except Exception as exc:  # any import error: leave it to the datum
                log.debug("standby: %s not imported ahead: %s", name, exc)
    finally:
        guard.exit()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return count
