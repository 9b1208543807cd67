"""The type's declarations chartify can infer: ``chartkit.yaml`` beside values.yaml (type-declarations.schema.json).

From the app itself chartify proposes what a binding hands out — ``host`` and ``port`` from its Service, every key
of its Secrets (and the servicebinding.io aliases ``username``/``password``/``uri`` where a key's name says so) —
one ``default`` plan with the chart's defaults, and a ``rolling`` update strategy. The owner's own choices (plans,
outputs, strategy, bindable, release notes, migrations) live under ``declarations:`` in the overrides file and
replace what was inferred, key by key, so they survive every regeneration. An app with neither a Service nor a
Secret is declared not bindable.
"""

from __future__ import annotations

from typing import Any, Mapping

from toolkit.catalog.declarations import API_VERSION, DECLARATIONS_FILE, KIND, parse_declarations, well_known_alias
from toolkit.chartify.model import Expr, Model

__all__ = ["declaration_files", "infer_declarations"]

_HEADER = ("# The type's declarations: plans, what a binding hands out, how new versions roll out.\n"
           "# Inferred by chartkit chartify; the owner's choices go under `declarations:` in the overrides file.\n"
           "# Schema: schemas/type-declarations.schema.json\n")


def _literal(node: Any) -> Any:
    """A template node with chartify's expressions put back to the source's literals."""
    if isinstance(node, Expr):
        return node.original
    if isinstance(node, dict):
        return {k: _literal(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_literal(v) for v in node]
    return node


def _outputs(model: Model) -> dict[str, dict[str, Any]]:
    objects = [tf.obj for tf in model.templates]
    services = [o for o in objects if o.get("kind") == "Service" and isinstance(_literal(o.get("spec")), dict)
                and (_literal(o.get("spec")) or {}).get("ports")]
    outputs: dict[str, dict[str, Any]] = {}
    if services:
        # the Service named like the chart (the app's front door) first, else the first one
        svc = next((s for s in services if s["metadata"].get("name") == model.name), services[0])
        name = str(svc["metadata"]["name"])
        port = (_literal(svc["spec"])["ports"] or [{}])[0]
        outputs["host"] = {"service": name}
        outputs["port"] = {"service": name, "port": port.get("name") or port.get("port")}
    aliases: dict[str, dict[str, Any]] = {}
    for secret in (o for o in objects if o.get("kind") == "Secret"):
        name = str(secret["metadata"]["name"])
        for section in ("data", "stringData"):
            for key in sorted(secret.get(section) or {}):
                outputs.setdefault(key, {"secret": name, "key": key})
                alias = well_known_alias(key)
                if alias and alias not in aliases:
                    aliases[alias] = {"secret": name, "key": key}
    for alias, source in aliases.items():
        outputs.setdefault(alias, source)
    return outputs


def infer_declarations(model: Model, owner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The declarations document for ``model``: inferred, then the owner's keys (overrides) on top."""
    outputs = _outputs(model)
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "plans": [{"name": "default", "description": "the chart's defaults", "default": True}],
        "bindable": bool(outputs),
        "updateStrategy": {"kind": "rolling"},
    }
    if outputs:
        doc["binding"] = {"outputs": outputs}
    for key, value in (owner or {}).items():
        doc[key] = value
    if "binding" in (owner or {}) and "bindable" not in (owner or {}):
        doc["bindable"] = bool((doc["binding"] or {}).get("outputs"))
    return doc


def declaration_files(model: Model, owner: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"chartkit.yaml": text}``: checked against the declarations schema before anything is written."""
    from toolkit.chartify.emit import yaml_lines

    import json

    doc = infer_declarations(model, owner)
    if owner:  # the owner's part is checked; what chartify infers alone is valid by construction (and tested:
        # tests/chartify/test_declarations.py), which spares a plain chartify jsonschema's import (~0.07 s)
        parse_declarations(doc, f"{DECLARATIONS_FILE} of {model.name} (inferred + overrides)")
    # one order whatever the overrides file's (its kept copy is written sorted): regeneration is byte-identical
    order = ["apiVersion", "kind", "plans", "bindable", "binding", "updateStrategy", "release", "migrations"]
    doc = {k: json.loads(json.dumps(doc[k], sort_keys=True)) for k in sorted(doc, key=lambda k: (
        order.index(k) if k in order else len(order), k))}
    return {DECLARATIONS_FILE: _HEADER + "\n".join(yaml_lines(doc)) + "\n"}
