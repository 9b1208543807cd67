"""Removed and deprecated API versions: one case per row of APIS, the rows checked against the real v1.35 API
server, and real old sources (kube-state-metrics v1.1.0 and v1.3.1) migrated or refused end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toolkit.chartify import ChartifyOptions, chartify
from toolkit.chartify.apis import APIS, DEFAULT_KUBE_VERSION, ApiRow, KubeVersion, Migration, migrate_apis
from toolkit.chartify.read import SourceObject
from toolkit.errors import ChartifyError, InputError

DATA = Path(__file__).parent / "data"  # public sources, each with SOURCE.txt naming the git blob of every file
POD = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
HOOK = {"name": "a.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"], "failurePolicy": "Fail",
        "matchPolicy": "Equivalent", "timeoutSeconds": 10, "clientConfig": {"url": "https://a.example.com"}}
#: objects a pure row migrates as they are, per kind (the fields its blocker asks for are set)
GOOD: dict[str, dict[str, Any]] = {
    "Deployment": {"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": POD}},
    "ReplicaSet": {"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": POD}},
    "DaemonSet": {"spec": {"selector": {"matchLabels": {"app": "a"}}, "updateStrategy": {"type": "OnDelete"},
                           "template": POD}},
    "StatefulSet": {"spec": {"selector": {"matchLabels": {"app": "a"}}, "updateStrategy": {"type": "OnDelete"},
                             "serviceName": "a", "template": POD}},
    "MutatingWebhookConfiguration": {"webhooks": [HOOK]},
    "ValidatingWebhookConfiguration": {"webhooks": [HOOK]},
    "CertificateSigningRequest": {"spec": {"signerName": "example.com/signer", "usages": ["digital signature"]}},
    "PodDisruptionBudget": {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "a"}}}},
    "PriorityLevelConfiguration": {"spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 10}}},
    "EndpointSlice": {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"], "nodeName": "n1"}]},
    "SubjectAccessReview": {"spec": {"groups": ["g"], "user": "u"}},
}
#: the same kinds with what makes the change more than an apiVersion: (object, words the refusal must say)
BLOCKED: dict[str, tuple[dict[str, Any], str]] = {
    "Deployment": ({"spec": {"template": POD}}, "set spec.selector.matchLabels to the pod template's labels (app: a)"),
    "ReplicaSet": ({"spec": {"template": POD}}, "apps/v1 requires spec.selector"),
    "DaemonSet": ({"spec": {"template": POD}}, "apps/v1 requires spec.selector"),
    "StatefulSet": ({"spec": {"template": POD}}, "apps/v1 requires spec.selector"),
    "MutatingWebhookConfiguration": ({"webhooks": [{"name": "a.example.com"}]},
                                     "webhooks[0].sideEffects must be None or NoneOnDryRun"),
    "ValidatingWebhookConfiguration": ({"webhooks": [HOOK, HOOK]}, "webhooks[*].name must be unique"),
    "CertificateSigningRequest": ({"spec": {"signerName": "kubernetes.io/legacy-unknown"}},
                                  "requires spec.signerName (not kubernetes.io/legacy-unknown) and spec.usages"),
    "PodDisruptionBudget": ({"spec": {"minAvailable": 1, "selector": {}}}, "selects every pod of the namespace"),
    "PriorityLevelConfiguration": ({"spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 0}}},
                                   "nominalConcurrencyShares of 0 means 0"),
    "EndpointSlice": ({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"], "topology": {"a": "b"}}]},
                      "topology is not writable"),
    "SubjectAccessReview": ({"spec": {"group": ["g"], "user": "u"}}, "spec.group no longer exist"),
}
for _kind in ("LocalSubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview"):
    GOOD[_kind], BLOCKED[_kind] = GOOD["SubjectAccessReview"], BLOCKED["SubjectAccessReview"]


def _source(row: ApiRow, body: dict[str, Any] | None = None) -> SourceObject:
    obj = {"apiVersion": row.api_version, "kind": row.kind, "metadata": {"name": "x", "namespace": "ns"},
           **(GOOD.get(row.kind, {}) if body is None else body)}
    return SourceObject(obj, "old.yaml", 3)


def _after_removal(row: ApiRow) -> str:
    """A version at which the row applies: its removal, or for rows only deprecated, the default target."""
    return str(row.removed) if row.removed else DEFAULT_KUBE_VERSION


@pytest.mark.parametrize("row", APIS, ids=[row.id for row in APIS])
def test_each_row_migrates_pure_changes_and_refuses_the_rest(row: ApiRow) -> None:
    item = _source(row)
    target = _after_removal(row)
    pure = row.migration is Migration.PURE and KubeVersion.parse(target) >= (row.available or KubeVersion(9, 0))
    if pure:
        result = migrate_apis([item], target)
        [moved] = result.objects
        assert moved.obj == {**item.obj, "apiVersion": row.replacement}
        assert list(moved.obj) == list(item.obj)  # apiVersion keeps its place
        [warning] = result.warnings
        assert warning.startswith(f"{item.id} (old.yaml (document 3)): {row.api_version} {row.kind} ")
        assert f"migrated to {row.replacement}, only the apiVersion changes" in warning
    elif row.removed:
        with pytest.raises(InputError) as info:
            migrate_apis([item], target)
        message = str(info.value)
        assert f"{item.id} (old.yaml (document 3)) uses {row.api_version} {row.kind}, which is not served since " \
               f"Kubernetes {row.removed}" in message
        assert "needs a human: " + (row.todo or "") in message
        assert "--kube-version" in message
    else:  # deprecated, still served: kept, with what to do
        result = migrate_apis([item], target)
        assert result.objects == [item]
        assert result.warnings == [f"{item.id} (old.yaml (document 3)): {row.api_version} {row.kind} is deprecated "
                                   f"since Kubernetes {row.deprecated} (target {target}); kept, as moving it needs "
                                   f"a human: {row.todo}"]
    # before the row's deprecation nothing happens
    earlier = KubeVersion(row.deprecated.major, row.deprecated.minor - 1)
    assert migrate_apis([item], str(earlier)).objects == [item]
    assert migrate_apis([item], str(earlier)).warnings == []


BLOCKER_ROWS = [row for row in APIS if row.blocker is not None]


@pytest.mark.parametrize("row", BLOCKER_ROWS, ids=[row.id for row in BLOCKER_ROWS])
def test_a_pure_row_refuses_the_object_its_change_would_alter(row: ApiRow) -> None:
    body, words = BLOCKED[row.kind]
    with pytest.raises(InputError, match="needs a human") as info:
        migrate_apis([_source(row, body)], _after_removal(row))
    assert words in str(info.value)


@pytest.mark.parametrize("api", ["extensions/v1beta1/DaemonSet", "apps/v1beta1/StatefulSet"])
def test_a_changed_update_strategy_default_needs_a_human(api: str) -> None:
    row = next(r for r in APIS if r.id == api)
    body = {"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": POD}}
    with pytest.raises(InputError, match="spec.updateStrategy.type defaults to RollingUpdate in apps/v1 "
                                         r"\(OnDelete before\)"):
        migrate_apis([_source(row, body)], "1.16")


def test_the_table_has_one_row_per_api_and_every_blocker_a_case() -> None:
    ids = [row.id for row in APIS]
    assert len(ids) == len(set(ids))
    assert {row.kind for row in BLOCKER_ROWS} <= set(BLOCKED)


def test_a_deprecated_api_moves_early_when_the_change_is_pure_and_the_target_serves_the_replacement() -> None:
    # rbac v1beta1 was deprecated in 1.17 and removed in 1.22; helm lint --strict fails on it from 1.17 on
    row = next(r for r in APIS if r.id == "rbac.authorization.k8s.io/v1beta1/Role")
    result = migrate_apis([_source(row)], "1.21")
    assert result.objects[0].obj["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert "is deprecated since Kubernetes 1.17 and goes in 1.22 (target 1.21); migrated" in result.warnings[0]


def test_every_refusal_is_one_error_naming_each_object() -> None:
    rows = [r for r in APIS if r.id in ("extensions/v1beta1/Ingress", "policy/v1beta1/PodSecurityPolicy")]
    with pytest.raises(InputError, match=r"^unable to chartify 2 objects for Kubernetes 1\.35: ") as info:
        migrate_apis([_source(row) for row in rows])
    assert "Ingress/ns/x" in str(info.value) and "PodSecurityPolicy/ns/x" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "parsed"), [("1.35", (1, 35)), ("v1.35.4", (1, 35)), ("1.22.0-rc.1", (1, 22))])
def test_kube_versions(text: str, parsed: tuple[int, int]) -> None:
    assert KubeVersion.parse(text) == KubeVersion(*parsed)


def test_a_bad_kube_version_is_refused() -> None:
    with pytest.raises(InputError, match=r'unable to use Kubernetes version "latest": not a version like 1\.35'):
        migrate_apis([], "latest")


def test_the_default_target_is_the_local_clusters_version() -> None:
    from toolkit.localenv import paths

    assert KubeVersion.parse(paths.KUBERNETES_VERSION) == KubeVersion.parse(DEFAULT_KUBE_VERSION)


def test_the_local_api_server_agrees_with_the_table(kube) -> None:
    served = {(r.api_version, r.kind) for r in kube.resources()}
    version = KubeVersion.parse(kube.server_version())
    gone = [row for row in APIS if row.removed is not None and row.removed <= version]
    assert len(gone) >= 50
    assert [row.id for row in gone if (row.api_version, row.kind) in served] == []
    assert [row.id for row in APIS if row.replacement and row.available and row.available <= version
            and (row.replacement, row.kind) not in served] == []


# -- real old sources -------------------------------------------------------------------------------------------

KSM_OLD = DATA / "kube-state-metrics-v1.1.0"


def test_removed_rbac_versions_are_migrated_with_a_warning_per_object(tmp_path: Path, helm, render) -> None:
    sources = [str(p) for p in sorted(KSM_OLD.glob("*.yaml")) if "deployment" not in p.name]
    result = chartify(sources, ChartifyOptions(name="ksm", output=tmp_path / "ksm"), helm=lambda: helm)
    assert result.verification.figure == "6/6 objects equal (100%)"
    assert "[WARNING]" not in result.verification.lint_output
    migrated = sorted(w.split(" (")[0] for w in result.warnings if "migrated to rbac.authorization.k8s.io/v1" in w)
    assert migrated == ["ClusterRole/kube-state-metrics", "ClusterRoleBinding/kube-state-metrics",
                        "Role/kube-system/kube-state-metrics-resizer", "RoleBinding/kube-system/kube-state-metrics"]
    rendered = render(tmp_path / "ksm", namespace="kube-system")
    assert {o["apiVersion"] for o in rendered if o["kind"].endswith(("Role", "RoleBinding"))} == \
        {"rbac.authorization.k8s.io/v1"}


def test_an_apps_v1beta2_deployment_with_a_selector_is_migrated(tmp_path: Path, helm) -> None:
    result = chartify([str(DATA / "kube-state-metrics-v1.3.1")], ChartifyOptions(name="ksm", output=tmp_path / "ksm"),
                      helm=lambda: helm)
    assert result.verification.figure == "7/7 objects equal (100%)"
    assert result.warnings == ["Deployment/kube-system/kube-state-metrics (" + str(
        DATA / "kube-state-metrics-v1.3.1" / "kube-state-metrics-deployment.yaml") + " (document 0)): apps/v1beta2 "
        "Deployment is not served since Kubernetes 1.16 (target 1.35); migrated to apps/v1, only the apiVersion "
        "changes"]
    assert "apiVersion: apps/v1\n" in (tmp_path / "ksm" / "templates" / "kube-state-metrics.yaml").read_text()


def test_a_removed_api_a_human_must_migrate_is_refused_naming_object_api_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        chartify([str(KSM_OLD)], ChartifyOptions(name="ksm", output=tmp_path / "ksm", verify=False))
    assert str(info.value).startswith(
        "unable to chartify 1 object for Kubernetes 1.35: Deployment/kube-system/kube-state-metrics "
        f"({KSM_OLD / 'kube-state-metrics-deployment.yaml'} (document 0)) uses extensions/v1beta1 Deployment, which "
        "is not served since Kubernetes 1.16; moving it to apps/v1 needs a human: apps/v1 requires spec.selector "
        "(the old API defaulted it from the pod labels): set spec.selector.matchLabels to the pod template's labels "
        "(k8s-app: kube-state-metrics)")
    assert not (tmp_path / "ksm").exists()


def test_a_lint_failure_carries_helms_own_findings(tmp_path: Path, helm) -> None:
    # for Kubernetes 1.15 the old Deployment is still served, so chartify keeps it; helm lint then refuses it
    with pytest.raises(ChartifyError) as info:
        chartify([str(KSM_OLD)], ChartifyOptions(name="ksm", output=tmp_path / "ksm", kube_version="1.15"), helm=lambda: helm)
    message = str(info.value)
    assert message.startswith('unable to verify chart "ksm": helm lint --strict failed: ')
    assert "[WARNING] templates/kube-state-metrics.yaml: extensions/v1beta1 Deployment is deprecated in v1.8+, " \
           "unavailable in v1.16+; use apps/v1 Deployment" in message
    assert "[ERROR] templates/kube-state-metrics.yaml: a Deployment must contain matchLabels or matchExpressions" \
           in message
    assert "chart(s) failed" not in message
    assert not (tmp_path / "ksm").exists()
