"""The catalog's index (``repo-index/index.json``): what each type and version is, kept in git, rebuilt from OCI.

The registry is the truth; the index is a searchable copy. ``sync`` reads the registry: one ``_catalog`` page
walk, one tag list per type, and for each version not yet in the index its manifest and its chart blob (the
config blob is skipped: Chart.yaml is inside the chart blob). An incremental sync therefore costs
``1 + types + 2 × new versions`` requests. Deprecation lives in the registry as a marker tag
``<version-tag>.deprecated`` (a tiny OCI artifact whose ``subject`` is the chart's manifest), so every clone
learns it from the tag list it fetches anyway, and helm ignores the tag (not SemVer).

Per version the index keeps: name, version, appVersion, description, ref, tag, manifest digest, chart digest,
created, kubeVersion, deprecated, signed, parameters (from values.schema.json: dotted name, type, default,
locked = ``const`` or ``readOnly``) and images. Images are read statically from the package — image maps in
values.yaml (``registry/repository:tag@digest``, the Bitnami / ``helm create`` layout chartify emits) and literal
``image:`` lines in templates — because rendering every version with helm would make a 500-version sync cost
500 helm runs; they are the images a default install deploys.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import re
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from toolkit.adapters.oci import Registry, digest_of
from toolkit.catalog.artifact import CHART_MEDIA_TYPE, PROV_MEDIA_TYPE
from toolkit.catalog.versions import DEPRECATED_SUFFIX, SemVer, tag_to_version, version_to_tag
from toolkit.config import CatalogRef, CatalogURL
from toolkit.errors import CatalogError, InputError

__all__ = [
    "INDEX_FILE",
    "Index",
    "Resolved",
    "build_entry",
    "catalog_chart_digest",
    "catalog_versions",
    "latest_versions",
    "load_index",
    "resolve",
    "search",
    "types_of",
    "write_index",
]

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
API_VERSION = "chartkit/v1"
DEPRECATION_ARTIFACT_TYPE = "application/vnd.chartkit.deprecation.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
_WORKERS = 8

Progress = Callable[[str], None]


# -- registry access ----------------------------------------------------------------------------------------

def catalog_versions(catalog: CatalogRef, type_name: str) -> list[str]:
    """Every version of a type the catalog holds (one tag-list request)."""
    with catalog.registry() as reg:
        return [v for v in (tag_to_version(t) for t in reg.tags(catalog.url.repository(type_name))) if v]


def catalog_chart_digest(catalog: CatalogRef, type_name: str, version: str) -> str | None:
    """The chart-layer digest the catalog holds for a version, or None (one manifest request)."""
    with catalog.registry() as reg:
        found = reg.manifest(catalog.url.repository(type_name), version_to_tag(version))
    return chart_layer_digest(found[0]) if found else None


def chart_layer_digest(manifest: bytes) -> str | None:
    for layer in json.loads(manifest).get("layers") or []:
        if layer.get("mediaType") == CHART_MEDIA_TYPE:
            return layer.get("digest")
    return None


# -- the public API other areas use -----------------------------------------------------------------------

@dataclass(frozen=True)
class Resolved:
    """A catalog version ready to install: ``helm install NAME {ref} --version {version}``."""

    type: str
    ref: str            # oci://HOST/NAMESPACE/TYPE (no tag)
    version: str
    digest: str         # manifest digest (``{ref}@{digest}`` pins it)
    deprecated: bool


def resolve(catalog: CatalogRef, type_name: str, version: str | None = None, *,
            include_prerelease: bool = False) -> Resolved:
    """Find ``version`` of a type (or its latest release: no prerelease, no deprecated) in the catalog.

    Two registry requests: the tag list and a manifest HEAD. Raises CatalogError when the type or version is
    absent. A deprecated version is still resolved when asked for explicitly (``deprecated=True``; callers warn).
    """
    url = catalog.url
    repo = url.repository(type_name)
    with catalog.registry() as reg:
        tags = reg.tags(repo)
        if not tags:
            raise CatalogError(f'unable to resolve type "{type_name}" in catalog "{url}": no such type',
                               hint="`chartkit catalog list` shows the types")
        deprecated = deprecated_tags(tags)
        if version is None:
            chosen = _latest(tags, deprecated, include_prerelease=include_prerelease)
            if chosen is None:
                raise CatalogError(f'unable to resolve type "{type_name}" in catalog "{url}": it has no '
                                   f"release that is not a prerelease or deprecated", hint="pass --version")
            version = chosen
        tag = version_to_tag(version)
        if tag not in tags:
            raise CatalogError(f'unable to resolve "{type_name}" version "{version}" in catalog "{url}": '
                               f"no such version", hint=f"`chartkit catalog show {type_name}` lists its versions")
        digest = reg.manifest_digest(repo, tag) or ""
    return Resolved(type=type_name, ref=url.ref(type_name), version=version, digest=digest,
                    deprecated=tag in deprecated)


def latest_versions(catalog: CatalogRef) -> dict[str, str]:
    """The newest release of every type: ``{type: version}``, skipping prereleases and deprecated versions.

    Costs ``1 + types`` registry requests (the repository list and one tag list per type, fetched concurrently).
    Types with no eligible version are left out.
    """
    url = catalog.url
    with catalog.registry() as reg:
        types = types_of(url, reg)
        with ThreadPoolExecutor(_WORKERS) as pool:
            tag_lists = dict(zip(types, pool.map(lambda t: reg.tags(url.repository(t)), types)))
    out = {}
    for type_name, tags in sorted(tag_lists.items()):
        latest = _latest(tags, deprecated_tags(tags), include_prerelease=False)
        if latest:
            out[type_name] = latest
    return out


def types_of(url: CatalogURL, reg: Registry) -> list[str]:
    """The types of a catalog: repositories directly under its path (one ``_catalog`` walk)."""
    return sorted({t for t in (url.type_of(r) for r in reg.repositories()) if t})


def deprecated_tags(tags: Iterable[str]) -> set[str]:
    return {t[: -len(DEPRECATED_SUFFIX)] for t in tags if t.endswith(DEPRECATED_SUFFIX)}


def _latest(tags: Iterable[str], deprecated: set[str], *, include_prerelease: bool) -> str | None:
    candidates = []
    for tag in tags:
        version = tag_to_version(tag)
        if not version or tag in deprecated:
            continue
        parsed = SemVer.parse(version)
        if parsed.prerelease and not include_prerelease:
            continue
        candidates.append((parsed, version))
    return max(candidates)[1] if candidates else None


# -- index entries (pure) ---------------------------------------------------------------------------------

def _safe_yaml(data: bytes | None) -> Any:
    if not data:
        return None
    from toolkit.objects import load_documents

    try:  # the one parser: an alias bomb in a package's values.yaml is refused, not walked
        docs = load_documents(data.decode("utf-8", errors="replace"), "package file")
    except Exception:  # noqa: BLE001 - a broken values.yaml must not break the index
        return None
    return docs[0] if docs else None


def _package_files(chart: bytes) -> dict[str, bytes]:
    """Top-level chart files of a package: Chart.yaml, values.yaml, values.schema.json, templates/*."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(chart), mode="r:gz") as tar:
        for info in tar:
            parts = info.name.split("/")
            if not info.isfile() or len(parts) < 2 or "charts" == parts[1]:
                continue
            rel = "/".join(parts[1:])
            if rel in ("Chart.yaml", "values.yaml", "values.schema.json", "chartkit.yaml") or rel.startswith("templates/"):
                extracted = tar.extractfile(info)
                if extracted:
                    out[rel] = extracted.read()
    return out


def _schema_type(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind)
    if kind:
        return str(kind)
    if "const" in node:
        return type(node["const"]).__name__.replace("str", "string").replace("int", "integer")
    return "any"


def _value_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null"


def parameters(schema: Mapping[str, Any] | None, values: Any) -> list[dict[str, Any]]:
    """Leaf parameters of values.schema.json, dotted names, defaults from the schema or values.yaml.

    A chart without a schema still lists the leaves of its values.yaml (type from the value, never locked).
    """
    out: list[dict[str, Any]] = []
    if not schema:
        def leaves(value: Any, path: list[str]) -> None:
            if isinstance(value, Mapping) and value:
                for key, child in value.items():
                    leaves(child, [*path, str(key)])
            elif path:
                out.append({"name": ".".join(path), "type": _value_type(value), "default": value, "locked": False})

        leaves(values, [])
        return out

    def walk(node: Any, path: list[str], value: Any) -> None:
        if not isinstance(node, Mapping):
            return
        props = node.get("properties")
        if isinstance(props, Mapping) and props:
            for key in props:
                child = value.get(key) if isinstance(value, Mapping) else None
                walk(props[key], [*path, str(key)], child)
            return
        if not path:
            return
        locked = "const" in node or node.get("readOnly") is True
        default = node.get("const", node.get("default", value))
        out.append({"name": ".".join(path), "type": _schema_type(node), "default": default, "locked": locked})

    walk(schema or {}, [], values)
    return out


_TEMPLATE_IMAGE = re.compile(r"""^\s*-?\s*image:\s*["']?([^"'{}\s#]+)["']?\s*(?:#.*)?$""", re.M)


def images(values: Any, templates: Mapping[str, bytes], *, app_version: str = "") -> list[str]:
    """Images a default install deploys: image maps and image strings in values, literal images in templates.

    An image map with an empty tag gets the chart's appVersion, the ``helm create`` convention.
    """
    found: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, Mapping):
            repo = node.get("repository")
            if isinstance(repo, str) and repo and ("tag" in node or "digest" in node or key == "image"):
                ref = f"{node['registry']}/{repo}" if node.get("registry") else repo
                tag = node.get("tag")
                if tag in (None, "") and not node.get("digest"):
                    tag = app_version
                if tag not in (None, ""):
                    ref += f":{tag}"
                if node.get("digest"):
                    ref += f"@{node['digest']}"
                found.add(ref)
                return
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and key == "image" and node and " " not in node:
            found.add(node)

    walk(values)
    for text in templates.values():
        found.update(_TEMPLATE_IMAGE.findall(text.decode(errors="replace")))
    return sorted(found)


def build_entry(url: CatalogURL, type_name: str, tag: str, manifest: bytes, chart: bytes,
                *, deprecated: bool = False) -> dict[str, Any]:
    """One index entry from a version's manifest and chart package (pure; shared by sync and publish)."""
    doc = json.loads(manifest)
    annotations = doc.get("annotations") or {}
    layers = doc.get("layers") or []
    files = _package_files(chart)
    chart_yaml = _safe_yaml(files.get("Chart.yaml")) or {}
    values = _safe_yaml(files.get("values.yaml"))
    try:
        schema = json.loads(files["values.schema.json"]) if "values.schema.json" in files else None
    except ValueError:
        schema = None
    # helm test hooks are not part of what an install deploys
    templates = {k: v for k, v in files.items() if k.startswith("templates/") and not k.startswith("templates/tests/")}
    return {
        "name": str(chart_yaml.get("name") or type_name),
        "version": str(chart_yaml.get("version") or tag_to_version(tag) or tag),
        "appVersion": str(chart_yaml.get("appVersion") or ""),
        "description": str(chart_yaml.get("description") or ""),
        "ref": url.ref(type_name),
        "tag": tag,
        "manifestDigest": digest_of(manifest),
        "chartDigest": chart_layer_digest(manifest) or digest_of(chart),
        "created": str(annotations.get("org.opencontainers.image.created") or ""),
        "kubeVersion": str(chart_yaml.get("kubeVersion") or ""),
        "deprecated": bool(deprecated or chart_yaml.get("deprecated")),
        "signed": any(layer.get("mediaType") == PROV_MEDIA_TYPE for layer in layers),
        "parameters": parameters(schema, values),
        "images": images(values, templates, app_version=str(chart_yaml.get("appVersion") or "")),
        "declarations": _declarations(files.get("chartkit.yaml"), f"{type_name}:{tag}"),
    }


def _declarations(text: bytes | None, origin: str) -> dict[str, Any]:
    """The type's declarations (chartkit.yaml: plans, binding outputs, update strategy) for the index."""
    from toolkit.catalog.declarations import TypeDeclarations, load_declarations

    try:
        return load_declarations(text, origin).to_json()
    except InputError as exc:  # a broken chartkit.yaml must not break the index: the defaults stand, said once
        log.warning("%s", exc)
        return TypeDeclarations().to_json()


# -- the index file ---------------------------------------------------------------------------------------

@dataclass
class Index:
    catalog: str = ""
    types: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        types = {}
        for name in sorted(self.types):
            versions = self.types[name]
            ordered = sorted(versions, key=lambda v: SemVer.parse(v).key(), reverse=True)
            types[name] = {v: dict(sorted(versions[v].items())) for v in ordered}
        return {"apiVersion": API_VERSION, "kind": "CatalogIndex", "catalog": self.catalog, "types": types}

    def entry(self, type_name: str, version: str | None = None) -> dict[str, Any]:
        versions = self.types.get(type_name)
        if not versions:
            raise CatalogError(f'unable to show type "{type_name}": not in the index',
                               hint="`chartkit catalog list` shows the types; `chartkit catalog sync` refreshes")
        if version is None:
            version = _latest([version_to_tag(v) for v in versions],
                              {version_to_tag(v) for v, e in versions.items() if e.get("deprecated")},
                              include_prerelease=False) or max(versions, key=lambda v: SemVer.parse(v).key())
            version = tag_to_version(version_to_tag(version)) or version
        if version not in versions:
            raise CatalogError(f'unable to show "{type_name}" version "{version}": not in the index',
                               hint=f"versions: {', '.join(sorted(versions, key=lambda v: SemVer.parse(v).key()))}")
        return versions[version]


LOCK_FILE = ".index.lock"


@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Hold ``index_dir/.index.lock`` exclusively: every read-modify-write of the index runs inside it,
    so two publishers of different versions cannot drop each other's entries."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def load_index(index_dir: Path) -> Index:
    path = index_dir / INDEX_FILE
    if not path.exists():
        return Index()
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise CatalogError(f'unable to read the catalog index "{path}": {exc}',
                           hint="rebuild it with `chartkit catalog sync --full`") from exc
    return Index(catalog=data.get("catalog", ""), types=data.get("types") or {})


def write_index(index_dir: Path, index: Index) -> Path:
    """Write the index atomically (temp file + rename), validated against its JSON Schema first."""
    data = index.to_json()
    validate_index(data)
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / INDEX_FILE
    fd, tmp = tempfile.mkstemp(prefix=".index-", dir=index_dir)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, default=str)
        handle.write("\n")
    os.replace(tmp, path)
    return path


def schema_path() -> Path:
    return Path(__file__).resolve().parents[2] / "schemas" / "catalog-index.schema.json"


def validate_index(data: Mapping[str, Any]) -> None:
    import jsonschema

    path = schema_path()
    if not path.exists():  # an installed wheel without the repo's schemas/ directory
        return
    schema = json.loads(path.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path)
        raise CatalogError(f'unable to write the catalog index: "/{where}": {errors[0].message}')


def update_index(index_dir: Path, catalog: CatalogURL, entries: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Add published versions to the index (publish calls this only for what landed)."""
    with index_lock(index_dir):
        index = load_index(index_dir)
        if index.catalog and index.catalog != str(catalog):
            log.warning("index %s describes %s, not %s: not updating it", index_dir, index.catalog, catalog)
            return
        index.catalog = str(catalog)
        for type_name, entry in entries:
            versions = index.types.setdefault(type_name, {})
            # publish cannot see marker tags; a deprecation the index already knows stays
            old = versions.get(entry["version"]) or {}
            versions[entry["version"]] = {**entry, "deprecated": bool(entry["deprecated"] or old.get("deprecated"))}
        write_index(index_dir, index)


# -- reading the index ------------------------------------------------------------------------------------

def list_types(index: Index) -> list[dict[str, Any]]:
    """One row per type: its latest release (or newest version), how many versions, the description."""
    rows = []
    for name in sorted(index.types):
        entry = index.entry(name)
        rows.append({"type": name, "latest": entry["version"], "versions": len(index.types[name]),
                     "appVersion": entry["appVersion"], "description": entry["description"],
                     "deprecated": entry["deprecated"]})
    return rows


def search(index: Index, text: str) -> list[dict[str, Any]]:
    """Types whose name, description, images or parameter names contain ``text`` (case-insensitive)."""
    needle = text.lower()
    hits = []
    for name in sorted(index.types):
        entry = index.entry(name)
        where = []
        if needle in name.lower():
            where.append("name")
        if needle in entry["description"].lower():
            where.append("description")
        if any(needle in image.lower() for image in entry["images"]):
            where.append("images")
        if any(needle in p["name"].lower() for p in entry["parameters"]):
            where.append("parameters")
        if where:
            hits.append({"type": name, "version": entry["version"], "description": entry["description"],
                         "matched": where})
    return hits


def require_index(index_dir: Path) -> Index:
    index = load_index(index_dir)
    if not index.catalog:
        raise InputError(f'unable to read the catalog index in "{index_dir}": it is empty or missing',
                         hint="run `chartkit catalog sync --catalog oci://HOST/PATH` first")
    return index
