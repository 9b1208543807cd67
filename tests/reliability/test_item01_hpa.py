"""Issue 14, item 1: once an HPA scaled a Deployment, upgrades, rollouts and rollbacks must go on.

The HPA scales through the scale subresource as ``kube-controller-manager``, which then owns ``spec.replicas``.
Charts made before chartify left replicas to the HPA still render them: every server-side-apply upgrade
conflicted, helm's rollback too, the release stayed ``failed``. New charts leave the field to the HPA; upgrades of
old ones leave controller-owned fields out of what helm applies; rollbacks say when they take a field back.
"""

from __future__ import annotations

import json

import pytest

from tests.reliability.harness import record, run_chartkit
from toolkit.adapters.kube import PatchType
from toolkit.core.drift import DriftOptions, drift
from toolkit.core.history import HistoryOptions, history
from toolkit.core.install import InstallOptions, install
from toolkit.deploy.release import get_instance

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]

GUARD_OPEN = "  {{- if not .Values.chat.autoscaling.enabled }}\n"
GUARD_CLOSE = "  {{- end }}\n  revisionHistoryLimit"


def old_chat_chart(chat_chart, version: str, tag: str):
    """charts/chat as chartify made it before this change: replicas rendered whatever the HPA does."""
    chart = chat_chart(version, tag)
    template = chart / "templates" / "chat.yaml"
    text = template.read_text()
    template.write_text(text.replace(GUARD_OPEN, "", 1).replace(GUARD_CLOSE, "  revisionHistoryLimit", 1))
    assert "replicas: {{ .Values.chat.replicaCount | toJson }}\n  revisionHistoryLimit" in template.read_text()
    return chart


def scale_as_the_hpa(kube, namespace: str, name: str, replicas: int) -> None:
    """What the HPA controller does: the scale subresource, as kube-controller-manager (kubectl scale alike)."""
    path = kube.resource("apps/v1", "Deployment").path(namespace=namespace, name=name) + "/scale"
    kube.request("PATCH", path, body={"spec": {"replicas": replicas}}, content_type=PatchType.MERGE.value,
                 query={"fieldManager": "kube-controller-manager"})


def replicas_owner(kube, namespace: str, name: str) -> tuple[int, list[str]]:
    dep = kube.get("apps/v1", "Deployment", name, namespace)
    owners = [e["manager"] for e in dep["metadata"].get("managedFields") or []
              if "f:replicas" in json.dumps((e.get("fieldsV1") or {}).get("f:spec", {}))]
    return dep["spec"]["replicas"], owners


def test_upgrades_of_an_old_chart_after_the_hpa_scaled_leave_replicas_to_it(
        chat_chart, config, publish_dir, kube, suite_namespace, cli_env, tmp_path):
    ns = suite_namespace
    publish_dir(old_chat_chart(chat_chart, "1.0.0", "1.20"), "1.0.0")
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=ns))
    kube.wait_deployment_available("chat", ns, timeout=90)
    scale_as_the_hpa(kube, ns, "chat", 3)

    run = run_chartkit(["upgrade", "chat", "-n", ns, "--set", "chat.env.NODE_ENV=staging", "--timeout", "90s"],
                       env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 1: upgrade --set after an HPA scale (chart made before)", run)
    assert run.code == 0, run.stderr
    assert replicas_owner(kube, ns, "chat") == (3, ["kube-controller-manager"])
    dep = kube.wait_deployment_available("chat", ns, timeout=90)
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NODE_ENV"] == "staging"
    assert get_instance(config, "chat", ns).status == "deployed"

    # a new version of the type, made by today's chartify: replicas are the HPA's, the count stays
    publish_dir(chat_chart("1.1.0", "1.21"), "1.1.0")
    run = run_chartkit(["upgrade", "chat", "-n", ns, "--version", "1.1.0", "--timeout", "90s"], env=cli_env,
                       tmp_root=tmp_path)
    record("issue 14", "item 1: upgrade to a chart that leaves replicas to the HPA", run)
    assert run.code == 0, run.stderr
    assert replicas_owner(kube, ns, "chat")[0] == 3
    # drift, which said "no drift" while upgrades failed, still says so, and now the upgrades agree
    assert int(drift(config, DriftOptions(instance="chat", namespace=ns)).exit_code) == 0


def test_a_rollback_to_a_revision_that_set_replicas_takes_them_back_and_says_so(
        chat_chart, config, publish_dir, kube, suite_namespace, cli_env, tmp_path):
    ns = suite_namespace
    publish_dir(old_chat_chart(chat_chart, "1.0.0", "1.20"), "1.0.0")
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=ns))
    kube.wait_deployment_available("chat", ns, timeout=90)
    scale_as_the_hpa(kube, ns, "chat", 3)
    assert run_chartkit(["upgrade", "chat", "-n", ns, "--set", "chat.env.NODE_ENV=staging", "--timeout", "90s"],
                        env=cli_env, tmp_root=tmp_path).code == 0
    run = run_chartkit(["rollback", "chat", "-n", ns, "--timeout", "90s"], env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 1: rollback to a revision that set replicas", run)
    assert run.code == 0, run.stderr
    assert "took spec.replicas of Deployment/" in run.stdout and "back from its controller" in run.stdout
    assert get_instance(config, "chat", ns).status == "deployed"


def test_recover_rolls_back_a_release_left_failed_by_a_failed_rollback(
        publish_tiny, config, kube, suite_namespace, cli_env, tmp_path):
    ns = suite_namespace
    publish_tiny("1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny@1.0.0", namespace=ns))
    # someone takes a field the chart sets (kubectl edit): the upgrade conflicts, and so does helm's rollback
    kube.patch("apps/v1", "Deployment", "web", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "MODE", "value": "edited"}]}]}}}}, patch_type="strategic",
        field_manager="kubectl-edit")
    run = run_chartkit(["upgrade", "web", "-n", ns, "--set", "plan=large", "--timeout", "60s"], env=cli_env,
                       tmp_root=tmp_path)
    assert run.code == 1, run.stderr
    statuses = [r.status for r in history(config, HistoryOptions(instance="web", namespace=ns))]
    # helm 4: the failed upgrade superseded, its automatic rollback failed, revision 1 still says "deployed"
    assert statuses == ["deployed", "superseded", "failed"]
    plan = run_chartkit(["recover", "web", "-n", ns, "--dry-run"], env=cli_env, tmp_root=tmp_path)
    assert "would roll back" in plan.stdout, plan.stdout + plan.stderr
    run = run_chartkit(["recover", "web", "-n", ns, "--force-conflicts", "--timeout", "60s"], env=cli_env,
                       tmp_root=tmp_path)
    record("issue 14", "item 1: recover after a failed rollback", run)
    assert run.code == 0, run.stderr
    assert get_instance(config, "web", ns).status == "deployed"


def test_chartify_and_adoption_of_an_app_the_hpa_scaled_keep_its_replicas_and_pods(
        repo_root, kube, cluster, local_helm, suite_namespace, tmp_path):
    from ruamel.yaml import YAML

    ns = suite_namespace
    objects = [doc for path in sorted((repo_root / "examples" / "chat").glob("*.yaml"))
               for doc in YAML(typ="safe").load_all(path.read_text()) if doc]
    for obj in objects:
        obj["metadata"]["namespace"] = ns
    kube.apply(objects, ns, field_manager="kubectl")
    kube.wait_deployment_available("chat", ns, timeout=60)
    scale_as_the_hpa(kube, ns, "chat", 4)
    kube.wait_deployment_available("chat", ns, timeout=60)
    replicasets = sorted(rs["metadata"]["name"] for rs in kube.list("apps/v1", "ReplicaSet", ns))

    chart = tmp_path / "chat"
    run = run_chartkit(["chartify", f"cluster:{ns}", "--name", "chat", "-o", str(chart), "--kubeconfig",
                        str(cluster.kubeconfig), "--kube-context", cluster.context], tmp_root=tmp_path)
    record("issue 14", "item 1: chartify of an app its HPA scaled", run)
    assert run.code == 0, run.stderr
    assert "equal (replicas left to its HPA)" in run.stdout and "spec.replicas (4 in the source)" in run.stdout
    assert "{{- if not .Values.chat.autoscaling.enabled }}" in (chart / "templates" / "chat.yaml").read_text()

    release = local_helm.install_or_upgrade("chat", chart, namespace=ns, take_ownership=True, timeout="90s")
    assert release["info"]["status"] == "deployed"
    assert replicas_owner(kube, ns, "chat")[0] == 4  # the HPA's count stays: no one applied another
    assert sorted(rs["metadata"]["name"] for rs in kube.list("apps/v1", "ReplicaSet", ns)) == replicasets
