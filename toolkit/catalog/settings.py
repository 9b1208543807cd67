"""Where the catalog is and how to reach it: the same order as every other command.

    catalog          ``toolkit.deploy.config.resolve_catalog``: --catalog/--to/--from, CHARTKIT_CATALOG,
                     ``.chartkit.yaml`` (searched upward), the user config file, else the running local
                     registry's ``oci://127.0.0.1:PORT/charts``. The URL recorded in the index is never used:
                     a committed index from another machine must not decide where we publish.
    ca_file          --ca-file, else what resolve_catalog found (config file, CHARTKIT_REGISTRY_CA, local registry)
    registry_config  --registry-config, else what resolve_catalog found (config file, HELM_REGISTRY_CONFIG, local)
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
    from toolkit.deploy.config import resolve_catalog

    index_dir = index_dir or Path(os.environ.get("CHARTKIT_INDEX") or "repo-index")
    try:
        # local=False: catalog commands use a running local registry but never start one themselves
        found = resolve_catalog(catalog, local=False)
    except InputError as exc:
        if catalog or not exc.message.startswith("unable to find a catalog"):
            raise  # a bad URL or config file is reported as such, not as "no catalog"
        local = _local_registry()
        if not local:
            raise InputError("unable to find the catalog: no --catalog/--to/--from, no CHARTKIT_CATALOG, "
                             "no .chartkit.yaml or user config, no local registry running",
                             hint="pass oci://HOST/NAMESPACE or run `chartkit up`") from exc
        # the local registry is the deploy config's last step too; resolve_catalog adds its CA and credentials
        found = resolve_catalog(f"{local['url']}/{DEFAULT_NAMESPACE}", local=False)
    return Settings(catalog=found.url, ca_file=ca_file or found.ca_file,
                    registry_config=registry_config or found.registry_config, index_dir=index_dir)
