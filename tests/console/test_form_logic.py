"""The deploy form's rules, pure: a values schema made renderable, the form's text typed back, what an instance
records, and plan locks. (The browser tests show the same forms rendered by react-jsonschema-form.)"""

from __future__ import annotations

import json

import pytest

from toolkit.catalog.declarations import Plan
from toolkit.deploy.form import check_plan, form_spec, form_values, values_delta, widget_kinds
from toolkit.errors import InputError

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "global": {"type": "object"},
        "enabled": {"type": "boolean"},
        "app": {
            "type": "object",
            "properties": {
                "replicaCount": {"type": "integer", "minimum": 0},
                "image": {"type": "object", "properties": {"registry": {"type": "string"}, "tag": {"type": "string"}},
                          "const": {"registry": "r.example", "tag": "1.0"}, "readOnly": True,
                          "description": "pinned by the platform team"},
                "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent"]},
                "className": {"type": ["string", "null"]},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "port": {"type": "integer"}, "targetPort": {"type": ["integer", "string"]}}}},
                "limits": {"type": "object", "additionalProperties": {
                    "type": ["string", "number"], "pattern": "^[0-9.]+[a-zA-Z]*$", "minimum": 0}},
                "env": {"type": "object", "properties": {"PORT": {"type": "integer"}},
                        "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
                "securityContext": {"type": "object"},
                "tolerations": {"type": "array"},
                "enabled": {"type": "boolean"},
            },
        },
    },
}
DEFAULTS = {"app": {"replicaCount": 2, "image": {"registry": "r.example", "tag": "1.0"}, "pullPolicy": "Always",
                    "className": None, "ports": [{"port": 80, "targetPort": "http"}],
                    "limits": {"cpu": 1, "memory": "512Mi"}, "env": {"PORT": 3000, "MODE": "prod"},
                    "securityContext": {"runAsNonRoot": True}, "tolerations": [], "enabled": True}}


def test_every_field_gets_a_widget_a_form_library_has():
    assert widget_kinds(SCHEMA) == {
        "app": "object", "app.replicaCount": "number", "app.image": "object+locked",
        "app.image.registry": "string+locked", "app.image.tag": "string+locked", "app.pullPolicy": "enum",
        "app.className": "string", "app.ports": "array", "app.ports.[]": "object", "app.ports.[].port": "number",
        "app.ports.[].targetPort": "union-text", "app.limits": "map", "app.env": "object", "app.env.PORT": "number",
        "app.securityContext": "yaml", "app.tolerations": "yaml", "app.enabled": "boolean"}


def test_unions_become_validated_text_and_subchart_keys_are_hidden():
    spec = form_spec(SCHEMA, DEFAULTS)
    app = spec.schema["properties"]["app"]["properties"]
    assert app["ports"]["items"]["properties"]["targetPort"]["type"] == "string"
    # a quantity keeps its pattern (checked as typed) and loses the number-only rules
    assert app["limits"]["additionalProperties"] == {"type": "string", "pattern": "^[0-9.]+[a-zA-Z]*$"}
    assert app["env"]["additionalProperties"]["type"] == ["string", "null"]
    assert "$schema" not in spec.schema
    assert spec.ui_schema["global"] == {"ui:field": "hidden"} and spec.ui_schema["enabled"] == {"ui:field": "hidden"}
    assert spec.ui_schema["app"]["securityContext"] == {"ui:field": "yaml"}
    # the data the form starts with shows unions as text; declared properties keep their own type
    assert spec.data["app"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert spec.data["app"]["ports"] == [{"port": 80, "targetPort": "http"}]
    assert spec.data["app"]["env"] == {"PORT": 3000, "MODE": "prod"}


def test_a_lock_is_read_only_with_the_owners_reason():
    spec = form_spec(SCHEMA, DEFAULTS)
    assert [(lock.path, lock.reason, lock.by) for lock in spec.locked] == [
        ("app.image", "pinned by the platform team", "type owner")]
    ui = spec.ui_schema["app"]["image"]
    assert ui["ui:help"] == "Locked by the type owner: pinned by the platform team"
    assert ui["ui:title"] == "image (locked)"
    assert spec.schema["properties"]["app"]["properties"]["image"]["readOnly"] is True


@pytest.mark.parametrize(("text", "typed"), [
    ("8080", 8080), ("http", "http"), ("-1", -1), ("", ""),
], ids=["digits-integer", "name-string", "negative", "empty"])
def test_int_or_string_text_is_typed_back_like_helm_set(text, typed):
    data = json.loads(json.dumps(form_spec(SCHEMA, DEFAULTS).data))
    data["app"]["ports"][0]["targetPort"] = text
    assert form_values(SCHEMA, data, DEFAULTS)["app"]["ports"][0]["targetPort"] == typed


def test_a_quantity_left_as_shown_keeps_its_type_and_a_new_one_stays_text():
    data = json.loads(json.dumps(form_spec(SCHEMA, DEFAULTS).data))
    assert form_values(SCHEMA, data, DEFAULTS)["app"]["limits"] == {"cpu": 1, "memory": "512Mi"}
    data["app"]["limits"]["cpu"] = "500m"
    data["app"]["limits"]["ephemeral-storage"] = "2"
    assert form_values(SCHEMA, data, DEFAULTS)["app"]["limits"] == {"cpu": "500m", "memory": "512Mi",
                                                                  "ephemeral-storage": "2"}


def test_an_untouched_form_records_nothing_and_a_change_records_only_itself():
    data = json.loads(json.dumps(form_spec(SCHEMA, DEFAULTS).data))
    assert values_delta(DEFAULTS, form_values(SCHEMA, data, DEFAULTS)) == {}
    data["app"]["replicaCount"] = 3
    data["app"]["ports"][0]["targetPort"] = "8080"
    data["app"]["env"]["EXTRA"] = "1"
    assert values_delta(DEFAULTS, form_values(SCHEMA, data, DEFAULTS)) == {"app": {
        "replicaCount": 3, "ports": [{"port": 80, "targetPort": 8080}], "env": {"EXTRA": "1"}}}


def test_delta_tells_true_from_one_and_leaves_missing_keys_alone():
    assert values_delta({"a": 1, "b": True}, {"a": True, "b": True}) == {"a": True}
    assert values_delta({"a": 1, "b": {"c": 2}}, {"b": {}}) == {}
    assert values_delta({}, {"new": None, "x": 0}) == {"x": 0}


def test_a_plan_prefills_its_values_and_locks_its_parameters():
    plan = Plan("large", "three replicas", values={"app": {"replicaCount": 3}}, locked=("app.replicaCount",))
    spec = form_spec(SCHEMA, DEFAULTS, values={"app": {"replicaCount": 5}}, plan=plan)
    assert spec.data["app"]["replicaCount"] == 3  # the plan's lock wins over the instance's own value
    node = spec.schema["properties"]["app"]["properties"]["replicaCount"]
    assert (node["const"], node["readOnly"]) == (3, True)
    assert [(lock.path, lock.by) for lock in spec.locked] == [("app.replicaCount", "plan large"),
                                                              ("app.image", "type owner")]
    check_plan(plan, {"app": {"replicaCount": 3}}, "app")
    with pytest.raises(InputError, match=r'plan "large" of "app": parameter app.replicaCount is locked by the plan '
                                         r"\(fixed at 3\)"):
        check_plan(plan, {"app": {"replicaCount": 4}}, "app")


def test_a_chart_without_a_schema_is_one_yaml_editor():
    spec = form_spec(None, {"a": 1})
    assert (spec.schema, spec.ui_schema, spec.data) == ({"type": "object"}, {"ui:field": "yaml"}, {"a": 1})
