"""Guard rails in the API server: ``chartkit guard on|off INSTANCE``.

From the type's locked parameters (the object fields they render, found by one probe render: see
``toolkit.deploy.drift.locked_fields``) chartkit writes a ``ValidatingAdmissionPolicy`` and its binding
(admissionregistration.k8s.io/v1; CEL evaluated by the kube-apiserver itself, no webhook server). The policy
matches only UPDATEs of the instance's own objects (their resource types and names, in the instance's namespace)
made by any field manager but Helm's (``helm``): so ``chartkit upgrade`` still changes them, an HPA still scales
(the ``scale`` subresource is another resource), and a ``kubectl edit``/``patch`` of a locked field is refused
(``deny``) or let through with a warning and an audit annotation (``warn``; the watcher then raises a compliance
notice). The message names the type, the parameter and the owner's reason (the parameter's description).

A type can ask for the guard on every install: ``guard: deny|warn`` in its chartkit.yaml.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from toolkit.config import Config

if TYPE_CHECKING:
    from toolkit.adapters.kube import Kube
from toolkit.deploy.drift import HELM_MANAGER, locked_leaves, parameter_fields, pretty_concrete
from toolkit.deploy.fetch import Fetched, fetch_digest
from toolkit.deploy.instance import Instance
from toolkit.deploy.release import get_instance, releases
from toolkit.errors import DeployError, InputError
from toolkit.objects import parse_manifest

__all__ = ["GuardMode", "GuardOptions", "GuardResult", "GuardRule", "guard", "guard_default", "policy_name"]

API = "admissionregistration.k8s.io/v1"
LABEL_INSTANCE = "chartkit.io/guard-instance"
LABEL_NAMESPACE = "chartkit.io/guard-namespace"
_IDENT = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CEL_RESERVED = frozenset({"in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let",
                           "loop", "package", "namespace", "return", "var", "void", "while", "true", "false", "null"})


class GuardMode(str, enum.Enum):
    DENY = "deny"
    WARN = "warn"
    OFF = "off"


@dataclass(frozen=True, kw_only=True)
class GuardOptions:
    instance: str
    namespace: str = "default"
    mode: GuardMode | str = GuardMode.DENY


@dataclass(frozen=True)
class GuardRule:
    kind: str
    name: str
    field: str
    parameter: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "field": self.field, "parameter": self.parameter,
                "reason": self.reason}


@dataclass(frozen=True)
class GuardResult:
    instance: str
    namespace: str
    mode: GuardMode
    policy: str
    rules: tuple[GuardRule, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "namespace": self.namespace, "mode": self.mode.value,
                "policy": self.policy, "rules": [r.to_json() for r in self.rules]}

    def line(self) -> str:
        if self.mode is GuardMode.OFF:
            return f"guard off for {self.namespace}/{self.instance} (policy {self.policy} removed)"
        fields = ", ".join(f"{r.kind}/{r.name} {r.field} ({r.parameter})" for r in self.rules)
        return (f"guard {self.mode.value} for {self.namespace}/{self.instance}: {len(self.rules)} locked fields "
                f"[{fields}] (ValidatingAdmissionPolicy {self.policy})")


def policy_name(instance: str, namespace: str) -> str:
    return f"chartkit-guard.{namespace}.{instance}"[:253]


def guard_default(package: Path) -> GuardMode:
    """What the type asks for on install: ``guard:`` in its chartkit.yaml (off when absent)."""
    from toolkit.catalog.artifact import read_package_file
    from toolkit.catalog.declarations import DECLARATIONS_FILE
    from toolkit.objects import load_documents

    text = read_package_file(package.read_bytes(), DECLARATIONS_FILE)
    docs = load_documents(text.decode(errors="replace"), DECLARATIONS_FILE) if text else []
    value = docs[0].get("guard") if docs and isinstance(docs[0], dict) else None
    return GuardMode(value) if value in ("deny", "warn") else GuardMode.OFF


# -- CEL ------------------------------------------------------------------------------------------------------

def _lit(text: str) -> str:
    return json.dumps(text)


def _field(expr: str, key: str) -> str:
    return f"{expr}.?{key}" if _IDENT.match(key) and key not in _CEL_RESERVED else f"{expr}[?{_lit(key)}]"


def cel_value(base: str, path: Sequence[str | int], node: Any, depth: int = 0) -> str:
    """A CEL expression for the value at ``path`` under ``base`` (an object variable), absent-safe: optional
    field selection throughout; list items with a ``name`` (containers, ports, env) are found by that name."""
    expr = base
    for i, part in enumerate(path):
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                var = f"i{depth}"
                inner = cel_value(var, path[i + 1:], item, depth + 1)
                return (f"{expr}.orValue([]).filter({var}, has({var}.name) && {var}.name == {_lit(item['name'])})"
                        f".map({var}, {inner})")
            expr = f"{expr}[?{part}]"
            node = item
        else:
            expr = _field(expr, part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return expr


def _reason(schema: Mapping[str, Any] | None, parameter: str) -> str:
    """The owner's reason for a lock: the description of the locked parameter (or its nearest locked parent)."""
    node: Any = schema or {}
    reason = ""
    for part in parameter.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping):
            break
        if ("const" in node or node.get("readOnly") is True) and node.get("description"):
            reason = str(node["description"])
    return reason or "locked by the type owner"


# -- the operation --------------------------------------------------------------------------------------------

def _rules(config: Config, inst: Instance, fetched: Fetched, values: Mapping[str, Any],
           manifest: list[dict[str, Any]]) -> list[tuple[GuardRule, dict[str, Any], tuple]]:
    leaves = locked_leaves(fetched.schema, fetched.defaults)
    if not leaves:
        return []
    found = parameter_fields(config.helm(registry=False), fetched.package, release=inst.name, namespace=inst.namespace,
                             values=values, leaves=leaves)
    objects = {(o.get("kind", ""), (o.get("metadata") or {}).get("name", "")): o for o in manifest}
    out = []
    for (kind, name), paths in sorted(found.items()):
        obj = objects.get((kind, name))
        if obj is None:
            continue
        for path, parameter in sorted(paths.items(), key=lambda kv: str(kv[0])):
            rule = GuardRule(kind, name, pretty_concrete(path, obj), parameter, _reason(fetched.schema, parameter))
            out.append((rule, obj, path))
    return out


def guard(config: Config, options: GuardOptions) -> GuardResult:
    """Turn the guard on (deny or warn) or off for one instance; on again rewrites it from the current version."""
    mode = GuardMode(options.mode)
    kube = config.kube()
    name = policy_name(options.instance, options.namespace)
    if mode is GuardMode.OFF:
        kube.delete(API, "ValidatingAdmissionPolicyBinding", name)
        kube.delete(API, "ValidatingAdmissionPolicy", name)
        return GuardResult(options.instance, options.namespace, mode, name)
    inst = get_instance(config, options.instance, options.namespace)
    if not inst.digest:
        raise DeployError(f'unable to guard "{inst.namespace}/{inst.name}": its release records no catalog digest')
    fetched = fetch_digest(config.catalog, inst.type, inst.version, inst.digest)
    record = releases(config).release(inst.name, inst.namespace, inst.revision)
    manifest = parse_manifest(str(record.get("manifest") or ""), f"release {inst.namespace}/{inst.name}")
    rules = _rules(config, inst, fetched, dict(record.get("config") or {}), manifest)
    if not rules:
        raise InputError(f'unable to guard "{inst.namespace}/{inst.name}": {inst.type} {inst.version} renders no '
                         "field from a locked parameter", hint="lock parameters in the type (chartify overrides: "
                                                               "locked: true) and publish a new version")
    kube.apply([_policy(name, inst, rules, kube), _binding(name, inst, mode)], field_manager="chartkit")
    return GuardResult(inst.name, inst.namespace, mode, name, tuple(r for r, _, _ in rules))


def _policy(name: str, inst: Instance, rules: list[tuple[GuardRule, dict[str, Any], tuple]], kube: Kube) -> dict[str, Any]:
    resources: dict[tuple[str, str], set[str]] = {}
    validations = []
    for rule, obj, path in rules:
        res = kube.resource(obj["apiVersion"], obj["kind"], what=f"guard {obj['kind']}")
        resources.setdefault((res.group, res.name), set()).add(rule.name)
        same = f"{cel_value('object', path, obj)} == {cel_value('oldObject', path, obj)}"
        validations.append({
            "expression": f"request.kind.kind != {_lit(rule.kind)} || object.metadata.name != {_lit(rule.name)} "
                          f"|| ({same})",
            "message": (f'{rule.kind}/{rule.name} {rule.field} is locked by type "{inst.type}" (parameter '
                        f"{rule.parameter}): {rule.reason}. Change it through a new version of {inst.type}, "
                        f"not on the live object")[:1024],
            "reason": "Forbidden",
        })
    return {
        "apiVersion": API, "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": {LABEL_INSTANCE: inst.name, LABEL_NAMESPACE: inst.namespace}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": inst.namespace}},
                "resourceRules": [{"apiGroups": [group], "apiVersions": ["*"], "resources": [resource],
                                   "operations": ["UPDATE"], "resourceNames": sorted(names)}
                                  for (group, resource), names in sorted(resources.items())],
            },
            # Helm's own upgrades (server-side apply as field manager "helm") change locked fields legitimately
            "matchConditions": [{"name": "not-helm", "expression":
                                 "!has(request.options) || !has(request.options.fieldManager) || "
                                 f"request.options.fieldManager != {_lit(HELM_MANAGER)}"}],
            "validations": validations,
        },
    }


def _binding(name: str, inst: Instance, mode: GuardMode) -> dict[str, Any]:
    actions = ["Deny"] if mode is GuardMode.DENY else ["Warn", "Audit"]
    return {"apiVersion": API, "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": {LABEL_INSTANCE: inst.name, LABEL_NAMESPACE: inst.namespace}},
            "spec": {"policyName": name, "validationActions": actions}}
