"""Which instances run behind the newest release of their type: pure comparison over catalog tag lists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from toolkit.catalog.versions import DEPRECATED_SUFFIX, SemVer, tag_to_version
from toolkit.config import CatalogRef
from toolkit.deploy.instance import Instance
from toolkit.deploy.origin import catalog_id

__all__ = ["CatalogVersion", "OutdatedRow", "compute_outdated", "latest_for_types", "newest_version",
           "versions_for_types"]


@dataclass(frozen=True)
class CatalogVersion:
    """One version of a type as the catalog holds it."""

    version: str
    digest: str = ""
    deprecated: bool = False


def newest_version(versions: Iterable[CatalogVersion]) -> CatalogVersion | None:
    """The newest version an instance should run: not a prerelease, not deprecated."""
    usable = [(parsed, v) for v in versions if not v.deprecated
              and (parsed := SemVer.try_parse(v.version)) is not None and not parsed.prerelease]
    return max(usable, key=lambda pair: pair[0].key())[1] if usable else None


@dataclass(frozen=True)
class OutdatedRow:
    instance: Instance
    latest: str | None
    outdated: bool
    note: str = ""
    deprecated: bool = False          # the version the instance runs is deprecated in the catalog

    @property
    def major(self) -> bool:
        """The newest release is a new major version: an update that may break (look before upgrading)."""
        current, newest = SemVer.try_parse(self.instance.version), SemVer.try_parse(self.latest or "")
        return bool(self.outdated and current and newest and newest.major > current.major)

    def to_json(self) -> dict[str, Any]:
        return {**self.instance.to_json(), "latest": self.latest, "outdated": self.outdated, "note": self.note,
                "majorAvailable": self.major, "deprecated": self.deprecated}


def compute_outdated(instances: Sequence[Instance], latest: Mapping[str, CatalogVersion | None],
                     *, catalog: object, deprecated: Mapping[str, set[str]] | None = None) -> list[OutdatedRow]:
    """Compare each instance's version with the newest usable version of its type in ``catalog``;
    ``deprecated`` (type → versions) flags instances that run a deprecated version."""
    rows = []
    here = catalog_id(catalog)
    for inst in instances:
        newest = latest.get(inst.type)
        flagged = inst.version in (deprecated or {}).get(inst.type, set())
        if inst.catalog_id and inst.catalog_id != here:
            rows.append(OutdatedRow(inst, None, False, "installed from another catalog"))
        elif newest is None:
            rows.append(OutdatedRow(inst, None, False, "type has no released version in the catalog", flagged))
        else:
            current = SemVer.try_parse(inst.version)
            behind = current is None or current.key() < SemVer.parse(newest.version).key()
            rows.append(OutdatedRow(inst, newest.version, behind, "", flagged))
    return rows


def catalog_versions_of(tags: Iterable[str]) -> list[CatalogVersion]:
    """A type's versions from its tag list (``<tag>.deprecated`` markers flag their versions)."""
    tags = list(tags)
    deprecated = {t[: -len(DEPRECATED_SUFFIX)] for t in tags if t.endswith(DEPRECATED_SUFFIX)}
    return [CatalogVersion(v, deprecated=t in deprecated) for t in tags if (v := tag_to_version(t))]


def versions_for_types(catalog: CatalogRef, types: Iterable[str]) -> tuple[dict[str, list[CatalogVersion]], int]:
    """Every version of each type (deprecation included): one tag-list request per type. Returns (versions,
    requests)."""
    wanted = sorted(set(types))
    if not wanted:
        return {}, 0
    with catalog.registry() as reg:
        def versions(type_name: str) -> list[CatalogVersion]:
            return catalog_versions_of(reg.tags(catalog.url.repository(type_name)))

        # the first lookup alone: it answers the auth challenge once, the rest reuse the credentials
        found = {name: versions(name) for name in wanted[:1]}
        with ThreadPoolExecutor(8) as pool:
            found.update(zip(wanted[1:], pool.map(versions, wanted[1:])))
        return found, reg.requests


def latest_for_types(catalog: CatalogRef, types: Iterable[str]) -> tuple[dict[str, CatalogVersion | None], int]:
    """Newest usable version of each type: one tag-list request per type. Returns (versions, requests)."""
    found, requests = versions_for_types(catalog, types)
    return {name: newest_version(versions) for name, versions in found.items()}, requests
