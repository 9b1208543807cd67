"""Drift: what changed in instances' live objects behind the chart's back, who changed it, and when.

See ``toolkit.deploy.drift`` for the comparison. This operation picks the targets (one instance, or every
instance with ``all_namespaces``), reads each release's manifest and the locked parameters' fields, asks the API
server for a forced server-side-apply dry run as Helm's field manager, and merges the exit codes (the worst wins:
0 clean, 3 drift, 4 compliance violation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

__all__ = ["DriftOptions", "DriftResult", "ExitCode", "drift", "instance_selector"]


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
