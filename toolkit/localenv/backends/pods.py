"""Which pods get a backend server, and how it behaves: pure functions over Pod objects (plain dicts)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

log = logging.getLogger(__name__)

#: the opt-in: a pod (template) label whose value is the backend's role
LABEL = "chartkit.io/backend"
#: per-pod overrides of the container's BACKEND_* environment (annotations can change on a live pod)
ANNOTATION_LATENCY = "chartkit.io/backend-latency-ms"
ANNOTATION_ERROR_RATE = "chartkit.io/backend-error-rate"
ENV_LATENCY = "BACKEND_LATENCY_MS"
ENV_ERROR_RATE = "BACKEND_ERROR_RATE"
ENV_UPSTREAM = "BACKEND_UPSTREAM"
ENV_UPSTREAM_METHOD = "BACKEND_UPSTREAM_METHOD"
ENV_UPSTREAM_ON = "BACKEND_UPSTREAM_ON"
ENV_CALLER = "BACKEND_CALLER"


class Role(str, Enum):
    """What a backend answers besides its identity (``GET /``): see app.py."""

    HTTP = "http"  # identity only
    CHAT = "chat"  # PUT/GET /messages/{room}
    MQ = "mq"  # POST/GET /queues/{queue}/messages (RabbitMQ-like)
    DB = "db"  # PUT/GET /rows/{key} (database-like)


class UpstreamOn(str, Enum):
    """Which requests also call the upstream (``BACKEND_UPSTREAM``)."""

    WRITES = "writes"  # PUT, POST, PATCH, DELETE
    ALL = "all"


@dataclass(frozen=True)
class Upstream:
    """Another service this backend calls, as an app would (e.g. chat publishing to its message queue)."""

    url: str  # http://SERVICE.NAMESPACE.svc.cluster.local:PORT/path (Service names are resolved by the harness)
    method: str = "POST"
    on: UpstreamOn = UpstreamOn.WRITES


@dataclass(frozen=True)
class BackendSpec:
    """One server the harness runs: a pod's IP and one of its container ports, and how it answers."""

    uid: str
    namespace: str
    pod: str
    ip: str
    port: int
    version: str  # the image tag (or the digest's first 12 hex digits)
    role: Role
    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of requests answered 500, spread evenly (exactly floor(n * rate) of n fail)
    caller: str = ""  # how this backend names itself to its upstream (X-Caller): "<namespace>/<app>"
    upstream: Upstream | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.ip, self.port


@dataclass(frozen=True)
class Skipped:
    """A labelled pod the harness cannot serve, and why (shown by the harness's /servers)."""

    namespace: str
    pod: str
    reason: str


def image_version(image: str) -> str:
    """``repo/name:1.2.3`` -> ``1.2.3``; ``name@sha256:abc…`` -> ``sha256:abc…`` (12 hex); no tag -> ``latest``."""
    if "@" in image:
        digest = image.split("@", 1)[1]
        algorithm, _, hex_part = digest.partition(":")
        return f"{algorithm}:{hex_part[:12]}"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    # only literal values: a kwok pod has no kubelet to resolve valueFrom
    return {e["name"]: e["value"] for e in container.get("env", []) if "name" in e and "value" in e}


def _number(text: str, what: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low:g} and {high:g}, got {text!r}")
    return value


def _app_name(pod: Mapping[str, Any]) -> str:
    labels = pod["metadata"].get("labels", {})
    for key in ("app.kubernetes.io/instance", "app.kubernetes.io/name", "app"):
        if labels.get(key):
            return labels[key]
    return pod["metadata"]["name"]


def specs_from_pod(pod: Mapping[str, Any]) -> tuple[list[BackendSpec], Skipped | None]:
    """The servers a pod needs (one per TCP containerPort), or why it gets none.

    A pod gets servers when it carries the label, is Ready, is not being deleted and has a pod IP; pods that are
    simply not ready yet are not "skipped", they just have no servers.
    """
    meta = pod["metadata"]
    namespace, name = meta.get("namespace", ""), meta["name"]
    role_text = meta.get("labels", {}).get(LABEL)
    if role_text is None or meta.get("deletionTimestamp") or not _ready(pod):
        return [], None
    ip = pod.get("status", {}).get("podIP")
    if not ip:
        return [], None
    try:
        role = Role(role_text)
    except ValueError:
        return [], Skipped(namespace, name, f"label {LABEL}={role_text!r}: one of "
                                            f"{', '.join(r.value for r in Role)}")
    annotations = meta.get("annotations", {})
    specs = []
    for container in pod.get("spec", {}).get("containers", []):
        ports = [p for p in container.get("ports", []) if p.get("protocol", "TCP") == "TCP"]
        if not ports:
            continue
        env = _env(container)
        try:
            latency = _number(annotations.get(ANNOTATION_LATENCY, env.get(ENV_LATENCY, "0")), "latency (ms)",
                              0, 60_000)
            error_rate = _number(annotations.get(ANNOTATION_ERROR_RATE, env.get(ENV_ERROR_RATE, "0")),
                                 "error rate", 0, 1)
            upstream = None
            if env.get(ENV_UPSTREAM):
                upstream = Upstream(env[ENV_UPSTREAM], env.get(ENV_UPSTREAM_METHOD, "POST").upper(),
                                    UpstreamOn(env.get(ENV_UPSTREAM_ON, UpstreamOn.WRITES.value)))
        except ValueError as exc:
            return [], Skipped(namespace, name, f"container {container.get('name')!r}: {exc}")
        caller = env.get(ENV_CALLER) or f"{namespace}/{_app_name(pod)}"
        for port in ports:
            specs.append(BackendSpec(uid=meta.get("uid", ""), namespace=namespace, pod=name, ip=ip,
                                     port=int(port["containerPort"]), version=image_version(container.get("image", "")),
                                     role=role, latency_ms=latency, error_rate=error_rate, caller=caller,
                                     upstream=upstream))
    if not specs:
        return [], Skipped(namespace, name, "no TCP containerPort to serve on")
    return specs, None
