"""A service's CPU weight under ``runner up`` (runner/cpu_weight.py): its ``resourceRequests.cpu``
against the pipelines it reads from, as Kubernetes turns CPU requests into cgroup cpu shares
(kubernetes.io/docs/concepts/configuration/manage-resources-containers: "the CPU request ...
defines a weighting"; the kubelet's 1,024 shares per CPU), set as a session's autogroup nice.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cpu_weight import (
    CFS_WEIGHTS,
    cpu_request,
    lower_own_weight,
    nice_for_share,
    service_nice,
)
from runner.spec import load_specs, upstream_pipelines

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTOGROUP = Path("/proc/self/autogroup")


def test_the_weights_are_the_kernels_nice_table() -> None:
    # kernel/sched/core.c sched_prio_to_weight, nice 0..19: each step about 1.25 times less.
    assert CFS_WEIGHTS[0] == 1024 and CFS_WEIGHTS[19] == 15 and len(CFS_WEIGHTS) == 20
    assert all(1.15 < a / b < 1.35 for a, b in itertools.pairwise(CFS_WEIGHTS))


@pytest.mark.parametrize(
    ("share", "nice"), [(1.0, 0), (2.0, 0), (0.8, 1), (0.5, 3), (0.25, 6), (0.01, 19), (0.0, 19)]
)
def test_a_share_maps_to_the_nearest_weight(share: float, nice: int) -> None:
    assert nice_for_share(share) == nice


def test_the_projects_service_gets_half_the_weight_of_train() -> None:
    specs = {spec.name: spec for spec in load_specs(REPO_ROOT / "specs")}
    serve = specs["serve"]
    assert upstream_pipelines(serve, specs) == {"train", "features", "ingest"}
    assert cpu_request(serve) == 1.0 and cpu_request(specs["train"]) == 2.0
    assert cpu_request(specs["ingest"]) == 0.5
    assert service_nice(serve, specs) == 3  # weight 526 against the jobs' 1,024: about 1 : 2


def _specs(tmp_path: Path, serve_cpu: object, train_cpu: object | None) -> dict:
    import json

    folder = tmp_path / "specs"
    folder.mkdir()
    train: dict = {
        "pipeline": {"name": "train"},
        "input": {"pfs": {"repo": "raw", "glob": "/"}},
        "transform": {"image": "x", "cmd": ["true"]},
    }
    if train_cpu is not None:
        train["resourceRequests"] = {"cpu": train_cpu}
    serve = {
        "pipeline": {"name": "serve"},
        "input": {"pfs": {"repo": "train", "glob": "/"}},
        "transform": {"image": "x", "cmd": ["true"]},
        "service": {"internalPort": 8000, "externalPort": 30800},
        "resourceRequests": {"cpu": serve_cpu},
    }
    (folder / "train.json").write_text(json.dumps(train))
    (folder / "serve.json").write_text(json.dumps(serve))
    return {spec.name: spec for spec in load_specs(folder)}


@pytest.mark.parametrize(
    ("serve_cpu", "train_cpu", "nice"),
    [(0.5, 2, 6), (1, 1, 0), (2, 1, 0), (0.25, None, 6), ("0.25", "1", 6)],
)
def test_the_requests_set_the_service_share(
    tmp_path: Path, serve_cpu: object, train_cpu: object, nice: int
) -> None:
    specs = _specs(tmp_path, serve_cpu, train_cpu)
    assert service_nice(specs["serve"], specs) == nice


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="this kernel has no autogroup (/proc/self/autogroup)")
def test_a_new_session_gets_the_weight_and_its_children_inherit_it() -> None:
    """The first process of a new session lowers its session's weight; a child it starts later
    (as gunicorn forks its workers) is in the same scheduling group at the same nice."""
    probe = (
        "import os; print(open('/proc/self/autogroup').read().strip(), os.getpriority(os.PRIO_PROCESS, 0))"
    )
    child = subprocess.run(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {probe!r}])"],
        start_new_session=True,
        preexec_fn=lambda: lower_own_weight(3),
        capture_output=True,
        text=True,
        check=True,
    )
    group, nice = child.stdout.split("nice ")[1].split()
    assert group == "3" and int(nice) >= 3
    # The test's own session keeps its weight. A process in the boot session's group (as CI's
    # `make test` is, started from init) reads an empty file: kernel/sched/autogroup.c,
    # proc_sched_autogroup_show_task, prints nothing for the default group, which is no autogroup.
    own = AUTOGROUP.read_text().split()
    assert (not own) or own[0] not in child.stdout


def test_nice_zero_changes_nothing() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    lower_own_weight(0)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
