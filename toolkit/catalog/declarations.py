"""A type's declarations: ``chartkit.yaml`` at the chart's root (``schemas/type-declarations.schema.json``).

What the owner declares beside ``values.schema.json``: plans (named value presets, some parameters fixed per
plan), the binding's outputs (what a binding hands out and where each comes from), the default update strategy,
what the version means (a security release) and the values migrations from earlier versions. The declarations
travel inside the chart package, so every version carries its own; helm ignores the file.

A chart without the file declares one plan, ``default``, with no values, is bindable, and rolls out ``rolling``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from toolkit.errors import InputError

__all__ = [
    "DECLARATIONS_FILE",
    "Migration",
    "Output",
    "Plan",
    "TypeDeclarations",
    "WELL_KNOWN_ALIASES",
    "declarations_of_package",
    "load_declarations",
    "parse_declarations",
    "schema_dir",
    "well_known_alias",
]

#: servicebinding.io's well-known binding keys, derived from a credential Secret's own key names (first match wins)
WELL_KNOWN_ALIASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("username", re.compile(r"(^|[_.-])(user|username|login)$", re.I)),
    ("password", re.compile(r"(^|[_.-])(password|passwd|pass)$", re.I)),
    ("uri", re.compile(r"(^|[_.-])(url|uri)$", re.I)),
)


def well_known_alias(key: str) -> str | None:
    """The servicebinding.io well-known key (username, password, uri) a credential key's name stands for."""
    return next((alias for alias, pattern in WELL_KNOWN_ALIASES if pattern.search(key)), None)


DECLARATIONS_FILE = "chartkit.yaml"
API_VERSION = "chartkit.dev/v1"
KIND = "TypeDeclarations"
DEFAULT_PLAN = "default"


def schema_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class Plan:
    """A named value preset; ``locked`` parameters are fixed for instances on this plan."""

    name: str
    description: str = ""
    free: bool = True
    default: bool = False
    values: Mapping[str, Any] = field(default_factory=dict)
    locked: tuple[str, ...] = ()
    bindable: bool | None = None  # None: the type's ``bindable``

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "description": self.description, "free": self.free, "default": self.default,
               "values": dict(self.values), "locked": list(self.locked)}
        if self.bindable is not None:
            out["bindable"] = self.bindable
        return out


@dataclass(frozen=True)
class Output:
    """One key a binding hands out and where it comes from (exactly one source is set)."""

    key: str
    service: str | None = None
    port: str | int | None = None
    secret: str | None = None
    secret_key: str | None = None
    value: str | None = None
    template: str | None = None
    secret_value: bool = False

    @property
    def sensitive(self) -> bool:
        """Credentials are never shown: Secret keys, and values/templates the owner marks as such."""
        return self.secret is not None or self.secret_value

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "sensitive": self.sensitive}
        for name, value in (("service", self.service), ("port", self.port), ("secret", self.secret),
                            ("secretKey", self.secret_key), ("value", self.value), ("template", self.template)):
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Migration:
    """How values move when an instance upgrades to this version from one matching ``from_versions``."""

    from_versions: str
    rename: Mapping[str, str] = field(default_factory=dict)
    set: Mapping[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class TypeDeclarations:
    plans: tuple[Plan, ...] = (Plan(DEFAULT_PLAN, "the chart's defaults", default=True),)
    bindable: bool = True
    outputs: tuple[Output, ...] = ()
    rotation: bool = False
    rotate: tuple[str, ...] = ()   # values paths a rotation regenerates
    update_strategy: Mapping[str, Any] = field(default_factory=lambda: {"kind": "rolling"})
    security: bool = False
    notes: str = ""
    migrations: tuple[Migration, ...] = ()
    declared: bool = False  # the chart has a chartkit.yaml

    def plan(self, name: str | None) -> Plan:
        """A plan by name; None: the default plan (the one marked default, else the first)."""
        if name is None:
            return next((p for p in self.plans if p.default), self.plans[0])
        for plan in self.plans:
            if plan.name == name:
                return plan
        raise InputError(f'unable to use plan "{name}": the type declares {", ".join(p.name for p in self.plans)}')

    @property
    def rotatable(self) -> bool:
        """Re-binding can issue new credentials: rotation declared, with the values it regenerates."""
        return self.rotation and bool(self.rotate)

    def plan_bindable(self, plan: Plan) -> bool:
        return self.bindable if plan.bindable is None else plan.bindable

    def to_json(self) -> dict[str, Any]:
        return {"plans": [p.to_json() for p in self.plans], "bindable": self.bindable,
                "outputs": [o.to_json() for o in self.outputs], "rotation": self.rotation,
                "rotate": list(self.rotate),
                "updateStrategy": dict(self.update_strategy), "security": self.security, "notes": self.notes,
                "migrations": [{"from": m.from_versions, "rename": dict(m.rename), "set": dict(m.set),
                                "remove": list(m.remove)} for m in self.migrations],
                "declared": self.declared}


def _validate(data: Any, origin: str) -> None:
    import jsonschema
    from referencing import Registry, Resource

    schemas = {name: json.loads((schema_dir() / name).read_text())
               for name in ("type-declarations.schema.json", "rollout-strategy.schema.json")}
    registry = Registry().with_resources(
        (name, Resource.from_contents(schema)) for name, schema in schemas.items())
    registry = registry.with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())
    validator = jsonschema.Draft7Validator(schemas["type-declarations.schema.json"], registry=registry)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise InputError(f'unable to use type declarations "{origin}": at {where}: {errors[0].message}',
                         hint="see schemas/type-declarations.schema.json")


def parse_declarations(data: Any, origin: str) -> TypeDeclarations:
    """Validated declarations from parsed YAML (None or an empty file: the defaults)."""
    if data is None:
        return TypeDeclarations()
    _validate(data, origin)
    plans = tuple(Plan(p["name"], p.get("description", ""), p.get("free", True), p.get("default", False),
                       p.get("values") or {}, tuple(p.get("locked") or ()), p.get("bindable"))
                  for p in data.get("plans") or ())
    if sum(p.default for p in plans) > 1:
        raise InputError(f'unable to use type declarations "{origin}": more than one plan is marked default')
    binding = data.get("binding") or {}
    outputs = tuple(Output(key, o.get("service"), o.get("port"), o.get("secret"), o.get("key"), o.get("value"),
                           o.get("template"), bool(o.get("secretValue", False)))
                    for key, o in (binding.get("outputs") or {}).items())
    release = data.get("release") or {}
    migrations = tuple(Migration(m["from"], m.get("rename") or {}, m.get("set") or {}, tuple(m.get("remove") or ()))
                       for m in data.get("migrations") or ())
    return TypeDeclarations(plans=plans or TypeDeclarations.plans, bindable=data.get("bindable", True),
                            outputs=outputs, rotation=bool(binding.get("rotation", False)),
                            rotate=tuple(binding.get("rotate") or ()),
                            update_strategy=data.get("updateStrategy") or {"kind": "rolling"},
                            security=bool(release.get("security", False)), notes=release.get("notes", ""),
                            migrations=migrations, declared=True)


def load_declarations(text: str | bytes | None, origin: str) -> TypeDeclarations:
    """Declarations from the text of a chartkit.yaml (None: the chart has none)."""
    if text is None:
        return TypeDeclarations()
    from toolkit.objects import load_documents

    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    docs = load_documents(text, origin)
    return parse_declarations(docs[0] if docs else None, origin)


def declarations_of_package(package: bytes, origin: str) -> TypeDeclarations:
    """The declarations a chart package carries (its ``chartkit.yaml``), or the defaults when it has none."""
    from toolkit.catalog.artifact import read_package_file

    return load_declarations(read_package_file(package, DECLARATIONS_FILE), f"{origin}:{DECLARATIONS_FILE}")
