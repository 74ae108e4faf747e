"""bench/stage_caches.py: the caches the specs' cmds name are found and emptied before a first run."""

from __future__ import annotations

import json
from pathlib import Path

from bench.stage_caches import cache_folders, empty_stage_caches
from tests.conftest import REPO_ROOT


def test_the_project_specs_name_trains_cache() -> None:
    assert cache_folders(REPO_ROOT / "specs") == [Path("/tmp/stockpipe-train-cache")]


def test_a_named_cache_is_emptied_and_said(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "index.json").write_text("{}")
    spec = {
        "pipeline": {"name": "cached"},
        "input": {"pfs": {"repo": "things", "glob": "/*"}},
        "transform": {"image": "x:1", "cmd": ["python3", "-m", "stage", "--cache-dir", str(cache)]},
    }
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "cached.json").write_text(json.dumps(spec))
    said: list[str] = []
    empty_stage_caches(specs, said.append)
    assert not cache.exists()
    assert said == [f"    emptied the stage cache {cache}"]
    empty_stage_caches(specs, said.append)  # nothing there: nothing said
    assert len(said) == 1
