"""Drift: what changed in instances' live objects behind the chart's back, who changed it, and when.

See ``toolkit.deploy.drift`` for the comparison. This operation picks the targets (one instance, or every
instance with ``all_namespaces``), reads each release's manifest and the locked parameters' fields, asks the API
server for a forced server-side-apply dry run as Helm's field manager, and merges the exit codes (the worst wins:
0 clean, 3 drift, 4 compliance violation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from toolkit.config import Config
from toolkit.core.instances import InstancesOptions, instances
from toolkit.deploy.drift import HELM_MANAGER, Change, ChangeKind, DriftReport, ExitCode, diff_object, \
    hide_secret_values, locked_fields, missing_and_extra
from toolkit.deploy.fetch import fetch_digest
from toolkit.deploy.instance import Instance
from toolkit.deploy.origin import catalog_id
from toolkit.deploy.release import get_instance, releases
from toolkit.errors import ClusterError, InputError
from toolkit.objects import ObjectKey, parse_manifest

__all__ = ["DriftOptions", "DriftResult", "ExitCode", "Proposal", "drift", "instance_selector", "propose", "proposals"]


@dataclass(frozen=True, kw_only=True)
class DriftOptions:
    instance: str | None = None           # None with all_namespaces: every instance
    namespace: str = "default"
    all_namespaces: bool = False
    check_locks: bool = True


@dataclass(frozen=True)
class DriftResult:
    reports: list[DriftReport]
    single: bool                          # one instance was asked for (its report is the answer)

    @property
    def exit_code(self) -> ExitCode:
        return max((r.exit_code for r in self.reports), default=ExitCode.CLEAN)

    def to_json(self) -> Any:
        return self.reports[0].to_json() if self.single else [r.to_json() for r in self.reports]


def instance_selector(name: str) -> str:
    return f"app.kubernetes.io/instance={name}"


def drift(config: Config, options: DriftOptions) -> DriftResult:
    if options.all_namespaces:
        targets = instances(config, InstancesOptions())
    elif options.instance:
        targets = [get_instance(config, options.instance, options.namespace)]
    else:
        raise InputError("unable to check drift: give an instance name or -A (all namespaces)")
    return DriftResult([instance_drift(config, inst, check_locks=options.check_locks) for inst in targets],
                       single=not options.all_namespaces)


def instance_drift(config: Config, inst: Instance, *, check_locks: bool = True) -> DriftReport:
    """Compare one instance's live objects with its release manifest."""
    name, namespace = inst.name, inst.namespace
    store = releases(config)
    release = store.release(name, namespace, inst.revision)
    manifest = parse_manifest(str(release.get("manifest") or ""), f"release {namespace}/{name}")
    locked: dict[tuple[str, str], list[tuple]] = {}
    if check_locks and inst.digest and inst.catalog_id == catalog_id(config.catalog.url):
        fetched = fetch_digest(config.catalog, inst.type, inst.version, inst.digest)
        locked = locked_fields(config.helm(registry=False), fetched.package, release=name, namespace=namespace,
                               schema=fetched.schema, defaults=fetched.defaults,
                               values=dict(release.get("config") or {}))
    kube = config.kube()
    changes: list[Change] = []
    keys, live_keys = [], []
    for obj in manifest:
        key = ObjectKey.of(obj, namespace)
        keys.append(key)
        live = kube.get(obj["apiVersion"], obj["kind"], key.name, key.namespace or None, missing_ok=True)
        if live is None:
            continue
        live_keys.append(key)
        try:
            desired = kube.apply([obj], namespace, field_manager=HELM_MANAGER, force=True, dry_run=True)[0]
        except ClusterError as exc:
            changes.append(Change(key, ChangeKind.UNAPPLIABLE, new=exc.message))
            continue
        changes += [hide_secret_values(c)
                    for c in diff_object(desired, live, key=key, locked=locked.get((key.kind, key.name), ()))]
    labelled = kube.list_namespace_objects(namespace, selector=instance_selector(name))
    for change in missing_and_extra(keys, live_keys, labelled):
        if change.kind is ChangeKind.MISSING_OBJECT and (change.object.kind, change.object.name) in locked:
            change = Change(change.object, change.kind, violation=True)
        changes.append(change)
    return DriftReport(name, namespace, tuple(changes))


@dataclass(frozen=True)
class Proposal:
    """``drift --propose``: how to adopt what drifted deliberately — per drifted field, the parameter that renders
    it and its value (a values change, or for a locked parameter a new version's default), or a new parameter."""

    instance: str
    namespace: str
    type: str
    version: str
    values: dict[str, Any]                 # parameter → live value: `chartkit upgrade --set` adopts them
    defaults: dict[str, Any]               # locked parameter → live value: publish a version with these defaults
    new_parameters: list[dict[str, Any]]   # fields no parameter renders: add one (chartify overrides ``add:``)

    def to_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "namespace": self.namespace, "type": self.type, "version": self.version,
                "values": self.values, "defaults": self.defaults, "newParameters": self.new_parameters,
                "command": self.command}

    @property
    def command(self) -> str:
        if not self.values:
            return ""
        sets = " ".join(f"--set-string {k}={v}" if isinstance(v, str) else f"--set {k}={json.dumps(v)}"
                        for k, v in sorted(self.values.items()))
        return f"chartkit upgrade {self.instance} -n {self.namespace} {sets}"

    def lines(self) -> list[str]:
        out = []
        if self.values:
            out.append(f"values change (this instance keeps it): {self.command}")
        for key, value in sorted(self.defaults.items()):
            out.append(f"type change: {key} is locked; publish {self.type} > {self.version} with default "
                       f"{key}={json.dumps(value)} so the setting sticks and new instances get it")
        for item in self.new_parameters:
            out.append(f"type change: no parameter renders {item['object']} {item['field']} (now "
                       f"{json.dumps(item['value'])}); add one: overrides `add: [{{key: {item['suggestedKey']}, "
                       f"object: {item['objectRef']}, field: {item['fieldPath']}}}]`")
        return out or ["nothing drifted: nothing to propose"]


def propose(config: Config, inst: Instance, report: DriftReport) -> Proposal:
    """Map each drifted field back to the parameter that renders it (one probe render of every parameter)."""
    from toolkit.deploy.drift import parameter_leaves, parameters_in, pretty_concrete, probe_render
    from toolkit.deploy.values import coalesce, locked_parameters

    fetched = fetch_digest(config.catalog, inst.type, inst.version, inst.digest)
    record = releases(config).release(inst.name, inst.namespace, inst.revision)
    values = dict(record.get("config") or {})
    merged = coalesce(fetched.defaults, values)
    rendered, probes = probe_render(config.helm(registry=False), fetched.package, release=inst.name,
                                    namespace=inst.namespace, values=values, leaves=parameter_leaves(merged))
    by_object = {(o.get("kind"), (o.get("metadata") or {}).get("name")): o for o in rendered}
    locked = {lock.name for lock in locked_parameters(fetched.schema or {}, fetched.defaults)}
    adopt: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    new: list[dict[str, Any]] = []

    def current(parameter: str) -> Any:
        node: Any = merged
        for part in parameter.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return node

    for change in report.changes:
        if change.kind not in (ChangeKind.CHANGED, ChangeKind.ADDED):
            continue
        probe_obj = by_object.get((change.object.kind, change.object.name))
        found = None
        if probe_obj is not None and change.kind is ChangeKind.CHANGED:
            for path in _concrete_paths(probe_obj):
                if pretty_concrete(path, probe_obj) == change.field:
                    node: Any = probe_obj
                    for part in path:
                        node = node[part]
                    found = parameters_in(node, change.new, probes)
                    break
        if not found:
            key = change.field.split(".")[-1].split("[")[0]
            new.append({"object": str(change.object), "field": change.field, "value": change.new,
                        "objectRef": f"{change.object.kind}/{change.object.name}",
                        "fieldPath": change.field, "suggestedKey": key})
            continue
        for parameter, value in found.items():
            if str(current(parameter)) == str(value):
                continue  # this piece of a composite field did not change
            if any(parameter == lock or parameter.startswith(lock + ".") for lock in locked):
                defaults[parameter] = value
            else:
                adopt[parameter] = value
    return Proposal(inst.name, inst.namespace, inst.type, inst.version, adopt, defaults, new)


def proposals(config: Config, result: DriftResult) -> list[Proposal]:
    """A proposal per drifted instance of a drift result (``chartkit drift --propose``)."""
    out = []
    for report in result.reports:
        if report.changes:
            out.append(propose(config, get_instance(config, report.instance, report.namespace), report))
    return out


def _concrete_paths(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every scalar leaf's concrete path (keys and list indices) in a rendered object."""
    if isinstance(obj, Mapping):
        return [p for k, v in obj.items() for p in _concrete_paths(v, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _concrete_paths(v, (*path, i))]
    return [path]
