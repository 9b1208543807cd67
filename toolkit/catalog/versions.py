"""Version rules of the catalog: SemVer 2 parsing and ordering, tags, and the next version for ``--bump``.

Helm versions are SemVer 2; OCI tags cannot hold ``+`` so Helm maps it to ``_`` (and back on pull). The next
version is always computed from what the catalog already holds, never from the local Chart.yaml alone.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Iterable

from toolkit.errors import InputError

__all__ = [
    "Bump",
    "DEPRECATED_SUFFIX",
    "SemVer",
    "next_version",
    "tag_to_version",
    "version_to_tag",
]

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

#: a tag ``<version-tag>.deprecated`` marks that version deprecated in the registry (not SemVer, so helm skips it)
DEPRECATED_SUFFIX = ".deprecated"

#: identifier of prereleases made by ``--bump prerelease``
PRERELEASE_ID = "rc"


class Bump(str, enum.Enum):
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"
    PRERELEASE = "prerelease"


@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> SemVer:
        match = _SEMVER.match(text.strip())
        if not match:
            raise InputError(f'unable to parse version "{text}": not SemVer 2 (MAJOR.MINOR.PATCH[-PRE][+BUILD])')
        pre = tuple(match["pre"].split(".")) if match["pre"] else ()
        return cls(int(match["major"]), int(match["minor"]), int(match["patch"]), pre, match["build"] or "")

    @classmethod
    def try_parse(cls, text: str) -> SemVer | None:
        try:
            return cls.parse(text)
        except InputError:
            return None

    @property
    def prerelease(self) -> bool:
        return bool(self.pre)

    def key(self) -> tuple:
        """Sort key with SemVer precedence (build metadata breaks ties only, for a stable order)."""
        # a release sorts after all its prereleases; numeric identifiers sort before alphanumeric ones
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre, self.build)

    def __lt__(self, other: SemVer) -> bool:
        return self.key() < other.key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        if self.build:
            text += "+" + self.build
        return text


def version_to_tag(version: str) -> str:
    """The OCI tag Helm uses for a chart version (``+`` is not allowed in tags)."""
    return version.replace("+", "_")


def tag_to_version(tag: str) -> str | None:
    """The chart version a tag stands for, or None when the tag is not a chart version (e.g. a marker)."""
    version = tag.replace("_", "+")
    return version if SemVer.try_parse(version) and not version.startswith("v") else None


def next_version(existing: Iterable[str], bump: Bump, *, initial: str) -> str:
    """The version after the highest one in ``existing`` (``initial``, the chart's own, when there is none).

    major/minor/patch of a prerelease finish it the way ``npm version``/semver-inc do (1.3.0-rc.1 + minor →
    1.3.0); prerelease starts ``<next patch>-rc.0`` after a release and counts up after a prerelease.
    """
    parsed = [v for v in (SemVer.try_parse(t) for t in existing) if v]
    if not parsed:
        return str(SemVer.parse(initial))
    top = max(parsed)
    bump = Bump(bump)
    if bump is Bump.MAJOR:
        done = top.pre and top.minor == 0 and top.patch == 0
        return str(SemVer(top.major if done else top.major + 1, 0, 0))
    if bump is Bump.MINOR:
        done = top.pre and top.patch == 0
        return str(SemVer(top.major, top.minor if done else top.minor + 1, 0))
    if bump is Bump.PATCH:
        return str(SemVer(top.major, top.minor, top.patch if top.pre else top.patch + 1))
    if not top.pre:
        return str(SemVer(top.major, top.minor, top.patch + 1, (PRERELEASE_ID, "0")))
    last = top.pre[-1]
    if last.isdigit():
        return str(SemVer(top.major, top.minor, top.patch, (*top.pre[:-1], str(int(last) + 1))))
    return str(SemVer(top.major, top.minor, top.patch, (*top.pre, "0")))
