"""Plans to approve: ``chartkit plan INSTANCE --version V | --plan NAME`` and ``chartkit approve PLAN``.

``plan`` works out the exact change — the target version resolved to a digest, the instance's values with that
version's migrations and the type plan's values applied and checked against its schema, helm's server-side dry
run rendered and each object server-side-applied as a dry run (the API server's own defaults and admission) and
compared with the live object — and stores it in the cluster under its hash (a ConfigMap ``chartkit-plan-<hash>``
in the instance's namespace). ``approve`` applies exactly that, and refuses when anything it was computed from
changed since: the catalog's digest for the version, the instance's revision and values, or its live objects.
Manual-mode instances are upgraded by automation (``promote``, the watcher) only through approved plans.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from toolkit.catalog.index import resolve
from toolkit.config import Config
from toolkit.deploy.drift import HELM_MANAGER
from toolkit.deploy.fetch import fetch, fetch_digest
from toolkit.deploy.instance import Instance
from toolkit.deploy.migrate import declarations_of, migrate_values
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.release import (InstanceResult, ReleaseOptions, check_values, get_instance, refuse_other_catalog,
                                    refuse_pending, releases, run_release, serving_values)
from toolkit.deploy.values import ValuesInput, coalesce
from toolkit.errors import ClusterError, DeployError, InputError
from toolkit.objects import ObjectKey, parse_manifest

__all__ = ["ApproveOptions", "PlanOptions", "StoredPlan", "approve", "make_plan", "plan_of"]

LABEL_PLAN = "chartkit.io/plan"
_VOLATILE_META = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    instance: str
    namespace: str = "default"
    version: str | None = None            # None: keep the version (a plan change only); "latest": the newest
    plan: str | None = None               # a plan the type declares (its values are applied)
    values: ValuesInput = field(default_factory=ValuesInput)


@dataclass(frozen=True, kw_only=True)
class ApproveOptions:
    plan: str
    namespace: str = "default"
    timeout: str | None = None


@dataclass(frozen=True)
class StoredPlan:
    id: str
    instance: str
    namespace: str
    type: str
    from_version: str
    to_version: str
    digest: str                    # the target version's manifest digest
    revision: int                  # the instance's revision the plan builds on
    values: dict[str, Any]
    live: dict[str, str]           # object → hash of its live state (what approve re-checks)
    changes: list[dict[str, Any]]
    migrations: list[str] = field(default_factory=list)
    type_plan: str | None = None
    created: str = ""
    state: str = "proposed"        # proposed | applied

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "instance": self.instance, "namespace": self.namespace, "type": self.type,
                "from": self.from_version, "to": self.to_version, "digest": self.digest, "revision": self.revision,
                "values": self.values, "live": self.live, "changes": self.changes, "migrations": self.migrations,
                "plan": self.type_plan, "created": self.created, "state": self.state}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredPlan:
        return cls(data["id"], data["instance"], data["namespace"], data["type"], data["from"], data["to"],
                   data["digest"], int(data["revision"]), dict(data["values"]), dict(data["live"]),
                   list(data["changes"]), list(data.get("migrations") or []), data.get("plan"),
                   data.get("created", ""), data.get("state", "proposed"))

    def line(self) -> str:
        summary = ", ".join(f"{c['object']} {c['action']}" + (f" ({len(c['fields'])} fields)" if c.get("fields") else "")
                            for c in self.changes) or "no object changes"
        return (f"plan {self.id}: {self.namespace}/{self.instance} {self.type} {self.from_version} -> "
                f"{self.to_version}: {summary}; approve with `chartkit approve {self.id} -n {self.namespace}`")


def _strip(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_META}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != "deployment.kubernetes.io/revision"}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two plain values differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _paths(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _paths(x, y, f"{prefix}[{i}]")]
    return [] if a == b else [prefix or "(whole)"]


def _live_state(config: Config, inst: Instance) -> dict[str, str]:
    """Each object of the instance's release, as it lives now (status and bookkeeping left out), hashed."""
    kube = config.kube()
    manifest = parse_manifest(releases(config).manifest(inst.name, inst.namespace, inst.revision),
                              f"release {inst.namespace}/{inst.name}")
    out = {}
    for obj in manifest:
        key = ObjectKey.of(obj, inst.namespace)
        live = kube.get(obj["apiVersion"], obj["kind"], key.name, key.namespace or None, missing_ok=True)
        out[str(key)] = _hash(_strip(live)) if live else "absent"
    return out


def make_plan(config: Config, options: PlanOptions) -> StoredPlan:
    """Compute, dry-run and store the change; nothing on the instance changes."""
    inst = get_instance(config, options.instance, options.namespace)
    refuse_pending(inst)
    refuse_other_catalog(inst, config.catalog.url)
    if options.version is None and options.plan is None and not options.values:
        raise InputError(f'unable to plan a change of "{inst.namespace}/{inst.name}": give --version, --plan or values')
    version = inst.version if options.version is None else parse_type_ref(f"{inst.type}@{options.version}")[1]
    fetched = fetch(config.catalog, inst.type, version)
    values = serving_values(config, inst.name, inst.namespace)
    declarations = declarations_of(fetched.package)
    steps: list[str] = []
    if fetched.origin.version != inst.version:
        migrated = migrate_values(values, inst.version, declarations)
        values, steps = migrated.values, [s.line() for s in migrated.steps]
    if options.plan is not None:
        values = coalesce(values, dict(declarations.plan(options.plan).values))
    values = options.values.merged(values)
    check_values(fetched, values)
    helm = config.helm(registry=False)
    origin = fetched.origin
    record = helm.install_or_upgrade(inst.name, fetched.package, namespace=inst.namespace, values=values,
                                     labels={**inst.carried_labels, **origin.labels()}, wait=False,
                                     rollback_on_failure=False, dry_run=True, description=origin.description)
    kube = config.kube()
    new_objects = parse_manifest(str(record.get("manifest") or ""), f"plan for {inst.namespace}/{inst.name}")
    old_keys = {str(ObjectKey.of(o, inst.namespace)) for o in parse_manifest(
        releases(config).manifest(inst.name, inst.namespace, inst.revision))}
    changes: list[dict[str, Any]] = []
    for obj in new_objects:
        key = ObjectKey.of(obj, inst.namespace)
        live = kube.get(obj["apiVersion"], obj["kind"], key.name, key.namespace or None, missing_ok=True)
        if live is None:
            changes.append({"object": str(key), "action": "create", "fields": []})
            continue
        try:
            desired = kube.apply([obj], inst.namespace, field_manager=HELM_MANAGER, force=True, dry_run=True)[0]
        except ClusterError as exc:
            changes.append({"object": str(key), "action": "refused", "fields": [], "error": exc.message})
            continue
        fields = _paths(_strip(live), _strip(desired))
        if fields:
            changes.append({"object": str(key), "action": "change", "fields": fields})
    new_keys = {str(ObjectKey.of(o, inst.namespace)) for o in new_objects}
    changes += [{"object": k, "action": "delete", "fields": []} for k in sorted(old_keys - new_keys)]
    live = _live_state(config, inst)
    basis = {"instance": inst.name, "namespace": inst.namespace, "revision": inst.revision, "from": inst.digest,
             "to": origin.digest, "values": values, "live": live}
    plan = StoredPlan(_hash(basis)[:16], inst.name, inst.namespace, inst.type, inst.version, origin.version,
                      origin.digest, inst.revision, values, live, changes, steps, options.plan,
                      dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"chartkit-plan-{plan.id}", "namespace": inst.namespace,
                         "labels": {LABEL_PLAN: "true", "chartkit.io/instance": inst.name}},
            "data": {"plan.json": json.dumps(plan.to_json(), sort_keys=True)}}
    kube.apply([body], inst.namespace, field_manager="chartkit")
    return plan


def plan_of(config: Config, plan_id: str, namespace: str) -> tuple[StoredPlan, dict[str, Any]]:
    cm = config.kube().get("v1", "ConfigMap", f"chartkit-plan-{plan_id}", namespace, missing_ok=True)
    if cm is None:
        raise DeployError(f'unable to find plan "{plan_id}" in namespace "{namespace}"',
                          hint="`chartkit plan INSTANCE --version V` makes one; -n names the instance's namespace")
    return StoredPlan.from_json(json.loads((cm.get("data") or {}).get("plan.json") or "{}")), cm


def approve(config: Config, options: ApproveOptions) -> InstanceResult:
    """Apply a stored plan exactly; refused (naming what) when the catalog, the values or live objects changed."""
    plan, cm = plan_of(config, options.plan, options.namespace)
    where = f'plan "{plan.id}" for "{plan.namespace}/{plan.instance}"'
    if plan.state == "applied":
        raise DeployError(f"unable to approve {where}: it was applied already", hint="make a new plan")
    inst = get_instance(config, plan.instance, plan.namespace)
    refuse_pending(inst)
    changed = []
    if inst.revision != plan.revision:
        changed.append(f"the instance is at revision {inst.revision}, the plan was made at {plan.revision}")
    found = resolve(config.catalog, plan.type, plan.to_version)
    if found.digest != plan.digest:
        changed.append(f"{plan.type} {plan.to_version} is now {found.digest} in the catalog, the plan has {plan.digest}")
    live = _live_state(config, inst)
    moved = sorted(k for k in set(live) | set(plan.live) if live.get(k) != plan.live.get(k))
    if moved:
        changed.append(f"live objects changed since: {', '.join(moved)}")
    if changed:
        raise DeployError(f"unable to approve {where}: " + "; ".join(changed),
                          hint=f"make a new plan: `chartkit plan {plan.instance} -n {plan.namespace} "
                               f"--version {plan.to_version}`")
    fetched = fetch_digest(config.catalog, plan.type, plan.to_version, plan.digest)
    check_values(fetched, plan.values)
    release = ReleaseOptions(namespace=plan.namespace, timeout=options.timeout, labels=inst.carried_labels)
    result = run_release(config.helm(registry=False), plan.instance, fetched, plan.values, release, "upgrade")
    data = {**plan.to_json(), "state": "applied", "appliedRevision": result.revision}
    config.kube().replace({**cm, "data": {"plan.json": json.dumps(data, sort_keys=True)}}, field_manager="chartkit")
    return result
