"""An instance: the newest revision of a Helm release made from a catalog type, read from release metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from toolkit.adapters.releases import HELM_LABELS, ReleaseRecord
from toolkit.deploy.origin import LABEL_TYPE, ORIGIN_LABELS, origin_from_labels

__all__ = ["PENDING", "Instance", "instances_from_records", "serving_revision"]

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


@dataclass(frozen=True)
class Instance:
    """One instance: the newest revision of a Helm release made from a catalog type."""

    name: str
    namespace: str
    revision: int
    status: str
    updated: str
    type: str
    version: str
    digest: str
    catalog_id: str
    labels: Mapping[str, str] | None = None  # the revision's release labels (policy, plan, ... live there too)

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    @property
    def carried_labels(self) -> dict[str, str]:
        """Release labels an upgrade keeps (policy, plan...): neither helm's own nor the origin's, which change."""
        return {k: v for k, v in (self.labels or {}).items() if k not in HELM_LABELS and k not in ORIGIN_LABELS}

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "revision": self.revision, "status": self.status,
                "updated": self.updated, "type": self.type, "version": self.version, "digest": self.digest,
                "catalog": self.catalog_id}

    @classmethod
    def of(cls, record: ReleaseRecord) -> Instance | None:
        origin = origin_from_labels(record.labels)
        if origin is None:
            return None
        type_name, version, digest, cat = origin
        return cls(name=record.name, namespace=record.namespace, revision=record.revision, status=record.status,
                   updated=record.updated, type=type_name, version=version, digest=digest, catalog_id=cat,
                   labels=dict(record.labels))


def instances_from_records(records: Iterable[ReleaseRecord]) -> list[Instance]:
    """Instances from release records (helm's storage labels + ours); the newest revision of each release wins."""
    newest: dict[tuple[str, str], ReleaseRecord] = {}
    for record in records:
        if LABEL_TYPE not in record.labels:
            continue
        key = (record.namespace, record.name)
        if key not in newest or record.revision > newest[key].revision:
            newest[key] = record
    found = [inst for record in newest.values() if (inst := Instance.of(record)) is not None]
    return sorted(found, key=lambda i: (i.namespace, i.name))


def serving_revision(history: Sequence[Mapping[str, Any]] | Sequence[ReleaseRecord]) -> int | None:
    """The revision whose values an upgrade builds on: the deployed one, not a failed attempt after it."""
    rows = [(r.revision, r.status) if isinstance(r, ReleaseRecord) else (int(r["revision"]), str(r.get("status")))
            for r in history]
    for wanted in ("deployed", "superseded"):
        found = max((rev for rev, status in rows if status == wanted), default=None)
        if found is not None:
            return found
    return None
