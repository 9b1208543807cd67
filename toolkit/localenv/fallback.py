"""The local environment as the one configuration's last resort, cheap enough for every interactive command.

What runs is read from the state dir (pid files that name live processes, recorded ports, the kubeconfig) without
a network probe: a command that then finds the service unreachable says so itself. The gateway and the apps'
metrics are offered only for the local cluster: another cluster's routes cannot attach to the local Gateway. Only when the catalog is
needed and the registry is not running is it started (``start_registry``), which imports the heavy parts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from toolkit.config import DEFAULT_CATALOG_PATH, CatalogRef, CatalogURL, ClusterRef, Fallback, GatewayRef
from toolkit.errors import InputError
from toolkit.localenv import paths
from toolkit.localenv._pidfile import PidFile

__all__ = ["fallback"]

CLUSTER_CONTEXT = "chartkit-local"
_CLUSTER_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def _running_registry() -> tuple[str, Path, Path] | None:
    """(host, CA file, registry config) of the local registry when its process runs."""
    directory = paths.state_root() / "registry"
    try:
        port = int((directory / "port").read_text())
    except (FileNotFoundError, ValueError):
        return None
    config = directory / "registry-config.json"
    if PidFile(directory / "registry.pid").pid() is None or not config.is_file():
        return None
    return f"127.0.0.1:{port}", paths.state_root() / "pki" / "ca.crt", config


def _running_cluster() -> ClusterRef | None:
    directory = paths.state_root() / "cluster"
    kubeconfig = directory / "kubeconfig"
    if not kubeconfig.is_file() or not (directory / "ports.json").is_file():
        return None
    if any(PidFile(directory / f"{c}.pid").pid() is None for c in _CLUSTER_COMPONENTS):
        return None
    return ClusterRef(kubeconfig, CLUSTER_CONTEXT, "local cluster")


def _is_local(cluster: ClusterRef) -> bool:
    """Whether a resolved cluster is the local one (its kubeconfig, by flag or KUBECONFIG, and its context)."""
    ours = paths.state_root() / "cluster" / "kubeconfig"
    named = cluster.kubeconfig or (os.environ.get("KUBECONFIG") if cluster.source == "KUBECONFIG" else None)
    if not named or str(named) != str(ours) and Path(named).resolve() != ours.resolve():
        return False
    return cluster.context in (None, CLUSTER_CONTEXT)


def _running_gateway(cluster: ClusterRef) -> GatewayRef | None:
    """The local Gateway and its metrics URL when Traefik runs for the local cluster (read from its state)."""
    directory = paths.state_root() / "gateway"
    if not _is_local(cluster) or PidFile(directory / "traefik.pid").pid() is None:
        return None
    try:
        admin = int(json.loads((directory / "ports.json").read_text())["admin"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    # the names _gateway.py programs; not imported from there: that module pulls in the gateway's whole start-up
    return GatewayRef("chartkit", "chartkit-gateway", f"http://127.0.0.1:{admin}/metrics", "local gateway")


def _running_app_metrics(cluster: ClusterRef) -> str | None:
    """The backends harness's merged /metrics (every pod server's counters per caller) when it runs."""
    directory = paths.state_root() / "backends"
    if not _is_local(cluster) or PidFile(directory / "backends.pid").pid() is None:
        return None
    try:
        port = int((directory / "port").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return f"http://127.0.0.1:{port}/metrics"


def fallback(*, start_registry: bool = True) -> Fallback:
    """Its registry as the catalog (started on demand unless ``start_registry`` is False: catalog commands use a
    running one but never start it), its CA and credentials for that host, its cluster when it runs, its helm."""

    def catalog() -> CatalogRef:
        running = _running_registry()
        if running is None and start_registry:
            from toolkit.localenv import _registry

            info = _registry.start()
            running = (info.host, info.ca_file, info.registry_config)
        if running is None:
            raise InputError("unable to find a catalog: no --catalog, CHARTKIT_CATALOG, .chartkit.yaml or user "
                             "config, and no local registry running",
                             hint="pass --catalog oci://HOST/PATH or run `chartkit up`")
        host, ca, config = running
        return CatalogRef(CatalogURL.parse(f"oci://{host}/{DEFAULT_CATALOG_PATH}"), "local registry", ca, config)

    def registry_access(host: str) -> tuple[Path, Path] | None:
        running = _running_registry()
        return (running[1], running[2]) if running and running[0] == host else None

    def helm() -> Path | None:
        binary = paths.helm_binary()
        return binary if binary.exists() else None

    return Fallback(catalog=catalog, registry_access=registry_access, cluster=_running_cluster, helm=helm,
                    gateway=_running_gateway, app_metrics=_running_app_metrics)

