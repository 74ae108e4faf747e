"""resourceRequests/resourceLimits read as numbers (runner/resources.py) and turned into docker run
options (runner/executors/resources.py): Kubernetes'
meaning of each (requests: cpu.shares and scheduling; limits: CFS quota and the memory cgroup limit,
https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/), and Pachyderm's
ResourceSpec fields (cpu a number, memory a quantity: src/pps/pps.proto ``ResourceSpec``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.executors.kinds import ExecutorUnavailable
from runner.executors.resources import cfs_weight, niced, resource_options
from runner.resources import QuantityError, quantity
from runner.spec import load_spec
from tests.conftest import REPO_ROOT


def _spec(tmp_path: Path, **resources: dict) -> object:
    doc = {
        "pipeline": {"name": "p"},
        "input": {"pfs": {"repo": "r", "glob": "/*"}},
        "transform": {"image": "x:1", "cmd": ["true"]},
        **resources,
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    return load_spec(path)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (0.5, 0.5),
        ("500m", 0.5),
        ("2", 2.0),
        ("384Mi", 384 * 2**20),
        ("8Gi", 8 * 2**30),
        ("1G", 1e9),
        ("1e3", 1e3),
    ],
)
def test_quantities_read_as_kubernetes_reads_them(text: object, value: float) -> None:
    assert quantity(text, "here") == pytest.approx(value)


def test_a_bad_quantity_names_its_field(tmp_path: Path) -> None:
    with pytest.raises(QuantityError, match=r"specs/x.json: resourceLimits.memory: '12Q'"):
        quantity("12Q", "specs/x.json: resourceLimits.memory")
    spec = _spec(tmp_path, resourceLimits={"memory": "12Q"})
    with pytest.raises(ExecutorUnavailable, match=r"p.json: resourceLimits.memory: '12Q' is not a quantity"):
        resource_options(spec)


def test_cpu_requests_are_shares_limits_are_hard_and_memory_requests_set_nothing(tmp_path: Path) -> None:
    """A memory request is the scheduler's only: on cgroup v1 the runtime does not use it (Kubernetes
    blog 2023-05-05, "Kubernetes 1.27: Quality-of-Service for Memory Resources"), so no soft limit."""
    spec = _spec(
        tmp_path,
        resourceRequests={"cpu": 0.5, "memory": "384Mi"},
        resourceLimits={"cpu": 2, "memory": "1Gi"},
    )
    assert resource_options(spec) == ["--cpu-shares", "512", "--cpus", "2", "--memory", str(2**30)]
    requests_only = _spec(tmp_path, resourceRequests={"cpu": 1, "memory": "384Mi"})
    assert resource_options(requests_only) == ["--cpu-shares", "1024"]


def test_requests_alone_never_cap_a_container(tmp_path: Path) -> None:
    """The project's specs give requests only: no --cpus or --memory, so nothing is slowed down."""
    for name in ("ingest", "features", "train"):
        options = resource_options(load_spec(REPO_ROOT / "specs" / f"{name}.json"))
        assert "--cpus" not in options and "--memory" not in options
        assert "--cpu-shares" in options and "--memory-reservation" not in options


def test_a_limit_alone_is_also_the_request(tmp_path: Path) -> None:
    spec = _spec(tmp_path, resourceLimits={"cpu": 0.25, "memory": "128Mi"})
    assert resource_options(spec) == ["--cpu-shares", "256", "--cpus", "0.25", "--memory", str(128 * 2**20)]


def test_a_niced_job_gets_the_cpu_weight_of_its_niceness() -> None:
    """``up`` runs background jobs at nice 19; their datum containers are not their children, so the
    weight is carried over as ``--cpu-shares`` with the kernel's CFS table (nice 19: 15 of 1024;
    kernel/sched/core.c ``sched_prio_to_weight``)."""
    assert niced(["--cpu-shares", "2048", "--memory", "8"], 19) == ["--cpu-shares", "30", "--memory", "8"]
    assert niced([], 19) == ["--cpu-shares", "15"]
    assert niced(["--cpus", "1"], 0) == ["--cpus", "1"]
    assert round(1024 * cfs_weight(5)) == 335
