"""Guard rails in the real kube-apiserver: a ValidatingAdmissionPolicy refuses (or warns about) edits of locked
fields by anyone but Helm; chartkit upgrades and HPA-style scaling go through."""

from __future__ import annotations

import json
import time

import pytest

from toolkit import cli
from toolkit.core.guard import GuardOptions, guard, policy_name
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.core.notices import NoticeOptions, check, list_notices
from toolkit.core.upgrade import UpgradeOptions, upgrade
from toolkit.errors import KubeError

pytestmark = pytest.mark.cluster

REASON = "sized by the platform team, ask #platform"
RAISE_CPU = {"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"cpu": "900m"}}}]}}}}


def _locked_chart(tiny_chart, root, version, cpu="100m"):
    chart = tiny_chart(root, "tiny", version)
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["resources"] = {"type": "object", "readOnly": True, "description": REASON}
    (chart / "values.schema.json").write_text(json.dumps(schema))
    (chart / "values.yaml").write_text((chart / "values.yaml").read_text().replace("cpu: 100m", f"cpu: {cpu}"))
    return chart


def _patch(kube, namespace, body, *, dry_run=False, manager="kubectl-patch"):
    # what `kubectl patch deployment web -p ...` sends: a strategic merge patch as field manager kubectl-patch
    return kube.patch("apps/v1", "Deployment", "web", namespace, body, patch_type="strategic",
                      field_manager=manager, dry_run=dry_run)


def _until(check, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _refusal(kube, namespace):
    try:
        _patch(kube, namespace, RAISE_CPU, dry_run=True)  # admission runs on dry runs too: a harmless probe
    except KubeError as exc:
        return exc
    return None


def test_guard_deny_then_warn_against_the_real_apiserver(config, catalog, cluster, kube, namespace, tiny_chart,
                                                         publish_dir, tmp_path, capsys):
    publish_dir(_locked_chart(tiny_chart, tmp_path, "1.0.0"), "1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny", namespace=namespace))
    base = ["-n", namespace, "--catalog", str(catalog.url), "--kubeconfig", str(cluster.kubeconfig),
            "--kube-context", cluster.context]
    try:
        capsys.readouterr()
        assert cli.main(["guard", "on", "web", *base, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["mode"] == "deny"
        assert {(r["field"], r["parameter"]) for r in result["rules"]} >= {
            ("spec.template.spec.containers[name=app].resources.limits.cpu", "resources.limits.cpu")}
        assert kube.get("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", policy_name("web", namespace))

        # the intern raises the container's size: the API server itself says no, naming type, parameter, reason
        refused = _until(lambda: _refusal(kube, namespace), "the policy to take effect")
        assert refused.status == 403
        assert 'is locked by type "tiny" (parameter resources.limits.cpu)' in refused.message
        assert REASON in refused.message and "admission policy" in (refused.hint or "")
        with pytest.raises(KubeError, match="resources.limits.cpu"):
            _patch(kube, namespace, RAISE_CPU)
        container = kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["cpu"] == "100m"

        # other fields stay editable; chartkit upgrades go through; the HPA scales through the scale subresource
        _patch(kube, namespace, {"metadata": {"labels": {"team": "chat"}}})
        publish_dir(_locked_chart(tiny_chart, tmp_path / "v2", "1.1.0", cpu="200m"), "1.1.0")
        done = upgrade(config, UpgradeOptions(instance="web", namespace=namespace, version="1.1.0",
                                              values=ValuesInput(sets=("plan=large",))))
        assert done.status == "deployed"
        container = kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["cpu"] == "200m"  # Helm changed the locked field: allowed
        # (after the upgrade: a chart that sets replicas meets the HPA's as a server-side apply conflict anyway)
        kube.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale",
                     body={"spec": {"replicas": 4}}, content_type="application/merge-patch+json",
                     query={"fieldManager": "horizontal-pod-autoscaler"})
        assert kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["replicas"] == 4

        # warn mode: the patch passes with the API server's warning, and the watcher raises a compliance notice
        guard(config, GuardOptions(instance="web", namespace=namespace, mode="warn"))

        def warned():
            try:
                _patch(kube, namespace, RAISE_CPU, dry_run=True)
            except KubeError:
                return None
            return kube.warnings()

        warnings = _until(warned, "warn mode to take effect")
        assert any('locked by type "tiny" (parameter resources.limits.cpu)' in w for w in warnings)
        _patch(kube, namespace, RAISE_CPU)
        assert any(REASON in w for w in kube.warnings())
        passed = check(config, NoticeOptions(namespace=namespace, upgrade=False))
        assert [n["kind"] for n in passed.raised] == ["compliance violation"]
        [notice] = list_notices(config, namespace=namespace)
        assert "resources.limits.cpu" in notice["message"] and "kubectl-patch" in notice["message"]
        events = kube.list("v1", "Event", namespace, field_selector="reason=ComplianceViolation")
        assert len(events) == 1 and events[0]["type"] == "Warning"
    finally:
        assert cli.main(["guard", "off", "web", *base]) == 0
    assert kube.get("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", policy_name("web", namespace),
                    missing_ok=True) is None
