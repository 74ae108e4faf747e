"""A spec's ``resourceRequests``/``resourceLimits`` as ``docker run`` options.

On Kubernetes (what Pachyderm's worker pods run on), the two mean different things, and docker
has a counterpart for each:

- ``resourceLimits.cpu``: a hard cap, enforced by CFS quota -> ``--cpus`` (the same quota).
- ``resourceRequests.cpu``: a guaranteed share under contention, enforced by cgroup cpu shares
  (the kubelet sets ``cpu.shares`` to 1024 per requested CPU) -> ``--cpu-shares``; it never slows
  a container down on an idle machine.
- ``resourceLimits.memory``: the cgroup memory limit; the container is OOM-killed past it ->
  ``--memory``.
- ``resourceRequests.memory``: only the scheduler's on Kubernetes. On cgroup v1 the container
  runtime does not use it at all, there being no control for a minimum (Kubernetes blog,
  2023-05-05, "Kubernetes 1.27: Quality-of-Service for Memory Resources"; only the alpha
  MemoryQoS feature gate on cgroup v2 turns it into ``memory.min``) -> no option. docker's
  ``--memory-reservation`` is a soft limit that kubelet never sets: under memory pressure the
  kernel reclaims a container above it first, which a pod never sees.
- A limit without a request makes the request equal to the limit (as Kubernetes defaults it).

``gpu`` and ``disk`` have no local counterpart and are ignored.
"""

from __future__ import annotations

from runner.cpu_weight import CFS_WEIGHTS
from runner.executors.kinds import ExecutorUnavailable
from runner.resources import QuantityError, pod_resources
from runner.spec import Spec

#: cgroup cpu shares per CPU, as the kubelet converts a CPU request.
SHARES_PER_CPU = 1024
#: docker refuses --cpu-shares below 2 (the kernel's minimum).
MIN_SHARES = 2


def resource_options(spec: Spec) -> list[str]:
    """The ``docker run`` options for ``spec``'s requests and limits (see the module docstring)."""
    try:
        pod = pod_resources(spec.raw, str(spec.path))
    except QuantityError as exc:
        raise ExecutorUnavailable(str(exc)) from None
    limits, cpu_request = pod.limits, pod.cpu_request
    options: list[str] = []
    if cpu_request is not None:
        options += ["--cpu-shares", str(max(MIN_SHARES, round(cpu_request * SHARES_PER_CPU)))]
    if limits.cpu is not None:
        options += ["--cpus", f"{limits.cpu:g}"]
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
