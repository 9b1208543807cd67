"""One version of a type, fetched from the catalog: resolved to a digest, its package read from a local cache.

Versions are immutable and addressed by digest, so a package once pulled is kept under
``$CHARTKIT_CACHE/charts/<manifest digest>.tgz`` and every later install, upgrade or drift check of that
version reads it without a registry request. The chart blob is checked against its digest when it is pulled.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from toolkit.catalog.artifact import CHART_MEDIA_TYPE, read_package_file
from toolkit.catalog.index import resolve
from toolkit.config import CatalogRef, cache_dir
from toolkit.deploy.origin import Origin
from toolkit.errors import CatalogError, DeployError

__all__ = ["Fetched", "fetch", "fetch_digest", "read_package"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """One version of a type pulled from the catalog: the package file helm installs, its defaults and schema."""

    origin: Origin
    package: Path
    defaults: Mapping[str, Any]
    schema: Mapping[str, Any] | None
    deprecated: bool = False


def read_package(package: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """values.yaml and values.schema.json of a chart package."""
    from toolkit.objects import load_documents

    data = package.read_bytes()
    raw_values = read_package_file(data, "values.yaml")
    raw_schema = read_package_file(data, "values.schema.json")
    docs = load_documents(raw_values.decode(errors="replace"), f"{package.name}:values.yaml") if raw_values else []
    defaults = docs[0] if docs and isinstance(docs[0], dict) else {}
    try:
        schema = json.loads(raw_schema) if raw_schema else None
    except ValueError as exc:
        raise DeployError(f'unable to read the schema of "{package.name}": values.schema.json is not JSON: {exc}') from exc
    return defaults, schema


def _cached(digest: str) -> Path:
    return cache_dir() / "charts" / f"{digest.replace(':', '-')}.tgz"


def _pull(catalog: CatalogRef, type_name: str, digest: str) -> Path:
    """The chart package of a manifest digest, from the cache or the registry (then cached)."""
    path = _cached(digest)
    if path.is_file():
        return path
    repo = catalog.url.repository(type_name)
    with catalog.registry() as reg:
        found = reg.manifest(repo, digest)
        if found is None:
            raise CatalogError(f'unable to pull "{catalog.url.ref(type_name)}@{digest}": no such manifest')
        if found[1] != digest:
            raise CatalogError(f'unable to pull "{catalog.url.ref(type_name)}@{digest}": the registry answered '
                               f"another manifest ({found[1]})")
        layers = [layer for layer in json.loads(found[0]).get("layers") or []
                  if layer.get("mediaType") == CHART_MEDIA_TYPE]
        if not layers:
            raise CatalogError(f'unable to pull "{catalog.url.ref(type_name)}@{digest}": not a Helm chart '
                               "(no chart layer)")
        chart = reg.blob(repo, layers[0]["digest"])  # checked against its digest by the adapter
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pull-", dir=path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(chart)
    os.replace(tmp, path)  # atomic: a concurrent fetch of the same digest writes the same bytes
    return path


def fetch_digest(catalog: CatalogRef, type_name: str, version: str, digest: str, *,
                 deprecated: bool = False) -> Fetched:
    """A version whose digest is already known (e.g. the one an instance runs): no tag lookup."""
    package = _pull(catalog, type_name, digest)
    defaults, schema = read_package(package)
    origin = Origin(catalog=str(catalog.url), type=type_name, version=version, digest=digest)
    return Fetched(origin, package, defaults, schema, deprecated)


def fetch(catalog: CatalogRef, type_name: str, version: str | None) -> Fetched:
    """Resolve a version in the catalog (newest release when None) and fetch exactly that digest.

    Pulling by the digest just resolved means the digest recorded on the release is the artifact installed even
    if someone overwrites the tag in between (plain `helm push` can; chartkit refuses to).
    """
    found = resolve(catalog, type_name, version)
    if not found.digest:
        raise CatalogError(f'unable to pull "{found.ref}" version {found.version}: the registry gave no digest')
    if found.deprecated:
        log.warning("%s %s is deprecated in the catalog", type_name, found.version)
    return fetch_digest(catalog, type_name, found.version, found.digest, deprecated=found.deprecated)
