"""mk/cluster.mk: each target checks its tools first, and runs the commands docs/running.md shows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "/usr/bin/make"
VENV_STAMP = ".venv/.installed"


def run_make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """make in the repository; with ``path``, PATH is only that folder (no cluster tools on it)."""
    env = {"PATH": path} if path is not None else None
    # -o: never rebuild the venv stamp here, whatever the requirement files' mtimes are
    return subprocess.run(
        [MAKE, "--no-print-directory", "-o", VENV_STAMP, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("target", "tools"),
    [
        ("cluster", ["docker", "kind", "helm", "kubectl", "pachctl"]),
        ("cluster-delete", ["kind"]),
        ("images", ["docker"]),
        ("base-image", ["docker"]),
        ("kind-load", ["docker", "kind"]),
        ("local-image", ["docker"]),
        ("predict-url", ["kubectl"]),
        ("deploy DEPLOY_WITH=pachctl", ["pachctl"]),
        ("put-raw DEPLOY_WITH=pachctl", ["pachctl"]),
    ],
)
def test_target_names_each_missing_tool_and_where_to_get_it(
    target: str, tools: list[str], tmp_path: Path
) -> None:
    result = run_make(*target.split(), path=str(tmp_path))
    assert result.returncode != 0
    name = target.split()[0]
    assert f"make {name}: missing tool(s): {' '.join(tools)}" in result.stderr
    for tool in tools:
        line = next(line for line in result.stderr.splitlines() if line.strip().startswith(f"{tool}:"))
        assert "https://" in line, f"no place to get {tool}: {line}"
    assert result.stdout == "", "nothing may run before the tools are checked"


def test_cluster_creates_kind_from_the_config_and_installs_pachyderm_locally() -> None:
    result = run_make("-n", "cluster")
    assert result.returncode == 0, result.stderr
    plan = result.stdout
    assert 'kind create cluster --name "stockpipe" --config kind-cluster.yaml' in plan
    assert "helm repo add pachyderm https://helm.pachyderm.com" in plan
    helm = plan[plan.index("helm upgrade --install pachyderm pachyderm/pachyderm") :]
    for flag in (
        "--set deployTarget=LOCAL",
        "--set proxy.enabled=true",
        "--set proxy.service.type=NodePort",
        "--set proxy.service.httpNodePort=30080",
        '--version "2.12.2"',
    ):
        assert flag in helm
    assert 'pachctl connect "http://localhost:80"' in plan


def test_deploy_and_put_raw_use_the_python_script_by_default_and_pachctl_on_request() -> None:
    assert "-m deploy pipelines -f specs/" in run_make("-n", "deploy").stdout
    assert '-m deploy put-raw -f "data/sample"' in run_make("-n", "put-raw").stdout
    assert (
        '-m deploy put-raw -f "/x/stock-market-dataset.zip"'
        in run_make("-n", "put-raw", "RAW=/x/stock-market-dataset.zip").stdout
    )
    pachctl_deploy = run_make("-n", "deploy", "DEPLOY_WITH=pachctl").stdout
    assert "pachctl create repo" in pachctl_deploy and "pachctl update pipeline -f" in pachctl_deploy
    assert "-m deploy order -f specs/" in pachctl_deploy  # upstream pipelines first
    pachctl_put = run_make("-n", "put-raw", "DEPLOY_WITH=pachctl").stdout
    assert "pachctl put file -r raw@master:/ -f" in pachctl_put


def test_make_hadolint_lints_every_dockerfile_and_passes() -> None:
    result = run_make("hadolint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "./Dockerfile" in result.stdout and "./stages/ingest/Dockerfile" in result.stdout
    assert "hadolint: no findings" in result.stdout


def test_every_cluster_target_is_listed_by_make_help() -> None:
    listed = run_make("help").stdout
    for target in (
        "cluster",
        "images",
        "base-image",
        "kind-load",
        "lock",
        "deploy",
        "put-raw",
        "predict-url",
        "hadolint",
    ):
        assert f"  {target} " in listed, f"make help does not list {target}"
