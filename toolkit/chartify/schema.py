"""values.schema.json: draft-07, Kubernetes-aware types, descriptions, locks.

Helm 4 validates the merged values against it on install, upgrade and template. Locks are real: a locked
parameter gets ``const`` (Helm enforces it) and ``readOnly: true`` (UIs such as Kubeapps show it disabled).
Objects chartify defines are closed with ``additionalProperties: false`` so typos fail early; the top level also
allows ``global`` so the chart still works as a subchart. Structures copied from the source (resources, affinity,
rules…) stay open: they are Kubernetes' to define.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from toolkit.chartify.model import copy_tree

__all__ = ["build_schema", "go_string", "has_big_numbers", "infer"]

DRAFT = "http://json-schema.org/draft-07/schema#"
QUANTITY: dict[str, Any] = {"type": ["string", "number"], "pattern": r"^[+-]?[0-9.]+([eE][+-]?[0-9]+|[a-zA-Z]{1,2})?$",
                            "description": "a Kubernetes quantity such as 500m, 1, 1Gi"}
INT_OR_STRING: dict[str, Any] = {"type": ["integer", "string"]}
REPLICAS: dict[str, Any] = {"type": "integer", "minimum": 0}
SERVICE_TYPE: dict[str, Any] = {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]}
PULL_POLICY: dict[str, Any] = {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]}


def go_string(text: str) -> str:
    """A Go template string literal (JSON quoting is valid Go quoting for these)."""
    return json.dumps(text)


def has_big_numbers(value: Any) -> bool:
    """toYaml prints float64 values of 1e6 and more as 1e+06; such structures are emitted with toJson."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return abs(value) >= 1_000_000 or (isinstance(value, float) and not value.is_integer())
    if isinstance(value, dict):
        return any(has_big_numbers(v) for v in value.values())
    if isinstance(value, list):
        return any(has_big_numbers(v) for v in value)
    return False


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def infer(value: Any) -> dict[str, Any]:
    """A permissive schema from a default: its type (nullable where null), open structures."""
    kind = _type_of(value)
    if kind == "null":
        return {}  # nothing known about the type: accept anything, null included
    if kind == "array":
        return {"type": "array"}
    if kind == "object":
        return {"type": "object"}
    if kind == "number":
        return {"type": "number"}
    return {"type": kind}


def nullable_string(value: Any) -> dict[str, Any]:
    return {"type": ["string", "null"]}


#: an OCI digest (algorithm:hex); chartify refuses source images that break it before the schema would
DIGEST_PATTERN = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$"


def image(parts: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["repository"],
        "properties": {
            "registry": {"type": "string", "description": "Registry host[:port]; empty for Docker Hub"},
            "repository": {"type": "string", "minLength": 1, "description": "Repository path"},
            "tag": {"type": "string", "description": "Tag (a string, even when it looks like a number)"},
            "digest": {"type": "string", "pattern": "^$|" + DIGEST_PATTERN,
                       "description": "Digest, e.g. sha256:…; wins over the tag at pull time"},
            **({"pullPolicy": {**PULL_POLICY, "description": "imagePullPolicy of the container"}}
               if "pullPolicy" in parts else {}),
        },
    }


def resources(value: Any) -> dict[str, Any]:
    quantities = {"type": "object", "additionalProperties": QUANTITY}
    return {"type": "object", "properties": {"limits": quantities, "requests": quantities,
                                             "claims": {"type": "array"}}}


def env(plain: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
            "properties": {k: {"type": _type_of(v)} if v is not None else {} for k, v in plain.items()}}


def secret_values(keys: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": ["string", "null"]},
            "properties": {k: {"type": ["string", "null"]} for k in keys}}


def service_ports() -> dict[str, Any]:
    return {"type": "array", "items": {
        "type": "object",
        "required": ["port"],
        "properties": {
            "name": {"type": "string"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "targetPort": INT_OR_STRING,
            "nodePort": {"type": "integer"},
            "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"]},
            "appProtocol": {"type": "string"},
        },
    }}


def _lock(node: dict[str, Any], value: Any) -> None:
    node["const"] = value
    node["readOnly"] = True


def build_schema(values: Mapping[str, Any], params: Mapping[tuple[str, ...], Any],
                 groups: Mapping[tuple[str, ...], str], locks: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """The chart's values.schema.json from the values tree, its parameters and the locked paths."""
    root = _object_schema(values, (), params, groups)
    root = {"$schema": DRAFT, "title": "values", **root}
    props = root.setdefault("properties", {})
    props["global"] = {"type": "object", "description": "Values shared with subcharts (Helm)"}
    # a parent chart's `condition: <name>.enabled` hands this key to the chart when it is a subchart
    props.setdefault("enabled", {"type": "boolean", "description": "Set by a parent chart's condition"})
    for path, value in locks.items():
        _lock(_find(root, path), value)
    return root


def _find(root: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = root
    for key in path:
        node = node.setdefault("properties", {}).setdefault(key, {})
    return node


def _object_schema(values: Mapping[str, Any], prefix: tuple[str, ...], params: Mapping[tuple[str, ...], Any],
                   groups: Mapping[tuple[str, ...], str]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key, value in values.items():
        path = prefix + (key,)
        param = params.get(path)
        if param is not None:
            # a copy: locks below may write into nested properties. Schemas hold parsed YAML only (string
            # keys, JSON types), so a tree copy equals the JSON round trip it replaces, at a third of the cost
            node = copy_tree(param.schema)
            if param.default is None and node.get("type"):
                types = node["type"] if isinstance(node["type"], list) else [node["type"]]
                node["type"] = sorted(set(types) | {"null"})
            node["description"] = param.description
            node["default"] = param.default
            props[key] = node
        elif isinstance(value, dict):
            node = _object_schema(value, path, params, groups)
            if path in groups:
                node["description"] = groups[path]
            props[key] = node
        else:  # pragma: no cover - every leaf is a parameter
            props[key] = infer(value)
    return {"type": "object", "additionalProperties": False, "properties": props}
