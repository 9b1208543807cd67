"""The local environment chartkit's tests, CI and demo run against: real helm, a real OCI registry and a real
Kubernetes control plane, built from upstream sources and started on 127.0.0.1 by the project itself.

    ensure_helm()      helm built from its Go module, cached in ~/.cache/chartkit/bin/helm-<v>/
    ensure_kustomize() kustomize built from its Go module, cached in ~/.cache/chartkit/bin/kustomize-<v>/
    start_registry()   docker-registry with TLS (our CA) and htpasswd auth; credentials in a helm registry config
    start_cluster()    etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok (3 fake nodes),
                       Gateway API CRDs; kubeconfig in the state dir
    start_gateway()    Traefik built from its Go module, programming a GatewayClass + Gateway on 127.0.0.1
                       (HTTPRoutes attached to it carry real requests), Prometheus metrics on loopback
    start_backends()   real HTTP servers on the pod IPs of Ready pods labelled chartkit.io/backend (backends/)
    helm_config()      a HelmConfig wired to them
    fallback()         what the CLI offers the one configuration when nothing names a catalog/cluster/helm
    status() / down()  what runs where; stop everything by pid and remove the state

Every start is idempotent and safe to call from several processes at once (a file lock per service): a healthy
running service is reused, a dead or stale one is cleaned up and restarted. Long work reports through
``progress(message)``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import LocalEnvError
from toolkit.localenv import paths
from toolkit.localenv.fallback import fallback

if TYPE_CHECKING:
    from toolkit.adapters.helm import HelmConfig
    from toolkit.localenv._info import BackendsInfo, ClusterInfo, GatewayInfo, RegistryInfo
    from toolkit.localenv._proc import Progress

__all__ = [
    "BackendsInfo",
    "ClusterInfo",
    "GatewayInfo",
    "Progress",
    "RegistryInfo",
    "down",
    "ensure_helm",
    "ensure_kustomize",
    "fallback",
    "helm_config",
    "start_backends",
    "start_cluster",
    "start_gateway",
    "start_registry",
    "status",
]

log = logging.getLogger(__name__)

_LAZY = {"BackendsInfo": "_info", "ClusterInfo": "_info", "GatewayInfo": "_info", "RegistryInfo": "_info",
         "Progress": "_proc"}


def __getattr__(name: str) -> Any:
    # every interactive command imports this package for fallback(); the process runner and the services' data
    # types are loaded only by the code that starts something
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"toolkit.localenv.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ensure_helm(progress: Progress | None = None) -> Path:
    """The helm binary to use: ``CHARTKIT_HELM`` when set, else the pinned build (built on first use)."""
    from toolkit.localenv import _build

    explicit = os.environ.get("CHARTKIT_HELM")
    if explicit:
        path = Path(explicit)
        if not _build.reports_version(path, ["version", "--template", "{{ .Version }}"], "v4."):
            raise LocalEnvError(f'unable to use helm "{path}" (from CHARTKIT_HELM): not a runnable helm v4',
                                hint="unset CHARTKIT_HELM to build the pinned helm, or point it at helm v4")
        return path
    return _build.ensure_helm(progress)


def ensure_kustomize(progress: Progress | None = None) -> Path:
    """The kustomize to use: ``CHARTKIT_KUSTOMIZE`` when set, else the pinned build (built on first use)."""
    from toolkit.localenv import _build

    explicit = os.environ.get("CHARTKIT_KUSTOMIZE")
    if explicit:
        path = Path(explicit)
        if not _build.reports_version(path, ["version"], "v5."):
            raise LocalEnvError(f'unable to use kustomize "{path}" (from CHARTKIT_KUSTOMIZE): not a runnable '
                                "kustomize v5", hint="unset CHARTKIT_KUSTOMIZE to build the pinned kustomize")
        return path
    return _build.ensure_kustomize(progress)


def start_registry(progress: Progress | None = None) -> RegistryInfo:
    """Start (or reuse) the local OCI registry."""
    from toolkit.localenv import _registry

    return _registry.start(progress)


def start_cluster(progress: Progress | None = None) -> ClusterInfo:
    """Start (or reuse) the local Kubernetes control plane, building it on first use."""
    from toolkit.localenv import _cluster

    return _cluster.start(progress)


def start_gateway(progress: Progress | None = None) -> GatewayInfo:
    """Start (or reuse) Traefik and its Gateway on the local cluster (starting the cluster, building Traefik)."""
    from toolkit.localenv import _cluster, _gateway

    return _gateway.start(_cluster.start(progress), progress)


def start_backends(progress: Progress | None = None) -> BackendsInfo:
    """Start (or reuse) the harness answering for labelled pods of the local cluster (starting the cluster)."""
    from toolkit.localenv import _backends, _cluster

    return _backends.start(_cluster.start(progress), progress)


def _cached_helm() -> Path | None:
    explicit = os.environ.get("CHARTKIT_HELM")
    if explicit:
        return Path(explicit)
    binary = paths.helm_binary()
    return binary if binary.exists() else None


def helm_config(registry: RegistryInfo | None = None, cluster: ClusterInfo | None = None, **options: Any) -> HelmConfig:
    """A HelmConfig using the local helm build and, when given, the local registry and cluster."""
    from toolkit.adapters.helm import HelmConfig

    return HelmConfig(
        executable=_cached_helm(),
        kubeconfig=cluster.kubeconfig if cluster else None,
        kube_context=cluster.context if cluster else None,
        registry_config=registry.registry_config if registry else None,
        ca_file=registry.ca_file if registry else None,
        **options,
    )


def status() -> dict[str, Any]:
    """What runs where (nothing is started or built): helm, registry, cluster, gateway and backends, each None when
    absent."""
    from toolkit.adapters.helm import find_helm
    from toolkit.localenv import _backends, _cluster, _gateway, _registry

    data: dict[str, Any] = {"helm": None}
    try:
        helm_path = find_helm(fallback=paths.helm_binary())
    except LocalEnvError as exc:
        data["helm_hint"] = str(exc)
    else:
        source = ("CHARTKIT_HELM" if os.environ.get("CHARTKIT_HELM")
                  else "PATH" if shutil.which("helm") else "cache")
        data["helm"] = {"path": str(helm_path), "version": _helm_version(helm_path), "source": source}
    registry = _registry.current()
    cluster = _cluster.current()
    gateway = _gateway.current(cluster)
    backends = _backends.current()
    data.update({
        "registry": registry.to_dict() if registry else None,
        "cluster": cluster.to_dict() if cluster else None,
        "gateway": gateway.to_dict() if gateway else None,
        "backends": backends.to_dict() if backends else None,
        "state_dir": str(paths.state_root()),
        "cache_dir": str(paths.cache_root()),
    })
    return data


def _helm_version(binary: Path) -> str | None:
    from toolkit.adapters.helm import Helm, HelmConfig
    from toolkit.errors import HelmError

    try:
        return Helm(HelmConfig(executable=binary)).version() or None
    except HelmError:
        return None


def down(*, keep_data: bool = False) -> list[str]:
    """Stop every process the local environment started (by pid) and remove its state; returns what was stopped."""
    from toolkit.localenv import _backends, _cluster, _gateway, _registry

    stopped = []
    if _backends.stop():
        stopped.append("backends")
    if _gateway.stop():
        stopped.append("gateway")
    stopped += _cluster.stop()
    if _registry.stop():
        stopped.append("registry")
    if not keep_data:
        root = paths.state_root()
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)
    # the pod range's local route (_net.py) stays: it is the host's, shared by every state dir, gone at reboot
    return stopped
