"""Leader election through a ``coordination.k8s.io/v1`` Lease: of several watchers, one acts at a time.

The Lease is created only if absent (create is refused when another created it first) and taken over or
renewed only with the resourceVersion as read (a replace that loses the race gets a Conflict), so two candidates
can never both believe they lead. A holder that stops renewing loses the Lease once ``duration`` has passed
since this candidate *saw* its last renewal (measured on this machine's monotonic clock, as client-go does, so
clock skew between machines does not matter).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from toolkit.config import Config
from toolkit.errors import KubeError

__all__ = ["LeaderElector", "LeaseOptions"]

log = logging.getLogger(__name__)

API = "coordination.k8s.io/v1"


@dataclass(frozen=True, kw_only=True)
class LeaseOptions:
    identity: str                       # this candidate (e.g. the pod name, or host-pid)
    name: str = "chartkit-watch"
    namespace: str = "chartkit-system"
    duration: float = 15.0              # seconds a leader is trusted without a renewal


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """``try_lead()`` on every tick: True while this candidate holds the Lease."""

    def __init__(self, config: Config, options: LeaseOptions) -> None:
        self.config = config
        self.options = options
        self._seen: tuple[str, float] | None = None   # (holder's renewTime, when this candidate saw it change)
        self._namespace_ready = False

    def _spec(self, lease: dict[str, Any] | None, *, take: bool) -> dict[str, Any]:
        spec = dict((lease or {}).get("spec") or {})
        now = _now()
        if take:
            spec.update(holderIdentity=self.options.identity, acquireTime=now,
                        leaseTransitions=int(spec.get("leaseTransitions") or 0) + (1 if lease else 0))
        spec.update(renewTime=now, leaseDurationSeconds=max(1, int(round(self.options.duration))))
        return spec

    def _ensure_namespace(self) -> None:
        if not self._namespace_ready:
            kube = self.config.kube()
            if kube.get("v1", "Namespace", self.options.namespace, missing_ok=True) is None:
                kube.create_namespace(self.options.namespace)
            self._namespace_ready = True

    def try_lead(self) -> bool:
        kube, o = self.config.kube(), self.options
        self._ensure_namespace()
        lease = kube.get(API, "Lease", o.name, o.namespace, missing_ok=True)
        try:
            if lease is None:
                kube.create({"apiVersion": API, "kind": "Lease", "metadata": {"name": o.name, "namespace": o.namespace},
                             "spec": self._spec(None, take=True)})
                log.info("%s leads (created lease %s/%s)", o.identity, o.namespace, o.name)
                return True
            spec = lease.get("spec") or {}
            holder, renewed = spec.get("holderIdentity") or "", str(spec.get("renewTime") or "")
            if holder == o.identity:
                kube.replace({**lease, "spec": self._spec(lease, take=False)})
                return True
            if self._seen is None or self._seen[0] != f"{holder}@{renewed}":
                self._seen = (f"{holder}@{renewed}", time.monotonic())
            if holder and time.monotonic() - self._seen[1] < float(spec.get("leaseDurationSeconds") or o.duration):
                return False
            kube.replace({**lease, "spec": self._spec(lease, take=True)})
            log.info("%s took over lease %s/%s from %s", o.identity, o.namespace, o.name, holder or "nobody")
            return True
        except KubeError as exc:
            if exc.status == 409:  # another candidate created or renewed it first
                return False
            raise

    def resign(self) -> None:
        """Give the Lease up (on a clean stop) so another candidate takes over at once."""
        kube, o = self.config.kube(), self.options
        lease = kube.get(API, "Lease", o.name, o.namespace, missing_ok=True)
        if lease and (lease.get("spec") or {}).get("holderIdentity") == o.identity:
            try:
                kube.replace({**lease, "spec": {**lease["spec"], "holderIdentity": ""}})
            except KubeError as exc:
                if exc.status != 409:
                    raise
