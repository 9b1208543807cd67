"""Values handling: helm-typed --set parsing, merging, and schema validation with locked parameters."""

from __future__ import annotations

import json

import pytest

from toolkit.deploy.values import (ValuesCheck, coalesce, locked_parameters, parse_set, user_values,
                                   validate_values)
from toolkit.errors import InputError

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "replicaCount": {"type": "integer", "const": 1, "readOnly": True},
        "image": {"type": "object", "properties": {
            "tag": {"type": "string"},
            "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
            "registry": {"type": "string", "readOnly": True},
        }},
        "service": {"type": "object", "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}}},
        "plan": {"type": "string", "enum": ["small", "large"]},
        "securityContext": {"type": "object", "const": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}},
    },
}
DEFAULTS = {"replicaCount": 1, "image": {"tag": "1.20", "pullPolicy": "IfNotPresent", "registry": "docker.io"},
            "service": {"port": 8080}, "plan": "small",
            "securityContext": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}}


@pytest.mark.parametrize(("items", "expected"), [
    (["a=1"], {"a": 1}),
    (["a=0"], {"a": 0}),
    (["a=007"], {"a": "007"}),
    (["a=1.5"], {"a": "1.5"}),
    (["a=true,b=False"], {"a": True, "b": False}),
    (["a=null"], {"a": None}),
    (["a.b.c=x"], {"a": {"b": {"c": "x"}}}),
    (["a\\.b=x"], {"a.b": "x"}),
    (["a=x\\,y"], {"a": "x,y"}),
    (["a[1]=x"], {"a": [None, "x"]}),
    (["a[0].name=x,a[0].value=1"], {"a": [{"name": "x", "value": 1}]}),
    (["a={x,2}"], {"a": ["x", 2]}),
    (["a=1", "a=2"], {"a": 2}),
    (["a=1,a.b=2"], {"a": {"b": 2}}),
    (["a=k=v"], {"a": "k=v"}),
    (["a=99999999999999999999"], {"a": "99999999999999999999"}),
], ids=["int", "zero", "leading-zero", "float-stays-string", "bools", "null", "nested", "escaped-dot",
        "escaped-comma", "index", "list-of-maps", "list-literal", "last-wins", "scalar-replaced-by-map", "equals-in-value", "beyond-int64"])
def test_parse_set_types_like_helm(items, expected):
    assert parse_set(items) == expected


def test_parse_set_string_keeps_strings():
    assert parse_set(["a=1,b=true"], as_string=True) == {"a": "1", "b": "true"}


@pytest.mark.parametrize(("item", "message"), [
    ("novalue", '"novalue": key has no value'),
    ("=1", "empty key"),
    ("a.b=1,a[0]=2", "indexes something that is not a list"),
], ids=["no-equals", "empty-key", "map-then-index"])
def test_parse_set_rejects(item, message):
    with pytest.raises(InputError, match=message):
        parse_set([item])


def test_user_values_order_files_then_set(tmp_path):
    values_file = tmp_path / "v.yaml"
    values_file.write_text("plan: large\nimage:\n  tag: '2.0'\n")
    got = user_values([values_file], ["image.tag=2.1"], ["service.port=80"], base={"plan": "small", "x": 1})
    assert got == {"plan": "large", "x": 1, "image": {"tag": "2.1"}, "service": {"port": "80"}}


def test_values_file_nulls_survive_like_set_and_remove_the_default(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("service: null\nimage:\n  pullPolicy: Always\n")
    second.write_text("image:\n  tag: null\n")
    got = user_values([first, second], base={"service": {"port": 9090}})
    assert got == {"service": None, "image": {"pullPolicy": "Always", "tag": None}}
    assert got == user_values([], ["service=null,image.pullPolicy=Always,image.tag=null"])
    # against the chart defaults a null removes the default, as helm does
    merged = validate_values(_check(got))
    assert "service" not in merged
    assert merged["image"] == {"pullPolicy": "Always", "registry": "docker.io"}


def test_values_file_must_be_a_map(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(InputError, match=r'values file ".*bad.yaml": the top level must be a map'):
        user_values([bad])


def test_coalesce_null_removes_and_maps_merge():
    assert coalesce({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": None, "e": 3}, "d": [2]}) == \
        {"a": {"b": 1, "e": 3}, "d": [2]}


def test_locked_parameters_from_const_and_readonly():
    locks = {lock.name: lock for lock in locked_parameters(SCHEMA, DEFAULTS)}
    assert set(locks) == {"replicaCount", "image.registry", "securityContext"}
    assert locks["replicaCount"].value == 1
    assert locks["image.registry"].value == "docker.io"


def _check(values):
    return ValuesCheck(type_name="chat", version="1.0.0", defaults=DEFAULTS, schema=SCHEMA, values=values)


@pytest.mark.parametrize(("values", "message"), [
    ({"replicaCount": 3}, r'parameter replicaCount is locked by the type owner \(fixed at 1\)'),
    ({"image": {"registry": "evil.io"}}, r"parameter image.registry is locked by the type owner"),
    ({"service": {"port": "http"}}, r"parameter service.port: the value is not of type 'integer' \(rule: type \"integer\"\)"),
    ({"service": {"port": 70000}}, r"parameter service.port: the value is greater than the maximum of 65535 \(rule: maximum 65535\)"),
    ({"plan": "huge"}, r"parameter plan: the value is not one of \['small', 'large'\] \(rule: enum\)"),
    ({"securityContext": {"runAsNonRoot": False}},
     r"parameter securityContext.runAsNonRoot is locked by the type owner \(securityContext is fixed by the type owner\)"),
], ids=["const-locked", "readonly-locked", "type", "maximum", "enum", "map-locked"])
def test_validate_values_names_parameter_and_rule(values, message):
    with pytest.raises(InputError, match=message):
        validate_values(_check(values))


def test_validate_values_reports_every_violation():
    with pytest.raises(InputError) as info:
        validate_values(_check({"plan": "huge", "service": {"port": 0}}))
    assert "parameter plan:" in str(info.value) and "parameter service.port:" in str(info.value)


def test_validate_values_accepts_locked_value_unchanged_and_returns_merged():
    merged = validate_values(_check({"replicaCount": 1, "plan": "large", "securityContext": {"runAsNonRoot": True}}))
    assert merged == {**DEFAULTS, "plan": "large"}
    assert json.dumps(merged)
