"""What changed between two versions of a type, and whether instances of the old one survive it (pure).

A version is its values schema, its defaults (values.yaml) and its declarations (chartkit.yaml). Every change is
classified **compatible** (an instance's values stay valid and mean the same) or **breaking** (values valid
before may be refused, or a consumer loses something it used):

    parameter added                 compatible (breaking when it is required and has no default)
    parameter removed               breaking
    parameter renamed               compatible with a values migration that renames it, else breaking
    type changed                    widened (integer → number, adding null) compatible; anything else breaking
    enum narrowed / widened         breaking / compatible
    range narrowed / widened        minimum, maximum, lengths, item and property counts, pattern, format
    required added / removed        breaking / compatible
    closed / opened                 additionalProperties false / not: breaking / compatible
    newly locked / unlocked         breaking / compatible; a lock's fixed value changed: compatible (the owner
                                    moves what it pins, e.g. the image; no instance chose it)
    default changed                 compatible (values stay valid; instances that never set it see the new one)
    plan added / removed / changed  compatible / breaking / compatible
    binding output added / removed / changed, bindable turned off    compatible / breaking / breaking / breaking
    update strategy changed         compatible

SemVer discipline: a breaking change needs a new major version (for ``0.y.z``, a new minor: SemVer leaves 0.x
open and npm's and cargo's carets treat its minor as the major).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from toolkit.catalog.declarations import TypeDeclarations
from toolkit.catalog.ranges import Range
from toolkit.catalog.versions import SemVer

__all__ = ["ChangeKind", "TypeChange", "TypeVersion", "diff_types", "semver_violation"]


class ChangeKind(str, enum.Enum):
    ADDED = "parameter added"
    REMOVED = "parameter removed"
    RENAMED = "parameter renamed"
    TYPE_CHANGED = "type changed"
    ENUM_NARROWED = "enum narrowed"
    ENUM_WIDENED = "enum widened"
    RANGE_NARROWED = "range narrowed"
    RANGE_WIDENED = "range widened"
    REQUIRED_ADDED = "required added"
    REQUIRED_REMOVED = "required removed"
    CLOSED = "closed to other keys"
    OPENED = "opened to other keys"
    LOCKED = "newly locked"
    UNLOCKED = "unlocked"
    LOCK_CHANGED = "locked value changed"
    DEFAULT_CHANGED = "default changed"
    PLAN_ADDED = "plan added"
    PLAN_REMOVED = "plan removed"
    PLAN_CHANGED = "plan changed"
    OUTPUT_ADDED = "binding output added"
    OUTPUT_REMOVED = "binding output removed"
    OUTPUT_CHANGED = "binding output changed"
    UNBINDABLE = "no longer bindable"
    BINDABLE = "now bindable"
    STRATEGY_CHANGED = "update strategy changed"


@dataclass(frozen=True)
class TypeChange:
    kind: ChangeKind
    subject: str           # a dotted parameter, a plan name, a binding output key
    breaking: bool
    detail: str = ""

    def line(self) -> str:
        word = "BREAKING" if self.breaking else "compatible"
        return f"{word:10}  {self.kind.value}: {self.subject}" + (f" ({self.detail})" if self.detail else "")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "subject": self.subject, "breaking": self.breaking, "detail": self.detail}


@dataclass(frozen=True)
class TypeVersion:
    version: str
    schema: Mapping[str, Any] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    declarations: TypeDeclarations = field(default_factory=TypeDeclarations)


# -- the schema, flattened ------------------------------------------------------------------------------------

def _flatten(schema: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Every parameter of a schema by dotted path; array items are ``path[]``."""
    out: dict[str, Mapping[str, Any]] = {}

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            return
        if path:
            out[path] = node
        for key, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{key}" if path else str(key))
        if isinstance(node.get("items"), Mapping):
            walk(node["items"], f"{path}[]")

    walk(schema or {}, "")
    return out


def _default(defaults: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = defaults
    for part in path.split("."):
        if part.endswith("[]") or not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    found = set(kind) if isinstance(kind, list) else ({kind} if kind else set())
    for alt in node.get("anyOf") or node.get("oneOf") or []:
        if isinstance(alt, Mapping):
            found |= _types(alt) or {"any"}
    return found


def _covers(new: set[str], old: set[str]) -> bool:
    """Whether every value of the old types is a value of the new ones (no type: anything)."""
    if not new:
        return True
    if not old:
        return False
    return all(t in new or (t == "integer" and "number" in new) for t in old)


def _locked(node: Mapping[str, Any]) -> bool:
    return "const" in node or node.get("readOnly") is True


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


#: (keyword, True when a bigger value allows more)
_BOUNDS = (("minimum", False), ("exclusiveMinimum", False), ("maximum", True), ("exclusiveMaximum", True),
           ("minLength", False), ("maxLength", True), ("minItems", False), ("maxItems", True),
           ("minProperties", False), ("maxProperties", True))


def _compare(path: str, old: Mapping[str, Any], new: Mapping[str, Any], old_default: tuple[bool, Any],
             new_default: tuple[bool, Any]) -> list[TypeChange]:
    changes: list[TypeChange] = []
    ot, nt = _types(old), _types(new)
    if ot != nt:
        widened = _covers(nt, ot)
        changes.append(TypeChange(ChangeKind.TYPE_CHANGED, path, not widened,
                                  f"{'|'.join(sorted(ot)) or 'any'} -> {'|'.join(sorted(nt)) or 'any'}"
                                  + (", widened" if widened else "")))
    oe, ne = old.get("enum"), new.get("enum")
    if oe != ne:
        if ne is None or (oe is not None and set(map(_show, oe)) <= set(map(_show, ne))):
            changes.append(TypeChange(ChangeKind.ENUM_WIDENED, path, False, f"{_show(oe)} -> {_show(ne)}"))
        else:
            changes.append(TypeChange(ChangeKind.ENUM_NARROWED, path, True, f"{_show(oe)} -> {_show(ne)}"))
    for keyword, up_allows_more in _BOUNDS:
        a, b = old.get(keyword), new.get(keyword)
        if a == b or isinstance(a, bool) or isinstance(b, bool):
            continue
        if b is None:
            wider = True
        elif a is None:
            wider = False
        else:
            wider = (b > a) if up_allows_more else (b < a)
        changes.append(TypeChange(ChangeKind.RANGE_WIDENED if wider else ChangeKind.RANGE_NARROWED, path,
                                  not wider, f"{keyword} {_show(a) if a is not None else '(none)'} -> "
                                             f"{_show(b) if b is not None else '(none)'}"))
    for keyword in ("pattern", "format"):
        a, b = old.get(keyword), new.get(keyword)
        if a != b:
            wider = b is None
            changes.append(TypeChange(ChangeKind.RANGE_WIDENED if wider else ChangeKind.RANGE_NARROWED, path,
                                      not wider, f"{keyword} {_show(a)} -> {_show(b)}"))
    o_req, n_req = set(old.get("required") or ()), set(new.get("required") or ())
    for key in sorted(n_req - o_req):
        changes.append(TypeChange(ChangeKind.REQUIRED_ADDED, f"{path}.{key}", True))
    for key in sorted(o_req - n_req):
        changes.append(TypeChange(ChangeKind.REQUIRED_REMOVED, f"{path}.{key}", False))
    o_closed, n_closed = old.get("additionalProperties") is False, new.get("additionalProperties") is False
    if o_closed != n_closed:
        changes.append(TypeChange(ChangeKind.CLOSED if n_closed else ChangeKind.OPENED, path, n_closed))
    ol, nl = _locked(old), _locked(new)
    if nl and not ol:
        changes.append(TypeChange(ChangeKind.LOCKED, path, True, new.get("description", "")))
    elif ol and not nl:
        changes.append(TypeChange(ChangeKind.UNLOCKED, path, False))
    elif ol and nl and "const" in old and "const" in new and old["const"] != new["const"]:
        changes.append(TypeChange(ChangeKind.LOCK_CHANGED, path, False, f"{_show(old['const'])} -> {_show(new['const'])}"))
    od = old.get("default", old_default[1]) if "default" in old or old_default[0] else None
    nd = new.get("default", new_default[1]) if "default" in new or new_default[0] else None
    if od != nd and not (isinstance(od, Mapping) or isinstance(nd, Mapping)) and not (ol and nl):
        changes.append(TypeChange(ChangeKind.DEFAULT_CHANGED, path, False, f"{_show(od)} -> {_show(nd)}"))
    return changes


# -- the diff -------------------------------------------------------------------------------------------------

def _renames(new: TypeVersion, old_version: str) -> dict[str, str]:
    """old path → new path, from the new version's migrations that apply to the old version."""
    out: dict[str, str] = {}
    for migration in new.declarations.migrations:
        rng = Range.try_parse(migration.from_versions)
        if rng is None or rng.allows(old_version):
            out.update(migration.rename)
    return out


def _required(schema: Mapping[str, Any] | None, path: str) -> bool:
    parent, _, key = path.rpartition(".")
    node = _flatten(schema).get(parent) if parent else schema
    return bool(node) and key in (node.get("required") or ())  # type: ignore[union-attr]


def diff_types(old: TypeVersion, new: TypeVersion) -> list[TypeChange]:
    """Every change from ``old`` to ``new``, classified (pure)."""
    before, after = _flatten(old.schema), _flatten(new.schema)
    renames = {o: n for o, n in _renames(new, old.version).items() if o in before and n in after and o not in after}
    changes: list[TypeChange] = []
    added = [p for p in after if p not in before and p not in renames.values()]
    removed = [p for p in before if p not in after and p not in renames]
    # a removed and an added leaf with the same schema and default and no migration: most likely a rename
    for gone in list(removed):
        twin = [p for p in added if after[p] == before[gone] and "properties" not in before[gone]
                and _default(new.defaults, p) == _default(old.defaults, gone) and p.rpartition(".")[0] == gone.rpartition(".")[0]]
        if len(twin) == 1:
            changes.append(TypeChange(ChangeKind.RENAMED, f"{gone} -> {twin[0]}", True,
                                      "no values migration: instances that set it lose the setting"))
            removed.remove(gone)
            added.remove(twin[0])
    for old_path, new_path in sorted(renames.items()):
        changes.append(TypeChange(ChangeKind.RENAMED, f"{old_path} -> {new_path}", False, "a values migration moves it"))
        changes += _compare(new_path, before[old_path], after[new_path], _default(old.defaults, old_path),
                            _default(new.defaults, new_path))
    for path in sorted(p for p in added if not any(p.startswith(a + ".") or p.startswith(a + "[]") for a in added if a != p)):
        required = _required(new.schema, path) and not _default(new.defaults, path)[0] and "default" not in after[path]
        changes.append(TypeChange(ChangeKind.ADDED, path, required,
                                  "required, without a default" if required else ""))
    for path in sorted(p for p in removed if not any(p.startswith(r + ".") or p.startswith(r + "[]") for r in removed if r != p)):
        changes.append(TypeChange(ChangeKind.REMOVED, path, True))
    for path in sorted(set(before) & set(after)):
        changes += _compare(path, before[path], after[path], _default(old.defaults, path),
                            _default(new.defaults, path))
    if old.schema is not None and new.schema is not None:
        changes += [c for c in _compare("(top level)", old.schema, new.schema, (False, None), (False, None))
                    if c.kind in (ChangeKind.REQUIRED_ADDED, ChangeKind.REQUIRED_REMOVED, ChangeKind.CLOSED,
                                  ChangeKind.OPENED)]
        changes = [TypeChange(c.kind, c.subject.removeprefix("(top level)."), c.breaking, c.detail) for c in changes]
    # a new parameter that is required is said once, by "parameter added"
    changes = [c for c in changes if not (c.kind is ChangeKind.REQUIRED_ADDED and c.subject in added)]
    return changes + _diff_declarations(old.declarations, new.declarations)


def _diff_declarations(old: TypeDeclarations, new: TypeDeclarations) -> list[TypeChange]:
    changes: list[TypeChange] = []
    op, np_ = {p.name: p for p in old.plans}, {p.name: p for p in new.plans}
    for name in sorted(np_.keys() - op.keys()):
        changes.append(TypeChange(ChangeKind.PLAN_ADDED, name, False))
    for name in sorted(op.keys() - np_.keys()):
        changes.append(TypeChange(ChangeKind.PLAN_REMOVED, name, True, "instances on it cannot upgrade"))
    for name in sorted(op.keys() & np_.keys()):
        a, b = op[name], np_[name]
        if (dict(a.values), a.locked) != (dict(b.values), b.locked):
            more_locked = sorted(set(b.locked) - set(a.locked))
            changes.append(TypeChange(ChangeKind.PLAN_CHANGED, name, bool(more_locked),
                                      f"newly locked {', '.join(more_locked)}" if more_locked else "values"))
    oo, no = {o.key: o for o in old.outputs}, {o.key: o for o in new.outputs}
    for key in sorted(no.keys() - oo.keys()):
        changes.append(TypeChange(ChangeKind.OUTPUT_ADDED, key, False))
    for key in sorted(oo.keys() - no.keys()):
        changes.append(TypeChange(ChangeKind.OUTPUT_REMOVED, key, True, "bound consumers lose it"))
    for key in sorted(oo.keys() & no.keys()):
        if oo[key].to_json() != no[key].to_json():
            changes.append(TypeChange(ChangeKind.OUTPUT_CHANGED, key, True,
                                      f"{_show(oo[key].to_json())} -> {_show(no[key].to_json())}"))
    if old.bindable and not new.bindable:
        changes.append(TypeChange(ChangeKind.UNBINDABLE, "bindable", True))
    elif new.bindable and not old.bindable:
        changes.append(TypeChange(ChangeKind.BINDABLE, "bindable", False))
    if dict(old.update_strategy) != dict(new.update_strategy):
        changes.append(TypeChange(ChangeKind.STRATEGY_CHANGED, "updateStrategy", False,
                                  f"{_show(dict(old.update_strategy))} -> {_show(dict(new.update_strategy))}"))
    return changes


def semver_violation(old_version: str, new_version: str, changes: Iterable[TypeChange]) -> list[TypeChange]:
    """The breaking changes a ``new_version`` that is not a new major carries (empty: the bump is right)."""
    breaking = [c for c in changes if c.breaking]
    if not breaking:
        return []
    old, new = SemVer.parse(old_version), SemVer.parse(new_version)
    if new.major > old.major or (new.major == 0 == old.major and new.minor > old.minor):
        return []
    return breaking
