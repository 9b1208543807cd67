"""Each instance against the newest release of its type: one registry request per type, whatever the count."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import Config
from toolkit.core.instances import InstancesOptions, instances
from toolkit.deploy.origin import catalog_id
from toolkit.deploy.outdated import OutdatedRow, compute_outdated, latest_for_types

__all__ = ["OutdatedOptions", "OutdatedReport", "OutdatedRow", "outdated"]


@dataclass(frozen=True, kw_only=True)
class OutdatedOptions:
    namespace: str | None = None          # None: every namespace


@dataclass(frozen=True)
class OutdatedReport:
    catalog: str
    rows: list[OutdatedRow]
    registry_requests: int

    @property
    def behind(self) -> list[OutdatedRow]:
        return [r for r in self.rows if r.outdated]


def outdated(config: Config, options: OutdatedOptions = OutdatedOptions()) -> OutdatedReport:
    """The cluster listing and the catalog's type list are independent: they run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        # the catalog (and its registry, maybe a local one started on demand) resolves while the cluster answers
        catalog = pool.submit(lambda: config.catalog)
        found = instances(config, InstancesOptions(namespace=options.namespace))
        here = catalog_id(catalog.result().url)
    latest, requests = latest_for_types(config.catalog, (i.type for i in found if i.catalog_id in ("", here)))
    return OutdatedReport(str(config.catalog.url), compute_outdated(found, latest, catalog=config.catalog.url),
                          requests)
