"""Which instances run behind the newest release of their type: pure comparison over catalog tag lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from toolkit.catalog.versions import DEPRECATED_SUFFIX, SemVer, tag_to_version

#: a tag ``<version-tag>.security`` marks a security release (publish puts it when the version's chartkit.yaml
#: says ``release.security: true``), so a status costs no request beyond the tag list
SECURITY_SUFFIX = ".security"
from toolkit.config import CatalogRef
from toolkit.deploy.instance import Instance
from toolkit.deploy.origin import catalog_id
from toolkit.deploy.policy import Policy, PolicyStatus

__all__ = ["CatalogVersion", "OutdatedRow", "compute_outdated", "latest_for_types", "newest_version",
           "SECURITY_SUFFIX", "versions_for_types"]


@dataclass(frozen=True)
class CatalogVersion:
    """One version of a type as the catalog holds it."""

    version: str
    digest: str = ""
    deprecated: bool = False
    security: bool = False  # the owner marked it a security release (its chartkit.yaml: release.security)


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
    status: PolicyStatus | None = None   # under the instance's update policy (None: not looked up)
    deprecated: bool = False             # the version the instance runs is deprecated in the catalog

    @property
    def policy(self) -> Policy:
        return Policy.of_labels(self.instance.labels)

    @property
    def major(self) -> bool:
        """The newest release is a new major version: an update that may break (look before upgrading)."""
        current, newest = SemVer.try_parse(self.instance.version), SemVer.try_parse(self.latest or "")
        return bool(self.outdated and current and newest and newest.major > current.major)

    def to_json(self) -> dict[str, Any]:
        out = {**self.instance.to_json(), "latest": self.latest, "outdated": self.outdated, "note": self.note,
               "policy": self.policy.to_json(), "majorAvailable": self.major, "deprecated": self.deprecated}
        if self.status is not None:
            out.update(status=self.status.status.value, target=self.status.target, statusReason=self.status.reason)
        return out


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
            rows.append(OutdatedRow(inst, None, False, "type has no released version in the catalog",
                                    deprecated=flagged))
        else:
            current = SemVer.try_parse(inst.version)
            behind = current is None or current.key() < SemVer.parse(newest.version).key()
            rows.append(OutdatedRow(inst, newest.version, behind, "", deprecated=flagged))
    return rows


def catalog_versions_of(tags: Iterable[str]) -> list[CatalogVersion]:
    """A type's versions from its tag list (``<tag>.deprecated`` and ``<tag>.security`` markers flag them)."""
    tags = list(tags)
    deprecated = {t[: -len(DEPRECATED_SUFFIX)] for t in tags if t.endswith(DEPRECATED_SUFFIX)}
    security = {t[: -len(SECURITY_SUFFIX)] for t in tags if t.endswith(SECURITY_SUFFIX)}
    return [CatalogVersion(v, deprecated=t in deprecated, security=t in security)
            for t in tags if (v := tag_to_version(t))]


def latest_for_types(catalog: CatalogRef, types: Iterable[str]) -> tuple[dict[str, CatalogVersion | None], int]:
    """Newest usable version of each type: one tag-list request per type. Returns (versions, requests)."""
    wanted = sorted(set(types))
    if not wanted:
        return {}, 0
    from concurrent.futures import ThreadPoolExecutor  # only when the catalog is asked: 5 ms of threading imports

    with catalog.registry() as reg:
        def newest(type_name: str) -> CatalogVersion | None:
            return newest_version(catalog_versions_of(reg.tags(catalog.url.repository(type_name))))

        # the first lookup alone: it answers the auth challenge once, the rest reuse the credentials
        latest = {name: newest(name) for name in wanted[:1]}
        with ThreadPoolExecutor(8) as pool:
            latest.update(zip(wanted[1:], pool.map(newest, wanted[1:])))
        return latest, reg.requests


def versions_for_types(catalog: CatalogRef, types: Iterable[str]) -> tuple[dict[str, list[CatalogVersion]], int]:
    """Every version of each type with its deprecated and security markers: one tag-list request per type."""
    from concurrent.futures import ThreadPoolExecutor

    wanted = sorted(set(types))
    if not wanted:
        return {}, 0
    with catalog.registry() as reg:
        def one(type_name: str) -> list[CatalogVersion]:
            return catalog_versions_of(reg.tags(catalog.url.repository(type_name)))

        # the first lookup alone: it answers the auth challenge once, the rest reuse the credentials
        found = {name: one(name) for name in wanted[:1]}
        with ThreadPoolExecutor(8) as pool:
            found.update(zip(wanted[1:], pool.map(one, wanted[1:])))
        return found, reg.requests
