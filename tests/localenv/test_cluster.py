"""The local control plane: real kube-apiserver + etcd + controllers + kwok nodes, driven by real helm."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from toolkit import localenv
from toolkit.cli import main
from toolkit.adapters.helm import Helm
from toolkit.adapters.kube import Kube, KubeError
from toolkit.localenv import _cluster
from tests.localenv.charts import write_chart

pytestmark = pytest.mark.cluster


def _configmap_greeting(kube: Kube, release: str, namespace: str) -> str:
    cm = kube.get("v1", "ConfigMap", f"{release}-config", namespace)
    assert cm is not None
    return cm["data"]["greeting"]


def test_helm_install_wait_reaches_deployed_with_the_deployment_available(
        local_helm: Helm, kube: Kube, namespace: str, tmp_path: Path) -> None:
    chart = write_chart(tmp_path, "hello", replicas=3)
    release = local_helm.install_or_upgrade("hello", chart, namespace=namespace, timeout="90s")
    assert release["info"]["status"] == "deployed"
    assert kube.deployment_available("hello", namespace)
    dep = kube.get("apps/v1", "Deployment", "hello", namespace)
    assert dep is not None and dep["status"]["availableReplicas"] == 3
    # kube-scheduler bound every pod to one of kwok's fake nodes, and kwok made them ready
    pods = kube.list("v1", "Pod", namespace, selector="app=hello")
    assert len(pods) == 3
    assert {pod["spec"]["nodeName"] for pod in pods} <= set(_cluster.NODES)
    assert all(pod["status"]["phase"] == "Running" for pod in pods)


def test_helm_upgrade_history_and_rollback(local_helm: Helm, kube: Kube, namespace: str, tmp_path: Path) -> None:
    chart = write_chart(tmp_path, "hello", greeting="first")
    local_helm.install_or_upgrade("hello", chart, namespace=namespace, timeout="90s")
    upgraded = local_helm.install_or_upgrade("hello", chart, namespace=namespace, timeout="90s",
                                             values={"greeting": "second", "replicaCount": 1})
    assert upgraded["version"] == 2
    assert _configmap_greeting(kube, "hello", namespace) == "second"
    assert kube.get("apps/v1", "Deployment", "hello", namespace)["spec"]["replicas"] == 1

    local_helm.rollback("hello", 1, namespace=namespace, timeout="90s")
    history = local_helm.history("hello", namespace=namespace)
    assert [(entry["revision"], entry["status"]) for entry in history] == [
        (1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert history[-1]["description"] == "Rollback to 1"
    assert local_helm.status("hello", namespace=namespace)["version"] == 3
    assert _configmap_greeting(kube, "hello", namespace) == "first"
    assert kube.wait_deployment_available("hello", namespace, timeout=60)["spec"]["replicas"] == 2


def test_install_from_the_local_registry_verifies_tls_with_the_ca(
        local_helm: Helm, kube: Kube, registry_repo: str, namespace: str, tmp_path: Path) -> None:
    package = local_helm.package(write_chart(tmp_path / "src", "hello", "1.2.3"), tmp_path / "pkg")
    local_helm.push(package, registry_repo)
    # local_helm carries only the CA file and the registry config: no --insecure-skip-tls-verify, no --plain-http
    assert local_helm.config.ca_file and local_helm.config.registry_config
    release = local_helm.install_or_upgrade("from-oci", f"{registry_repo}/hello", version="1.2.3",
                                            namespace=namespace, timeout="90s")
    assert release["info"]["status"] == "deployed"
    assert release["chart"]["metadata"]["version"] == "1.2.3"
    assert kube.deployment_available("from-oci", namespace)


def test_gateway_api_httproute_can_be_applied(kube: Kube, namespace: str) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "canary"},
        "spec": {"rules": [{"backendRefs": [{"name": "stable", "port": 80, "weight": 90},
                                            {"name": "canary", "port": 80, "weight": 10}]}]},
    }
    kube.apply([route], namespace)
    stored = kube.get("gateway.networking.k8s.io/v1", "HTTPRoute", "canary", namespace)
    assert [ref["weight"] for ref in stored["spec"]["rules"][0]["backendRefs"]] == [90, 10]


def test_kube_adapter_apply_list_delete(kube: Kube, namespace: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
    dry = kube.apply([cm], namespace, dry_run=True)
    assert dry[0]["data"] == {"a": "1"}
    assert kube.get("v1", "ConfigMap", "settings", namespace, missing_ok=True) is None
    kube.apply([cm], namespace, field_manager="chartkit-test")
    listed = kube.list_namespace_objects(namespace)
    names = {(obj["apiVersion"], obj["kind"], obj["metadata"]["name"]) for obj in listed}
    assert ("v1", "ConfigMap", "settings") in names
    assert all(obj["metadata"].get("namespace") == namespace for obj in listed)
    assert kube.delete("v1", "ConfigMap", "settings", namespace, wait=True)
    assert not kube.delete("v1", "ConfigMap", "settings", namespace)


@pytest.mark.parametrize(("api_version", "kind", "pattern"), [
    ("v1", "Nonsense", r'unable to find kind "Nonsense" in "v1"'),
    ("example.com/v1", "Widget", r'unable to find kind "Widget" in "example.com/v1".*install the CRD'),
], ids=["unknown-kind", "missing-crd"])
def test_kube_adapter_names_an_unknown_kind(kube: Kube, api_version: str, kind: str, pattern: str) -> None:
    with pytest.raises(KubeError, match=pattern):
        kube.get(api_version, kind, "x", "default")


def test_kube_adapter_reports_an_invalid_object(kube: Kube, namespace: str) -> None:
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Valid_Name"}}
    with pytest.raises(KubeError, match=r'unable to apply ConfigMap "t-[0-9a-f]+/Not_A_Valid_Name": .*Invalid') as caught:
        kube.apply([bad], namespace)
    assert caught.value.status == 422


def test_start_cluster_reuses_the_running_one_quickly(cluster) -> None:
    pids = _cluster._running()
    started = time.monotonic()
    again = localenv.start_cluster()
    assert time.monotonic() - started < 3
    assert again == cluster
    assert _cluster._running() == pids


def test_chartkit_env_json_reports_what_runs_where(cluster, registry, helm_bin: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--json"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert env["helm"]["version"] == "v4.3.1"
    assert env["registry"]["url"] == registry.url and env["registry"]["url"].startswith("oci://127.0.0.1:")
    assert Path(env["registry"]["ca_file"]).is_file() and Path(env["registry"]["registry_config"]).is_file()
    assert "password" not in env["registry"]
    assert env["cluster"] == {"kubeconfig": str(cluster.kubeconfig), "context": "chartkit-local",
                              "server": cluster.server, "version": "v1.35.4"}
