"""Where the local environment keeps its builds and state (pure path computation, nothing is created here).

Caches live outside the repo, keyed by version, so a fresh clone (and CI) reuses them:
``$CHARTKIT_CACHE`` (default ``~/.cache/chartkit``)::

    go/mod, go/build               GOMODCACHE and GOCACHE for every Go build
    bin/helm-<v>/helm              helm built from its Go module
    bin/kubernetes-<v>/            kube-apiserver, kube-controller-manager, kube-scheduler, etcd
    bin/kwok-<v>/kwok              kwok (fake nodes)
    bin/kustomize-<v>/kustomize    kustomize (chartify builds kustomization directories with it)
    bin/traefik-<v>/traefik        Traefik (the Gateway API implementation carrying real traffic)
    logs/                          build logs
``$CHARTKIT_STATE`` (default ``~/.cache/chartkit/state``): running services (pids, certs, data, kubeconfig).
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.config import cache_dir

HELM_VERSION = "v4.3.1"
KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.5"  # the one k8s.io/kubernetes v1.35.4 requires
KWOK_VERSION = "v0.8.0"
KUSTOMIZE_VERSION = "v5.8.2"  # v5.8.3 needs go >= 1.27; the machines have go 1.26
#: the newest Traefik whose whole build graph the Go module proxy serves here: every v3.7.x replaces
#: github.com/abbot/go-http-auth with a 2026 fork the proxy refuses (403), and lego v5's DNS providers need more
TRAEFIK_VERSION = "v3.6.12"
GATEWAY_API_VERSION = "v1.4.0"  # the one Traefik v3.6.12 requires: the CRDs must match what its client reads
#: kwok hands out pod IPs from here. The Kubernetes API refuses loopback addresses in EndpointSlices, so 127/8
#: cannot be used; a route of type "local" for this range on the loopback device (_net.py) makes every address in
#: it bindable on this host, so a process bound to PODIP:PORT stands in for the pod.
POD_CIDR = "10.244.0.0/16"


def cache_root() -> Path:
    return cache_dir()


def state_root() -> Path:
    return Path(os.environ.get("CHARTKIT_STATE") or cache_root() / "state")


def go_env() -> dict[str, str]:
    """Go's settings for every build: module and build caches under the chartkit cache, unless the environment
    names its own GOMODCACHE/GOCACHE (a fresh CHARTKIT_CACHE that shares only Go's caches relinks, not rebuilds)."""
    root = cache_root() / "go"
    return {"GOMODCACHE": os.environ.get("GOMODCACHE") or str(root / "mod"),
            "GOCACHE": os.environ.get("GOCACHE") or str(root / "build"), "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}


def helm_binary(version: str = HELM_VERSION) -> Path:
    return cache_root() / "bin" / f"helm-{version}" / "helm"


def kubernetes_dir(version: str = KUBERNETES_VERSION) -> Path:
    return cache_root() / "bin" / f"kubernetes-{version}"


def kwok_binary(version: str = KWOK_VERSION) -> Path:
    return cache_root() / "bin" / f"kwok-{version}" / "kwok"


def kustomize_binary(version: str = KUSTOMIZE_VERSION) -> Path:
    return cache_root() / "bin" / f"kustomize-{version}" / "kustomize"


def traefik_binary(version: str = TRAEFIK_VERSION) -> Path:
    return cache_root() / "bin" / f"traefik-{version}" / "traefik"


def logs_dir() -> Path:
    return cache_root() / "logs"
