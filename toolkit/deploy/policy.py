"""Update policies: which versions an instance may move to, who moves it, in which ring — and its status.

A policy lives on the instance's release as labels (helm ``--labels``; carried across upgrades and rollbacks):

    chartkit.io/track   what it follows: a channel (``stable``: every release; ``edge``: prereleases too), a range
                        (``~1.4`` patch updates, ``^2`` no new major, ``1.x``) or an exact version (pinned)
    chartkit.io/mode    ``manual`` (the owner approves a plan) or ``automatic`` (the watcher upgrades it)
    chartkit.io/ring    the rollout ring it belongs to (``dev``, ``staging``, ``prod``, or the owner's names)

Label values cannot hold ``~``, ``^`` or ``+``: ``~1.4`` is written ``tilde-1.4``, ``^2`` ``caret-2``, ``+`` ``_``.

Status, worst first: **security** (a newer release the owner marked as a security release exists), **deprecated**
(the version it runs is deprecated), **update available** (a newer version of its major the policy allows),
**major available** (only a newer major exists), **up to date** (nothing newer that the policy allows, or nothing
newer at all). ``target`` is the version an upgrade within the policy goes to, None when there is none.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from toolkit.catalog.ranges import Range
from toolkit.catalog.versions import SemVer
from toolkit.errors import InputError

__all__ = [
    "LABEL_MODE",
    "LABEL_RING",
    "LABEL_TRACK",
    "POLICY_LABELS",
    "Mode",
    "Policy",
    "PolicyStatus",
    "Status",
    "VersionInfo",
    "status_of",
]

LABEL_TRACK = "chartkit.io/track"
LABEL_MODE = "chartkit.io/mode"
LABEL_RING = "chartkit.io/ring"
POLICY_LABELS = (LABEL_TRACK, LABEL_MODE, LABEL_RING)

STABLE = "stable"
EDGE = "edge"
CHANNELS = (STABLE, EDGE)
_RING = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_TRACK = re.compile(r"^(?:[~^]?\d+(?:\.\d+){0,2}|\d+(?:\.\d+)?\.[xX*]|\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$")


class Mode(str, enum.Enum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"


class Status(str, enum.Enum):
    """Worst first: the order is the severity."""

    SECURITY = "security"
    DEPRECATED = "deprecated"
    UPDATE_AVAILABLE = "update available"
    MAJOR_AVAILABLE = "major available"
    UP_TO_DATE = "up to date"


@dataclass(frozen=True)
class Policy:
    track: str = STABLE
    mode: Mode = Mode.MANUAL
    ring: str = ""

    def __post_init__(self) -> None:
        if self.track not in CHANNELS and not _TRACK.match(self.track):
            raise InputError(f'unable to use update policy track "{self.track}": expected a channel ({", ".join(CHANNELS)}), '
                             "a range (~1.4, ^2, 1.x) or an exact version (1.4.2)")
        if self.ring and not _RING.match(self.ring):
            raise InputError(f'unable to use ring "{self.ring}": lowercase letters, digits and "-" (e.g. staging)')

    @property
    def pinned(self) -> bool:
        return SemVer.try_parse(self.track) is not None and self.track[0].isdigit()

    def allows(self, version: str) -> bool:
        """Whether the policy lets an instance move to ``version``."""
        parsed = SemVer.try_parse(version)
        if parsed is None:
            return False
        if self.track == STABLE:
            return not parsed.prerelease
        if self.track == EDGE:
            return True
        return Range.parse(self.track).allows(parsed)

    def labels(self) -> dict[str, str]:
        out = {LABEL_TRACK: encode_track(self.track), LABEL_MODE: self.mode.value}
        if self.ring:
            out[LABEL_RING] = self.ring
        return out

    @classmethod
    def of_labels(cls, labels: Mapping[str, str] | None) -> Policy:
        """The policy recorded on a release (defaults where a label is absent or unreadable)."""
        labels = labels or {}
        try:
            mode = Mode(labels.get(LABEL_MODE, Mode.MANUAL.value))
        except ValueError:
            mode = Mode.MANUAL
        try:
            return cls(decode_track(labels.get(LABEL_TRACK, STABLE)), mode, labels.get(LABEL_RING, ""))
        except InputError:
            return cls(STABLE, mode)

    def to_json(self) -> dict[str, Any]:
        return {"track": self.track, "mode": self.mode.value, "ring": self.ring}

    def __str__(self) -> str:
        return f"{self.track} {self.mode.value}" + (f" ring={self.ring}" if self.ring else "")


def encode_track(track: str) -> str:
    return track.replace("~", "tilde-").replace("^", "caret-").replace("+", "_")


def decode_track(value: str) -> str:
    return value.replace("tilde-", "~").replace("caret-", "^").replace("_", "+")


@dataclass(frozen=True)
class VersionInfo:
    """One version of a type as the catalog holds it, with what its owner declared about it."""

    version: str
    deprecated: bool = False
    security: bool = False


@dataclass(frozen=True)
class PolicyStatus:
    status: Status
    target: str | None = None     # where an upgrade within the policy goes
    newest: str | None = None     # the newest usable version whatever the policy
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "target": self.target, "newest": self.newest, "reason": self.reason}


def status_of(current: str, versions: Iterable[VersionInfo], policy: Policy) -> PolicyStatus:
    """An instance's status: its version against the catalog's versions under its policy (pure)."""
    now = SemVer.try_parse(current)
    infos = list(versions)
    deprecated_now = any(v.deprecated and v.version == current for v in infos)
    if now is None:
        return PolicyStatus(Status.UP_TO_DATE, reason=f'version "{current}" is not SemVer')
    usable = [(parsed, v) for v in infos if not v.deprecated and (parsed := SemVer.try_parse(v.version))
              and (not parsed.prerelease or policy.track == EDGE or policy.allows(v.version))]
    newer = [(p, v) for p, v in usable if p.key()[:5] > now.key()[:5]]
    allowed = [(p, v) for p, v in newer if policy.allows(v.version)]
    newest = max(newer, key=lambda pv: pv[0].key(), default=None)
    best = max(allowed, key=lambda pv: pv[0].key(), default=None)
    newest_v = newest[1].version if newest else None
    target = best[1].version if best else None
    security = sorted((p for p, v in newer if v.security), key=SemVer.key)
    if security:
        fix = security[0]
        if best is None or best[0].key() < fix.key():
            # the policy does not reach the fix: name the fix itself (an upgrade must step outside the policy)
            return PolicyStatus(Status.SECURITY, str(fix), newest_v,
                                f"security release {fix} is outside the policy {policy.track}")
        return PolicyStatus(Status.SECURITY, target, newest_v, f"security release {fix}")
    if deprecated_now:
        return PolicyStatus(Status.DEPRECATED, target, newest_v, f"{current} is deprecated in the catalog")
    if best is not None and any(p.major == now.major for p, _ in allowed):
        return PolicyStatus(Status.UPDATE_AVAILABLE, target, newest_v)
    if newest is not None and newest[0].major > now.major:
        return PolicyStatus(Status.MAJOR_AVAILABLE, target, newest_v,
                            "" if target else f"{newest_v} is outside the policy {policy.track}")
    if newest is not None:
        return PolicyStatus(Status.UP_TO_DATE, None, newest_v, f"{newest_v} is outside the policy {policy.track}")
    return PolicyStatus(Status.UP_TO_DATE, None, None)
