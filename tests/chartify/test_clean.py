"""Cleaning live objects: cluster-added fields go, the spec stays as the server returned it."""

from __future__ import annotations

from toolkit.chartify.clean import clean_objects
from toolkit.chartify.read import SourceObject

LIVE_META = {"uid": "0b6c", "resourceVersion": "812", "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
             "managedFields": [{"manager": "kubectl"}]}


def _src(obj: dict) -> SourceObject:
    return SourceObject(obj, "cluster:shop", 0)


def test_live_objects_lose_what_the_cluster_added_and_keep_the_rest() -> None:
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", **LIVE_META, "labels": {"app": "web"},
                     "annotations": {"deployment.kubernetes.io/revision": "4",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{\"secret\": 1}"}},
        "spec": {"replicas": 2, "progressDeadlineSeconds": 600,
                 "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        "status": {"readyReplicas": 2},
    }
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "shop", **LIVE_META},
               "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"],
                        "sessionAffinity": "None", "ports": [{"port": 80, "nodePort": 30080}]}}
    headless = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "shop"},
                "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}}
    nodeport = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np", "namespace": "shop"},
                "spec": {"type": "NodePort", "clusterIP": "10.0.0.9", "ports": [{"port": 80, "nodePort": 30081}]}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"},
           "spec": {"volumeName": "pvc-123", "resources": {"requests": {"storage": "1Gi"}}}}
    result = clean_objects([_src(o) for o in (deploy, service, headless, nodeport, pvc)])
    d, s, h, n, p = (o.obj for o in result.objects)
    assert d["metadata"] == {"name": "web", "namespace": "shop", "labels": {"app": "web"}}
    assert "status" not in d and d["spec"]["progressDeadlineSeconds"] == 600  # server defaults stay
    assert d["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}
    assert s["spec"] == {"type": "ClusterIP", "sessionAffinity": "None", "ports": [{"port": 80}]}
    assert h["spec"] == {"clusterIP": "None", "ports": [{"port": 5432}]}
    assert n["spec"] == {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30081}]}
    assert p["spec"] == {"resources": {"requests": {"storage": "1Gi"}}}
    assert deploy["metadata"]["uid"] == "0b6c"  # the input is not modified


def test_objects_made_by_the_cluster_or_controllers_are_skipped_with_a_reason() -> None:
    owned = {"ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": True, "uid": "1"}]}
    objects = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1-x", "namespace": "shop", **owned}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "shop"}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-a", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": "web-token", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
         "metadata": {"name": "sh.helm.release.v1.web.v1", "namespace": "shop"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop", **owned}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "shop"}, "data": {"a": "b"}},
    ]
    result = clean_objects([_src(o) for o in objects])
    assert [o.id for o in result.objects] == ["ConfigMap/shop/app"]
    assert len(result.skipped) == 9
    assert result.skipped["Widget/shop/w"] == "owned by a controller (ownerReferences)"
    assert "kube-root-ca.crt" in result.skipped["ConfigMap/shop/kube-root-ca.crt"]
