"""Marketplace brokers registered in the cluster: a Secret each in the state namespace (URL, basic-auth credentials,
CA), never a file in the repo; and an OSB client for one (``toolkit.adapters.osb``)."""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from toolkit.deploy.records import STATE_NAMESPACE
from toolkit.errors import NotFoundError

if TYPE_CHECKING:
    from toolkit.adapters.kube import Kube
    from toolkit.adapters.osb import BrokerClient

__all__ = ["LABEL_MARKETPLACE", "MarketplaceBroker", "broker_secret", "client", "registered", "secret_name",
           "timeout_seconds"]

LABEL_MARKETPLACE = "chartkit.io/marketplace"


@dataclass(frozen=True)
class MarketplaceBroker:
    name: str
    url: str
    username: str
    has_ca: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "username": self.username, "ca": self.has_ca}


def secret_name(name: str) -> str:
    return f"chartkit-marketplace-{name}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _plain(data: Mapping[str, str], key: str) -> str:
    return base64.b64decode(data.get(key) or "").decode()


def broker_secret(name: str, url: str, username: str, password: str, ca: str, namespace: str) -> dict[str, Any]:
    data = {"url": _b64(url), "username": _b64(username), "password": _b64(password)}
    if ca:
        data["ca.crt"] = _b64(ca)
    return {"apiVersion": "v1", "kind": "Secret", "type": "chartkit.io/marketplace-broker",
            "metadata": {"name": secret_name(name), "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "chartkit", LABEL_MARKETPLACE: name}},
            "data": data}


def registered(kube: Kube, namespace: str = STATE_NAMESPACE) -> list[MarketplaceBroker]:
    out = []
    for secret in kube.list("v1", "Secret", namespace, selector=LABEL_MARKETPLACE):
        data = secret.get("data") or {}
        out.append(MarketplaceBroker(secret["metadata"]["labels"][LABEL_MARKETPLACE], _plain(data, "url"),
                                     _plain(data, "username"), "ca.crt" in data))
    return sorted(out, key=lambda b: b.name)


def client(kube: Kube, name: str, *, namespace: str = STATE_NAMESPACE, identity: str | None = None) -> BrokerClient:
    """An OSB client for a registered broker (its CA, public, goes to a private temp file)."""
    from toolkit.adapters.osb import BrokerClient, BrokerEndpoint

    secret = kube.get("v1", "Secret", secret_name(name), namespace, missing_ok=True)
    if secret is None:
        raise NotFoundError(f'unable to use marketplace broker "{name}": not registered',
                            hint="`chartkit marketplace add NAME URL` registers it")
    data = secret.get("data") or {}
    ca_file = None
    if "ca.crt" in data:
        fd, path = tempfile.mkstemp(prefix="chartkit-broker-ca-", suffix=".pem")
        with os.fdopen(fd, "w") as handle:
            handle.write(_plain(data, "ca.crt"))
        ca_file = Path(path)
    return BrokerClient(BrokerEndpoint(_plain(data, "url"), _plain(data, "username"), _plain(data, "password"),
                                       ca_file), originating_identity=identity)


def timeout_seconds(timeout: str) -> float:
    """helm's ``5m`` / ``90s`` / ``1h`` as seconds: how long to poll another broker (default 5 minutes)."""
    import re

    match = re.fullmatch(r"(\d+)(s|m|h)?", timeout.strip())
    if not match:
        return 300.0
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
