"""Pure decision logic of instances: release labels, records → instances, outdated, recovery plans."""

from __future__ import annotations

import re

import pytest

from toolkit.adapters.releases import ReleaseRecord
from toolkit.deploy.instance import Instance, instances_from_records, serving_revision
from toolkit.deploy.origin import Origin, catalog_id, origin_from_labels, parse_type_ref
from toolkit.deploy.outdated import CatalogVersion, compute_outdated, newest_version
from toolkit.deploy.recovery import RecoveryAction, plan_recovery
from toolkit.errors import DeployError, InputError

DIGEST = "sha256:" + "0123456789abcdef" * 4
CATALOG = "oci://127.0.0.1:5000/chartkit"
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?$")


def test_origin_labels_are_valid_kubernetes_labels_and_round_trip():
    origin = Origin(catalog=CATALOG, type="chat", version="1.2.0+build.7", digest=DIGEST)
    labels = origin.labels()
    assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in labels.values())
    assert origin_from_labels(labels) == ("chat", "1.2.0+build.7", DIGEST, catalog_id(CATALOG))
    assert origin.ref == f"{CATALOG}/chat:1.2.0_build.7@{DIGEST}"


def test_origin_refuses_non_sha256_digest():
    with pytest.raises(DeployError, match='unable to record digest "sha512:ab"'):
        Origin(catalog=CATALOG, type="chat", version="1.0.0", digest="sha512:ab").labels()


def test_catalog_id_ignores_trailing_slash():
    assert catalog_id(CATALOG) == catalog_id(CATALOG + "/")
    assert catalog_id(CATALOG) != catalog_id("oci://127.0.0.1:5000/other")


@pytest.mark.parametrize(("text", "expected"), [
    ("chat", ("chat", None)), ("chat@latest", ("chat", None)), ("chat@1.2.0", ("chat", "1.2.0")),
    ("my-app@1.0.0-rc.1", ("my-app", "1.0.0-rc.1")),
], ids=["bare", "latest", "version", "prerelease"])
def test_parse_type_ref(text, expected):
    assert parse_type_ref(text) == expected


@pytest.mark.parametrize("text", ["Chat", "chat@1.2", "oci://x/chat", "chat@"+"x"], ids=["upper", "short-ver", "url", "junk-ver"])
def test_parse_type_ref_rejects(text):
    with pytest.raises(InputError, match="unable to parse type"):
        parse_type_ref(text)


def _secret(ns, name, rev, status, version="1.0.0", type_name="chat"):
    labels = {"owner": "helm", "name": name, "status": status, "version": str(rev), "modifiedAt": "1700000000"}
    labels.update(Origin(CATALOG, type_name, version, DIGEST).labels())
    return {"metadata": {"namespace": ns, "name": f"sh.helm.release.v1.{name}.v{rev}", "labels": labels}}


def test_instances_from_records_takes_newest_revision_and_skips_foreign_releases():
    foreign = {"metadata": {"namespace": "a", "labels": {"owner": "helm", "name": "nginx", "status": "deployed",
                                                           "version": "1"}}}
    secrets = [_secret("a", "chat1", 1, "superseded", "1.0.0"), _secret("a", "chat1", 2, "deployed", "1.1.0"),
               _secret("b", "chat1", 1, "pending-upgrade"), foreign]
    got = instances_from_records([ReleaseRecord.of(s) for s in secrets])
    assert [(i.namespace, i.name, i.revision, i.version, i.status) for i in got] == [
        ("a", "chat1", 2, "1.1.0", "deployed"), ("b", "chat1", 1, "1.0.0", "pending-upgrade")]
    assert got[0].digest == DIGEST and got[1].pending
    assert got[0].updated == "2023-11-14T22:13:20Z"


def test_newest_version_skips_prereleases_and_deprecated():
    versions = [CatalogVersion("1.0.0"), CatalogVersion("1.10.0"), CatalogVersion("1.2.0"),
                CatalogVersion("2.0.0-rc.1"), CatalogVersion("1.11.0", deprecated=True)]
    assert newest_version(versions) == CatalogVersion("1.10.0")
    assert newest_version([CatalogVersion("1.0.0-rc.1")]) is None


def _inst(name, version, type_name="chat", cat=None):
    return Instance(name=name, namespace="ns", revision=1, status="deployed", updated="", type=type_name,
                    version=version, digest=DIGEST, catalog_id=cat if cat is not None else catalog_id(CATALOG))


def test_compute_outdated_flags_exactly_older_versions():
    instances = [_inst("old", "1.0.0"), _inst("new", "1.1.0"), _inst("ahead", "1.2.0-rc.1"),
                 _inst("other", "0.1.0", type_name="gone"), _inst("far", "0.1.0", cat="feedbeeffeedbeef")]
    rows = {r.instance.name: r for r in compute_outdated(instances, {"chat": CatalogVersion("1.1.0"), "gone": None},
                                                          catalog=CATALOG)}
    assert {n for n, r in rows.items() if r.outdated} == {"old"}
    assert rows["old"].latest == "1.1.0"
    assert rows["other"].note == "type has no released version in the catalog"
    assert rows["far"].note == "installed from another catalog"


@pytest.mark.parametrize(("history", "action", "revision"), [
    ([{"revision": 1, "status": "superseded"}, {"revision": 2, "status": "deployed"},
      {"revision": 3, "status": "pending-upgrade"}], RecoveryAction.ROLLBACK, 2),
    ([{"revision": 1, "status": "deployed"}, {"revision": 2, "status": "failed"},
      {"revision": 3, "status": "pending-rollback"}], RecoveryAction.ROLLBACK, 1),
    ([{"revision": 1, "status": "pending-install"}], RecoveryAction.UNINSTALL, None),
    ([{"revision": 1, "status": "failed"}, {"revision": 2, "status": "pending-upgrade"}], RecoveryAction.UNINSTALL, None),
    ([{"revision": 1, "status": "deployed"}], RecoveryAction.NONE, None),
    # an upgrade failed, then helm's automatic rollback failed too: nothing is deployed any more
    ([{"revision": 1, "status": "superseded"}, {"revision": 2, "status": "failed"},
      {"revision": 3, "status": "failed"}], RecoveryAction.ROLLBACK, 1),
    # what helm 4 really leaves (issue 14): the upgrade superseded, its automatic rollback failed, 1 still "deployed"
    ([{"revision": 1, "status": "deployed"}, {"revision": 2, "status": "superseded"},
      {"revision": 3, "status": "failed", "description": 'Rollback "chat1" failed: conflict occurred'}],
     RecoveryAction.ROLLBACK, 1),
    # a failed attempt while the older revision still serves: nothing to repair
    ([{"revision": 1, "status": "deployed"}, {"revision": 2, "status": "failed"}], RecoveryAction.NONE, None),
    ([{"revision": 1, "status": "failed"}], RecoveryAction.NONE, None),
], ids=["upgrade-stuck", "rollback-stuck", "install-stuck", "never-deployed", "healthy", "failed-after-failed-rollback",
        "failed-rollback-helm4", "failed-attempt-while-serving", "failed-install"])
def test_plan_recovery(history, action, revision):
    plan = plan_recovery(history)
    assert (plan.action, plan.revision) == (action, revision)
    assert plan.describe("chat1", "ns").startswith({"rollback": "roll back ns/chat1 to revision",
                                                    "uninstall": "uninstall ns/chat1",
                                                    "none": "nothing to do"}[action.value])


@pytest.mark.parametrize(("statuses", "expected"), [
    (["superseded", "deployed"], 2),
    (["superseded", "deployed", "failed"], 2),
    (["superseded", "failed", "failed"], 1),
    (["failed"], None),
], ids=["newest-deployed", "after-failed-attempt", "only-superseded", "nothing-served"])
def test_serving_revision_skips_failed_attempts(statuses, expected):
    history = [{"revision": i + 1, "status": s} for i, s in enumerate(statuses)]
    assert serving_revision(history) == expected


def test_serving_values_are_read_from_the_serving_revisions_release_secret():
    # what toolkit.deploy.release.serving_values does over the API: the serving revision's record, decoded
    import base64
    import gzip
    import json

    from toolkit.adapters.releases import decode_release

    def secret(rev, status, config):
        rec = _secret("ns", "chat1", rev, status)
        body = gzip.compress(json.dumps({"name": "chat1", "version": rev, "config": config}).encode())
        rec["data"] = {"release": base64.b64encode(base64.b64encode(body)).decode()}
        return rec

    secrets = [secret(1, "superseded", {"plan": "small"}), secret(2, "deployed", {"plan": "large"}),
               secret(3, "failed", {"plan": "broken"})]
    records = [ReleaseRecord.of(s) for s in secrets]
    [inst] = instances_from_records(records)
    assert inst.revision == 3
    serving = serving_revision([r for r in records if (r.namespace, r.name) == (inst.namespace, inst.name)])
    assert serving == 2
    assert decode_release(secrets[serving - 1])["config"] == {"plan": "large"}
    secrets[1]["data"]["release"] = "not base64!"
    assert decode_release(secrets[1]) is None
