"""Remove what a cluster adds to an object, so a live object and its manifest look the same.

kubectl-neat is the reference, but only fields the cluster *allocates or records* are removed; defaults the API
server filled in stay (the spec is kept as-is), because dropping a default could change behaviour on upgrade.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

from toolkit.chartify.model import copy_tree
from toolkit.chartify.read import SourceObject

__all__ = ["CleanResult", "clean_object", "clean_objects"]

log = logging.getLogger(__name__)

METADATA_DROP = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds")
ANNOTATIONS_DROP = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                    "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
                    "volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner",
                    "volume.kubernetes.io/selected-node", "meta.helm.sh/release-name",
                    "meta.helm.sh/release-namespace")
#: objects controllers make and own; the chart makes their owners instead
CONTROLLED_KINDS = {"ReplicaSet", "Pod", "EndpointSlice", "Endpoints", "ControllerRevision", "Event"}
SKIP_SECRET_TYPES = {"kubernetes.io/service-account-token", "helm.sh/release.v1"}
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"), "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"), "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class CleanResult:
    """Kept objects (cleaned copies) and why others were skipped (object id → reason)."""

    objects: list[SourceObject]
    skipped: dict[str, str]


def _skip_reason(obj: dict[str, Any]) -> str | None:
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    if kind in CONTROLLED_KINDS:
        return f"{kind} objects are made by controllers"
    if any(isinstance(ref, dict) and ref.get("controller") for ref in meta.get("ownerReferences") or ()):
        return "owned by a controller (ownerReferences)"
    if kind == "Secret" and obj.get("type") in SKIP_SECRET_TYPES:
        return f"Secret of type {obj.get('type')} is made by the cluster or helm"
    if kind == "ConfigMap" and meta.get("name") == "kube-root-ca.crt":
        return "kube-root-ca.crt is published into every namespace by the cluster"
    if kind == "ServiceAccount" and meta.get("name") == "default":
        return "the default ServiceAccount exists in every namespace"
    return None


def _clean_metadata(meta: dict[str, Any]) -> None:
    for key in METADATA_DROP:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        dropped = [k for k in ANNOTATIONS_DROP if k in annotations]
        for key in dropped:
            del annotations[key]
        if dropped and not annotations:
            del meta["annotations"]


def _clean_service(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("clusterIP") == "None":  # headless is a choice, not an allocation
        if spec.get("clusterIPs") == ["None"]:
            del spec["clusterIPs"]  # the server copies clusterIP into clusterIPs
    else:
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    if spec.get("type") != "NodePort":
        for port in spec.get("ports") or ():
            if isinstance(port, dict):
                port.pop("nodePort", None)
        spec.pop("healthCheckNodePort", None)


def clean_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Return a cleaned deep copy of ``obj`` (status and cluster-allocated fields removed)."""
    obj = copy_tree(obj)
    obj.pop("status", None)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        _clean_metadata(meta)
        meta.pop("ownerReferences", None)  # they name uids of this cluster; a chart cannot reproduce them
    kind = obj.get("kind")
    if kind == "Service":
        _clean_service(obj)
    elif kind == "PersistentVolumeClaim" and isinstance(obj.get("spec"), dict):
        obj["spec"].pop("volumeName", None)
    path = POD_TEMPLATE_PATHS.get(str(kind))
    if path:
        node: Any = obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("metadata"), dict):
            tmeta = node["metadata"]
            if tmeta.get("creationTimestamp") is None:
                tmeta.pop("creationTimestamp", None)  # kubectl prints `creationTimestamp: null` in templates
    return obj


def clean_objects(objects: Sequence[SourceObject]) -> CleanResult:
    """Clean every object and drop the ones the cluster or controllers make."""
    kept: list[SourceObject] = []
    skipped: dict[str, str] = {}
    for item in objects:
        reason = _skip_reason(item.obj)
        if reason:
            log.info("skipping %s from %s: %s", item.id, item.where, reason)
            skipped[item.id] = reason
            continue
        kept.append(SourceObject(clean_object(item.obj), item.origin, item.index))
    return CleanResult(kept, skipped)
