"""Service instances, bindings and in-flight operations recorded in the cluster: no front door keeps state.

Each service instance (an Open Service Broker instance id, or ``NAMESPACE.NAME`` for ``chartkit provision``) has
a record, a Secret ``chartkit-si-<hash>`` in the state namespace (default ``chartkit-system``): what was asked
(service, plan, parameters, context, who asked), what runs (type, version, release, namespace) and its operations
(the one in flight and the last few finished). A Secret because parameters may hold credentials. Each binding
has one too (``chartkit-sb-<hash>``): where its servicebinding.io Secret lives and which workload it is projected
into. Records change only by compare-and-swap: a create-only POST claims an id, a PUT carries the
``resourceVersion`` it read, so two brokers never both start an operation on one instance.

Whoever runs an operation (a broker process, a CLI run) is its *holder*: a Lease ``chartkit-holder-<id>``
renewed by a heartbeat thread. An operation whose holder's Lease has expired is orphaned (its process died);
any other process may take it over by swapping itself in as the holder, repair what the dead one left (a release
stuck in pending-*) and carry the operation to its end. Expiry compares the Lease's renewTime with this
machine's clock: the processes are expected to share time (NTP), as Kubernetes' own leases do.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from toolkit.errors import KubeError

if TYPE_CHECKING:
    from toolkit.adapters.kube import Kube

__all__ = [
    "Accepted",
    "BindingRecord",
    "Holder",
    "Kind",
    "LeaseTiming",
    "Operation",
    "RecordStore",
    "STATE_NAMESPACE",
    "ServiceInstance",
    "Stale",
    "State",
    "digest",
    "holder_alive",
    "now",
]

log = logging.getLogger(__name__)

STATE_NAMESPACE = "chartkit-system"
LABEL_RECORD = "chartkit.io/record"
LABEL_RELEASE = "chartkit.io/release"
LABEL_RELEASE_NAMESPACE = "chartkit.io/release-namespace"
LABEL_STATE = "chartkit.io/operation-state"
LABEL_INSTANCE = "chartkit.io/service-instance"
ANNOTATION_ID = "chartkit.io/id"
LEASE_API = "coordination.k8s.io/v1"
#: finished operations a record remembers (an old operation id can still be polled)
HISTORY = 8


class Kind(str, Enum):
    PROVISION = "provision"
    UPDATE = "update"
    DEPROVISION = "deprovision"


class State(str, Enum):
    IN_PROGRESS = "in progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> float:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return 0.0


def digest(text: str, length: int = 24) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Operation:
    """One operation on a service instance; ``target`` is what it moves the instance to."""

    id: str
    kind: Kind
    state: State = State.IN_PROGRESS
    description: str = ""
    started: str = ""
    updated: str = ""
    holder: str = ""
    attempts: int = 0
    target: Mapping[str, Any] = field(default_factory=dict)
    instance_usable: bool | None = None
    update_repeatable: bool | None = None

    @classmethod
    def new(cls, kind: Kind, target: Mapping[str, Any], holder: str) -> Operation:
        stamp = now()
        return cls(f"{kind.value}-{uuid.uuid4().hex[:12]}", kind, State.IN_PROGRESS, f"{kind.value} accepted", stamp,
                   stamp, holder, 0, dict(target))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value, "state": self.state.value, "target": dict(self.target)}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Operation:
        return cls(**{**data, "kind": Kind(data["kind"]), "state": State(data["state"]),
                      "target": dict(data.get("target") or {})})

    def finished(self, state: State, description: str, **flags: Any) -> Operation:
        return replace(self, state=state, description=description, updated=now(), **flags)


@dataclass(frozen=True)
class ServiceInstance:
    """A service instance's record (``resource_version`` is the Secret's, for compare-and-swap)."""

    id: str
    service_id: str
    plan_id: str
    type: str
    plan: str
    release: str
    namespace: str
    version: str = ""
    namespace_owned: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    identity: str = ""
    marketplace: Mapping[str, Any] = field(default_factory=dict)  # {"broker", "serviceId", "planId"} when bought
    created: str = ""
    deprovisioned: bool = False
    operation: Operation | None = None
    history: tuple[Mapping[str, Any], ...] = ()
    resource_version: str = ""

    @property
    def record_name(self) -> str:
        return instance_record_name(self.id)

    @property
    def provisioned(self) -> bool:
        """Provisioned once and not deprovisioned since (an update may be running)."""
        op = self.operation
        if self.deprovisioned or op is None:
            return False
        return not (op.kind is Kind.PROVISION and op.state is not State.SUCCEEDED)

    def find_operation(self, operation_id: str) -> Operation | None:
        if self.operation and self.operation.id == operation_id:
            return self.operation
        found = next((h for h in self.history if h.get("id") == operation_id), None)
        return Operation.of(found) if found else None

    def with_operation(self, op: Operation) -> ServiceInstance:
        """The record with ``op`` in flight; the operation it replaces joins the history."""
        history = self.history
        if self.operation is not None and self.operation.id != op.id:
            history = (self.operation.to_json(), *history)[:HISTORY]
        return replace(self, operation=op, history=history)

    def to_secret(self, namespace: str) -> dict[str, Any]:
        doc = {k: v for k, v in asdict(self).items() if k not in ("operation", "history", "resource_version",
                                                                  "parameters")}
        op = self.operation
        labels = {"app.kubernetes.io/managed-by": "chartkit", LABEL_RECORD: "service-instance",
                  LABEL_RELEASE: self.release, LABEL_RELEASE_NAMESPACE: self.namespace,
                  LABEL_STATE: (op.state.value.replace(" ", "-") if op else "none")}
        meta: dict[str, Any] = {"name": self.record_name, "namespace": namespace, "labels": labels,
                                "annotations": {ANNOTATION_ID: self.id}}
        if self.resource_version:
            meta["resourceVersion"] = self.resource_version
        return {"apiVersion": "v1", "kind": "Secret", "type": "chartkit.io/service-instance", "metadata": meta,
                "data": {"instance.json": _b64(doc), "parameters.json": _b64(dict(self.parameters)),
                         "operation.json": _b64(op.to_json() if op else None),
                         "history.json": _b64(list(self.history))}}

    @classmethod
    def of_secret(cls, secret: Mapping[str, Any]) -> ServiceInstance:
        data = secret.get("data") or {}
        doc = _unb64(data.get("instance.json")) or {}
        op = _unb64(data.get("operation.json"))
        return cls(**{**doc, "parameters": _unb64(data.get("parameters.json")) or {},
                      "operation": Operation.of(op) if op else None,
                      "history": tuple(_unb64(data.get("history.json")) or ()),
                      "resource_version": str((secret.get("metadata") or {}).get("resourceVersion", ""))})


@dataclass(frozen=True)
class BindingRecord:
    """A binding's record: its servicebinding.io Secret's place and the workload it is projected into."""

    id: str
    instance_id: str
    service_id: str
    plan_id: str
    secret_name: str
    secret_namespace: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    bind_resource: Mapping[str, Any] = field(default_factory=dict)
    workload: str = ""          # KIND/NAME in the Secret's namespace, "" when not projected
    marketplace_binding: str = ""
    created: str = ""
    resource_version: str = ""

    @property
    def record_name(self) -> str:
        return binding_record_name(self.instance_id, self.id)

    def to_secret(self, namespace: str) -> dict[str, Any]:
        doc = {k: v for k, v in asdict(self).items() if k not in ("resource_version", "parameters")}
        meta: dict[str, Any] = {"name": self.record_name, "namespace": namespace,
                                "labels": {"app.kubernetes.io/managed-by": "chartkit", LABEL_RECORD: "service-binding",
                                           LABEL_INSTANCE: digest(self.instance_id)},
                                "annotations": {ANNOTATION_ID: self.id}}
        if self.resource_version:
            meta["resourceVersion"] = self.resource_version
        return {"apiVersion": "v1", "kind": "Secret", "type": "chartkit.io/service-binding", "metadata": meta,
                "data": {"binding.json": _b64(doc), "parameters.json": _b64(dict(self.parameters))}}

    @classmethod
    def of_secret(cls, secret: Mapping[str, Any]) -> BindingRecord:
        data = secret.get("data") or {}
        doc = _unb64(data.get("binding.json")) or {}
        return cls(**{**doc, "parameters": _unb64(data.get("parameters.json")) or {},
                      "resource_version": str((secret.get("metadata") or {}).get("resourceVersion", ""))})


@dataclass(frozen=True)
class Accepted:
    """What a request led to: ``started`` — a new operation to execute; ``operation`` None — nothing to do."""

    instance: ServiceInstance
    operation: Operation | None
    started: bool = False
    existed: bool = False          # provision: the identical instance exists already (OSB 200)
    needs_operation: bool = False  # dry_run: an operation would have been started (OSB 422 AsyncRequired)


def _b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value, sort_keys=True).encode()).decode()


def _unb64(value: str | None) -> Any:
    return json.loads(base64.b64decode(value)) if value else None


def instance_record_name(instance_id: str) -> str:
    return f"chartkit-si-{digest(instance_id)}"


def binding_record_name(instance_id: str, binding_id: str) -> str:
    return f"chartkit-sb-{digest(instance_id + chr(0) + binding_id)}"


class Stale(Exception):
    """A compare-and-swap lost: the record changed since it was read (or exists, for a create)."""


class RecordStore:
    """The records of one state namespace, read and written through the Kubernetes API."""

    def __init__(self, kube: Kube, namespace: str = STATE_NAMESPACE) -> None:
        self.kube = kube
        self.namespace = namespace
        self._ns_ready = False

    def _base(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/secrets"

    def ensure_namespace(self) -> None:
        if not self._ns_ready:
            if self.kube.get("v1", "Namespace", self.namespace, missing_ok=True) is None:
                self.kube.create_namespace(self.namespace, labels={"app.kubernetes.io/managed-by": "chartkit"})
            self._ns_ready = True

    def _write(self, obj: dict[str, Any], *, create: bool) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        try:
            if create:
                return self.kube.request("POST", self._base(), body=obj, what=f'create record "{name}"')
            return self.kube.request("PUT", f"{self._base()}/{name}", body=obj, what=f'update record "{name}"')
        except KubeError as exc:
            if exc.status == 409:  # AlreadyExists on create, a stale resourceVersion on update
                raise Stale(name) from exc
            if exc.status == 404 and not create:
                raise Stale(name) from exc
            raise

    # -- service instances ---------------------------------------------------------------------------------------

    def instance(self, instance_id: str) -> ServiceInstance | None:
        found = self.kube.get("v1", "Secret", instance_record_name(instance_id), self.namespace, missing_ok=True)
        return ServiceInstance.of_secret(found) if found else None

    def instance_of_release(self, release: str, namespace: str) -> ServiceInstance | None:
        found = self.kube.list("v1", "Secret", self.namespace, selector=f"{LABEL_RECORD}=service-instance,"
                               f"{LABEL_RELEASE}={release},{LABEL_RELEASE_NAMESPACE}={namespace}")
        records = [ServiceInstance.of_secret(s) for s in found]
        live = [r for r in records if not r.deprovisioned]
        return (live or records or [None])[0]

    def instances(self, *, in_progress: bool = False) -> list[ServiceInstance]:
        selector = f"{LABEL_RECORD}=service-instance" + (f",{LABEL_STATE}=in-progress" if in_progress else "")
        return [ServiceInstance.of_secret(s) for s in self.kube.list("v1", "Secret", self.namespace, selector=selector)]

    def create(self, record: ServiceInstance) -> ServiceInstance:
        """Claim an id (create-only); raises Stale when the id is taken."""
        self.ensure_namespace()
        return ServiceInstance.of_secret(self._write(replace(record, resource_version="").to_secret(self.namespace),
                                                     create=True))

    def save(self, record: ServiceInstance) -> ServiceInstance:
        """Write the record back if nobody changed it since it was read; raises Stale otherwise."""
        return ServiceInstance.of_secret(self._write(record.to_secret(self.namespace), create=False))

    def delete(self, name: str, resource_version: str = "") -> None:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        try:
            self.kube.request("DELETE", f"{self._base()}/{name}", body=body, what=f'delete record "{name}"')
        except KubeError as exc:
            if exc.status == 409:
                raise Stale(name) from exc
            if exc.status != 404:
                raise

    # -- bindings ------------------------------------------------------------------------------------------------

    def binding(self, instance_id: str, binding_id: str) -> BindingRecord | None:
        found = self.kube.get("v1", "Secret", binding_record_name(instance_id, binding_id), self.namespace,
                              missing_ok=True)
        return BindingRecord.of_secret(found) if found else None

    def bindings_of(self, instance_id: str) -> list[BindingRecord]:
        found = self.kube.list("v1", "Secret", self.namespace,
                               selector=f"{LABEL_RECORD}=service-binding,{LABEL_INSTANCE}={digest(instance_id)}")
        return [BindingRecord.of_secret(s) for s in found]

    def create_binding(self, record: BindingRecord) -> BindingRecord:
        self.ensure_namespace()
        return BindingRecord.of_secret(self._write(record.to_secret(self.namespace), create=True))

    def save_binding(self, record: BindingRecord) -> BindingRecord:
        return BindingRecord.of_secret(self._write(record.to_secret(self.namespace), create=False))


# -- holders: who runs an operation, alive while its Lease is renewed -------------------------------------------------

_HOLDER_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class LeaseTiming:
    duration: float = 15.0   # a holder not renewed for this long is gone
    renew: float = 5.0       # how often a live holder renews


class Holder:
    """This process as the runner of operations: a Lease renewed by a daemon thread until ``stop()``."""

    def __init__(self, kube: Kube, namespace: str = STATE_NAMESPACE, *, role: str = "chartkit",
                 timing: LeaseTiming = LeaseTiming()) -> None:
        host = _HOLDER_NAME.sub("-", socket.gethostname().lower()).strip("-")[:30] or "host"
        self.identity = f"{role}-{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.kube, self.namespace, self.timing = kube, namespace, timing
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease_name(self) -> str:
        return f"chartkit-holder-{self.identity}"

    def _lease(self) -> dict[str, Any]:
        stamp = now()
        return {"apiVersion": LEASE_API, "kind": "Lease",
                "metadata": {"name": self.lease_name, "namespace": self.namespace,
                             "labels": {"app.kubernetes.io/managed-by": "chartkit", LABEL_RECORD: "holder"}},
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": max(1, round(self.timing.duration)),
                         "renewTime": stamp}}

    def renew(self) -> None:
        self.kube.apply([self._lease()], self.namespace, field_manager="chartkit-holder")

    def start(self) -> Holder:
        RecordStore(self.kube, self.namespace).ensure_namespace()
        self.renew()
        self._thread = threading.Thread(target=self._beat, name=f"lease {self.identity}", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.timing.renew):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; expiry is what others judge
                log.warning("could not renew lease %s: %s", self.lease_name, exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.timing.renew + 1)
        try:
            self.kube.delete(LEASE_API, "Lease", self.lease_name, self.namespace)
        except KubeError as exc:
            log.info("lease %s not removed: %s", self.lease_name, exc)

    def __enter__(self) -> Holder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def holder_alive(kube: Kube, identity: str, namespace: str = STATE_NAMESPACE) -> bool:
    """Whether the process ``identity`` still renews its Lease."""
    if not identity:
        return False
    lease = kube.get(LEASE_API, "Lease", f"chartkit-holder-{identity}", namespace, missing_ok=True)
    if lease is None:
        return False
    spec = lease.get("spec") or {}
    renewed = _parse_time(str(spec.get("renewTime") or ""))
    return renewed + float(spec.get("leaseDurationSeconds") or 0) >= time.time()


def sweep_holders(kube: Kube, namespace: str = STATE_NAMESPACE) -> Iterator[str]:
    """Delete the Leases of holders long gone (ten durations); yields their identities."""
    for lease in kube.list(LEASE_API, "Lease", namespace, selector=f"{LABEL_RECORD}=holder"):
        spec = lease.get("spec") or {}
        renewed = _parse_time(str(spec.get("renewTime") or ""))
        if renewed + 10 * float(spec.get("leaseDurationSeconds") or 15) < time.time():
            kube.delete(LEASE_API, "Lease", lease["metadata"]["name"], namespace)
            yield str(spec.get("holderIdentity") or "")
