"""Helm's release storage, read through the Kubernetes API: the only code that knows its format.

helm keeps one Secret per revision, ``sh.helm.release.v1.<name>.v<revision>``, labelled ``owner=helm``,
``name``, ``status``, ``version`` (the revision), ``createdAt``/``modifiedAt`` (epoch seconds) plus the labels
``helm --labels`` added; its ``data.release`` is base64 (the API's) of base64 of gzipped JSON. Listing revisions
asks only for metadata (a PartialObjectMetadataList), so ``chartkit instances`` never downloads manifests;
``release()`` reads and decodes one revision when its values, manifest or description are needed.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from toolkit.errors import ClusterError

if TYPE_CHECKING:
    from toolkit.adapters.kube import Kube

__all__ = ["HELM_LABELS", "ReleaseRecord", "ReleaseStore", "decode_release", "secret_name"]

#: labels helm itself puts on its release Secrets (the rest came from `helm --labels`)
HELM_LABELS = frozenset({"owner", "name", "status", "version", "createdAt", "modifiedAt"})


def secret_name(release: str, revision: int) -> str:
    return f"sh.helm.release.v1.{release}.v{revision}"


def decode_release(secret: Mapping[str, Any]) -> dict[str, Any] | None:
    """helm's release record from its storage Secret, or None when unreadable."""
    raw = (secret.get("data") or {}).get("release")
    if not raw:
        return None
    try:
        data = base64.b64decode(base64.b64decode(raw))
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return json.loads(data)
    except (ValueError, OSError):
        return None


@dataclass(frozen=True)
class ReleaseRecord:
    """One revision of a release, from its storage Secret's metadata."""

    name: str
    namespace: str
    revision: int
    status: str
    labels: Mapping[str, str] = field(default_factory=dict)  # every label, helm's and ours
    created: str = ""

    @property
    def updated(self) -> str:
        """When this revision last changed (UTC, ISO 8601)."""
        stamp = self.labels.get("modifiedAt") or self.labels.get("createdAt")
        if stamp and stamp.isdigit():
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(stamp)))
        return self.created

    @property
    def user_labels(self) -> dict[str, str]:
        """The labels `helm --labels` added (chartkit's tracking labels among them)."""
        return {k: v for k, v in self.labels.items() if k not in HELM_LABELS}

    @classmethod
    def of(cls, secret: Mapping[str, Any]) -> ReleaseRecord:
        meta = secret.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        version = labels.get("version", "0")
        return cls(name=labels.get("name", ""), namespace=meta.get("namespace", ""),
                   revision=int(version) if version.isdigit() else 0, status=labels.get("status", ""),
                   labels=labels, created=str(meta.get("creationTimestamp", "")))


class ReleaseStore:
    """helm's release Secrets in one cluster."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def records(self, *, namespace: str | None = None, name: str | None = None,
                selector: str | None = None) -> list[ReleaseRecord]:
        """Every revision (metadata only) in a namespace (None: all), of one release or matching ``selector``."""
        parts = ["owner=helm"] + ([f"name={name}"] if name else []) + ([selector] if selector else [])
        found = self.kube.list("v1", "Secret", namespace, selector=",".join(parts), metadata_only=True)
        return sorted((ReleaseRecord.of(s) for s in found), key=lambda r: (r.namespace, r.name, r.revision))

    def with_releases(self, *, namespace: str, name: str) -> list[tuple[ReleaseRecord, dict[str, Any]]]:
        """Every revision of one release with its decoded record, in one list request (oldest first)."""
        found = self.kube.list("v1", "Secret", namespace, selector=f"owner=helm,name={name}")
        pairs = [(ReleaseRecord.of(s), decode_release(s) or {}) for s in found]
        return sorted(pairs, key=lambda pair: pair[0].revision)

    def release(self, name: str, namespace: str, revision: int) -> dict[str, Any]:
        """One revision's full record (config = the user's values, manifest, info, chart metadata)."""
        secret = self.kube.get("v1", "Secret", secret_name(name, revision), namespace, missing_ok=True)
        decoded = decode_release(secret) if secret else None
        if decoded is None:
            raise ClusterError(f'unable to read release "{namespace}/{name}" revision {revision}: '
                               + ("its storage Secret is gone" if secret is None else "its record is unreadable"),
                               hint=f"`helm history {name} -n {namespace}` shows what helm has")
        return decoded

    def values(self, name: str, namespace: str, revision: int) -> dict[str, Any]:
        """The user-supplied values of one revision (what `helm get values --revision` prints)."""
        return dict(self.release(name, namespace, revision).get("config") or {})

    def manifest(self, name: str, namespace: str, revision: int) -> str:
        return str(self.release(name, namespace, revision).get("manifest") or "")

    def set_labels(self, name: str, namespace: str, revision: int, labels: Mapping[str, str | None]) -> None:
        """Change release labels of one revision in place (None removes one); helm reads them back as the
        release's labels, and chartkit's upgrades carry them on. helm's own labels cannot be changed here."""
        own = sorted(set(labels) & HELM_LABELS)
        if own:
            raise ClusterError(f'unable to label release "{namespace}/{name}": {", ".join(own)} belong to helm')
        self.kube.patch("v1", "Secret", secret_name(name, revision), namespace,
                        {"metadata": {"labels": dict(labels)}}, patch_type="merge", field_manager="chartkit")
