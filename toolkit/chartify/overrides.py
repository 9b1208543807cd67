"""The owner's choices about a generated chart, kept in a file that survives regeneration.

Each run of chartify rebuilds the chart from the source and then re-applies this file, so locking, renaming,
adding, dropping and describing parameters are never lost. Keys under ``parameters`` are the paths chartify
generates (before renames), so a rename does not orphan the entry that made it. The file's JSON Schema is
``OVERRIDES_SCHEMA`` (also committed as ``schemas/chartify-overrides.schema.json``).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.chartify.model import Emit, Expr, Model, Param, Ref, join_key, split_key
from toolkit.errors import InputError

__all__ = ["OVERRIDES_FILE", "OVERRIDES_SCHEMA", "Overrides", "apply_overrides", "load_overrides"]

log = logging.getLogger(__name__)

#: where chartify keeps the owner's choices inside the chart directory (excluded from packages)
OVERRIDES_FILE = ".chartify-overrides.yaml"

_KEY = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$"
OVERRIDES_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://chartkit.dev/schemas/chartify-overrides.schema.json",
    "title": "chartify overrides",
    "description": "The chart owner's choices, re-applied every time chartify regenerates the chart.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "parameters": {
            "type": "object",
            "description": "Per generated parameter path (e.g. chat.replicaCount, or a prefix such as chat): "
                           "what to change.",
            "propertyNames": {"pattern": r"^[^\s]+$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "locked": {"type": "boolean", "description": "Pin the value to its default (const + readOnly)."},
                    "description": {"type": "string", "minLength": 1},
                    "rename": {"type": "string", "pattern": _KEY, "description": "The new values path."},
                    "drop": {"type": "boolean", "description": "Do not expose it; the template keeps the literal."},
                },
            },
        },
        "declarations": {
            "type": "object",
            "description": "The type's declarations (chartkit.yaml, schemas/type-declarations.schema.json) the owner "
                           "sets: plans, bindable, binding (outputs, rotation), updateStrategy, release, migrations. "
                           "Each key given replaces what chartify infers.",
        },
        "add": {
            "type": "array",
            "description": "Extra parameters: a field of one object becomes a value (its current value the default).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "object", "field"],
                "properties": {
                    "key": {"type": "string", "pattern": _KEY},
                    "object": {"type": "string", "description": "Kind/name or Kind/namespace/name"},
                    "field": {"type": "string", "description": "e.g. spec.template.spec.containers[name=web].args"},
                    "description": {"type": "string"},
                    "locked": {"type": "boolean"},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Overrides:
    """The parsed overrides file."""

    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    add: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    declarations: dict[str, Any] = field(default_factory=dict)  # the owner's chartkit.yaml keys

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.parameters:
            out["parameters"] = self.parameters
        if self.add:
            out["add"] = self.add
        if self.declarations:
            out["declarations"] = self.declarations
        return out


def load_overrides(path: Path) -> Overrides:
    """Read and validate an overrides file (YAML or JSON)."""
    import jsonschema

    from toolkit.objects import load_documents

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f'unable to read overrides "{path}": {exc.strerror or exc}') from exc
    docs = [d for d in load_documents(text, str(path)) if d is not None]
    data = docs[0] if docs else {}
    validator = jsonschema.Draft7Validator(OVERRIDES_SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise InputError(f'unable to use overrides "{path}": at {where}: {err.message}',
                         hint="see schemas/chartify-overrides.schema.json")
    return Overrides(parameters=dict(data.get("parameters") or {}), add=list(data.get("add") or []),
                     source=str(path), declarations=dict(data.get("declarations") or {}))


def _walk_exprs(node: Any, visit: Any, parent: Any = None, key: Any = None) -> None:
    if isinstance(node, Expr):
        visit(node, parent, key)
    elif isinstance(node, dict):
        for k, v in list(node.items()):
            _walk_exprs(v, visit, node, k)
    elif isinstance(node, list):
        for i, v in enumerate(list(node)):
            _walk_exprs(v, visit, node, i)


def _under(path: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    return path[: len(prefix)] == prefix


def _matching(model: Model, prefix: tuple[str, ...], where: str) -> list[tuple[str, ...]]:
    found = [p for p in model.params if _under(p, prefix)]
    if not found:
        raise InputError(f'unable to apply {where}: parameter "{join_key(prefix)}" does not exist',
                         hint="`chartkit chartify` lists the parameters in the chart's README.md")
    return found


def _find_template(model: Model, object_ref: str, where: str):
    for tf in model.templates:
        obj = tf.obj
        meta = obj.get("metadata") or {}
        names = {f"{obj.get('kind')}/{meta.get('name')}", tf.source_id}
        if object_ref in names:
            return tf
    raise InputError(f'unable to apply {where}: object "{object_ref}" is not in the source',
                     hint="name it Kind/name or Kind/namespace/name")


def _add(model: Model, spec: dict[str, Any], where: str) -> None:
    from toolkit.chartify import schema as schemas
    from toolkit.chartify.params import _get, _has, field_name, parse_field

    tf = _find_template(model, spec["object"], where)
    path = split_key(spec["key"])
    if any(_under(p, path) or _under(path, p) for p in model.params):
        raise InputError(f'unable to apply {where}: values key "{spec["key"]}" is already used')
    field_path = parse_field(tf.obj, spec["field"])
    node: Any = tf.obj
    for part in field_path:
        if isinstance(node, Expr):
            break
        node = node.get(part) if isinstance(node, dict) else (node[part] if isinstance(node, list)
                                                               and isinstance(part, int) and part < len(node)
                                                               else None)
    if isinstance(node, Expr) or not _has(tf.obj, field_path):
        raise InputError(f'unable to apply {where}: field "{spec["field"]}" of {spec["object"]} '
                         + ("is already a parameter" if isinstance(node, Expr) else "does not exist"),
                         hint="a new parameter needs a field the source sets")
    value = _get(tf.obj, field_path)
    if any(isinstance(v, Expr) for v in _iter_nodes(value)):
        raise InputError(f'unable to apply {where}: field "{spec["field"]}" contains other parameters')
    structured = isinstance(value, (dict, list))
    emit = Emit.BLOCK if structured and not schemas.has_big_numbers(value) else Emit.JSON
    model.params[path] = Param(path, copy.deepcopy(value), spec.get("description") or f"{spec['object']} "
                               f"{spec['field']}", schemas.infer(value), feeds=[f"{tf.source_id} "
                                                                                f"{field_name(field_path)}"])
    parent = _get(tf.obj, field_path[:-1])
    parent[field_path[-1]] = Expr("{0} | toJson" if emit is Emit.JSON else "{0}", (Ref(path),), emit,
                                  original=value)


def _iter_nodes(node: Any):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _iter_nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _iter_nodes(v)


def _drop(model: Model, prefix: tuple[str, ...], where: str) -> None:
    if any(_under(prefix, p) and p != prefix for p in model.params):
        raise InputError(f'unable to apply {where}: "{join_key(prefix)}" is part of a larger parameter; '
                         "drop that one as a whole")
    dropped = set(_matching(model, prefix, where))

    def visit(expr: Expr, parent: Any, key: Any) -> None:
        hit = [r for r in expr.refs if r.path in dropped]
        if not hit:
            return
        if expr.emit is Emit.UNLESS:  # replicas left to an HPA
            value, guard = expr.refs
            if guard.path in dropped and value.path not in dropped:
                del parent[key]  # the HPA is now always rendered: the replicas stay its own
            elif value.path in dropped and guard.path not in dropped:
                parent[key] = Expr(json.dumps(expr.original), (guard,), Emit.UNLESS, original=expr.original)
            else:
                parent[key] = copy.deepcopy(expr.original)
            return
        if len(hit) != len(expr.refs) or expr.original == "<secret>":
            raise InputError(f'unable to apply {where}: "{join_key(prefix)}" cannot be dropped '
                             "(Secret data and existingSecret stay parameters)")
        if expr.emit is Emit.OPTIONAL:
            del parent[key]  # the source never had the field
        else:
            parent[key] = copy.deepcopy(expr.original)

    for tf in model.templates:
        _walk_exprs(tf.obj, visit)
        if tf.condition is not None and any(r.path in dropped for r in tf.condition.refs):
            if any(r.path[-1] == "existingSecret" for r in tf.condition.refs):
                raise InputError(f'unable to apply {where}: existingSecret cannot be dropped')
            tf.condition = None  # the object's default was "enabled": it is now always rendered
    for p in dropped:
        del model.params[p]


def _rename(model: Model, renames: dict[tuple[str, ...], tuple[str, ...]], where: str) -> None:
    def new_path(path: tuple[str, ...]) -> tuple[str, ...]:
        best = max((old for old in renames if _under(path, old)), key=len, default=None)
        return renames[best] + path[len(best):] if best is not None else path

    for old in renames:
        _matching(model, old, where)
    moved = {p: new_path(p) for p in model.params}
    targets = list(moved.values())
    for target in targets:
        clash = [t for t in targets if t != target and (_under(t, target) or _under(target, t))]
        if clash or targets.count(target) > 1:
            raise InputError(f'unable to apply {where}: renaming makes "{join_key(target)}" collide with '
                             f'"{join_key(clash[0] if clash else target)}"')
    model.params = {moved[p]: _moved_param(param, moved[p]) for p, param in model.params.items()}
    model.groups = {new_path(g) if any(_under(g, o) for o in renames) else g: d for g, d in model.groups.items()}

    def visit(expr: Expr, parent: Any, key: Any) -> None:
        expr.refs = tuple(Ref(new_path(r.path)) for r in expr.refs)

    for tf in model.templates:
        _walk_exprs(tf.obj, visit)
        if tf.condition is not None:
            visit(tf.condition, None, None)
    model.components = {join_key(new_path((k,))): v for k, v in model.components.items()}


def _moved_param(param: Param, path: tuple[str, ...]) -> Param:
    param.path = path
    return param


def apply_overrides(model: Model, overrides: Overrides) -> dict[tuple[str, ...], Any]:
    """Apply the owner's choices to the model; returns the locked paths and their pinned values."""
    where = f'overrides "{overrides.source or "(inline)"}"'
    parameters = {k: dict(v) for k, v in overrides.parameters.items()}
    for spec in overrides.add:
        _add(model, spec, where)
        if spec.get("locked"):
            parameters.setdefault(spec["key"], {}).setdefault("locked", True)
    for key, choice in parameters.items():
        if choice.get("drop"):
            _drop(model, split_key(key), where)
    renames = {split_key(k): split_key(c["rename"]) for k, c in parameters.items()
               if c.get("rename") and not c.get("drop")}
    if renames:
        _rename(model, renames, where)

    def final(path: tuple[str, ...]) -> tuple[str, ...]:
        best = max((old for old in renames if _under(path, old)), key=len, default=None)
        return renames[best] + path[len(best):] if best is not None else path

    locks: dict[tuple[str, ...], Any] = {}
    for key, choice in parameters.items():
        if choice.get("drop"):
            continue
        path = final(split_key(key))
        owners = [p for p in model.params if _under(path, p)]  # the parameter holding a sub-key
        covered = [p for p in model.params if _under(p, path)]  # parameters under a prefix
        if not owners and not covered:
            raise InputError(f'unable to apply {where}: parameter "{key}" does not exist',
                             hint="keys are the generated paths; see the chart's README.md")
        if choice.get("description"):
            if path in model.params:
                model.params[path].description = choice["description"]
            elif covered:
                model.groups[path] = choice["description"]
            else:
                raise InputError(f'unable to apply {where}: "{key}" is inside parameter '
                                 f'"{join_key(owners[0])}"; describe that one')
        if choice.get("locked"):
            for p in covered:
                model.params[p].locked = True
                locks[p] = copy.deepcopy(model.params[p].default)
            for p in owners:
                if p == path:
                    continue
                value: Any = model.params[p].default
                for part in path[len(p):]:
                    if not isinstance(value, dict) or part not in value:
                        raise InputError(f'unable to apply {where}: "{key}" has no default inside "{join_key(p)}"')
                    value = value[part]
                locks[path] = copy.deepcopy(value)
                model.params[p].locked = True
    log.debug("overrides: %d locks, %d renames", len(locks), len(renames))
    return locks


def dump_overrides(overrides: Overrides) -> str:
    """The overrides as the YAML file kept in the chart directory (JSON is valid YAML)."""
    header = ("# chartify overrides: the owner's choices, re-applied on every regeneration.\n"
              "# Schema: schemas/chartify-overrides.schema.json\n")
    return header + json.dumps(overrides.to_dict(), indent=2, sort_keys=True) + "\n"
