"""Drift against the real cluster: edits made through the Kubernetes API are reported with field, values, manager."""

from __future__ import annotations

import json

import pytest

from toolkit import cli
from toolkit.core.drift import DriftOptions, drift
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.core.upgrade import UpgradeOptions, upgrade
from toolkit.deploy.drift import ChangeKind, ExitCode
from toolkit.errors import DeployError

pytestmark = pytest.mark.cluster


def _patch(kube, namespace, path, body, manager, *, kind="strategic-merge-patch"):
    kube.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/{path}", body=body,
                 content_type=f"application/{kind}+json", query={"fieldManager": manager})


def _report(config, namespace):
    result = drift(config, DriftOptions(instance="web", namespace=namespace))
    assert result.single and len(result.reports) == 1
    return result.reports[0]


def test_drift_reports_edits_with_field_values_and_manager(config, catalog, cluster, kube, namespace, publish_tiny,
                                                            capsys):
    publish_tiny("1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny", namespace=namespace))
    assert _report(config, namespace).changes == ()

    container = {"name": "app", "resources": {"limits": {"cpu": "750m"}}, "env": [{"name": "DEBUG", "value": "1"}]}
    _patch(kube, namespace, "web", {"spec": {"template": {"spec": {"containers": [container]}}}}, "kubectl-edit")
    kube.delete("v1", "ConfigMap", "web-config", namespace, wait=True)
    # what the HPA does: kube-controller-manager writes spec.replicas through the scale subresource
    _patch(kube, namespace, "web/scale", {"spec": {"replicas": 5}}, "kube-controller-manager", kind="merge-patch")

    report = _report(config, namespace)
    got = {(c.kind, str(c.object), c.field): c for c in report.changes}
    cpu = got[(ChangeKind.CHANGED, f"Deployment/{namespace}/web",
               "spec.template.spec.containers[name=app].resources.limits.cpu")]
    assert (cpu.old, cpu.new, cpu.manager, cpu.violation) == ("100m", "750m", "kubectl-edit", False)
    assert cpu.time
    env = got[(ChangeKind.ADDED, f"Deployment/{namespace}/web", "spec.template.spec.containers[name=app].env[name=DEBUG]")]
    assert (env.old, env.new, env.manager) == (None, {"name": "DEBUG", "value": "1"}, "kubectl-edit")
    assert (ChangeKind.MISSING_OBJECT, f"ConfigMap/{namespace}/web-config", "") in got
    assert len(report.changes) == 3, [c.line() for c in report.changes]  # the HPA-style replicas change is not drift
    assert report.exit_code is ExitCode.DRIFT

    args = ["drift", "web", "-n", namespace, "--catalog", str(catalog.url), "--kubeconfig", str(cluster.kubeconfig),
            "--kube-context", cluster.context, "--json"]
    capsys.readouterr()
    assert cli.main(args) == 3
    assert len(json.loads(capsys.readouterr().out)["changes"]) == 3

    # image.registry is locked by the type owner: editing the field it renders is a compliance violation
    _patch(kube, namespace, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "evil.example/team/tiny:1.0"}]}}}}, "kubectl-edit")
    assert cli.main(args) == 4
    out = json.loads(capsys.readouterr().out)
    [violation] = [c for c in out["changes"] if c["violation"]]
    assert (violation["field"], violation["old"], violation["new"], violation["manager"]) == (
        "spec.template.spec.containers[name=app].image", "registry.example/team/tiny:1.0",
        "evil.example/team/tiny:1.0", "kubectl-edit")

    # an upgrade meets the edited fields as server-side apply conflicts: refused with a way out, then forced
    large = ValuesInput(sets=("plan=large",))
    with pytest.raises(DeployError, match=r"conflict occurred while applying") as info:
        upgrade(config, UpgradeOptions(instance="web", namespace=namespace, values=large))
    assert "re-run with --force-conflicts" in str(info.value)
    r = upgrade(config, UpgradeOptions(instance="web", namespace=namespace, values=large, force_conflicts=True))
    assert r.status == "deployed"
    left = _report(config, namespace).changes
    # the chart's fields are back; the env var the chart never set stays and is still reported
    assert [(c.kind, c.field) for c in left] == [
        (ChangeKind.ADDED, "spec.template.spec.containers[name=app].env[name=DEBUG]")]
