"""Drift: what changed in an instance's live objects behind the chart's back, who changed it, and when.

For every object of the release manifest chartkit asks the API server for a *server-side apply dry run* with
Helm's field manager (``helm``, forced): the answer is the object as Helm would leave it now, with the server's
defaults applied exactly as they are on the live object. Comparing that answer with the live object (pure code
below, plain dicts) gives:

* changed fields — a field the chart sets (owned by ``helm`` in the dry-run's managedFields) whose live value
  differs; *who* and *when* come from the live object's managedFields entry that owns the field now;
* extra fields — fields another manager added that the chart does not set (an env var added by ``kubectl edit``);
* missing objects (deleted) and extra objects (labelled as the instance's but absent from the manifest).

Fields that controllers manage legitimately are not drift: a manager in ``CONTROLLER_MANAGERS`` (the HPA lives
in kube-controller-manager and scales through ``spec.replicas``) and ``status`` subresource writes are skipped.
A change to a field that renders a *locked* parameter is a compliance violation. A Secret's values (``data``,
``stringData``) are never kept in a change: drift says which key changed, who changed it and when.

Exit codes for pipelines (``chartkit drift``): 0 clean, 3 drift, 4 compliance violation.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from toolkit.deploy.values import coalesce, locked_parameters
from toolkit.objects import ObjectKey, parse_manifest

if TYPE_CHECKING:
    from toolkit.adapters.helm import Helm

__all__ = [
    "CONTROLLER_MANAGERS",
    "Change",
    "ChangeKind",
    "DriftReport",
    "ExitCode",
    "HIDDEN",
    "diff_object",
    "field_paths",
    "hide_secret_values",
    "lookup",
    "pretty_path",
]

HELM_MANAGER = "helm"

#: field managers whose writes are the cluster doing its job, not drift
CONTROLLER_MANAGERS = frozenset({
    "kube-controller-manager",  # includes the HPA controller (spec.replicas through the scale subresource)
    "kube-scheduler",
    "kubelet",
    "kwok",
    "horizontal-pod-autoscaler",
    "vpa-updater",
    "before-first-apply",
})

FPath = tuple[str, ...]  # fieldsV1 keys from the root: ("f:spec", "k:{\"name\":\"app\"}", ...)
_MISSING = object()


class ExitCode(enum.IntEnum):
    CLEAN = 0
    DRIFT = 3
    VIOLATION = 4


class ChangeKind(str, enum.Enum):
    CHANGED = "changed"          # a field the chart sets has another value
    REMOVED = "removed"          # a field the chart sets is gone
    ADDED = "added"              # a field the chart does not set was added by someone
    MISSING_OBJECT = "missing"   # an object of the manifest is gone
    EXTRA_OBJECT = "extra"       # an object labelled as the instance's is not in the manifest
    UNAPPLIABLE = "unappliable"  # Helm could not re-apply it now (e.g. an immutable field was changed)


@dataclass(frozen=True)
class Change:
    object: ObjectKey
    kind: ChangeKind
    field: str = ""
    old: Any = None          # what the chart wants (None for added fields)
    new: Any = None          # what is live (None for removed fields / missing objects)
    manager: str = ""
    time: str = ""
    violation: bool = False  # the field renders a locked parameter
    hidden: bool = False     # a Secret's value: old and new are never kept, printed or serialised

    def to_json(self) -> dict[str, Any]:
        return {"object": str(self.object), "kind": self.object.kind, "name": self.object.name,
                "namespace": self.object.namespace, "change": self.kind.value, "field": self.field,
                "old": self.old, "new": self.new, "manager": self.manager, "time": self.time,
                "violation": self.violation, "hidden": self.hidden}

    def line(self) -> str:
        who = f" by {self.manager or 'unknown'}" + (f" at {self.time}" if self.time else "")
        flag = " [COMPLIANCE VIOLATION: locked parameter]" if self.violation else ""
        if self.kind is ChangeKind.MISSING_OBJECT:
            return f"{self.object}: deleted (the chart creates it){flag}"
        if self.kind is ChangeKind.EXTRA_OBJECT:
            return f"{self.object}: not in the chart{who}"
        if self.kind is ChangeKind.UNAPPLIABLE:
            return f"{self.object}: the chart can no longer be applied to it: {self.new}"
        if self.hidden:
            return f"{self.object} {self.field}: {self.kind.value} (a Secret value, not shown){who}{flag}"
        old, new = _show(self.old), _show(self.new)
        return f"{self.object} {self.field}: {self.kind.value} {old} -> {new}{who}{flag}"


#: what a change to a Secret's data shows instead of the values, which are credentials
HIDDEN = "(hidden: Secret data)"


def hide_secret_values(change: Change) -> Change:
    """A change to a Secret's ``data``/``stringData`` says which key changed and who changed it, never the values."""
    if change.object.kind != "Secret" or change.field.split(".", 1)[0] not in ("data", "stringData"):
        return change
    return replace(change, old=None if change.old is None else HIDDEN, new=None if change.new is None else HIDDEN)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class DriftReport:
    instance: str
    namespace: str
    changes: tuple[Change, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        if any(c.violation for c in self.changes):
            return ExitCode.VIOLATION
        return ExitCode.DRIFT if self.changes else ExitCode.CLEAN

    def to_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "namespace": self.namespace, "drift": bool(self.changes),
                "violation": self.exit_code is ExitCode.VIOLATION, "changes": [c.to_json() for c in self.changes]}


# -- managedFields --------------------------------------------------------------------------------------------

def field_paths(fields_v1: Mapping[str, Any], prefix: FPath = ()) -> set[FPath]:
    """Every path a fieldsV1 set names: leaves, and members marked with ``"."`` (map or list item itself)."""
    found: set[FPath] = set()
    for key, sub in fields_v1.items():
        if key == ".":
            found.add(prefix)
            continue
        path = (*prefix, key)
        if not sub:
            found.add(path)
        else:
            found |= field_paths(sub, path)
    return found


def _is_leaf(paths: set[FPath], path: FPath) -> bool:
    """True when no other path in the set lies under ``path`` (compare its whole value)."""
    n = len(path)
    return not any(len(p) > n and p[:n] == path for p in paths)


def lookup(obj: Any, path: FPath) -> Any:
    """The value at a fieldsV1 path of a plain object, or ``_MISSING``."""
    node = obj
    for part in path:
        kind, _, raw = part.partition(":")
        if kind == "f":
            if not isinstance(node, Mapping) or raw not in node:
                return _MISSING
            node = node[raw]
        elif kind == "k":
            keys = json.loads(raw)
            if not isinstance(node, list):
                return _MISSING
            node = next((item for item in node if isinstance(item, Mapping)
                         and all(_same(item.get(k), v) for k, v in keys.items())), _MISSING)
            if node is _MISSING:
                return _MISSING
        elif kind == "v":
            value = json.loads(raw)
            if not isinstance(node, list) or value not in node:
                return _MISSING
            node = value
        elif kind == "i":
            index = int(raw)
            if not isinstance(node, list) or index >= len(node):
                return _MISSING
            node = node[index]
        else:
            return _MISSING
    return node


def _same(a: Any, b: Any) -> bool:
    # list keys like containerPort are ints in JSON and in objects; protocol defaults are strings
    return a == b or str(a) == str(b)


def pretty_path(path: FPath) -> str:
    """``("f:spec", 'k:{"name":"app"}', "f:image")`` → ``spec[name=app].image``."""
    text = ""
    for part in path:
        kind, _, raw = part.partition(":")
        if kind == "f":
            text += ("." if text else "") + raw
        elif kind == "k":
            keys = json.loads(raw)
            text += "[" + ",".join(f"{k}={v}" for k, v in keys.items()) + "]"
        elif kind == "v":
            text += f"[={raw}]"
        elif kind == "i":
            text += f"[{raw}]"
    return text


def concrete_path(obj: Any, path: FPath) -> tuple[str | int, ...] | None:
    """The fieldsV1 path as plain keys and list indices into ``obj`` (to match paths found by walking)."""
    out: list[str | int] = []
    node = obj
    for part in path:
        kind, _, raw = part.partition(":")
        if kind == "f" and isinstance(node, Mapping) and raw in node:
            out.append(raw)
            node = node[raw]
        elif kind in ("k", "v", "i") and isinstance(node, list):
            target = lookup(node, (part,))
            if target is _MISSING:
                return None
            index = next(i for i, item in enumerate(node) if item is target or item == target)
            out.append(index)
            node = node[index]
        else:
            return None
    return tuple(out)


def _entries(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def _owner(live: Mapping[str, Any], path: FPath) -> tuple[str, str]:
    """(manager, time) of the entry that owns ``path`` (or its nearest owned ancestor) on the live object."""
    best: tuple[int, str, str] | None = None
    for entry in _entries(live):
        if entry.get("subresource") == "status":
            continue
        owned = field_paths(entry.get("fieldsV1") or {})
        for n in range(len(path), 0, -1):
            if path[:n] in owned:
                if best is None or n > best[0] or (n == best[0] and entry.get("manager") != HELM_MANAGER):
                    best = (n, entry.get("manager", ""), entry.get("time", ""))
                break
    return (best[1], best[2]) if best else ("", "")


def diff_object(desired: Mapping[str, Any], live: Mapping[str, Any], *, key: ObjectKey | None = None,
                locked: Iterable[tuple[str | int, ...]] = ()) -> list[Change]:
    """Changes between Helm's dry-run apply result (``desired``) and the ``live`` object.

    ``locked`` lists concrete paths (keys and indices into ``desired``) that render locked parameters.
    """
    key = key or ObjectKey.of(desired)
    locked_set = set(locked)
    helm_entry = next((e for e in _entries(desired)
                       if e.get("manager") == HELM_MANAGER and e.get("operation") == "Apply"), None)
    if helm_entry is None:
        helm_entry = next((e for e in _entries(desired) if e.get("manager") == HELM_MANAGER), {})
    helm_paths = field_paths(helm_entry.get("fieldsV1") or {})
    changes: list[Change] = []
    reported: list[FPath] = []

    def under_reported(path: FPath) -> bool:
        return any(path[:len(p)] == p for p in reported)

    for path in sorted(helm_paths, key=lambda p: (len(p), p)):
        if not path or path[0] == "f:status" or under_reported(path):
            continue
        want, have = lookup(desired, path), lookup(live, path)
        if have is _MISSING and want is not _MISSING:
            manager, when = _owner(live, path[:-1])
            changes.append(_change(key, ChangeKind.REMOVED, path, want, None, manager, when, desired, locked_set))
            reported.append(path)
        elif _is_leaf(helm_paths, path) and want is not _MISSING and want != have:
            manager, when = _owner(live, path)
            if manager in CONTROLLER_MANAGERS:
                continue
            changes.append(_change(key, ChangeKind.CHANGED, path, want, have, manager, when, desired, locked_set))
            reported.append(path)

    for entry in _entries(live):
        manager = entry.get("manager", "")
        if manager == HELM_MANAGER or manager in CONTROLLER_MANAGERS or entry.get("subresource") == "status":
            continue
        owned = field_paths(entry.get("fieldsV1") or {})
        for path in sorted(owned, key=lambda p: (len(p), p)):
            if not path or path[0] == "f:status" or path in helm_paths or under_reported(path):
                continue
            if any(h[:len(path)] == path for h in helm_paths):
                continue  # a container of fields the chart sets (e.g. f:env itself): look deeper
            have = lookup(live, path)
            if have is _MISSING:
                continue
            hidden = _secret_value(key, path)
            changes.append(Change(key, ChangeKind.ADDED, pretty_path(path), None, None if hidden else have,
                                  manager, entry.get("time", ""), False, hidden))
            reported.append(path)
    return changes


def _change(key: ObjectKey, kind: ChangeKind, path: FPath, old: Any, new: Any, manager: str, when: str,
            desired: Mapping[str, Any], locked: set[tuple[str | int, ...]]) -> Change:
    concrete = concrete_path(desired, path)
    violation = concrete is not None and any(concrete[:len(lp)] == lp or lp[:len(concrete)] == concrete
                                             for lp in locked)
    if _secret_value(key, path):
        return Change(key, kind, pretty_path(path), None, None, manager, when, violation, hidden=True)
    return Change(key, kind, pretty_path(path), old, new, manager, when, violation)


#: where a Secret keeps its values: drift names the key, who changed it and when, never the value (raw or base64)
_SECRET_VALUE_FIELDS = frozenset({"f:data", "f:stringData"})


def _secret_value(key: ObjectKey, path: FPath) -> bool:
    return key.kind == "Secret" and (not path or path[0] in _SECRET_VALUE_FIELDS)


def find_values(obj: Any, sentinels: Mapping[Any, str], path: tuple[str | int, ...] = ()) -> dict[tuple, str]:
    """Concrete paths in a rendered object whose value is (or, for strings, contains) a sentinel → parameter."""
    found: dict[tuple, str] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            found.update(find_values(v, sentinels, (*path, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found.update(find_values(v, sentinels, (*path, i)))
    else:
        for sentinel, param in sentinels.items():
            if (obj == sentinel and type(obj) is type(sentinel)) or (isinstance(obj, str) and str(sentinel) in obj):
                found[path] = param
    return found


def missing_and_extra(manifest: Sequence[ObjectKey], live: Sequence[ObjectKey],
                      labelled: Sequence[Mapping[str, Any]]) -> list[Change]:
    """Objects of the manifest that are gone, and instance-labelled objects the manifest does not have."""
    have = {(k.kind, k.namespace, k.name) for k in live}
    want = {(k.kind, k.namespace, k.name) for k in manifest}
    changes = [Change(k, ChangeKind.MISSING_OBJECT) for k in manifest if (k.kind, k.namespace, k.name) not in have]
    for obj in labelled:
        meta = obj.get("metadata") or {}
        k = ObjectKey.of(obj)
        if (k.kind, k.namespace, k.name) in want or meta.get("ownerReferences") or k.kind in _DERIVED_KINDS:
            continue
        entries = [e for e in meta.get("managedFields") or [] if e.get("operation") in ("Apply", "Update")]
        first = min(entries, key=lambda e: e.get("time", ""), default={})
        changes.append(Change(k, ChangeKind.EXTRA_OBJECT, manager=first.get("manager", ""),
                              time=first.get("time", "")))
    return changes


#: kinds the cluster derives from the instance's objects (they carry its labels but are not drift)
_DERIVED_KINDS = frozenset({"Endpoints", "EndpointSlice", "Event", "ReplicaSet", "Pod", "ControllerRevision",
                            "Lease", "PodMetrics"})


# -- which fields render a locked parameter (one helm render) ----------------------------------------------------

def _sentinel(index: int, default: Any) -> Any:
    if isinstance(default, bool) or default is None or isinstance(default, (dict, list)):
        return None  # cannot be told apart in a rendering; such a lock is enforced by the schema only
    if isinstance(default, (int, float)):
        return 900_000_000 + index
    return f"chartkit-lock-probe-{index}-"  # the trailing dash: probe 1 is no substring of probe 12


def _leaves(value: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """Scalar leaves under a locked map (each is probed on its own; lists stay whole)."""
    if isinstance(value, Mapping):
        return [leaf for key, sub in value.items() for leaf in _leaves(sub, (*path, str(key)))]
    return [(path, value)]


def locked_fields(helm: Helm, package: Path, *, release: str, namespace: str, schema: Mapping[str, Any] | None,
                  defaults: Mapping[str, Any], values: Mapping[str, Any]) -> dict[tuple[str, str], list[tuple]]:
    """Which object fields render a locked parameter: render once with a distinct probe value per lock."""
    found = parameter_fields(helm, package, release=release, namespace=namespace, values=values,
                             leaves=locked_leaves(schema, defaults))
    return {key: list(paths) for key, paths in found.items()}


def locked_leaves(schema: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    """The scalar leaves of every locked parameter with the value each is locked to."""
    if not schema:
        return []
    return [leaf for lock in locked_parameters(schema, defaults) for leaf in _leaves(lock.value, lock.path)]


def parameter_leaves(defaults: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    """Every scalar parameter of a type's defaults (lists stay whole), for ``parameter_fields``."""
    return _leaves(defaults, ())


def probe_render(helm: Helm, package: Path, *, release: str, namespace: str, values: Mapping[str, Any],
                 leaves: Sequence[tuple[tuple[str, ...], Any]]) -> tuple[list[dict[str, Any]], dict[Any, str]]:
    """Render once with a distinct probe value per parameter leaf: (rendered objects, probe value → parameter).
    Booleans, nulls and structures cannot be told apart in a rendering and get no probe."""
    probes: dict[Any, str] = {}
    probe_values: dict[str, Any] = {}
    for index, (path, value) in enumerate(leaves):
        sentinel = _sentinel(index, value)
        if sentinel is None or not path:
            continue
        node = probe_values
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = sentinel
            probes[sentinel] = ".".join(path)
    if not probes:
        return [], {}
    text = helm.template(package, release=release, namespace=namespace, values=coalesce(values, probe_values),
                         skip_schema_validation=True)
    return parse_manifest(text), probes


def parameter_fields(helm: Helm, package: Path, *, release: str, namespace: str, values: Mapping[str, Any],
                     leaves: Sequence[tuple[tuple[str, ...], Any]]) -> dict[tuple[str, str], dict[tuple, str]]:
    """Which object fields render which parameter: (kind, name) → {concrete path: dotted parameter}."""
    objects, probes = probe_render(helm, package, release=release, namespace=namespace, values=values, leaves=leaves)
    found: dict[tuple[str, str], dict[tuple, str]] = {}
    for obj in objects:
        paths = find_values(obj, probes)
        if paths:
            found[(obj.get("kind", ""), (obj.get("metadata") or {}).get("name", ""))] = paths
    return found


def parameters_in(rendered: Any, live: Any, probes: Mapping[Any, str]) -> dict[str, Any] | None:
    """The parameter values a live field holds, read against its probe rendering: a field that is one probe is
    that parameter; a string built from several (``{{registry}}/{{repository}}:{{tag}}``) is matched piece by
    piece. None when the field renders no parameter or the live value does not fit the rendering."""
    import re

    if not isinstance(rendered, (str, int, float)) or isinstance(rendered, bool):
        return None
    if rendered in probes and type(rendered) is type(next(k for k in probes if k == rendered)):
        return {probes[rendered]: live}
    if not isinstance(rendered, str) or not isinstance(live, str):
        return None
    used = [p for p in probes if isinstance(p, str) and p in rendered]
    if not used:
        return None
    pattern, rest = "", rendered
    order = []
    while rest:
        hit = min(((rest.index(p), p) for p in used if p in rest), default=None)
        if hit is None:
            pattern += re.escape(rest)
            break
        pattern += re.escape(rest[:hit[0]]) + "(.*?)"
        order.append(probes[hit[1]])
        rest = rest[hit[0] + len(hit[1]):]
    match = re.fullmatch(pattern, live, re.S)
    return dict(zip(order, match.groups())) if match else None

def pretty_concrete(path: Sequence[str | int], obj: Any) -> str:
    """A concrete path (keys and indices) in ``pretty_path``'s words: list items with a name by their name."""
    text, node = "", obj
    for part in path:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            text += f"[name={item['name']}]" if isinstance(item, Mapping) and "name" in item else f"[{part}]"
            node = item
        else:
            text += ("." if text else "") + str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return text
