"""The catalog as services and plans: each type a service offering, each declared plan a plan.

What the broker's ``GET /v2/catalog`` and ``chartkit marketplace list`` show for the org's own types, read from
the registry: the newest release of every type, its ``values.schema.json`` (the parameters; a plan's locked
parameters appear as ``const`` + ``readOnly`` with the plan's value) and its ``chartkit.yaml`` (plans, bindable,
rotation). Ids are stable UUIDs derived from the catalog URL, the type and the plan, so every broker replica
and every restart offers the same ids. Reading costs ``1 + types`` registry requests plus one tag lookup per
type; packages come from the local cache by digest.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping

from toolkit.catalog.declarations import Plan, TypeDeclarations, declarations_of_package
from toolkit.config import Config
from toolkit.errors import ChartkitError, InputError, VersionConflictError

__all__ = ["BIND_PARAMETERS", "Offering", "OfferedPlan", "OfferingsCache", "find_offering", "offering_of_type",
           "offerings", "plan_id", "service_id"]

log = logging.getLogger(__name__)

_IDS = uuid.UUID("8f0c2f4e-6d0a-4c57-9a1e-5c1b7a0e9d31")  # the namespace chartkit's service and plan ids live in
#: the OSB spec's limit on each schema in the catalog
MAX_SCHEMA_BYTES = 64 * 1024

#: what a binding request may carry: where the binding Secret goes, and the workload it is projected into
BIND_PARAMETERS: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63,
                 "description": "the binding Secret's name and its directory under $SERVICE_BINDING_ROOT"},
        "namespace": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63,
                      "description": "the consumer's namespace (default: context.namespace, else the instance's)"},
        "workload": {"type": "string", "pattern": "^(Deployment|StatefulSet|CronJob)/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                     "description": "KIND/NAME of the consumer workload to project the binding into"},
    },
}


def service_id(catalog: str, type_name: str) -> str:
    return str(uuid.uuid5(_IDS, f"{catalog.rstrip('/')}/{type_name}"))


def plan_id(catalog: str, type_name: str, plan: str) -> str:
    return str(uuid.uuid5(_IDS, f"{catalog.rstrip('/')}/{type_name}#{plan}"))


@dataclass(frozen=True)
class OfferedPlan:
    id: str
    plan: Plan
    bindable: bool
    parameters_schema: Mapping[str, Any] | None


@dataclass(frozen=True)
class Offering:
    """One type as a service offering: its newest release, declarations and plans."""

    id: str
    type: str
    version: str
    description: str
    declarations: TypeDeclarations
    plans: tuple[OfferedPlan, ...]
    app_version: str = ""
    tags: tuple[str, ...] = field(default=())
    digest: str = ""   # the version's manifest digest: provisioning pulls exactly it, from the local cache
    def plan(self, plan_ref: str | None) -> OfferedPlan:
        """A plan by id or name (None: the default plan)."""
        if plan_ref is None:
            name = self.declarations.plan(None).name
            return next(p for p in self.plans if p.plan.name == name)
        found = next((p for p in self.plans if plan_ref in (p.id, p.plan.name)), None)
        if found is None:
            raise InputError(f'unable to use plan "{plan_ref}" of service "{self.type}": no such plan',
                             hint=f"plans: {', '.join(p.plan.name for p in self.plans)}")
        return found

    def check_version(self, version: str | None) -> None:
        """A request's maintenance_info.version must be what the catalog offers now."""
        if version is not None and version != self.version:
            raise VersionConflictError(f'unable to use version "{version}" of service "{self.type}": the catalog '
                                       f"offers {self.version}", hint="fetch the catalog again")

    def to_osb(self) -> dict[str, Any]:
        """The OSB v2.17 Service Offering object."""
        decl = self.declarations
        plans = []
        for offered in self.plans:
            plan = offered.plan
            item: dict[str, Any] = {
                "id": offered.id, "name": plan.name,
                "description": plan.description or f"{self.type} plan {plan.name}",
                "free": plan.free, "bindable": offered.bindable, "plan_updateable": True,
                "binding_rotatable": decl.rotatable,
                "maintenance_info": {"version": self.version,
                                     "description": f"{self.type} {self.version}"
                                                    + (f": {decl.notes}" if decl.notes else "")},
                "metadata": {"values": dict(plan.values), "locked": list(plan.locked), "default": plan.default},
            }
            if offered.parameters_schema is not None:
                schemas: dict[str, Any] = {"service_instance": {"create": {"parameters": offered.parameters_schema},
                                                                "update": {"parameters": offered.parameters_schema}}}
                if offered.bindable:
                    schemas["service_binding"] = {"create": {"parameters": BIND_PARAMETERS}}
                item["schemas"] = schemas
            plans.append(item)
        return {
            "id": self.id, "name": self.type,
            "description": self.description or f"{self.type} from the chartkit catalog",
            "tags": list(self.tags), "bindable": decl.bindable, "plan_updateable": True,
            "instances_retrievable": True, "bindings_retrievable": True, "allow_context_updates": False,
            "metadata": {"displayName": self.type, "version": self.version, "appVersion": self.app_version,
                         "updateStrategy": dict(decl.update_strategy),
                         "outputs": [o.key for o in decl.outputs]},
            "plans": plans,
        }


def _set_path(schema: dict[str, Any], path: list[str], value: Any) -> None:
    """Lock ``path`` in a values schema to ``value`` (const + readOnly), adding properties where missing."""
    node = schema
    for key in path:
        props = node.setdefault("properties", {})
        node = props.setdefault(key, {})
    node["const"] = copy.deepcopy(value)
    node["readOnly"] = True
    node["description"] = (node.get("description", "") + " (locked by the plan)").strip()


def _lookup(values: Mapping[str, Any], path: list[str]) -> tuple[bool, Any]:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def plan_schema(schema: Mapping[str, Any] | None, plan: Plan) -> dict[str, Any] | None:
    """The values schema as a plan offers it: its locked parameters fixed at the plan's values."""
    if not schema:
        return None
    out = copy.deepcopy(dict(schema))
    out.setdefault("$schema", "http://json-schema.org/draft-07/schema#")
    for locked in plan.locked:
        found, value = _lookup(plan.values, locked.split("."))
        if found:
            _set_path(out, locked.split("."), value)
    import json

    if len(json.dumps(out)) > MAX_SCHEMA_BYTES:
        log.warning("the parameters schema of plan %s is over 64 kB: the catalog leaves it out", plan.name)
        return None
    return out


def offering_of_type(config: Config, type_name: str, version: str | None = None) -> Offering:
    """One type (newest release unless ``version``) as a service offering."""
    from toolkit.deploy.fetch import fetch

    fetched = fetch(config.catalog, type_name, version)
    package = fetched.package.read_bytes()
    decl = declarations_of_package(package, f"{type_name}@{fetched.origin.version}")
    from toolkit.catalog.artifact import read_package_file
    from toolkit.objects import load_documents

    raw = read_package_file(package, "Chart.yaml")
    docs = load_documents(raw.decode(errors="replace"), f"{type_name}:Chart.yaml") if raw else []
    chart = docs[0] if docs and isinstance(docs[0], dict) else {}
    catalog = str(config.catalog.url)
    plans = tuple(OfferedPlan(plan_id(catalog, type_name, p.name), p, decl.plan_bindable(p),
                              plan_schema(fetched.schema, p)) for p in decl.plans)
    keywords = tuple(str(k) for k in chart.get("keywords") or ())
    return Offering(service_id(catalog, type_name), type_name, fetched.origin.version,
                    str(chart.get("description") or ""), decl, plans, str(chart.get("appVersion") or ""), keywords,
                    fetched.origin.digest)


def offerings(config: Config) -> list[Offering]:
    """Every type of the catalog with a release, as a service offering (types that fail to read are skipped)."""
    from toolkit.catalog.index import latest_versions

    latest = latest_versions(config.catalog)

    def one(item: tuple[str, str]) -> Offering | None:
        try:
            return offering_of_type(config, *item)
        except ChartkitError as exc:
            log.warning("type %s %s left out of the offerings: %s", item[0], item[1], exc)
            return None

    with ThreadPoolExecutor(4) as pool:
        found = [o for o in pool.map(one, sorted(latest.items())) if o is not None]
    return found


class OfferingsCache:
    """The offerings, read again at most every ``ttl`` seconds (a catalog changes when someone publishes)."""

    def __init__(self, config: Config, ttl: float = 30.0) -> None:
        self.config, self.ttl = config, ttl
        self._lock = threading.Lock()
        self._at = 0.0
        self._items: list[Offering] = []

    def get(self, *, fresh: bool = False) -> list[Offering]:
        with self._lock:
            if fresh or time.monotonic() - self._at > self.ttl:
                self._items = offerings(self.config)
                self._at = time.monotonic()
            return self._items


def find_offering(items: list[Offering], service: str) -> Offering:
    """A service offering by id or type name."""
    found = next((o for o in items if service in (o.id, o.type)), None)
    if found is None:
        raise InputError(f'unable to find service "{service}" in the catalog',
                         hint="GET /v2/catalog (or `chartkit marketplace list`) lists the services")
    return found
