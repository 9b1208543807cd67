"""The catalog: reproducible packages, immutable OCI publishing and the searchable repo-index.

Public API (used by the instances area and scripts)::

    resolve(catalog_url, type, version=None) -> Resolved(type, ref, version, digest, deprecated)
    latest_versions(catalog_url) -> {type: version}      # O(types) registry requests
    sync(catalog_url, index_dir, full=False) -> SyncResult
    package(chart_dir, PackageOptions(...)) -> PackageResult
    publish(packages, PublishOptions(to=...)) -> PublishReport

Modules: ``versions`` (SemVer, tags, --bump) · ``artifact`` (Helm's OCI artifact as bytes) · ``package`` ·
``publish`` · ``index`` (repo-index, sync, deprecate, resolve) · ``oci`` (the one registry adapter) · ``sign``
(GnuPG) · ``settings`` (where the catalog is). Attributes load lazily so importing ``toolkit.catalog.versions``
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "PackageOptions",
    "PublishOptions",
    "Resolved",
    "latest_versions",
    "package",
    "publish",
    "resolve",
    "sync",
]

_WHERE = {
    "PackageOptions": "package", "package": "package",
    "PublishOptions": "publish", "publish": "publish",
    "Resolved": "index", "latest_versions": "index", "resolve": "index", "sync": "index",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"toolkit.catalog.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'toolkit.catalog' has no attribute {name!r}")
