"""Plans to approve, rings, and drift --propose against the real registry and API server."""

from __future__ import annotations

import json

import pytest

from toolkit import cli
from toolkit.core.drift import DriftOptions, drift, proposals
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.core.plan import ApproveOptions, PlanOptions, approve, make_plan
from toolkit.core.policy import PolicyOptions, set_policy
from toolkit.core.promote import Action, PromoteOptions, promote
from toolkit.deploy.release import get_instance
from toolkit.errors import DeployError

pytestmark = pytest.mark.cluster


def _patch(kube, namespace, name, body, manager="kubectl-edit"):
    kube.patch("apps/v1", "Deployment", name, namespace, body, patch_type="strategic", field_manager=manager)


def test_a_plan_is_applied_exactly_and_refused_once_live_state_changed(config, catalog, cluster, kube, namespace,
                                                                       publish_tiny, capsys):
    publish_tiny("1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny", namespace=namespace))
    publish_tiny("1.1.0")
    plan = make_plan(config, PlanOptions(instance="web", namespace=namespace, version="1.1.0",
                                         values=ValuesInput(sets=("plan=large",))))
    assert (plan.from_version, plan.to_version, plan.revision) == ("1.0.0", "1.1.0", 1)
    changed = {c["object"]: c for c in plan.changes}
    assert any("data.plan" in f for f in changed[f"ConfigMap/{namespace}/web-config"]["fields"])
    assert get_instance(config, "web", namespace).version == "1.0.0"  # planning changes nothing
    assert kube.get("v1", "ConfigMap", f"chartkit-plan-{plan.id}", namespace)  # stored in the cluster by its hash

    # someone edits a live object after the plan was made: approving it is refused, naming what changed
    _patch(kube, namespace, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "DEBUG", "value": "1"}]}]}}}})
    with pytest.raises(DeployError, match=rf"unable to approve plan \"{plan.id}\" .*live objects changed since: "
                                          rf"Deployment/{namespace}/web"):
        approve(config, ApproveOptions(plan=plan.id, namespace=namespace))
    assert get_instance(config, "web", namespace).revision == 1

    # a fresh plan over the new live state is approved through the CLI, and then cannot be applied twice
    base = ["-n", namespace, "--catalog", str(catalog.url), "--kubeconfig", str(cluster.kubeconfig),
            "--kube-context", cluster.context]
    capsys.readouterr()
    assert cli.main(["plan", "web", "--version", "1.1.0", "--set", "plan=large", "--json", *base]) == 0
    fresh = json.loads(capsys.readouterr().out)["id"]
    assert fresh != plan.id
    assert cli.main(["approve", fresh, "--json", *base]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert (applied["version"], applied["revision"]) == ("1.1.0", 2)
    assert kube.get("v1", "ConfigMap", "web-config", namespace)["data"]["plan"] == "large"
    with pytest.raises(DeployError, match="applied already"):
        approve(config, ApproveOptions(plan=fresh, namespace=namespace))


def test_rings_go_in_order_and_stop_at_the_first_failing_ring(config, namespace, kube, publish_tiny):
    publish_tiny("1.0.0")
    rings = {"d1": "dev", "d2": "dev", "s1": "staging", "s2": "staging", "p1": "prod", "m1": "dev"}
    for name, ring in rings.items():
        sets = ("nodeSelector.pool=nowhere",) if name == "s2" else ()  # its pods can never be scheduled
        install(config, InstallOptions(instance=name, type_ref="tiny@1.0.0", namespace=namespace, wait=False,
                                       values=ValuesInput(sets=sets)))
        set_policy(config, PolicyOptions(instance=name, namespace=namespace, track="^1", ring=ring,
                                         mode="manual" if name == "m1" else "automatic"))
    set_policy(config, PolicyOptions(instance="d2", namespace=namespace, track="~1.0"))
    publish_tiny("1.1.0")

    said = []
    result = promote(config, PromoteOptions(type="tiny", version="1.1.0", namespace=namespace, timeout="10s",
                                            health_timeout=20), progress=lambda r: said.append(r.ring))
    by = {o.name: o for r in result.rings for o in r.instances}
    assert by["d1"].action is Action.UPGRADED
    assert by["d2"].action is Action.SKIPPED and "outside its policy ~1.0" in by["d2"].detail
    assert by["m1"].action is Action.PLANNED and "chartkit approve" in by["m1"].detail
    assert by["s2"].action is Action.FAILED
    assert result.stopped_at == "staging" and said == ["dev", "staging"]
    assert [r.started for r in result.rings] == [True, True, False]
    assert get_instance(config, "p1", namespace).version == "1.0.0"  # prod never touched
    assert get_instance(config, "d1", namespace).version == "1.1.0"
    assert get_instance(config, "m1", namespace).version == "1.0.0"  # manual: a plan, not an upgrade


def test_drift_propose_turns_edits_into_a_values_change_or_a_type_change(config, catalog, cluster, kube, namespace,
                                                                         publish_tiny, capsys):
    publish_tiny("1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny", namespace=namespace))
    _patch(kube, namespace, "web", {"spec": {"template": {"spec": {
        "terminationGracePeriodSeconds": 45,
        "containers": [{"name": "app", "image": "other.example/team/tiny:1.0",
                        "resources": {"limits": {"cpu": "750m"}}}]}}}})
    result = drift(config, DriftOptions(instance="web", namespace=namespace))
    [proposal] = proposals(config, result)
    assert proposal.values == {"resources.limits.cpu": "750m"}
    assert proposal.defaults == {"image.registry": "other.example"}  # locked: a new version, not a --set
    assert any(item["field"] == "spec.template.spec.terminationGracePeriodSeconds" and item["value"] == 45
               for item in proposal.new_parameters)
    assert proposal.command == f"chartkit upgrade web -n {namespace} --set-string resources.limits.cpu=750m"
    base = ["-n", namespace, "--catalog", str(catalog.url), "--kubeconfig", str(cluster.kubeconfig),
            "--kube-context", cluster.context]
    capsys.readouterr()
    assert cli.main(["drift", "web", "--propose", *base]) == 4
    out = capsys.readouterr().out
    assert "values change" in out and "type change" in out and "so the setting sticks" in out
