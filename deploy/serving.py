"""Where the serve pipeline answers on a kind cluster made from kind-cluster.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def service_node_port(spec_path: Path) -> int:
    """``service.externalPort`` of a service pipeline spec: the NodePort Pachyderm opens."""
    spec: dict[str, Any] = json.loads(spec_path.read_text(encoding="utf-8"))
    service = spec.get("service")
    if not isinstance(service, dict) or "externalPort" not in service:
        raise ValueError(f"{spec_path}: service.externalPort: required for a NodePort service pipeline")
    return int(service["externalPort"])


def host_port_for(kind_config: Path, node_port: int) -> int:
    """The host port that kind-cluster.yaml maps to ``node_port`` on the control-plane node."""
    config = yaml.safe_load(kind_config.read_text(encoding="utf-8"))
    for node in config.get("nodes", []):
        for mapping in node.get("extraPortMappings", []):
            if int(mapping["containerPort"]) == node_port:
                return int(mapping["hostPort"])
    raise ValueError(
        f"{kind_config}: no extraPortMappings entry with containerPort {node_port}; "
        "add one and recreate the cluster (make cluster-delete cluster)"
    )


def service_url(spec_path: Path, kind_config: Path, host: str = "localhost") -> str:
    """The base URL of the service pipeline on this machine: ``curl "$URL/predict?..."``."""
    port = host_port_for(kind_config, service_node_port(spec_path))
    return f"http://{host}:{port}"
