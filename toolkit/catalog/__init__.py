"""The catalog's domain rules: reproducible packages' artifacts, versions, and the searchable repo-index.

Public API (used by the instances area and scripts)::

    resolve(catalog_ref, type, version=None) -> Resolved(type, ref, version, digest, deprecated)
    latest_versions(catalog_ref) -> {type: version}      # O(types) registry requests

Modules: ``versions`` (SemVer, tags, --bump) · ``artifact`` (Helm's OCI artifact as bytes) · ``index``
(repo-index, resolve) · ``declarations`` (a type's chartkit.yaml). The operations (package, publish, sync,
deprecate, catalog list/show/search) are in ``toolkit.core``; the registry adapter is ``toolkit.adapters.oci``.
Attributes load lazily so importing ``toolkit.catalog.versions`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Resolved",
    "latest_versions",
    "resolve",
]

_WHERE = {"Resolved": "index", "latest_versions": "index", "resolve": "index"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"toolkit.catalog.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'toolkit.catalog' has no attribute {name!r}")
