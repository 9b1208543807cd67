"""The deploy form: a type's ``values.schema.json`` as a schema a JSON-Schema form library renders, and the form's
data back as an instance's values.

The schema chartify emits is draft-07 with Kubernetes-aware types. A form library (react-jsonschema-form) renders
most of it as is — enums as selects, ``const`` as read-only and prefilled, ``readOnly`` as disabled — but not
everything:

- a union of scalar types (``[integer, string]`` for a port, ``[string, number]`` for a quantity) has no widget:
  it becomes a text field (its ``pattern`` kept, so "500m" or "1Gi" is checked as typed) and the text is typed
  back on submit (``form_values``): digits become an integer where the schema allows one, as helm's ``--set`` does;
- a free-form object or an array without ``items`` (``securityContext``, ``tolerations``) has no fields to
  generate: the UI schema asks for a YAML editor (``ui:field: yaml``);
- the subchart keys Helm reserves (``global``, and ``enabled`` at the top) are hidden;
- a parameter locked by the type owner (``const``/``readOnly``) or by the chosen plan is read-only, with the reason
  (the owner's description, or the plan's name) shown beside it.

A form shows every value, so what it submits is the whole desired state: ``values_delta`` keeps only what differs
from the version's defaults (what ``-f`` would hold), so the instance's recorded values stay the user's own choices.
Keys the form leaves out are unchanged, never removed.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from toolkit.catalog.declarations import Plan
from toolkit.errors import InputError

__all__ = ["LABEL_PLAN", "FormSpec", "LockedField", "check_plan", "form_spec", "form_values", "values_delta", "widget_kinds"]

#: the release label naming an instance's plan (the same label the broker's provision writes, issue 10)
LABEL_PLAN = "chartkit.io/plan"
#: the keys Helm gives a chart used as a subchart: nothing an instance of the type sets
HIDDEN_TOP_LEVEL = ("global", "enabled")
_SCALARS = ("string", "integer", "number", "boolean")
_INT = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class LockedField:
    """A parameter the deployer cannot change, and why."""

    path: str
    reason: str
    by: str                                # "type owner" or "plan <name>"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "by": self.by}


@dataclass(frozen=True)
class FormSpec:
    """What a form library needs: the schema to render, its UI schema, and the data the form starts with."""

    schema: dict[str, Any]
    ui_schema: dict[str, Any]
    data: dict[str, Any]
    locked: tuple[LockedField, ...] = ()
    kinds: Mapping[str, str] = field(default_factory=dict)  # dotted path → widget kind (see widget_kinds)

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "uiSchema": self.ui_schema, "formData": self.data,
                "locked": [lock.to_json() for lock in self.locked], "kinds": dict(self.kinds)}


def _types(node: Mapping[str, Any]) -> list[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return [kind]
    return [str(k) for k in kind] if isinstance(kind, list) else []


def _union(node: Mapping[str, Any]) -> list[str] | None:
    """The scalar types of a union a form cannot render as one widget (``[integer, string]``), else None."""
    types = [t for t in _types(node) if t != "null"]
    return types if len(types) > 1 and all(t in _SCALARS for t in types) else None


def _free_form(node: Mapping[str, Any]) -> bool:
    """An object with no properties to generate fields for, or an array whose items are not described."""
    types = _types(node)
    if "object" in types:
        extra = node.get("additionalProperties")
        return not node.get("properties") and not (isinstance(extra, Mapping) and _simple(extra))
    if "array" in types:
        items = node.get("items")
        return not isinstance(items, Mapping) or not items or _free_form(items)
    return False


def _simple(node: Mapping[str, Any]) -> bool:
    """A schema for a map's values a key/value editor can show: a scalar, a scalar union or an enum."""
    types = [t for t in _types(node) if t != "null"]
    return bool(types) and all(t in _SCALARS for t in types)


def _lookup(data: Any, path: Iterable[str]) -> tuple[bool, Any]:
    node = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _set(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _text(value: Any) -> Any:
    """A union's value as the text its field shows (None stays None: the field is empty)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


class _Builder:
    """One walk over the values schema: the form schema, the UI schema and the union paths."""

    def __init__(self, plan: Plan | None) -> None:
        self.plan = plan
        self.plan_locked = set(plan.locked) if plan else set()
        self.locked: list[LockedField] = []
        self.unions: dict[str, list[str]] = {}
        self.named: set[str] = set()       # paths of declared properties (a map's own keys win over its "*")
        self.kinds: dict[str, str] = {}

    def union_of(self, path: list[str]) -> list[str] | None:
        """The union types of the value at ``path`` (a declared property, else its map's values), if a union."""
        dotted = ".".join(path)
        if dotted in self.unions or dotted in self.named:
            return self.unions.get(dotted)
        return self.unions.get(".".join([*path[:-1], "*"]))

    def node(self, node: Any, path: list[str], ui: dict[str, Any], *, locked: bool = False) -> Any:
        if not isinstance(node, Mapping):
            return node
        out = dict(node)
        dotted = ".".join(path)
        if path and not locked:
            if "const" in node or node.get("readOnly") is True:
                locked = True
                self._lock(out, ui, dotted, str(node.get("description") or "set by the type owner"), "type owner")
            elif dotted in self.plan_locked and self.plan is not None:
                locked = True
                found, value = _lookup(self.plan.values, path)
                if found:
                    out["const"] = value
                out["readOnly"] = True
                self._lock(out, ui, dotted, f'fixed by plan "{self.plan.name}"', f"plan {self.plan.name}")
        union = _union(node)
        if union:
            self.unions[dotted] = union
            out["type"] = ["string", "null"] if "null" in _types(node) else "string"
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
                out.pop(key, None)  # number rules do not apply to the text; the server checks the typed value
            if "const" in out:
                out["const"] = _text(out["const"])
            if "default" in out:
                out["default"] = _text(out["default"])
            ui["ui:options"] = {**ui.get("ui:options", {}), "union": union}
            self._kind(dotted, "union-text", locked)
            self._empty(ui, node)
            return out
        if path and _free_form(node):
            ui["ui:field"] = "yaml"
            self._kind(dotted, "yaml", locked)
            return out
        types = _types(node)
        if "object" in types:
            props = node.get("properties")
            if isinstance(props, Mapping):
                out["properties"] = {}
                for key, child in props.items():
                    child_ui: dict[str, Any] = {}
                    self.named.add(".".join([*path, str(key)]))
                    if not path and key in HIDDEN_TOP_LEVEL:
                        child_ui["ui:field"] = "hidden"
                        out["properties"][key] = child
                    else:
                        out["properties"][key] = self.node(child, [*path, str(key)], child_ui, locked=locked)
                    if child_ui:
                        ui[str(key)] = child_ui
            extra = node.get("additionalProperties")
            if isinstance(extra, Mapping) and extra:
                extra_ui: dict[str, Any] = {}
                out["additionalProperties"] = self.node(extra, [*path, "*"], extra_ui, locked=locked)
                if extra_ui:
                    ui["additionalProperties"] = extra_ui
            if path:
                self._kind(dotted, "object" if props else "map", locked)
            return out
        if "array" in types:
            items_ui: dict[str, Any] = {}
            out["items"] = self.node(node["items"], [*path, "[]"], items_ui, locked=locked)
            if items_ui:
                ui["items"] = items_ui
            self._kind(dotted, "array", locked)
            return out
        scalar = next((t for t in types if t != "null"), "")
        if "enum" in node:
            self._kind(dotted, "enum", locked)
        elif scalar in ("integer", "number"):
            self._kind(dotted, "number", locked)
        elif scalar == "boolean":
            self._kind(dotted, "boolean", locked)
        elif scalar == "string":
            self._kind(dotted, "string", locked)
            self._empty(ui, node)
        elif path:
            self._kind(dotted, "yaml", locked)
            ui["ui:field"] = "yaml"
        return out

    def _lock(self, out: dict[str, Any], ui: dict[str, Any], dotted: str, reason: str, by: str) -> None:
        out["readOnly"] = True
        self.locked.append(LockedField(dotted, reason, by))
        ui["ui:help"] = f"Locked by the {by}: {reason}" if by == "type owner" else f"Locked: {reason}"
        ui["ui:classNames"] = "locked"
        ui["ui:title"] = f"{out.get('title') or dotted.rsplit('.', 1)[-1]} (locked)"

    def _kind(self, dotted: str, kind: str, locked: bool) -> None:
        if dotted and "*" not in dotted.split("."):  # a map's future keys have no field yet
            self.kinds[dotted] = f"{kind}+locked" if locked else kind

    @staticmethod
    def _empty(ui: dict[str, Any], node: Mapping[str, Any]) -> None:
        # an emptied text field means "" (or null where the schema allows it), not "leave the key out"
        ui["ui:emptyValue"] = None if "null" in _types(node) else ""


def form_spec(schema: Mapping[str, Any] | None, defaults: Mapping[str, Any], *,
              values: Mapping[str, Any] | None = None, plan: Plan | None = None) -> FormSpec:
    """The form for one version of a type: ``defaults`` (values.yaml), then the plan's values, then ``values``
    (an instance's own, for an upgrade) fill it."""
    from toolkit.deploy.values import coalesce

    data = coalesce(defaults, plan.values if plan else {})
    data = coalesce(data, values or {})
    if not schema:
        # no schema: one YAML editor over the whole values document
        return FormSpec({"type": "object"}, {"ui:field": "yaml"}, data)
    builder = _Builder(plan)
    ui: dict[str, Any] = {}
    form_schema = builder.node(schema, [], ui)
    form_schema.pop("$schema", None)  # the form's validator speaks draft-07 without being told
    for lock in builder.locked:
        if plan and lock.by.startswith("plan"):
            found, value = _lookup(plan.values, lock.path.split("."))
            if found:
                _set(data, lock.path.split("."), copy.deepcopy(value))
    return FormSpec(form_schema, ui, _to_form(data, builder, []), tuple(builder.locked), builder.kinds)


def widget_kinds(schema: Mapping[str, Any] | None) -> dict[str, str]:
    """Each parameter path of a values schema and the widget kind its form field gets (``string``, ``number``,
    ``boolean``, ``enum``, ``union-text``, ``yaml``, ``object``, ``map``, ``array``; ``+locked`` when read-only)."""
    return dict(form_spec(schema, {}).kinds)


def _to_form(data: Any, builder: _Builder, path: list[str]) -> Any:
    if isinstance(data, Mapping):
        out = {}
        for key, value in data.items():
            child = [*path, str(key)]
            out[key] = _text(value) if builder.union_of(child) else _to_form(value, builder, child)
        return out
    if isinstance(data, list):
        item = [*path, "[]"]
        return [_text(v) if builder.union_of(item) else _to_form(v, builder, item) for v in data]
    return data


def _typed(text: Any, types: list[str], default: Any) -> Any:
    """A union field's text typed back: the default when the text still shows it, else the first type that
    reads it (integer, number, boolean), else the text."""
    if not isinstance(text, str):
        return text
    if _text(default) == text:
        return copy.deepcopy(default)
    if "integer" in types and _INT.match(text.strip()):
        return int(text.strip())
    if "number" in types and _NUMBER.match(text.strip()):
        number = float(text.strip())
        return int(number) if number.is_integer() and "string" not in types else (
            number if "string" not in types else text)
    if "boolean" in types and text.strip() in ("true", "false") and "string" not in types:
        return text.strip() == "true"
    return text


def form_values(schema: Mapping[str, Any] | None, data: Mapping[str, Any],
                defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The form's data with union fields typed back (the values the schema is checked against)."""
    if not isinstance(data, Mapping):
        raise InputError("unable to use the form's values: expected an object of values")
    builder = _Builder(None)
    if schema:
        builder.node(schema, [], {})

    def walk(value: Any, base: Any, path: list[str]) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for key, child in value.items():
                here = [*path, str(key)]
                types = builder.union_of(here)
                found, child_base = _lookup(base, [str(key)])
                out[key] = _typed(child, types, child_base if found else None) if types else walk(
                    child, child_base if found else None, here)
            return out
        if isinstance(value, list):
            item = [*path, "[]"]
            types = builder.union_of(item)
            bases = base if isinstance(base, list) else []
            return [(_typed(v, types, bases[i] if i < len(bases) else None) if types
                     else walk(v, bases[i] if i < len(bases) else None, item)) for i, v in enumerate(value)]
        return value

    return walk(data, defaults, [])


def _same(a: Any, b: Any) -> bool:
    # True == 1 and 1 == 1.0 in Python; in values they are different settings
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def values_delta(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """What ``values`` set that ``base`` (the version's defaults) does not: the values an instance records.

    Maps are compared key by key; lists and scalars as a whole. A key ``values`` lacks is unchanged, not removed.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in base:
            if value is not None:
                out[key] = copy.deepcopy(value)
        elif isinstance(value, Mapping) and isinstance(base[key], Mapping):
            sub = values_delta(base[key], value)
            if sub:
                out[key] = sub
        elif not _same(value, base[key]):
            out[key] = copy.deepcopy(value)
    return out


def check_plan(plan: Plan | None, values: Mapping[str, Any], type_name: str) -> None:
    """Refuse values that change a parameter the plan fixes (the form shows them read-only; a request may not)."""
    if plan is None:
        return
    for locked in plan.locked:
        path = locked.split(".")
        given, value = _lookup(values, path)
        fixed_found, fixed = _lookup(plan.values, path)
        if given and fixed_found and not _same(value, fixed):
            raise InputError(f'unable to use values for plan "{plan.name}" of "{type_name}": parameter {locked} is '
                             f"locked by the plan (fixed at {json.dumps(fixed)})",
                             hint="leave it as the plan sets it, or choose a plan that opens it")
