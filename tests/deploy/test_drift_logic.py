"""Drift decisions over plain objects shaped like the API server's answers (managedFields included)."""

from __future__ import annotations

import copy


from toolkit.deploy.drift import (ChangeKind, DriftReport, ExitCode, concrete_path, diff_object, field_paths,
                                  find_values, lookup, missing_and_extra, pretty_path)
from toolkit.objects import ObjectKey

C = 'k:{"name":"chat"}'
HELM_FIELDS = {"f:metadata": {"f:labels": {"f:app": {}}},
               "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {C: {
                   ".": {}, "f:name": {}, "f:image": {},
                   "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
                   "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}}}}}}}}


def _deployment(cpu="500m", replicas=1, env=(("MODE", "prod"),), image="chat:1.0"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "chat", "namespace": "ns", "labels": {"app": "chat"}, "managedFields": []},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{
                "name": "chat", "image": image, "env": [{"name": n, "value": v} for n, v in env],
                "resources": {"limits": {"cpu": cpu, "memory": "128Mi"}}}]}}}}


def _entry(manager, fields, operation="Update", time="2026-11-21T06:00:00Z", subresource=None):
    entry = {"manager": manager, "operation": operation, "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _pair():
    """(desired, live) after: cpu edited, env var added, HPA-style scale, a status write."""
    live = _deployment(cpu="900m", replicas=5, env=(("MODE", "prod"), ("DEBUG", "1")))
    edit_fields = {"f:spec": {"f:template": {"f:spec": {"f:containers": {C: {
        "f:resources": {"f:limits": {"f:cpu": {}}},
        "f:env": {'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}}}}}}}}
    helm_left = copy.deepcopy(HELM_FIELDS)
    del helm_left["f:spec"]["f:replicas"]
    del helm_left["f:spec"]["f:template"]["f:spec"]["f:containers"][C]["f:resources"]["f:limits"]["f:cpu"]
    live["metadata"]["managedFields"] = [
        _entry("helm", helm_left, "Apply", "2026-11-21T05:00:00Z"),
        _entry("kubectl-edit", edit_fields, time="2026-11-21T06:01:02Z"),
        _entry("kube-controller-manager", {"f:spec": {"f:replicas": {}}}, subresource="scale"),
        _entry("kube-controller-manager", {"f:status": {"f:replicas": {}}}, subresource="status"),
    ]
    desired = _deployment(cpu="500m", replicas=1, env=(("MODE", "prod"), ("DEBUG", "1")))
    desired["metadata"]["managedFields"] = [_entry("helm", HELM_FIELDS, "Apply"),
                                            _entry("kubectl-edit", edit_fields)]
    return desired, live


def test_field_paths_and_lookup_and_pretty():
    paths = field_paths(HELM_FIELDS)
    env_item = ("f:spec", "f:template", "f:spec", "f:containers", C, "f:env", 'k:{"name":"MODE"}')
    assert env_item in paths and (*env_item, "f:value") in paths
    obj = _deployment()
    assert lookup(obj, (*env_item, "f:value")) == "prod"
    assert pretty_path((*env_item, "f:value")) == "spec.template.spec.containers[name=chat].env[name=MODE].value"
    assert concrete_path(obj, (*env_item, "f:value")) == ("spec", "template", "spec", "containers", 0, "env", 0,
                                                          "value")


def test_diff_reports_changed_and_added_with_manager_but_not_hpa_replicas():
    desired, live = _pair()
    changes = diff_object(desired, live)
    got = {(c.kind, c.field): c for c in changes}
    cpu = got[(ChangeKind.CHANGED, "spec.template.spec.containers[name=chat].resources.limits.cpu")]
    assert (cpu.old, cpu.new, cpu.manager, cpu.time) == ("500m", "900m", "kubectl-edit", "2026-11-21T06:01:02Z")
    added = got[(ChangeKind.ADDED, "spec.template.spec.containers[name=chat].env[name=DEBUG]")]
    assert (added.old, added.new, added.manager) == (None, {"name": "DEBUG", "value": "1"}, "kubectl-edit")
    assert len(changes) == 2, [c.line() for c in changes]  # spec.replicas (HPA) and status are not drift


def test_diff_clean_when_live_matches():
    desired = _deployment()
    desired["metadata"]["managedFields"] = [_entry("helm", HELM_FIELDS, "Apply")]
    live = copy.deepcopy(desired)
    assert diff_object(desired, live) == []


def test_diff_reports_removed_item_once():
    desired = _deployment()
    desired["metadata"]["managedFields"] = [_entry("helm", HELM_FIELDS, "Apply")]
    live = _deployment(env=())
    live["metadata"]["managedFields"] = [_entry("someone", {"f:spec": {"f:template": {}}})]
    changes = diff_object(desired, live)
    assert [(c.kind, c.field, c.old) for c in changes] == [
        (ChangeKind.REMOVED, "spec.template.spec.containers[name=chat].env[name=MODE]", {"name": "MODE", "value": "prod"})]


def test_locked_field_change_is_a_violation_and_exit_codes():
    desired, live = _pair()
    locked = [("spec", "template", "spec", "containers", 0, "resources", "limits", "cpu")]
    changes = diff_object(desired, live, locked=locked)
    assert [c.field for c in changes if c.violation] == ["spec.template.spec.containers[name=chat].resources.limits.cpu"]
    assert DriftReport("chat", "ns", tuple(changes)).exit_code is ExitCode.VIOLATION
    assert DriftReport("chat", "ns", tuple(c for c in changes if not c.violation)).exit_code is ExitCode.DRIFT
    assert DriftReport("chat", "ns").exit_code is ExitCode.CLEAN


def test_find_values_matches_sentinels_in_rendered_objects():
    obj = _deployment(image="reg.example:5000/chartkit-lock-0/chat:1.0", replicas=9000001)
    found = find_values(obj, {"chartkit-lock-0": "image.registry", 9000001: "replicaCount"})
    assert found == {("spec", "replicas"): "replicaCount",
                     ("spec", "template", "spec", "containers", 0, "image"): "image.registry"}


def test_missing_and_extra_objects():
    manifest = [ObjectKey("Deployment", "ns", "chat"), ObjectKey("ConfigMap", "ns", "chat-config")]
    live = [ObjectKey("Deployment", "ns", "chat")]
    labelled = [
        {"kind": "Deployment", "metadata": {"name": "chat", "namespace": "ns"}},
        {"kind": "ReplicaSet", "metadata": {"name": "chat-abc", "namespace": "ns", "ownerReferences": [{}]}},
        {"kind": "Endpoints", "metadata": {"name": "chat", "namespace": "ns"}},
        {"kind": "Secret", "metadata": {"name": "stray", "namespace": "ns", "managedFields": [
            _entry("kubectl-create", {}, time="2026-11-21T06:05:00Z")]}},
    ]
    changes = missing_and_extra(manifest, live, labelled)
    assert [(c.kind, str(c.object), c.manager) for c in changes] == [
        (ChangeKind.MISSING_OBJECT, "ConfigMap/ns/chat-config", ""),
        (ChangeKind.EXTRA_OBJECT, "Secret/ns/stray", "kubectl-create")]
