"""The commit folders ``runner up`` gives a service, for driving a reload without the runner.

runner/services.py keeps, per service, ``<commit>/env.json`` (the commit's variables) and
``current -> <commit>``, and names ``current/env.json`` in RUNNER_SERVICE_ENV; on a new commit it
writes the new folder, swaps ``current`` and sends SIGHUP to the gunicorn master. The tests and the
reload timing (api/devtools/reload_timing.py) do the same here, with a model folder of their choice
per commit, so that they exercise the API's reload with nothing else moving.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceEnvDir:
    """A service's commit folders under ``root``; ``env_file`` is what RUNNER_SERVICE_ENV names."""

    root: Path

    @property
    def env_file(self) -> Path:
        return self.root / "current" / "env.json"

    def point(self, commit: str, model_dir: Path) -> Path:
        """Write ``<commit>/env.json`` serving ``model_dir`` as ``train@<commit>``, then swap ``current``
        to it (each step atomic, as runner/services.py does). Returns the env file's own path."""
        folder = self.root / commit
        folder.mkdir(parents=True, exist_ok=True)
        env = {"MODEL_DIR": str(model_dir), "train_COMMIT": commit, "PPS_PIPELINE_NAME": "serve"}
        tmp = folder / ".env.json.tmp"
        tmp.write_text(json.dumps(env), encoding="utf-8")
        os.replace(tmp, folder / "env.json")
        link_tmp = self.root / ".current.tmp"
        if link_tmp.is_symlink():
            link_tmp.unlink()
        os.symlink(commit, link_tmp)
        os.replace(link_tmp, self.root / "current")
        return folder / "env.json"


def send_reload(master_pid: int) -> None:
    """What runner/services.py sends a service on a new commit: SIGHUP to its first process."""
    os.kill(master_pid, signal.SIGHUP)
