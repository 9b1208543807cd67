"""The local Kubernetes control plane (work in progress)."""

from __future__ import annotations

from toolkit.errors import LocalEnvError
from toolkit.localenv._info import ClusterInfo
from toolkit.localenv._proc import Progress


def start(progress: Progress | None = None) -> ClusterInfo:
    raise LocalEnvError("unable to start the local cluster: not implemented yet")


def current() -> ClusterInfo | None:
    return None


def stop() -> list[str]:
    return []
