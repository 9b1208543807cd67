"""Where the catalog is and how to reach it, from flags, then the environment, then the local environment.

    catalog          --catalog/--to/--from, CHARTKIT_CATALOG, the index's own catalog, else the local
                     registry's ``oci://127.0.0.1:PORT/charts``
    ca_file          --ca-file, CHARTKIT_REGISTRY_CA, the local registry's CA when the host is the local one
    registry_config  --registry-config, HELM_REGISTRY_CONFIG, the local registry's when the host is the local one
    index_dir        --index, CHARTKIT_INDEX, ``./repo-index``
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import InputError

__all__ = ["DEFAULT_NAMESPACE", "Settings", "resolve_settings"]

DEFAULT_NAMESPACE = "charts"


@dataclass(frozen=True, kw_only=True)
class Settings:
    catalog: str
    ca_file: Path | None
    registry_config: Path | None
    index_dir: Path


def _local_registry() -> dict | None:
    try:
        from toolkit import localenv

        return localenv.status().get("registry")
    except Exception:  # noqa: BLE001 - the local environment is a convenience default, never required
        return None


def resolve_settings(*, catalog: str | None = None, ca_file: Path | None = None,
                     registry_config: Path | None = None, index_dir: Path | None = None) -> Settings:
    from toolkit.catalog.index import load_index
    from toolkit.catalog.oci import CatalogURL

    index_dir = index_dir or Path(os.environ.get("CHARTKIT_INDEX") or "repo-index")
    catalog = catalog or os.environ.get("CHARTKIT_CATALOG") or load_index(index_dir).catalog or None
    local = None
    if not catalog:
        local = _local_registry()
        if not local:
            raise InputError("unable to find the catalog: no --catalog/--to/--from, no CHARTKIT_CATALOG, no index, "
                             "no local registry running", hint="pass oci://HOST/NAMESPACE or run `chartkit up`")
        catalog = f"{local['url']}/{DEFAULT_NAMESPACE}"
    host = CatalogURL.parse(catalog).host
    ca_file = ca_file or (Path(os.environ["CHARTKIT_REGISTRY_CA"]) if os.environ.get("CHARTKIT_REGISTRY_CA") else None)
    if registry_config is None and os.environ.get("HELM_REGISTRY_CONFIG"):
        registry_config = Path(os.environ["HELM_REGISTRY_CONFIG"])
    if ca_file is None or registry_config is None:
        local = local or _local_registry()
        if local and local.get("host") == host:
            ca_file = ca_file or Path(local["ca_file"])
            registry_config = registry_config or Path(local["registry_config"])
    return Settings(catalog=catalog, ca_file=ca_file, registry_config=registry_config, index_dir=index_dir)
