"""``chartkit type diff TYPE A B`` and publish's SemVer check: what changed between two versions of a type.

The rules are ``toolkit.catalog.typediff`` (pure); this operation fetches the versions (the chart packages, cached
by digest) and reads each one's schema, defaults and declarations. ``refuse_breaking`` is what ``publish`` runs:
a package whose changes against the catalog's previous version are breaking must be a new major version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from toolkit.catalog.typediff import TypeChange, TypeVersion, diff_types, semver_violation
from toolkit.catalog.versions import SemVer, tag_to_version
from toolkit.config import Config
from toolkit.deploy.fetch import fetch, read_package
from toolkit.deploy.migrate import declarations_of
from toolkit.errors import CatalogError

__all__ = ["TypeDiffOptions", "TypeDiffResult", "previous_version", "refuse_breaking", "type_diff",
           "type_version_of"]


@dataclass(frozen=True, kw_only=True)
class TypeDiffOptions:
    type: str
    old: str
    new: str


@dataclass(frozen=True)
class TypeDiffResult:
    type: str
    old: str
    new: str
    changes: tuple[TypeChange, ...]

    @property
    def breaking(self) -> list[TypeChange]:
        return [c for c in self.changes if c.breaking]

    @property
    def needs(self) -> str:
        """The smallest version bump these changes allow: major, minor (something added) or patch."""
        if self.breaking:
            return "major"
        return "minor" if any(c.kind.name.endswith("ADDED") or c.kind.name.endswith("WIDENED") for c in self.changes) \
            else "patch"

    @property
    def violations(self) -> list[TypeChange]:
        return semver_violation(self.old, self.new, self.changes)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "old": self.old, "new": self.new, "needs": self.needs,
                "breaking": len(self.breaking), "semverViolation": bool(self.violations),
                "changes": [c.to_json() for c in self.changes]}


def type_version_of(package: Path, version: str) -> TypeVersion:
    defaults, schema = read_package(package)
    return TypeVersion(version, schema, defaults, declarations_of(package))


def type_diff(config: Config, options: TypeDiffOptions) -> TypeDiffResult:
    old = fetch(config.catalog, options.type, options.old)
    new = fetch(config.catalog, options.type, options.new)
    changes = diff_types(type_version_of(old.package, old.origin.version),
                         type_version_of(new.package, new.origin.version))
    return TypeDiffResult(options.type, old.origin.version, new.origin.version, tuple(changes))


def previous_version(versions: Iterable[str], version: str) -> str | None:
    """The version a new one is judged against: the highest lower one (prereleases only for a prerelease)."""
    new = SemVer.parse(version)
    lower = [p for v in versions if (p := SemVer.try_parse(v)) and p.key() < new.key()
             and (new.prerelease or not p.prerelease)]
    return str(max(lower, key=SemVer.key)) if lower else None


def refuse_breaking(config: Config, packages: Iterable[tuple[Path, str, str, Iterable[str]]], *,
                    map_: Callable[..., Iterable[Any]] = map) -> None:
    """Refuse packages (path, type, version, the type's tags in the catalog) whose breaking changes against the
    catalog's previous version come without a major bump, listing every breaking change. A version the catalog
    already holds is not judged again (publishing it is a no-op or refused as other content). ``map_`` (a thread
    pool's) fetches the previous versions concurrently."""

    def judge(item: tuple[Path, str, str, Iterable[str]]) -> str | None:
        package, type_name, version, tags = item
        held = {v for t in tags if (v := tag_to_version(t))}
        previous = None if version in held else previous_version(held, version)
        if previous is None:
            return None
        old = fetch(config.catalog, type_name, previous)
        changes = diff_types(type_version_of(old.package, previous), type_version_of(package, version))
        bad = semver_violation(previous, version, changes)
        if not bad:
            return None
        return (f"{type_name} {version} breaks {previous} without a major version: "
                + "; ".join(f"{c.kind.value}: {c.subject}" + (f" ({c.detail})" if c.detail else "") for c in bad))

    refusals = [r for r in map_(judge, list(packages)) if r]
    if refusals:
        raise CatalogError(f"unable to publish: {' | '.join(refusals)}",
                           hint="publish it as the next major version (`chartkit package --bump major`), or add "
                                "values migrations / keep the old parameters; --allow-breaking overrides")
