"""runner.warm: a warm datum looks like a fresh ``python -m`` process and leaves nothing behind."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.datum_log import DatumLog
from runner.warm import EnvironmentGuard, ModuleCache, WarmRunner, streams_on_fds, warm_module

STAGE = """
import json, os, sys
report = {
    "name": __name__,
    "argv": sys.argv,
    "file": __file__,
    "package": __package__,
    "main_is_me": sys.modules["__main__"].__dict__ is globals(),
    "env": {k: os.environ.get(k) for k in ("DATUM_VAR", "WARM_TEST_BASE", "LEAKED")},
}
with open(os.environ["REPORT"], "a") as fh:
    fh.write(json.dumps(report) + "\\n")
os.environ["LEAKED"] = "from the stage"
os.environ.pop("WARM_TEST_BASE", None)
os.environ["DATUM_VAR"] = "changed by the stage"
sys.argv.append("--leaked")
code = os.environ.get("EXIT_CODE")
if code:
    raise SystemExit(int(code))
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package ``warmpkg`` with a module ``stage`` and a ``__main__``."""
    root = tmp_path / "src"
    pkg = root / "warmpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "stage.py").write_text(STAGE)
    (pkg / "__main__.py").write_text(STAGE)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("WARM_TEST_BASE", "base")
    monkeypatch.delenv("LEAKED", raising=False)
    monkeypatch.delenv("DATUM_VAR", raising=False)
    yield root
    for name in [m for m in sys.modules if m.startswith("warmpkg")]:
        del sys.modules[name]


def run(warm: WarmRunner, module: str, tmp_path: Path, overrides: dict[str, str]) -> tuple[bool, str]:
    log = DatumLog(tmp_path / "datum.log")
    log.begin()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = streams_on_fds()  # as in a worker (pytest's capture replaces them)
    try:
        ok = warm.run(module, ["--flag", "x"], overrides, os.getcwd(), log, None)
        return ok, log.tail()
    finally:
        sys.stdout, sys.stderr = saved
        log.close()


def test_each_datum_runs_as_a_fresh_main_and_the_worker_state_is_restored(
    package: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    warm = WarmRunner.for_this_process()
    env_before, argv_before, main_before = dict(os.environ), sys.argv[:], sys.modules["__main__"]
    for value in ("one", "two"):
        ok, log = run(warm, "warmpkg.stage", tmp_path, {"DATUM_VAR": value, "REPORT": str(report)})
        assert ok, log
        assert dict(os.environ) == env_before  # set, changed and deleted variables all restored
        assert sys.argv == argv_before
        assert sys.modules["__main__"] is main_before
    first, second = (json.loads(line) for line in report.read_text().splitlines())
    for seen, value in ((first, "one"), (second, "two")):
        assert seen["name"] == "__main__" and seen["main_is_me"]
        assert seen["argv"] == [str(package / "warmpkg" / "stage.py"), "--flag", "x"]
        assert seen["package"] == "warmpkg"
        # the second datum sees neither the first one's leaks nor its deletions
        assert seen["env"] == {"DATUM_VAR": value, "WARM_TEST_BASE": "base", "LEAKED": None}


def test_a_package_runs_its_main_module_and_the_code_is_compiled_once(package: Path, tmp_path: Path) -> None:
    cache = ModuleCache()
    first = cache.get("warmpkg")
    assert first.spec.name == "warmpkg.__main__"
    assert cache.get("warmpkg") is first
    warm = WarmRunner(cache, EnvironmentGuard())
    ok, log = run(warm, "warmpkg", tmp_path, {"REPORT": str(tmp_path / "r.jsonl")})
    assert ok, log
    assert json.loads((tmp_path / "r.jsonl").read_text())["file"].endswith("__main__.py")


def test_exit_status_and_missing_module_are_failures_with_a_reason(package: Path, tmp_path: Path) -> None:
    warm = WarmRunner.for_this_process()
    ok, log = run(warm, "warmpkg.stage", tmp_path, {"REPORT": str(tmp_path / "r"), "EXIT_CODE": "3"})
    assert not ok and "exit status 3" in log
    assert "EXIT_CODE" not in os.environ
    ok, log = run(warm, "warmpkg.nosuchmodule", tmp_path, {})
    assert not ok and "No module named" in log


def test_only_python_dash_m_commands_run_warm() -> None:
    assert warm_module(("python3", "-m", "stages.ingest", "--out", "/pfs/out"), ()) == "stages.ingest"
    assert warm_module(("python3.11", "-m", "x"), ()) == "x"
    assert warm_module(("python3", "-m", "x"), ("line",)) is None  # stdin: a real process
    assert warm_module(("python3", "script.py"), ()) is None
    assert warm_module(("bash", "-m", "x"), ()) is None
