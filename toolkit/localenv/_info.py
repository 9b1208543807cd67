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
