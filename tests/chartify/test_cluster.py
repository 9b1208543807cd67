"""The live path: the chat app applied to the real local cluster, read back through cluster:NAMESPACE."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.chartify import ChartifyOptions, load_source, verify_against
from toolkit.config import resolve
from toolkit.core.chartify import chartify

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.cluster


def test_live_namespace_chartifies_and_reproduces_the_live_objects(tmp_path: Path, kube, namespace: str, cluster,
                                                                    helm) -> None:
    objects, _ = load_source([str(REPO / "examples" / "chat")])
    for item in objects:
        item.obj["metadata"]["namespace"] = namespace
    kube.apply([item.obj for item in objects], namespace)
    kube.wait_deployment_available("chat", namespace, timeout=120)

    source = f"cluster:{namespace}"
    live, skipped = load_source([source], kube=lambda: kube)
    kinds = sorted(item.obj["kind"] for item in live)
    assert kinds == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Secret", "Service"]
    made_by_controllers = sorted(key.split("/")[0] for key, reason in skipped.items()
                                 if reason.endswith("made by controllers"))
    assert "ReplicaSet" in made_by_controllers and "Pod" in made_by_controllers
    assert "ConfigMap/" + namespace + "/kube-root-ca.crt" in skipped
    for item in live:
        meta = item.obj["metadata"]
        assert not {"uid", "resourceVersion", "managedFields", "creationTimestamp"} & set(meta)
        assert "status" not in item.obj
    service = next(i.obj for i in live if i.obj["kind"] == "Service")
    assert "clusterIP" not in service["spec"] and "clusterIPs" not in service["spec"]

    config = resolve(kubeconfig=cluster.kubeconfig, context=cluster.context, helm=helm.config.executable)
    result = chartify(config, [source], ChartifyOptions(name="chat-live", output=tmp_path / "chat-live"))
    assert result.verification.figure == "6/6 objects equal (100%)"
    again = verify_against(tmp_path / "chat-live", [source], helm=helm, kube=lambda: kube)
    assert again.figure == "6/6 objects equal (100%)"
    # a label selector narrows the live source
    narrowed, _ = load_source([f"{source}?app.kubernetes.io/name=chat"], kube=lambda: kube)
    assert len(narrowed) == 6
