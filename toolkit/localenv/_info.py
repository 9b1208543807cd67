"""What a started service looks like to its users (plain data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RegistryInfo:
    """The local OCI registry: TLS from our CA, htpasswd auth, credentials in a helm registry config."""

    host: str  # "127.0.0.1:PORT"
    url: str  # "oci://127.0.0.1:PORT"
    ca_file: Path
    registry_config: Path  # docker config.json format, read by helm through HELM_REGISTRY_CONFIG
    username: str
    password: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = {k: str(v) for k, v in asdict(self).items()}
        data.pop("password")  # it lives in registry_config; never print it
        return data


@dataclass(frozen=True)
class ClusterInfo:
    """The local Kubernetes control plane."""

    kubeconfig: Path
    context: str
    server: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class GatewayInfo:
    """The local Gateway API implementation (Traefik) and the Gateway HTTPRoutes attach to."""

    url: str  # "http://127.0.0.1:PORT": the Gateway's http listener (Traefik's web entrypoint)
    metrics_url: str  # Prometheus text: per-service and per-router counters and latency histograms
    api_url: str  # Traefik's own read-only API: the routers and services it has loaded
    gateway_name: str  # an HTTPRoute's parentRef: {name: gateway_name, namespace: gateway_namespace}
    gateway_namespace: str
    gateway_class: str
    controller: str
    version: str
    supported_features: tuple[str, ...]  # from the GatewayClass status: what the implementation can do
    log_file: Path

    @property
    def parent_ref(self) -> dict[str, str]:
        return {"name": self.gateway_name, "namespace": self.gateway_namespace}

    def supports(self, feature: str) -> bool:
        return feature in self.supported_features

    def to_dict(self) -> dict[str, Any]:
        data = {k: str(v) for k, v in asdict(self).items()}
        data["supported_features"] = list(self.supported_features)
        return data


@dataclass(frozen=True)
class BackendsInfo:
    """The harness serving real HTTP for every Ready pod labelled ``chartkit.io/backend`` (see backends/)."""

    url: str  # control endpoint: /healthz, /servers (JSON), /metrics (every pod server's own counters)
    label: str
    pod_cidr: str
    log_file: Path

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) for k, v in asdict(self).items()}
