"""Resolve what `make pipeline RAW=...` puts into the `raw` repo, downloading it if asked.

    python -m tools.fetch_raw data/sample           # a folder in the Kaggle layout
    python -m tools.fetch_raw ~/stock-market-dataset.zip   # the Kaggle zip as downloaded
    python -m tools.fetch_raw kaggle                # download jacksoncrow/stock-market-dataset

Prints the resolved path (a folder or a zip) on stdout, for `python -m runner put file -f`.
Anything else goes to stderr; a problem is one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

KAGGLE_DATASET = "jacksoncrow/stock-market-dataset"
KAGGLE_ZIP_NAME = "stock-market-dataset.zip"
META_NAME = "symbols_valid_meta.csv"
DEFAULT_DOWNLOAD_DIR = Path("data/kaggle")

log = logging.getLogger("fetch_raw")


class RawInputError(Exception):
    """The RAW argument does not name usable input; the message says what to do."""


@dataclass(frozen=True)
class CredentialSource:
    """One place kaggle 2.x reads credentials from: how a user names it, and whether it is set."""

    name: str
    present: Callable[[Mapping[str, str], Path], bool]


def _config_dir(env: Mapping[str, str], home: Path) -> Path:
    """kaggle's one config folder: KAGGLE_CONFIG_DIR, else ~/.kaggle if it exists, else the XDG one."""
    if env.get("KAGGLE_CONFIG_DIR"):
        return Path(env["KAGGLE_CONFIG_DIR"])
    legacy = home / ".kaggle"
    if legacy.exists():
        return legacy
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"


def _legacy_key(env: Mapping[str, str], home: Path) -> dict[str, str]:
    """username/key as kaggle merges them: kaggle.json first, KAGGLE_USERNAME/KAGGLE_KEY over it."""
    values: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads((_config_dir(env, home) / "kaggle.json").read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            values.update({k: str(v) for k, v in loaded.items() if k in ("username", "key")})
    for name in ("username", "key"):
        if env.get(f"KAGGLE_{name.upper()}"):
            values[name] = env[f"KAGGLE_{name.upper()}"]
    return values


#: Every credential source, in the order kaggle 2.x tries them (KaggleApi.authenticate: an access
#: token, then the legacy key, then cached OAuth credentials; kagglesdk.kaggle_env for the token's
#: places). The error message, README.md and docs/running.md list exactly these (tests check).
KAGGLE_CREDENTIAL_SOURCES: tuple[CredentialSource, ...] = (
    CredentialSource("KAGGLE_API_TOKEN", lambda env, home: bool(env.get("KAGGLE_API_TOKEN"))),
    CredentialSource(
        "~/.kaggle/access_token",
        lambda env, home: any((home / ".kaggle" / n).is_file() for n in ("access_token", "access_token.txt")),
    ),
    CredentialSource(
        "kaggle.json (in KAGGLE_CONFIG_DIR, else ~/.kaggle, else ~/.config/kaggle) and/or "
        "KAGGLE_USERNAME + KAGGLE_KEY",
        lambda env, home: len(_legacy_key(env, home)) == 2,
    ),
    CredentialSource(
        "~/.kaggle/credentials.json (written by kaggle auth login)",
        lambda env, home: (home / ".kaggle" / "credentials.json").is_file(),
    ),
)


def credential_sources_text() -> str:
    """The sources as one line, numbered in kaggle's order (used in messages and docs)."""
    return "; ".join(f"({i}) {source.name}" for i, source in enumerate(KAGGLE_CREDENTIAL_SOURCES, 1))


def find_kaggle_credentials(env: Mapping[str, str], home: Path) -> str | None:
    """Name the first Kaggle credential source that kaggle 2.x would use, or None if there is none."""
    for source in KAGGLE_CREDENTIAL_SOURCES:
        if source.present(env, home):
            return source.name
    return None


def check_folder(folder: Path) -> Path:
    """Return ``folder`` if it is laid out like the Kaggle zip, else raise RawInputError."""
    if not (folder / META_NAME).is_file():
        raise RawInputError(f"RAW={folder}: no {META_NAME} in this folder (expected the Kaggle layout)")
    if not any((folder / sub).is_dir() for sub in ("stocks", "etfs")):
        raise RawInputError(f"RAW={folder}: no stocks/ or etfs/ folder beside {META_NAME}")
    return folder


def check_zip(archive: Path) -> Path:
    """Return ``archive`` if it is a zip with the Kaggle layout at its root, else raise RawInputError."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile as exc:
        raise RawInputError(f"RAW={archive}: not a readable zip file ({exc})") from exc
    if META_NAME not in names:
        raise RawInputError(f"RAW={archive}: the zip has no {META_NAME} at its root")
    return archive


def download_from_kaggle(dest: Path, env: Mapping[str, str], home: Path) -> Path:
    """Download the dataset zip into ``dest`` with the kaggle package (reused if already there)."""
    target = dest / KAGGLE_ZIP_NAME
    if target.is_file():
        log.info("using the earlier download %s", target)
        return check_zip(target)
    source = find_kaggle_credentials(env, home)
    if source is None:
        raise RawInputError(
            "RAW=kaggle: no Kaggle credentials found; kaggle reads, in this order: "
            f"{credential_sources_text()} (Kaggle > Settings > API creates a token); "
            "set one and run again, or download the zip yourself and pass RAW=<zip>"
        )
    log.info("downloading %s with credentials from %s into %s", KAGGLE_DATASET, source, dest)
    # `import kaggle` authenticates at import time and prints a help page to stdout when it
    # fails; keep our stdout clean (it carries the resolved path) and turn exit(1) into a message.
    try:
        with contextlib.redirect_stdout(sys.stderr):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
            dest.mkdir(parents=True, exist_ok=True)
            api.dataset_download_files(KAGGLE_DATASET, path=str(dest), quiet=False, unzip=False)
    except SystemExit as exc:
        raise RawInputError(f"RAW=kaggle: Kaggle rejected the credentials from {source}") from exc
    except Exception as exc:
        raise RawInputError(f"RAW=kaggle: download of {KAGGLE_DATASET} failed: {exc}") from exc
    if not target.is_file():
        raise RawInputError(f"RAW=kaggle: the download finished but {target} is missing")
    return check_zip(target)


def resolve_raw(raw: str, env: Mapping[str, str], home: Path, download_dir: Path) -> Path:
    """Turn the RAW argument into a folder or zip path that `put file` accepts."""
    if raw == "kaggle":
        return download_from_kaggle(download_dir, env, home)
    path = Path(raw).expanduser()
    if path.is_dir():
        return check_folder(path)
    if path.is_file():
        return check_zip(path)
    raise RawInputError(
        f"RAW={raw}: no such folder or file (give a Kaggle-layout folder, the zip, or 'kaggle')"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fetch_raw", description=__doc__.split("\n")[0])
    parser.add_argument("raw", help="a folder in the Kaggle layout, the Kaggle zip, or 'kaggle'")
    parser.add_argument("--download-dir", type=Path, default=DEFAULT_DOWNLOAD_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fetch_raw: %(message)s", stream=sys.stderr, force=True)
    try:
        path = resolve_raw(args.raw, os.environ, Path.home(), args.download_dir)
    except RawInputError as exc:
        print(f"fetch_raw: {exc}", file=sys.stderr)
        return 2
    print(path.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
