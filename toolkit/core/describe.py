"""Describe the catalog for a person: the types (live from the registry, enriched by the index), and one version
of a type with everything a deployer looks at before installing it.

A type's page needs more than the index holds: its README, its values schema (the parameters with the owner's
reasons for locks), its declarations (plans, binding outputs). Those come from the package itself, pulled once per
digest into the chart cache (as installs do); the rest — images, digests, signature — is the same index entry
``catalog sync`` would build from that package (``toolkit.catalog.index.build_entry``), so the page and the index
never disagree. Binding outputs that are credentials show where they come from, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from toolkit.catalog.artifact import read_package_file
from toolkit.catalog.declarations import TypeDeclarations, declarations_of_package
from toolkit.catalog.index import build_entry, load_index, types_of
from toolkit.catalog.versions import SemVer, version_to_tag
from toolkit.config import Config
from toolkit.deploy.fetch import fetch
from toolkit.deploy.outdated import catalog_versions_of, newest_version
from toolkit.errors import CatalogError

__all__ = ["CatalogTypes", "DescribeOptions", "TypeView", "catalog_types", "describe", "public_declarations"]

README_LIMIT = 256 * 1024  # a README is shown, not archived: a huge one is cut (and says so)


@dataclass(frozen=True, kw_only=True)
class DescribeOptions:
    type: str
    version: str | None = None            # None: the newest release


@dataclass(frozen=True)
class CatalogTypes:
    catalog: str
    types: list[dict[str, Any]]
    index: str                            # "" when no index describes this catalog

    def to_json(self) -> dict[str, Any]:
        return {"catalog": self.catalog, "types": self.types, "index": self.index}


def catalog_types(config: Config, *, index_dir: Path | None = None, search: str = "") -> CatalogTypes:
    """Every type of the catalog with its newest release, version count and deprecation (1 + types registry
    requests); description and app version from the index when one describes this catalog. ``search`` keeps the
    types whose name, description, images or parameter names contain it (the latter two need the index)."""
    from toolkit.catalog.index import search as search_index

    url = config.catalog.url
    index = load_index(index_dir) if index_dir else None
    indexed = index if index is not None and index.catalog == str(url) else None
    with config.catalog.registry() as reg:
        names = types_of(url, reg)
        tags = {name: reg.tags(url.repository(name)) for name in names}
    matched: set[str] | None = None
    if search:
        needle = search.lower()
        matched = {n for n in names if needle in n.lower()}
        if indexed is not None:
            matched |= {hit["type"] for hit in search_index(indexed, search)}
    rows = []
    for name in names:
        versions = catalog_versions_of(tags[name])
        if not versions or (matched is not None and name not in matched):
            continue
        newest = newest_version(versions)
        entry = (indexed.types.get(name) or {}).get(newest.version, {}) if indexed and newest else {}
        rows.append({"type": name, "latest": newest.version if newest else None, "versions": len(versions),
                     "deprecated": newest is None,  # every release deprecated (or only prereleases)
                     "description": entry.get("description", ""), "appVersion": entry.get("appVersion", "")})
    return CatalogTypes(str(url), rows, str(index_dir) if indexed is not None else "")


@dataclass(frozen=True)
class TypeView:
    """One version of a type as a deployer sees it."""

    type: str
    version: str
    digest: str
    deprecated: bool
    versions: list[dict[str, Any]]        # every version, newest first: {version, deprecated, prerelease}
    entry: dict[str, Any]                 # the index entry (images, digests, signed, parameters...)
    readme: str
    declarations: dict[str, Any]
    parameters: list[dict[str, Any]]      # name, type, default, locked, reason, description, enum
    schema: Mapping[str, Any] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "version": self.version, "digest": self.digest, "deprecated": self.deprecated,
                "versions": self.versions, "entry": self.entry, "readme": self.readme,
                "declarations": self.declarations, "parameters": self.parameters}


def describe(config: Config, options: DescribeOptions) -> TypeView:
    """A version of a type: its package pulled (cached by digest), README, declarations and parameters."""
    url = config.catalog.url
    with config.catalog.registry() as reg:
        tags = reg.tags(url.repository(options.type))
    versions = catalog_versions_of(tags)
    if not versions:
        raise CatalogError(f'unable to describe type "{options.type}" in catalog "{url}": no such type',
                           hint="the catalog page lists the types")
    fetched = fetch(config.catalog, options.type, options.version)
    package = fetched.package.read_bytes()
    with config.catalog.registry() as reg:
        found = reg.manifest(url.repository(options.type), fetched.origin.digest)
    entry = build_entry(url, options.type, version_to_tag(fetched.origin.version), found[0], package,
                        deprecated=fetched.deprecated) if found else {}
    raw_readme = read_package_file(package, "README.md") or b""
    readme = raw_readme[:README_LIMIT].decode(errors="replace")
    if len(raw_readme) > README_LIMIT:
        readme += "\n\n*(README cut at 256 KiB)*\n"
    declarations = declarations_of_package(package, f"{options.type}@{fetched.origin.version}")
    ordered = sorted(versions, key=lambda v: SemVer.parse(v.version).key(), reverse=True)
    return TypeView(
        type=options.type, version=fetched.origin.version, digest=fetched.origin.digest,
        deprecated=fetched.deprecated,
        versions=[{"version": v.version, "deprecated": v.deprecated,
                   "prerelease": SemVer.parse(v.version).prerelease} for v in ordered],
        entry=entry, readme=readme, declarations=public_declarations(declarations),
        parameters=_parameters(fetched.schema, fetched.defaults, entry.get("parameters") or []),
        schema=fetched.schema, defaults=fetched.defaults)


def public_declarations(declarations: TypeDeclarations) -> dict[str, Any]:
    """The declarations as JSON without a credential: an output that is a secret shows its source only."""
    data = declarations.to_json()
    outputs = []
    for output, shown in zip(declarations.outputs, data["outputs"]):
        if output.sensitive:
            shown = {k: v for k, v in shown.items() if k not in ("value", "template")}
        outputs.append(shown)
    data["outputs"] = outputs
    return data


def _node(schema: Mapping[str, Any] | None, dotted: str) -> Mapping[str, Any]:
    node: Any = schema or {}
    for key in dotted.split("."):
        props = node.get("properties") if isinstance(node, Mapping) else None
        if not isinstance(props, Mapping) or key not in props:
            return {}
        node = props[key]
    return node if isinstance(node, Mapping) else {}


def _parameters(schema: Mapping[str, Any] | None, defaults: Mapping[str, Any],
                listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The index's parameter rows with what a person needs beside them: the description, the enum, and for a
    locked parameter the owner's reason (its description); a parameter inside a locked one is locked too."""
    from toolkit.deploy.values import locked_parameters

    locked_prefixes = [lock.name for lock in locked_parameters(schema or {}, defaults)]
    out = []
    for row in listed:
        node = _node(schema, row["name"])
        parent = next((p for p in locked_prefixes if row["name"].startswith(p + ".")), None)
        locked = bool(row.get("locked")) or parent is not None
        reason = ""
        if locked:
            reason = str((node if parent is None else _node(schema, parent)).get("description") or
                         "set by the type owner")
        out.append({**row, "locked": locked, "reason": reason, "description": str(node.get("description") or ""),
                    **({"enum": list(node["enum"])} if isinstance(node.get("enum"), list) else {})})
    return out
