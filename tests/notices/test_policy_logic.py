"""Update policies and instance status: SemVer ranges, label round trips, and the status matrix (pure)."""

from __future__ import annotations

import pytest

from toolkit.catalog.ranges import Range
from toolkit.deploy.policy import Mode, Policy, Status, VersionInfo, decode_track, encode_track, status_of
from toolkit.errors import InputError


@pytest.mark.parametrize(("text", "yes", "no"), [
    ("1.4.2", ["1.4.2"], ["1.4.3", "1.4.1"]),
    ("=1.4.2", ["1.4.2"], ["1.5.0"]),
    ("~1.4", ["1.4.0", "1.4.9"], ["1.5.0", "1.3.9"]),
    ("~1.4.2", ["1.4.2", "1.4.7"], ["1.4.1", "1.5.0"]),
    ("~1", ["1.0.0", "1.9.9"], ["2.0.0"]),
    ("^2", ["2.0.0", "2.9.1"], ["3.0.0", "1.9.9"]),
    ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
    ("^0.3", ["0.3.0", "0.3.9"], ["0.4.0"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4"]),
    ("1.x", ["1.0.0", "1.7.3"], ["2.0.0"]),
    ("1.4.x", ["1.4.5"], ["1.5.0"]),
    (">=1.2 <2", ["1.2.0", "1.99.0"], ["1.1.9", "2.0.0"]),
    ("<2.0.0", ["1.9.9", "0.1.0"], ["2.0.0"]),
    (">1.4", ["1.5.0"], ["1.4.9"]),
    ("<=1.4", ["1.4.9"], ["1.5.0"]),
    ("^1 || ^3", ["1.2.0", "3.0.0"], ["2.0.0"]),
    ("^1", ["1.1.0"], ["1.5.0-rc.1"]),
    (">=1.5.0-rc.0", ["1.5.0-rc.1", "1.5.0"], ["1.6.0-rc.1"]),
], ids=lambda v: str(v))
def test_ranges(text, yes, no):
    rng = Range.parse(text)
    assert [v for v in yes if not rng.allows(v)] == []
    assert [v for v in no if rng.allows(v)] == []


@pytest.mark.parametrize("bad", ["", "abc", "1.4.2.9", "~", ">=> 1"])
def test_bad_ranges_are_refused(bad):
    with pytest.raises(InputError, match="unable to parse version range"):
        Range.parse(bad)


@pytest.mark.parametrize("track", ["~1.4", "^2", "stable", "edge", "1.4.2", "1.x", "2.0.0+build.1", "~1.4.2"])
def test_policy_labels_round_trip(track):
    policy = Policy(track, Mode.AUTOMATIC, "staging")
    labels = policy.labels()
    assert all(ch.isalnum() or ch in "-_." for v in labels.values() for ch in v), labels
    assert decode_track(encode_track(track)) == track
    assert Policy.of_labels(labels) == policy


def test_unreadable_or_absent_labels_give_the_default_policy():
    assert Policy.of_labels({}) == Policy()
    assert Policy.of_labels({"chartkit.io/track": "bogus!", "chartkit.io/mode": "sometimes"}) == Policy()


@pytest.mark.parametrize("bad", [{"track": ">=1 <2"}, {"track": "nightly"}, {"ring": "Prod!"}])
def test_bad_policies_are_refused(bad):
    with pytest.raises(InputError):
        Policy(**bad)


V = VersionInfo
CATALOG = [V("1.0.0"), V("1.0.1"), V("1.1.0"), V("1.2.0-rc.1"), V("2.0.0"), V("2.1.0")]

#: (current, catalog, track, expected status, expected target)
MATRIX = [
    ("2.1.0", CATALOG, "stable", Status.UP_TO_DATE, None),
    ("1.1.0", CATALOG, "stable", Status.MAJOR_AVAILABLE, "2.1.0"),
    ("1.0.0", CATALOG, "stable", Status.UPDATE_AVAILABLE, "2.1.0"),
    ("1.0.0", CATALOG, "~1.0", Status.UPDATE_AVAILABLE, "1.0.1"),
    ("1.0.1", CATALOG, "~1.0", Status.MAJOR_AVAILABLE, None),
    ("1.0.0", CATALOG, "^1", Status.UPDATE_AVAILABLE, "1.1.0"),
    ("1.1.0", CATALOG, "^1", Status.MAJOR_AVAILABLE, None),
    ("2.0.0", CATALOG, "^2", Status.UPDATE_AVAILABLE, "2.1.0"),
    ("2.1.0", CATALOG, "^2", Status.UP_TO_DATE, None),
    ("1.0.0", CATALOG, "1.0.0", Status.MAJOR_AVAILABLE, None),
    ("1.0.0", CATALOG[:3], "1.0.0", Status.UP_TO_DATE, None),
    ("1.0.0", CATALOG, "1.1.0", Status.UPDATE_AVAILABLE, "1.1.0"),
    ("1.1.0", CATALOG, "edge", Status.UPDATE_AVAILABLE, "2.1.0"),
    ("1.1.0", CATALOG[:4], "edge", Status.UPDATE_AVAILABLE, "1.2.0-rc.1"),
    ("1.1.0", CATALOG[:4], "stable", Status.UP_TO_DATE, None),
    ("1.1.0", CATALOG[:4], "^1", Status.UP_TO_DATE, None),
    ("1.0.0", [V("1.0.0", deprecated=True), V("1.0.1")], "^1", Status.DEPRECATED, "1.0.1"),
    ("1.0.1", [V("1.0.0"), V("1.0.1", deprecated=True)], "^1", Status.DEPRECATED, None),
    ("1.0.0", [V("1.0.0"), V("1.0.1", security=True)], "^1", Status.SECURITY, "1.0.1"),
    ("1.0.0", [V("1.0.0"), V("1.0.1", security=True), V("1.1.0")], "~1.0", Status.SECURITY, "1.0.1"),
    ("1.0.0", [V("1.0.0"), V("1.0.1", security=True), V("1.1.0")], "^1", Status.SECURITY, "1.1.0"),
    ("1.0.0", [V("1.0.0"), V("2.0.1", security=True)], "^1", Status.SECURITY, "2.0.1"),
    ("1.0.0", [V("1.0.0", deprecated=True), V("1.0.1", security=True)], "^1", Status.SECURITY, "1.0.1"),
    ("1.0.1", [V("1.0.0", security=True), V("1.0.1")], "^1", Status.UP_TO_DATE, None),
    ("1.0.0", [V("1.0.0"), V("1.1.0", deprecated=True)], "^1", Status.UP_TO_DATE, None),
    ("1.0.0", [V("1.0.0"), V("1.1.0"), V("2.0.0", deprecated=True)], "stable", Status.UPDATE_AVAILABLE, "1.1.0"),
    ("3.0.0", CATALOG, "stable", Status.UP_TO_DATE, None),
    ("1.0.0", [], "stable", Status.UP_TO_DATE, None),
]


@pytest.mark.parametrize(("current", "catalog", "track", "status", "target"), MATRIX,
                         ids=[f"{m[0]}-{m[2]}-{m[3].name}-{i}" for i, m in enumerate(MATRIX)])
def test_status_matrix(current, catalog, track, status, target):
    got = status_of(current, catalog, Policy(track))
    assert (got.status, got.target) == (status, target), got


def test_rollout_facts_failed_and_stuck_revisions():
    import datetime as dt

    from toolkit.core.notices import FactKind, _rollout_facts
    from toolkit.deploy.instance import Instance

    def inst(status, minutes_ago):
        when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Instance("web", "ns", 3, status, when, "tiny", "1.0.0", "", "")

    assert [f.kind for f in _rollout_facts(inst("failed", 0), 600)] == [FactKind.FAILED]
    assert [f.kind for f in _rollout_facts(inst("pending-upgrade", 20), 600)] == [FactKind.STUCK]
    assert _rollout_facts(inst("pending-upgrade", 1), 600) == []  # still within its time
    assert _rollout_facts(inst("deployed", 60), 600) == []
    assert _rollout_facts(inst("failed", 0), 600)[0].id == "failed:3"
