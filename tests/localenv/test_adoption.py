"""The sample chat app applied to the real cluster, chartified from it, and adopted by Helm without changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from toolkit.cli import main
from toolkit.adapters.helm import Helm
from toolkit.adapters.kube import Kube

pytestmark = pytest.mark.cluster

#: what each kind's "spec" is: the fields adoption must leave untouched
BODY = {"ConfigMap": "data", "Secret": "data"}


def _example_objects(repo_root: Path) -> list[dict[str, Any]]:
    example = repo_root / "examples" / "chat"
    if not example.is_dir():
        pytest.fail(f"the sample app is missing at {example}")
    yaml = YAML(typ="safe")
    return [doc for path in sorted(example.glob("*.yaml")) for doc in yaml.load_all(path.read_text()) if doc]


def _live(kube: Kube, objects: list[dict[str, Any]], namespace: str) -> dict[str, dict[str, Any]]:
    live = {}
    for obj in objects:
        found = kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], namespace)
        assert found is not None
        live[f'{obj["kind"]}/{obj["metadata"]["name"]}'] = found
    return live


def _replicasets(kube: Kube, namespace: str) -> list[str]:
    return sorted(rs["metadata"]["name"] for rs in kube.list("apps/v1", "ReplicaSet", namespace))


def test_chartify_from_the_cluster_then_take_ownership_leaves_every_spec_unchanged(
        repo_root: Path, kube: Kube, cluster, local_helm: Helm, namespace: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    objects = _example_objects(repo_root)
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    kube.apply(objects, namespace, field_manager="kubectl")  # what `kubectl apply --server-side` does
    kube.wait_deployment_available("chat", namespace, timeout=60)
    before = _live(kube, objects, namespace)
    replicasets = _replicasets(kube, namespace)

    chart = tmp_path / "chat"
    code = main(["chartify", f"cluster:{namespace}", "--name", "chat", "-o", str(chart),
                 "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context])
    assert code == 0, capsys.readouterr().err
    assert (chart / "values.schema.json").is_file()

    release = local_helm.install_or_upgrade("chat", chart, namespace=namespace, take_ownership=True,
                                            timeout="90s")
    assert release["info"]["status"] == "deployed"
    kube.wait_deployment_available("chat", namespace, timeout=60)
    after = _live(kube, objects, namespace)

    adopted = []
    for ref, old in before.items():
        new = after[ref]
        body = BODY.get(old["kind"], "spec")
        assert new.get(body) == old.get(body), f"{ref}: {body} changed by the adoption"
        if new["metadata"].get("annotations", {}).get("meta.helm.sh/release-name") == "chat":
            adopted.append(ref)
    # no rollout happened (generation moves with annotations on Deployments, so count ReplicaSets instead)
    assert _replicasets(kube, namespace) == replicasets
    assert after["Deployment/chat"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    # everything but the Secret (the chart points at it through existingSecret) now belongs to the release
    assert sorted(adopted) == sorted(ref for ref in before if not ref.startswith("Secret/"))
