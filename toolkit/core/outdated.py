"""Each instance against the newest release of its type: one registry request per type, whatever the count.

Each row also carries the instance's status under its update policy (up to date, update available, major
available, deprecated, security) from the same tag list: deprecation and security releases are marker tags.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from toolkit.config import Config
from toolkit.core.instances import InstancesOptions, instances
from toolkit.deploy.origin import catalog_id
from toolkit.deploy.outdated import OutdatedRow, compute_outdated, newest_version, versions_for_types
from toolkit.deploy.policy import VersionInfo, status_of

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
    versions, requests = versions_for_types(config.catalog, (i.type for i in found if i.catalog_id in ("", here)))
    latest = {name: newest_version(found_versions) for name, found_versions in versions.items()}
    deprecated = {name: {v.version for v in found_versions if v.deprecated} for name, found_versions in versions.items()}
    rows = []
    for row in compute_outdated(found, latest, catalog=config.catalog.url, deprecated=deprecated):
        if row.latest is not None:
            infos = [VersionInfo(v.version, v.deprecated, v.security) for v in versions.get(row.instance.type, [])]
            row = replace(row, status=status_of(row.instance.version, infos, row.policy))
        rows.append(row)
    return OutdatedReport(str(config.catalog.url), rows, requests)
