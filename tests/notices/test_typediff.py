"""Type diffs: 30+ schema and declaration mutations, each classified as expected; SemVer discipline (pure)."""

from __future__ import annotations

import copy

import pytest

from toolkit.catalog.declarations import parse_declarations
from toolkit.catalog.typediff import ChangeKind as K, TypeVersion, diff_types, semver_violation

BASE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["chat"],
    "properties": {
        "chat": {"type": "object", "additionalProperties": False, "required": ["image"], "properties": {
            "replicaCount": {"type": "integer", "minimum": 1, "maximum": 10},
            "image": {"type": "object", "properties": {
                "registry": {"type": "string", "const": "registry.example", "readOnly": True,
                             "description": "images come from the org registry"},
                "repository": {"type": "string", "minLength": 1},
                "tag": {"type": "string", "pattern": "^[0-9.]+$"},
            }},
            "serviceType": {"type": "string", "enum": ["ClusterIP", "NodePort"]},
            "size": {"type": "string"},
            "timeout": {"type": "integer"},
            "ports": {"type": "array", "maxItems": 4, "items": {"type": "integer"}},
            "debug": {"type": "boolean"},
            "cpu": {"type": ["string", "integer"]},
        }},
    },
}
BASE_DEFAULTS = {"chat": {"replicaCount": 2, "image": {"registry": "registry.example", "repository": "chat",
                                                        "tag": "1.20"}, "serviceType": "ClusterIP", "size": "small",
                          "timeout": 30, "ports": [8080], "debug": False, "cpu": "100m"}}
BASE_DECL = {"apiVersion": "chartkit.dev/v1", "kind": "TypeDeclarations",
             "plans": [{"name": "small", "default": True, "values": {"chat": {"size": "small"}}},
                       {"name": "large", "values": {"chat": {"size": "large"}}}],
             "binding": {"outputs": {"host": {"service": "chat"}, "password": {"secret": "chat-mq", "key": "pw"}}},
             "updateStrategy": {"kind": "rolling"}}


def _chat(schema):
    return schema["properties"]["chat"]["properties"]


def schema_mut(fn):
    def apply(schema, defaults, decl):
        fn(schema)
    return apply


def set_path(path, value):
    def apply(schema, defaults, decl):
        node = schema
        parts = path.split("/")
        for part in parts[:-1]:
            node = node[part]
        if value is None:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    return apply


P = "properties/chat/properties"

#: (id, mutation(schema, defaults, declarations), expected (kind, subject, breaking) somewhere in the diff)
MUTATIONS = [
    ("param-added", set_path(f"{P}/nodeSelector", {"type": "object"}), (K.ADDED, "chat.nodeSelector", False)),
    ("param-added-required", lambda s, d, c: (_chat(s).update(token={"type": "string"}),
                                              s["properties"]["chat"]["required"].append("token")),
     (K.ADDED, "chat.token", True)),
    ("param-removed", set_path(f"{P}/debug", None), (K.REMOVED, "chat.debug", False or True)),
    ("object-removed", set_path(f"{P}/image", None), (K.REMOVED, "chat.image", True)),
    ("renamed-no-migration", lambda s, d, c: (_chat(s).update(timeoutSeconds=_chat(s).pop("timeout")),
                                              d["chat"].update(timeoutSeconds=d["chat"].pop("timeout"))),
     (K.RENAMED, "chat.timeout -> chat.timeoutSeconds", True)),
    ("renamed-with-migration", lambda s, d, c: (_chat(s).update(timeoutSeconds=_chat(s).pop("timeout")),
                                                c.update(migrations=[{"from": "<2.0.0",
                                                                      "rename": {"chat.timeout": "chat.timeoutSeconds"}}])),
     (K.RENAMED, "chat.timeout -> chat.timeoutSeconds", False)),
    ("type-changed", set_path(f"{P}/timeout/type", "string"), (K.TYPE_CHANGED, "chat.timeout", True)),
    ("type-widened-number", set_path(f"{P}/timeout/type", "number"), (K.TYPE_CHANGED, "chat.timeout", False)),
    ("type-widened-nullable", set_path(f"{P}/size/type", ["string", "null"]), (K.TYPE_CHANGED, "chat.size", False)),
    ("type-narrowed-union", set_path(f"{P}/cpu/type", "string"), (K.TYPE_CHANGED, "chat.cpu", True)),
    ("array-items-type", set_path(f"{P}/ports/items/type", "string"), (K.TYPE_CHANGED, "chat.ports[]", True)),
    ("enum-narrowed", set_path(f"{P}/serviceType/enum", ["ClusterIP"]), (K.ENUM_NARROWED, "chat.serviceType", True)),
    ("enum-widened", set_path(f"{P}/serviceType/enum", ["ClusterIP", "NodePort", "LoadBalancer"]),
     (K.ENUM_WIDENED, "chat.serviceType", False)),
    ("enum-removed", set_path(f"{P}/serviceType/enum", None), (K.ENUM_WIDENED, "chat.serviceType", False)),
    ("enum-added", set_path(f"{P}/size/enum", ["small", "large"]), (K.ENUM_NARROWED, "chat.size", True)),
    ("minimum-raised", set_path(f"{P}/replicaCount/minimum", 2), (K.RANGE_NARROWED, "chat.replicaCount", True)),
    ("minimum-lowered", set_path(f"{P}/replicaCount/minimum", 0), (K.RANGE_WIDENED, "chat.replicaCount", False)),
    ("maximum-lowered", set_path(f"{P}/replicaCount/maximum", 5), (K.RANGE_NARROWED, "chat.replicaCount", True)),
    ("maximum-removed", set_path(f"{P}/replicaCount/maximum", None), (K.RANGE_WIDENED, "chat.replicaCount", False)),
    ("minlength-raised", set_path(f"{P}/image/properties/repository/minLength", 3),
     (K.RANGE_NARROWED, "chat.image.repository", True)),
    ("maxitems-lowered", set_path(f"{P}/ports/maxItems", 2), (K.RANGE_NARROWED, "chat.ports", True)),
    ("maximum-added", set_path(f"{P}/timeout/maximum", 60), (K.RANGE_NARROWED, "chat.timeout", True)),
    ("pattern-changed", set_path(f"{P}/image/properties/tag/pattern", "^[0-9]+$"),
     (K.RANGE_NARROWED, "chat.image.tag", True)),
    ("pattern-removed", set_path(f"{P}/image/properties/tag/pattern", None), (K.RANGE_WIDENED, "chat.image.tag", False)),
    ("required-added", lambda s, d, c: s["properties"]["chat"]["required"].append("size"),
     (K.REQUIRED_ADDED, "chat.size", True)),
    ("required-removed", lambda s, d, c: s["properties"]["chat"].update(required=[]),
     (K.REQUIRED_REMOVED, "chat.image", False)),
    ("closed", set_path(f"{P}/image/additionalProperties", False), (K.CLOSED, "chat.image", True)),
    ("opened", set_path("properties/chat/additionalProperties", None), (K.OPENED, "chat", False)),
    ("newly-locked", lambda s, d, c: _chat(s)["size"].update(const="small", readOnly=True),
     (K.LOCKED, "chat.size", True)),
    ("newly-locked-readonly", set_path(f"{P}/debug/readOnly", True), (K.LOCKED, "chat.debug", True)),
    ("unlocked", lambda s, d, c: [_chat(s)["image"]["properties"]["registry"].pop(k) for k in ("const", "readOnly")],
     (K.UNLOCKED, "chat.image.registry", False)),
    ("lock-changed", set_path(f"{P}/image/properties/registry/const", "other.example"),
     (K.LOCK_CHANGED, "chat.image.registry", False)),
    ("default-changed-values", lambda s, d, c: d["chat"].update(size="medium"), (K.DEFAULT_CHANGED, "chat.size", False)),
    ("default-changed-schema", set_path(f"{P}/timeout/default", 45), (K.DEFAULT_CHANGED, "chat.timeout", False)),
    ("plan-added", lambda s, d, c: c["plans"].append({"name": "huge"}), (K.PLAN_ADDED, "huge", False)),
    ("plan-removed", lambda s, d, c: c["plans"].pop(), (K.PLAN_REMOVED, "large", True)),
    ("plan-values-changed", lambda s, d, c: c["plans"][1].update(values={"chat": {"size": "xl"}}),
     (K.PLAN_CHANGED, "large", False)),
    ("plan-locks-more", lambda s, d, c: c["plans"][1].update(locked=["chat.size"]), (K.PLAN_CHANGED, "large", True)),
    ("output-added", lambda s, d, c: c["binding"]["outputs"].update(port={"service": "chat", "port": "http"}),
     (K.OUTPUT_ADDED, "port", False)),
    ("output-removed", lambda s, d, c: c["binding"]["outputs"].pop("password"), (K.OUTPUT_REMOVED, "password", True)),
    ("output-changed", lambda s, d, c: c["binding"]["outputs"].update(password={"secret": "chat-db", "key": "pw"}),
     (K.OUTPUT_CHANGED, "password", True)),
    ("unbindable", lambda s, d, c: c.update(bindable=False), (K.UNBINDABLE, "bindable", True)),
    ("strategy-changed", lambda s, d, c: c.update(updateStrategy={"kind": "blue-green"}),
     (K.STRATEGY_CHANGED, "updateStrategy", False)),
]


def _version(version, schema, defaults, decl):
    return TypeVersion(version, schema, defaults, parse_declarations(decl, f"test {version}"))


def _mutated(mutation):
    schema, defaults, decl = copy.deepcopy(BASE_SCHEMA), copy.deepcopy(BASE_DEFAULTS), copy.deepcopy(BASE_DECL)
    mutation(schema, defaults, decl)
    return _version("2.0.0", schema, defaults, decl)


def test_an_unchanged_type_has_no_changes():
    base = _version("1.0.0", BASE_SCHEMA, BASE_DEFAULTS, BASE_DECL)
    assert diff_types(base, _version("1.0.1", BASE_SCHEMA, BASE_DEFAULTS, BASE_DECL)) == []


@pytest.mark.parametrize(("name", "mutation", "expected"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_mutation_is_classified(name, mutation, expected):
    base = _version("1.0.0", BASE_SCHEMA, BASE_DEFAULTS, BASE_DECL)
    changes = diff_types(base, _mutated(mutation))
    kind, subject, breaking = expected
    found = [c for c in changes if (c.kind, c.subject) == (kind, subject)]
    assert found, [c.line() for c in changes]
    assert found[0].breaking is breaking, found[0].line()
    # each mutation is one change (a renamed parameter with a migration is one rename, not remove + add)
    assert len([c for c in changes if c.kind is not K.DEFAULT_CHANGED or kind is K.DEFAULT_CHANGED]) == 1, \
        [c.line() for c in changes]


def test_there_are_at_least_thirty_fixtures():
    assert len(MUTATIONS) >= 30
    assert {m[2][2] for m in MUTATIONS} == {True, False}


@pytest.mark.parametrize(("old", "new", "refused"), [
    ("1.4.0", "1.5.0", True), ("1.4.0", "1.4.1", True), ("1.4.0", "2.0.0", False), ("0.3.0", "0.4.0", False),
    ("0.3.0", "0.3.1", True), ("1.9.0", "2.0.0-rc.1", False),
])
def test_semver_discipline(old, new, refused):
    changes = diff_types(_version(old, BASE_SCHEMA, BASE_DEFAULTS, BASE_DECL),
                         _mutated(set_path(f"{P}/debug", None)))
    assert bool(semver_violation(old, new, changes)) is refused
    compatible = diff_types(_version(old, BASE_SCHEMA, BASE_DEFAULTS, BASE_DECL),
                            _mutated(set_path(f"{P}/extra", {"type": "string"})))
    assert semver_violation(old, new, compatible) == []
