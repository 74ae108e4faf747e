"""A spec's ``resourceRequests`` and ``resourceLimits`` as numbers: the one reading of them that the
loop's CPU weights (runner/cpu_weight.py) and the docker executor's options
(runner/executors/resources.py) share.

In Pachyderm's ResourceSpec (src/pps/pps.proto) ``cpu`` is a float (protojson also takes it as a
string, which the spec's validation normalises) and ``memory`` a Kubernetes quantity string
(``"384Mi"``, ``"8Gi"``, ``"1e9"``). A limit without a request makes the request the limit, as
Kubernetes defaults it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
REQUESTS, LIMITS = "resourceRequests", "resourceLimits"


class QuantityError(ValueError):
    """A resource value that is no quantity; the message names the spec and the field."""


def quantity(value: Any, where: str) -> float:
    """A Kubernetes quantity (``0.5``, ``"500m"``, ``"384Mi"``, ``"8Gi"``, ``"1e9"``) as a number."""
    if isinstance(value, bool):
        raise QuantityError(f'{where}: {value!r} is not a quantity (e.g. 0.5, "500m", "384Mi")')
    if isinstance(value, int | float):
        return float(value)
    match = QUANTITY_RE.match(str(value).strip())
    if not match:
        raise QuantityError(f'{where}: {value!r} is not a quantity (e.g. 0.5, "500m", "384Mi")')
    return float(match.group(1)) * SUFFIXES[match.group(2) or ""]


@dataclass(frozen=True)
class Resources:
    """CPUs and bytes of memory (None: not given, or zero)."""

    cpu: float | None = None
    memory: int | None = None


@dataclass(frozen=True)
class PodResources:
    """A pipeline's requests and limits; a request not given is the limit, as on Kubernetes."""

    requests: Resources
    limits: Resources

    @property
    def cpu_request(self) -> float | None:
        return self.requests.cpu if self.requests.cpu is not None else self.limits.cpu


def _field(raw: Mapping[str, Any], key: str, name: str, where: str) -> float | None:
    value = (raw.get(key) or {}).get(name)
    if value in (None, ""):
        return None
    return quantity(value, f"{where}: {key}.{name}") or None


def cpu_request(raw: Mapping[str, Any], where: str) -> float | None:
    """The CPU request of the spec document ``raw`` (the limit when only a limit is given); only
    the cpu fields are read."""
    requested = _field(raw, REQUESTS, "cpu", where)
    return requested if requested is not None else _field(raw, LIMITS, "cpu", where)


def pod_resources(raw: Mapping[str, Any], where: str) -> PodResources:
    """The requests and limits of the spec document ``raw``; raises ``QuantityError`` naming the
    field (``where`` is the spec's file)."""

    def of(key: str) -> Resources:
        memory = _field(raw, key, "memory", where)
        return Resources(_field(raw, key, "cpu", where), int(memory) if memory is not None else None)

    return PodResources(of(REQUESTS), of(LIMITS))
