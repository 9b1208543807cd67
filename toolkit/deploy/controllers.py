"""Fields a controller owns on an instance's live objects: upgrades leave them to it.

An HPA scales its workload through the scale subresource, as ``kube-controller-manager``; server-side apply then
records that manager as the owner of ``spec.replicas``. A chart that still renders ``replicas`` (every chart made
before chartify left replicas to the HPA, and many others) makes each later ``helm upgrade`` conflict on that
field, fail, and leave the release ``failed``; forcing it would fight the HPA. So before an upgrade chartkit reads
who owns what on the release's scalable objects and hands helm's post-renderer the controller-owned ``spec``
fields to leave out (``Helm.install_or_upgrade(leave_fields=...)``): helm neither conflicts with nor takes back
what the controller runs. Ownership comes from managedFields, with drift's list of controller managers.

A rollback cannot leave fields out (``helm rollback`` has no post-renderer) and restores a revision as it was:
when that revision sets a field a controller now owns, the rollback takes it back (``--force-conflicts``) and
says so; the controller adjusts it again (an HPA rescales within its bounds).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from toolkit.adapters.kube import Kube
from toolkit.deploy.drift import CONTROLLER_MANAGERS, field_paths

__all__ = ["SCALABLE_KINDS", "controller_fields", "owned_by_controllers", "taken_back_by"]

#: kinds with a scale subresource among the built-ins; a custom resource counts when an HPA of the release targets it
SCALABLE_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


def _scaled(objects: Sequence[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    hpa_targets = {(ref.get("kind"), ref.get("name")) for o in objects if o.get("kind") == "HorizontalPodAutoscaler"
                   for ref in [(o.get("spec") or {}).get("scaleTargetRef") or {}]}
    for obj in objects:
        name = (obj.get("metadata") or {}).get("name")
        if obj.get("kind") in SCALABLE_KINDS or (obj.get("kind"), name) in hpa_targets:
            yield obj


def owned_by_controllers(live: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The ``spec`` fields (as map keys) a controller manager owns on a live object, from its managedFields."""
    found: set[tuple[str, ...]] = set()
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") not in CONTROLLER_MANAGERS or entry.get("subresource") == "status":
            continue
        for path in field_paths(entry.get("fieldsV1") or {}):
            # plain map keys only (no list items): what a controller writes through a subresource
            if path and path[0] == "f:spec" and all(p.startswith("f:") for p in path):
                found.add(tuple(p[2:] for p in path))
    return sorted(found)


def controller_fields(kube: Kube, objects: Sequence[Mapping[str, Any]], namespace: str) -> tuple[str, ...]:
    """``Kind/namespace/name=spec.field`` for every controller-owned field of the release's scalable objects."""
    out: list[str] = []
    for obj in _scaled(objects):
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or namespace
        live = kube.get(str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("name")), ns, missing_ok=True)
        if live is None:
            continue
        out += [f"{obj['kind']}/{ns}/{meta['name']}={'.'.join(path)}" for path in owned_by_controllers(live)]
    return tuple(out)


def _sets(obj: Mapping[str, Any], path: Sequence[str]) -> bool:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def taken_back_by(kube: Kube, revision_objects: Sequence[Mapping[str, Any]], namespace: str) -> list[str]:
    """Controller-owned fields a revision's manifest sets (``Kind/ns/name=spec.replicas``): restoring it means
    taking them back from their controller."""
    taken = []
    by_ref = {(str(o.get("kind")), str((o.get("metadata") or {}).get("name"))): o for o in revision_objects}
    for field in controller_fields(kube, revision_objects, namespace):
        ref, _, path = field.partition("=")
        kind, _ns, name = ref.split("/", 2)
        obj = by_ref.get((kind, name))
        if obj is not None and _sets(obj, path.split(".")):
            taken.append(field)
    return taken
