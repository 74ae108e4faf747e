"""A spec's ``resourceRequests``/``resourceLimits`` as ``docker run`` options.

On Kubernetes (what Pachyderm's worker pods run on), the two mean different things, and docker
has a counterpart for each:

- ``resourceLimits.cpu``: a hard cap, enforced by CFS quota -> ``--cpus`` (the same quota).
- ``resourceRequests.cpu``: a guaranteed share under contention, enforced by cgroup cpu shares
  (the kubelet sets ``cpu.shares`` to 1024 per requested CPU) -> ``--cpu-shares``; it never slows
  a container down on an idle machine.
- ``resourceLimits.memory``: the cgroup memory limit; the container is OOM-killed past it ->
  ``--memory``.
- ``resourceRequests.memory``: only a scheduling promise on Kubernetes; docker's nearest is the
  soft limit the kernel reclaims towards under memory pressure -> ``--memory-reservation``
  (dropped when it is not below the limit, which docker requires).
- A limit without a request makes the request equal to the limit (as Kubernetes defaults it).

``gpu`` and ``disk`` have no local counterpart and are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runner.cpu_weight import CFS_WEIGHTS
from runner.executors.kinds import ExecutorUnavailable
from runner.spec import Spec

#: Kubernetes quantity suffixes (apimachinery resource.Quantity): binary, decimal, milli.
SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "m": 10**-3,
    "": 1,
}
QUANTITY_RE = re.compile(r"^([+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
#: cgroup cpu shares per CPU, as the kubelet converts a CPU request.
SHARES_PER_CPU = 1024
#: docker refuses --cpu-shares below 2 (the kernel's minimum).
MIN_SHARES = 2


def quantity(value: Any, where: str) -> float:
    """A Kubernetes quantity (``0.5``, ``"500m"``, ``"384Mi"``, ``"8Gi"``, ``"1e9"``) as a number."""
    if isinstance(value, bool):
        raise ExecutorUnavailable(f'{where}: {value!r} is not a quantity (e.g. 0.5, "500m", "384Mi")')
    if isinstance(value, int | float):
        return float(value)
    match = QUANTITY_RE.match(str(value).strip())
    if not match:
        raise ExecutorUnavailable(f'{where}: {value!r} is not a quantity (e.g. 0.5, "500m", "384Mi")')
    return float(match.group(1)) * SUFFIXES[match.group(2) or ""]


@dataclass(frozen=True)
class Resources:
    """CPUs and bytes of memory (None: not given)."""

    cpu: float | None = None
    memory: int | None = None


def _resources(spec: Spec, key: str) -> Resources:
    node = spec.raw.get(key) or {}
    where = f"{spec.path}: {key}"
    cpu = quantity(node["cpu"], f"{where}.cpu") if node.get("cpu") not in (None, "") else None
    memory = node.get("memory")
    mem = int(quantity(memory, f"{where}.memory")) if memory not in (None, "") else None
    return Resources(cpu or None, mem or None)


def resource_options(spec: Spec) -> list[str]:
    """The ``docker run`` options for ``spec``'s requests and limits (see the module docstring)."""
    limits = _resources(spec, "resourceLimits")
    requests = _resources(spec, "resourceRequests")
    cpu_request = requests.cpu if requests.cpu is not None else limits.cpu
    memory_request = requests.memory if requests.memory is not None else limits.memory
    options: list[str] = []
    if cpu_request is not None:
        options += ["--cpu-shares", str(max(MIN_SHARES, round(cpu_request * SHARES_PER_CPU)))]
    if limits.cpu is not None:
        options += ["--cpus", f"{limits.cpu:g}"]
    if memory_request is not None and (limits.memory is None or memory_request < limits.memory):
        options += ["--memory-reservation", str(memory_request)]
    if limits.memory is not None:
        options += ["--memory", str(limits.memory)]
    return options


def cfs_weight(niceness: int) -> float:
    """The CFS weight of a niceness relative to nice 0 (the kernel's table, runner/cpu_weight.py);
    negative values count as 0 (the runner never raises a priority)."""
    return CFS_WEIGHTS[max(0, min(19, niceness))] / CFS_WEIGHTS[0]


def niced(options: list[str], niceness: int) -> list[str]:
    """``options`` with ``--cpu-shares`` scaled by the CFS weight of ``niceness`` (when positive), as the
    kernel weighs a niced process against others; a container that had no CPU request counts as
    one CPU (1024 shares, docker's default)."""
    if niceness <= 0:
        return list(options)
    out = list(options)
    if "--cpu-shares" in out:
        at = out.index("--cpu-shares") + 1
        out[at] = str(max(MIN_SHARES, round(int(out[at]) * cfs_weight(niceness))))
    else:
        out = ["--cpu-shares", str(max(MIN_SHARES, round(SHARES_PER_CPU * cfs_weight(niceness)))), *out]
    return out
