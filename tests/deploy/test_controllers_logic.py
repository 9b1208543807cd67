"""Controller-owned fields (toolkit.deploy.controllers) and the post-renderer that leaves them out of helm's apply."""

from __future__ import annotations

import json

import pytest

from toolkit.adapters.postrender import leave_fields, main, parse_target
from toolkit.deploy.controllers import owned_by_controllers
from toolkit.objects import parse_manifest

SCALED = {"metadata": {"managedFields": [
    {"manager": "helm", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}},
    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
     "fieldsV1": {"f:spec": {"f:replicas": {}}}},
    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
     "fieldsV1": {"f:status": {"f:replicas": {}}}},
    {"manager": "kube-controller-manager", "operation": "Update",
     "fieldsV1": {"f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}}}},
    {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:paused": {}}}},
]}}


def test_only_spec_fields_a_controller_owns_count():
    assert owned_by_controllers(SCALED) == [("spec", "replicas")]
    assert owned_by_controllers({"metadata": {}}) == []


RENDERED = """---
# Source: chat/templates/chat.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: chat
  annotations: {postrenderer.helm.sh/postrender-filename: chat/templates/chat.yaml}
spec:
  replicas: 2
  template: {metadata: {labels: {app: chat, "on": "yes"}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: chat}
data: {replicas: "2"}
"""


@pytest.mark.parametrize("target", ["Deployment/chat=spec.replicas", "Deployment/ns/chat=spec.replicas"],
                         ids=["no-namespace", "namespace"])
def test_leave_fields_drops_exactly_the_named_field(target):
    out = parse_manifest(leave_fields(RENDERED, [target]))
    deployment, config_map = out
    assert "replicas" not in deployment["spec"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "chat", "on": "yes"}
    assert deployment["metadata"]["annotations"] == {
        "postrenderer.helm.sh/postrender-filename": "chat/templates/chat.yaml"}
    assert config_map["data"] == {"replicas": "2"}


def test_other_objects_and_namespaces_pass_through_untouched():
    # a rendered object without a namespace lands in the release's: only one that names another is another
    placed = RENDERED.replace("  name: chat\n  annotations", "  name: chat\n  namespace: ns\n  annotations")
    assert parse_manifest(leave_fields(placed, ["Deployment/other/chat=spec.replicas"])) == parse_manifest(placed)
    assert parse_manifest(leave_fields(RENDERED, ["StatefulSet/chat=spec.replicas"])) == parse_manifest(RENDERED)


@pytest.mark.parametrize("bad", ["Deployment=spec.replicas", "Deployment/chat", "/chat=x"], ids=["no-name",
                                                                                              "no-field", "no-kind"])
def test_a_bad_target_is_helms_one_line_failure(bad, capsys, monkeypatch):
    with pytest.raises(ValueError):
        parse_target(bad)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(RENDERED))
    assert main([bad]) == 1
    assert capsys.readouterr().err.startswith("chartkit-leave-fields: expected Kind[/namespace]/name=field.path")


def test_the_post_renderer_writes_json_only_for_what_it_changed():
    text = leave_fields(RENDERED, ["Deployment/chat=spec.replicas"])
    docs = [d for d in text.split("---\n") if d.strip()]
    assert json.loads(docs[0])["kind"] == "Deployment" and docs[1].lstrip().startswith("apiVersion: v1")
