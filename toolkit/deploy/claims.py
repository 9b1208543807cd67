"""One operation of a kind per instance at a time: an atomic claim in the cluster, a ``coordination.k8s.io/v1`` Lease.

Two rollouts of one instance started at the same moment used to destroy each other (the loser's abort removed the
winner's green). A claim is a Lease named after the instance (``chartkit-<what>-<instance>``) in its namespace,
*created*: the API server creates an object once, so of two claimants exactly one gets it and the other gets
409 AlreadyExists and a refusal naming the holder (user, host, pid, what it does, since when).

The holder renews the Lease from a background thread every third of its duration while it works (pauses and
helm waits included). A holder that dies (kill -9, a lost machine) stops renewing; once ``renewTime`` is more
than ``leaseDurationSeconds`` old the claim has expired and the next claimant takes it over, by a replace that
carries the expired Lease's resourceVersion (409 Conflict again when someone else took it first). Times are
compared with this machine's clock: keep clocks in sync (the duration leaves slack for small skews). A claim whose
holder names this machine and a process that no longer exists is abandoned, and taken over at once: after a kill -9
on the same machine, ``rollout abort`` or ``resume`` need not wait the 30 s.

    with hold(kube, "rollout", instance, namespace, doing="rollout start 1.1.0"):
        ...  # the rollout; `rollout abort` / `promote` claim the same name
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from toolkit.adapters.kube import Kube
from toolkit.errors import BusyError, ChartkitError, KubeError

__all__ = ["CLAIM_SECONDS", "Claim", "LEASE_API", "claim", "claim_name", "hold", "holder_identity", "release",
           "renew"]

log = logging.getLogger(__name__)

LEASE_API = "coordination.k8s.io/v1"
LABEL_CLAIM = "chartkit.io/claim"
#: how long a claim outlives its holder's last renewal (renewed every third of it)
CLAIM_SECONDS = 30
_MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stamp(when: dt.datetime) -> str:
    return when.strftime(_MICROTIME)


def _parse(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    for fmt in (_MICROTIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
    return None


def holder_identity(doing: str) -> str:
    """Who claims: ``user@host pid N: doing`` (what a refused claimant is told)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}: {doing}"[:1024]


def claim_name(what: str, instance: str) -> str:
    return f"chartkit-{what}-{instance}"[:253]


@dataclass(frozen=True)
class Claim:
    """A Lease this process holds."""

    what: str
    instance: str
    namespace: str
    holder: str
    uid: str
    seconds: int

    @property
    def name(self) -> str:
        return claim_name(self.what, self.instance)


def _lease(claim_what: str, instance: str, namespace: str, holder: str, seconds: int,
           resource_version: str | None = None) -> dict[str, Any]:
    now = _stamp(_now())
    meta: dict[str, Any] = {"name": claim_name(claim_what, instance), "namespace": namespace,
                            "labels": {LABEL_CLAIM: claim_what, "app.kubernetes.io/managed-by": "chartkit"}}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": LEASE_API, "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds, "acquireTime": now,
                     "renewTime": now}}


def _expired(lease: Mapping[str, Any]) -> bool:
    spec = lease.get("spec") or {}
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    seconds = spec.get("leaseDurationSeconds") or CLAIM_SECONDS
    return renewed is None or (_now() - renewed).total_seconds() > float(seconds)


_HOLDER = re.compile(r"^[^@]*@(?P<host>[^ ]+) pid (?P<pid>\d+):")


def _abandoned(lease: Mapping[str, Any]) -> bool:
    """The holder ran on this machine and its process is gone (pids are this host's; another host's are unknowable)."""
    found = _HOLDER.match(str((lease.get("spec") or {}).get("holderIdentity") or ""))
    if not found or found["host"] != socket.gethostname():
        return False
    try:
        os.kill(int(found["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False  # alive under another user, or not a pid we can ask about
    return False


def _refusal(what: str, instance: str, namespace: str, lease: Mapping[str, Any] | None) -> BusyError:
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity") or "another chartkit"
    since = spec.get("acquireTime") or "?"
    renewed = _parse(spec.get("renewTime"))
    ago = f", renewed {(_now() - renewed).total_seconds():.0f}s ago" if renewed else ""
    seconds = spec.get("leaseDurationSeconds") or CLAIM_SECONDS
    return BusyError(
        f'unable to start a {what} of "{namespace}/{instance}": another {what} holds it: {holder} since {since}'
        f'{ago} (Lease "{namespace}/{claim_name(what, instance)}")',
        hint=f"wait for it to end; if that process is gone, its claim expires {seconds}s after its last renewal "
             "and the next command takes it over")


def claim(kube: Kube, what: str, instance: str, namespace: str, *, doing: str = "",
          seconds: int = CLAIM_SECONDS) -> Claim:
    """Take the claim, or raise BusyError naming who holds it. An expired or abandoned claim is taken over."""
    holder = holder_identity(doing or what)
    body = _lease(what, instance, namespace, holder, seconds)
    for _ in range(2):  # a claim released between our create and our read gets one more create
        try:
            created = kube.create(body, namespace, field_manager="chartkit-claim")
            return Claim(what, instance, namespace, holder, created["metadata"]["uid"], seconds)
        except KubeError as exc:
            if exc.status != 409:
                raise
        existing = kube.get(LEASE_API, "Lease", claim_name(what, instance), namespace, missing_ok=True)
        if existing is not None:
            break
    else:
        raise _refusal(what, instance, namespace, None)  # created and released under us twice: a real race
    if not _expired(existing) and not _abandoned(existing):
        raise _refusal(what, instance, namespace, existing)
    log.warning("taking over the %s claim of %s/%s from %s", "expired" if _expired(existing) else "abandoned",
                namespace, instance, (existing.get("spec") or {}).get("holderIdentity"))
    takeover = _lease(what, instance, namespace, holder, seconds, existing["metadata"].get("resourceVersion"))
    try:
        replaced = kube.replace(takeover, namespace, field_manager="chartkit-claim")
    except KubeError as exc:
        if exc.status != 409:
            raise
        raise _refusal(what, instance, namespace,
                       kube.get(LEASE_API, "Lease", claim_name(what, instance), namespace, missing_ok=True)) from None
    return Claim(what, instance, namespace, holder, replaced["metadata"]["uid"], seconds)


def renew(kube: Kube, held: Claim) -> bool:
    """Move the claim's renewTime to now; False when it is no longer ours (expired and taken over, or removed)."""
    lease = kube.get(LEASE_API, "Lease", held.name, held.namespace, missing_ok=True)
    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != held.holder:
        return False
    kube.patch(LEASE_API, "Lease", held.name, held.namespace,
               [{"op": "test", "path": "/metadata/resourceVersion", "value": lease["metadata"]["resourceVersion"]},
                {"op": "replace", "path": "/spec/renewTime", "value": _stamp(_now())}],
               patch_type="json", field_manager="chartkit-claim")
    return True


def release(kube: Kube, held: Claim) -> None:
    """Give the claim up (only if it is still ours: a taken-over claim belongs to its new holder)."""
    lease = kube.get(LEASE_API, "Lease", held.name, held.namespace, missing_ok=True)
    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != held.holder:
        return
    try:
        kube.delete(LEASE_API, "Lease", held.name, held.namespace,
                    preconditions={"uid": lease["metadata"]["uid"],
                                   "resourceVersion": lease["metadata"]["resourceVersion"]})
    except KubeError as exc:
        if exc.status != 409:
            raise


class _Renewer(threading.Thread):
    """Renews a claim every third of its duration until stopped (a daemon: it dies with the process)."""

    def __init__(self, kube: Kube, held: Claim) -> None:
        super().__init__(name=f"claim-{held.name}", daemon=True)
        self.kube, self.held = kube, held
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stopped.wait(self.held.seconds / 3):
            try:
                if not renew(self.kube, self.held):
                    self.lost = True
                    log.error("the claim %s/%s was taken over", self.held.namespace, self.held.name)
                    return
            except ChartkitError as exc:  # the API server is briefly away: retry at the next beat
                log.warning("could not renew the claim %s/%s: %s", self.held.namespace, self.held.name, exc)


@contextlib.contextmanager
def hold(kube: Kube, what: str, instance: str, namespace: str, *, doing: str = "",
         seconds: int = CLAIM_SECONDS) -> Iterator[Claim]:
    """Hold the claim for the ``with`` block (renewed in the background), then release it."""
    held = claim(kube, what, instance, namespace, doing=doing, seconds=seconds)
    renewer = _Renewer(kube, held)
    renewer.start()
    try:
        yield held
    finally:
        renewer.stopped.set()
        renewer.join(timeout=5)
        try:
            release(kube, held)
        except ChartkitError as exc:  # it expires on its own
            log.warning("could not release the claim %s/%s (it expires in %ss): %s", namespace, held.name,
                        seconds, exc)
