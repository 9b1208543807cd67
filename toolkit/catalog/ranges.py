"""SemVer ranges as npm and helm write them: what an update policy allows and which versions a migration is for.

    1.4.2          exactly that version            =1.4.2 the same
    ~1.4  ~1.4.2   patch updates: >=1.4.0 <1.5.0 (>=1.4.2 <1.5.0); ~1 is >=1.0.0 <2.0.0
    ^2    ^1.2.3   no new major: >=2.0.0 <3.0.0; ^0.3 is >=0.3.0 <0.4.0, ^0.0.3 exactly 0.0.3
    1.x   1.4.x    wildcards: >=1.0.0 <2.0.0, >=1.4.0 <1.5.0
    >=1.2 <2       comparators, space-separated (all must hold); ``||`` between alternatives

A prerelease matches only a range that names a prerelease of the same MAJOR.MINOR.PATCH (npm's rule), so
``^1`` never offers ``1.5.0-rc.1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolkit.catalog.versions import SemVer
from toolkit.errors import InputError

__all__ = ["Range"]

_PARTIAL = re.compile(r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
                      r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(?P<op><=|>=|<|>|=|~|\^)?\s*(?P<version>\S+)$")

_Bound = tuple[str, SemVer]  # (operator, version)


def _wild(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


@dataclass(frozen=True)
class Range:
    """A parsed range: alternatives (``||``), each a set of comparators that must all hold."""

    text: str
    alternatives: tuple[tuple[_Bound, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Range:
        source = text.strip()
        if not source:
            raise InputError('unable to parse version range "": it is empty', hint="e.g. ~1.4, ^2, 1.x, >=1 <2")
        alternatives = []
        for alternative in source.split("||"):
            tokens = re.sub(r"(<=|>=|<|>|=|~|\^)\s+", r"\1", alternative.strip()).split()
            if not tokens:
                raise InputError(f'unable to parse version range "{text}": an empty alternative around "||"')
            bounds: list[_Bound] = []
            for token in tokens:
                bounds += _comparator(token, text)
            alternatives.append(tuple(bounds))
        return cls(source, tuple(alternatives))

    @classmethod
    def try_parse(cls, text: str) -> Range | None:
        try:
            return cls.parse(text)
        except InputError:
            return None

    def allows(self, version: str | SemVer) -> bool:
        parsed = version if isinstance(version, SemVer) else SemVer.try_parse(version)
        if parsed is None:
            return False
        return any(_all(bounds, parsed) for bounds in self.alternatives)

    def __str__(self) -> str:
        return self.text


def _all(bounds: tuple[_Bound, ...], version: SemVer) -> bool:
    key = version.key()[:5]
    for op, bound in bounds:
        other = bound.key()[:5]
        if not {"<": key < other, "<=": key <= other, ">": key > other, ">=": key >= other,
                "=": key == other}[op]:
            return False
    if version.prerelease:
        # npm: a prerelease only satisfies a range one of whose comparators is a prerelease of that same release
        return any(b.prerelease and (b.major, b.minor, b.patch) == (version.major, version.minor, version.patch)
                   for _, b in bounds)
    return True


def _comparator(token: str, text: str) -> list[_Bound]:
    match = _COMPARATOR.match(token)
    partial = _PARTIAL.match(match["version"]) if match else None
    if not match or not partial:
        raise InputError(f'unable to parse version range "{text}": "{token}" is not a version or comparator',
                         hint="e.g. 1.4.2, ~1.4, ^2, 1.x, >=1.2.0 <2.0.0")
    op = match["op"] or "="
    major, minor, patch = partial["major"], partial["minor"], partial["patch"]
    pre = tuple(partial["pre"].split(".")) if partial["pre"] else ()
    if _wild(major):
        return [] if op in ("=", "~", "^", ">=", "<=") else [(">=", SemVer(0, 0, 0))] if op == ">" else \
            [("<", SemVer(0, 0, 0))]
    ma = int(major)
    mi = None if _wild(minor) else int(minor)  # type: ignore[arg-type]
    pa = None if _wild(patch) else int(patch)  # type: ignore[arg-type]
    low = SemVer(ma, mi or 0, pa or 0, pre if pa is not None else ())
    if op == "^":
        if ma > 0 or mi is None:
            return [(">=", low), ("<", SemVer(ma + 1, 0, 0))]
        if mi > 0 or pa is None:
            return [(">=", low), ("<", SemVer(0, mi + 1, 0))]
        return [(">=", low), ("<", SemVer(0, 0, pa + 1))]
    if op == "~":
        if mi is None:
            return [(">=", low), ("<", SemVer(ma + 1, 0, 0))]
        return [(">=", low), ("<", SemVer(ma, mi + 1, 0))]
    if op == "=":
        if mi is None:
            return [(">=", low), ("<", SemVer(ma + 1, 0, 0))]
        if pa is None:
            return [(">=", low), ("<", SemVer(ma, mi + 1, 0))]
        return [("=", low)]
    if op in (">", "<="):
        # a partial upper or exclusive-lower bound covers the whole partial: >1.4 is >=1.5.0, <=1.4 is <1.5.0
        if mi is None:
            nxt = SemVer(ma + 1, 0, 0)
        elif pa is None:
            nxt = SemVer(ma, mi + 1, 0)
        else:
            return [(op, low)]
        return [(">=" if op == ">" else "<", nxt)]
    return [(op, low)]
