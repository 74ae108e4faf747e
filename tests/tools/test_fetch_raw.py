"""tools.fetch_raw: what `make pipeline RAW=...` accepts, and its one-line refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tools.fetch_raw import (
    KAGGLE_CREDENTIAL_SOURCES,
    RawInputError,
    credential_sources_text,
    find_kaggle_credentials,
    resolve_raw,
)


def _zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return archive


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.fetch_raw", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _clean_env(home: Path, repo_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONPATH=str(repo_root))
    return env


def test_folder_in_kaggle_layout_resolves_to_itself(sample_dir: Path, tmp_path: Path) -> None:
    assert resolve_raw(str(sample_dir), {}, tmp_path, tmp_path / "dl") == sample_dir


def test_folder_without_metadata_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stocks").mkdir()
    with pytest.raises(RawInputError, match=r"no symbols_valid_meta\.csv"):
        resolve_raw(str(tmp_path), {}, tmp_path, tmp_path / "dl")


def test_folder_without_price_folders_is_refused(tmp_path: Path) -> None:
    (tmp_path / "symbols_valid_meta.csv").write_text("x\n")
    with pytest.raises(RawInputError, match="no stocks/ or etfs/"):
        resolve_raw(str(tmp_path), {}, tmp_path, tmp_path / "dl")


def test_kaggle_zip_is_accepted_and_other_files_are_not(sample_dir: Path, tmp_path: Path) -> None:
    archive = _zip_folder(sample_dir, tmp_path / "stock-market-dataset.zip")
    assert resolve_raw(str(archive), {}, tmp_path, tmp_path / "dl") == archive
    not_zip = tmp_path / "prices.csv"
    not_zip.write_text("Date,Open\n")
    with pytest.raises(RawInputError, match="not a readable zip"):
        resolve_raw(str(not_zip), {}, tmp_path, tmp_path / "dl")
    wrong_zip = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong_zip, "w") as zf:
        zf.writestr("stocks/A.csv", "Date\n")
    with pytest.raises(RawInputError, match=r"no symbols_valid_meta\.csv at its root"):
        resolve_raw(str(wrong_zip), {}, tmp_path, tmp_path / "dl")


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RawInputError, match="no such folder or file"):
        resolve_raw(str(tmp_path / "nope"), {}, tmp_path, tmp_path / "dl")


def test_credentials_are_found_in_kaggles_order(tmp_path: Path) -> None:
    """The order of KaggleApi.authenticate (kaggle 2.x): token, legacy key, OAuth credentials."""
    token, token_file, legacy, oauth = (source.name for source in KAGGLE_CREDENTIAL_SOURCES)
    home = tmp_path / "home"
    assert find_kaggle_credentials({}, home) is None
    assert find_kaggle_credentials({"KAGGLE_USERNAME": "u"}, home) is None  # a key needs both halves
    assert find_kaggle_credentials({"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}, home) == legacy
    (home / ".kaggle").mkdir(parents=True)
    (home / ".kaggle" / "credentials.json").write_text("{}")
    assert find_kaggle_credentials({}, home) == oauth
    (home / ".kaggle" / "kaggle.json").write_text('{"username": "u"}')
    assert find_kaggle_credentials({}, home) == oauth  # kaggle.json without a key is not a key
    assert find_kaggle_credentials({"KAGGLE_KEY": "k"}, home) == legacy  # kaggle merges file and env
    (home / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert find_kaggle_credentials({}, home) == legacy
    (home / ".kaggle" / "access_token").write_text("tok")
    assert find_kaggle_credentials({}, home) == token_file
    assert find_kaggle_credentials({"KAGGLE_API_TOKEN": "t"}, home) == token


def test_kaggle_json_is_read_from_kaggles_one_config_folder(tmp_path: Path) -> None:
    """kaggle reads KAGGLE_CONFIG_DIR, else ~/.kaggle when it exists, else $XDG_CONFIG_HOME/kaggle."""
    legacy = KAGGLE_CREDENTIAL_SOURCES[2].name
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    (xdg / "kaggle").mkdir(parents=True)
    (xdg / "kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert find_kaggle_credentials({"XDG_CONFIG_HOME": str(xdg)}, home) == legacy
    (home / ".kaggle").mkdir(parents=True)  # now ~/.kaggle exists and wins, and holds no key
    assert find_kaggle_credentials({"XDG_CONFIG_HOME": str(xdg)}, home) is None
    assert find_kaggle_credentials({"KAGGLE_CONFIG_DIR": str(xdg / "kaggle")}, home) == legacy


@pytest.mark.parametrize("doc", ["README.md", "docs/running.md"])
def test_docs_list_the_credential_sources_of_the_code(doc: str, repo_root: Path) -> None:
    """One list of sources: the docs carry the line that the error message prints."""
    assert credential_sources_text() in (repo_root / doc).read_text(encoding="utf-8")


def test_kaggle_without_credentials_fails_at_once_with_how_to(tmp_path: Path, repo_root: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = _run(["kaggle", "--download-dir", str(tmp_path / "dl")], _clean_env(home, repo_root), repo_root)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert credential_sources_text() in lines[0]
    assert not (tmp_path / "dl").exists()


def test_kaggle_reuses_an_earlier_download(sample_dir: Path, tmp_path: Path, repo_root: Path) -> None:
    dl = tmp_path / "dl"
    dl.mkdir()
    archive = _zip_folder(sample_dir, dl / "stock-market-dataset.zip")
    home = tmp_path / "home"
    home.mkdir()
    result = _run(["kaggle", "--download-dir", str(dl)], _clean_env(home, repo_root), repo_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(archive.resolve())
