"""The CPU weight of a service pipeline under ``runner up``: its ``resourceRequests.cpu`` against
the jobs that refresh it, as cgroup cpu shares weigh pods on Kubernetes.

On Kubernetes a container's CPU request becomes its cgroup's ``cpu.shares``, 1,024 per CPU (the
docker executor passes the same number as ``--cpu-shares``: runner/executors/resources.py).
Under contention CPU time is split in proportion to the shares; an idle machine gives every
process all it asks for. The local executor has no cgroup per pipeline, but Linux gives each
session one scheduling group (autogroup, on by default), whose weight is set as a nice value in
``/proc/<pid>/autogroup``: 1,024 at nice 0, about 1.25 times less per step
(``sched_prio_to_weight`` in the kernel's kernel/sched/core.c).

A service runs in a session of its own (runner/services.py); the jobs that make its input run in
the loop's. The service gets the weight of its request relative to the largest request among
the pipelines it reads from, directly or further up: serve asks for 1 CPU and train for 2, so
serve's session runs at half of the jobs' weight (nice 3, weight 526), which is as close as an
unprivileged process comes to giving train twice serve's shares (a weight above 1,024 needs
CAP_SYS_NICE). With autogroup off the same nice is set on the service's first process, and the
processes it starts (gunicorn's workers) inherit it. The weight only matters while both want
the CPU: an idle machine serves at full speed. Measured effect: docs/architecture.md ("CPU
weights").
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable

from runner import resources
from runner.spec import Spec, upstream_pipelines

#: CFS weight of nice 0..19 (kernel/sched/core.c ``sched_prio_to_weight``); nice 0 is 1,024.
CFS_WEIGHTS = (
    1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
    110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
)  # fmt: skip
#: What an unset ``resourceRequests.cpu`` counts as (one CPU, as the loop's core grant assumes).
DEFAULT_CPU_REQUEST = 1.0


def cpu_request(spec: Spec) -> float:
    """``resourceRequests.cpu`` of ``spec`` in CPUs, the limit when only a limit is given
    (runner/resources.py, as the docker executor reads it), else ``DEFAULT_CPU_REQUEST``."""
    return resources.cpu_request(spec.raw, str(spec.path)) or DEFAULT_CPU_REQUEST


def nice_for_share(share: float) -> int:
    """The nice value whose CFS weight is nearest ``share`` x 1,024 (``share`` <= 1; 1 and more: 0)."""
    target = max(0.0, min(1.0, share)) * CFS_WEIGHTS[0]
    return min(range(len(CFS_WEIGHTS)), key=lambda nice: abs(CFS_WEIGHTS[nice] - target))


def service_nice(service: Spec, specs: dict[str, Spec]) -> int:
    """The nice value of ``service``'s session: its CPU request's share of the largest request
    among the pipelines upstream of it (0 when it asks for as much as the largest)."""
    upstream: Iterable[Spec] = (specs[name] for name in upstream_pipelines(service, specs))
    largest = max((cpu_request(spec) for spec in upstream), default=0.0)
    own = cpu_request(service)
    return 0 if largest <= own else nice_for_share(own / largest)


def lower_own_weight(nice: int) -> None:
    """In a new session's first process (a ``preexec_fn`` after ``setsid``): give the session's
    scheduling group and this process the weight of ``nice``. A kernel without autogroup has no
    ``/proc/self/autogroup``; then the process's own nice (inherited by its children) is all."""
    if nice <= 0:
        return
    set_session_weight(nice)
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, max(nice, os.getpriority(os.PRIO_PROCESS, 0)))


#: Tries and pause of ``set_session_weight``: an unprivileged write to ``/proc/self/autogroup`` is
#: refused with EAGAIN within 100 ms of any other (kernel/sched/autogroup.c).
WEIGHT_TRIES, WEIGHT_RETRY_SECONDS = 20, 0.05


def set_session_weight(nice: int) -> bool:
    """Set this session's scheduling group to the weight of ``nice`` (0..19), raising or lowering it
    (a value of 0 or more needs no privilege); False where the kernel has no autogroup or refuses."""
    for _ in range(WEIGHT_TRIES):
        try:
            with open("/proc/self/autogroup", "w", encoding="ascii") as fh:
                fh.write(str(nice))
            return True
        except BlockingIOError:  # EAGAIN: another write just happened
            time.sleep(WEIGHT_RETRY_SECONDS)
        except OSError:
            return False
    return False
