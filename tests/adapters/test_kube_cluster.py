"""The Kubernetes client against the real local API server: reads, metadata-only lists, writes with optimistic
concurrency, patches, watches, discovery, and no client key on disk."""

from __future__ import annotations

import base64
import os
import threading
import time
from pathlib import Path

import pytest

from tests.adapters.conftest import files_holding
from toolkit.adapters.kube import Kube, ObjectList, WatchEventType
from toolkit.errors import KubeError

pytestmark = pytest.mark.cluster


def configmap(name: str, namespace: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": {"test": "kube"}}, "data": data}


def test_get_and_list_with_selectors_and_the_lists_resource_version(kube: Kube, namespace: str) -> None:
    kube.apply([configmap("a", namespace, k="1"), configmap("b", namespace, k="2")])
    kube.apply([{**configmap("c", namespace), "metadata": {"name": "c", "namespace": namespace}}])
    got = kube.get("v1", "ConfigMap", "a", namespace)
    assert got["data"] == {"k": "1"} and got["kind"] == "ConfigMap"
    listed = kube.list("v1", "ConfigMap", namespace, selector="test=kube")
    assert isinstance(listed, ObjectList)
    assert sorted(o["metadata"]["name"] for o in listed) == ["a", "b"]
    assert all(o["apiVersion"] == "v1" and o["kind"] == "ConfigMap" for o in listed)
    assert int(listed.resource_version) >= max(int(o["metadata"]["resourceVersion"]) for o in listed)
    by_field = kube.list("v1", "ConfigMap", namespace, field_selector="metadata.name=b")
    assert [o["metadata"]["name"] for o in by_field] == ["b"]
    assert kube.get("v1", "ConfigMap", "nope", namespace, missing_ok=True) is None
    with pytest.raises(KubeError, match=rf'^unable to read ConfigMap "{namespace}/nope": configmaps "nope" not found'
                       ) as info:
        kube.get("v1", "ConfigMap", "nope", namespace)
    assert (info.value.status, info.value.reason) == (404, "NotFound")


def test_a_metadata_only_list_leaves_the_payload_on_the_server(kube: Kube, namespace: str) -> None:
    payload = base64.b64encode(os.urandom(64 * 1024)).decode()  # like a helm release record
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"rel-{i}", "namespace": namespace,
                                                                    "labels": {"owner": "helm", "version": str(i)}},
                 "type": "helm.sh/release.v1", "data": {"release": payload}} for i in range(3)])
    full = kube.list("v1", "Secret", namespace, selector="owner=helm")
    meta = kube.list("v1", "Secret", namespace, selector="owner=helm", metadata_only=True)
    assert [o["data"]["release"] for o in full] == [payload] * 3
    assert [o["metadata"]["labels"]["version"] for o in meta] == ["0", "1", "2"]
    assert all(set(o) == {"apiVersion", "kind", "metadata"} for o in meta)
    assert all((o["apiVersion"], o["kind"]) == ("v1", "Secret") for o in meta)
    assert meta.resource_version


def test_create_is_create_only(kube: Kube, namespace: str) -> None:
    made = kube.create(configmap("once", namespace, k="v"))
    assert made["metadata"]["uid"]
    with pytest.raises(KubeError) as info:
        kube.create(configmap("once", namespace, k="other"))
    assert (info.value.status, info.value.reason) == (409, "AlreadyExists")
    assert info.value.message == f'unable to create ConfigMap "{namespace}/once": configmaps "once" already exists'
    assert kube.get("v1", "ConfigMap", "once", namespace)["data"] == {"k": "v"}
    named = kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}, namespace)
    assert named["metadata"]["name"].startswith("gen-")


def test_replace_is_optimistic(kube: Kube, namespace: str) -> None:
    kube.create(configmap("cas", namespace, n="0"))
    first = kube.get("v1", "ConfigMap", "cas", namespace)
    second = kube.replace({**first, "data": {"n": "1"}})
    assert second["data"] == {"n": "1"}
    assert second["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    with pytest.raises(KubeError) as info:  # written from a stale read
        kube.replace({**first, "data": {"n": "2"}})
    assert (info.value.status, info.value.reason) == (409, "Conflict")
    assert "read it again" in (info.value.hint or "")
    assert kube.get("v1", "ConfigMap", "cas", namespace)["data"] == {"n": "1"}


def test_patch_merge_json_and_strategic(kube: Kube, namespace: str) -> None:
    kube.create(configmap("p", namespace, a="1", b="2"))
    merged = kube.patch("v1", "ConfigMap", "p", namespace, {"data": {"a": "10", "b": None}})
    assert merged["data"] == {"a": "10"}
    rv = merged["metadata"]["resourceVersion"]
    patched = kube.patch("v1", "ConfigMap", "p", namespace, [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/data/c", "value": "3"}], patch_type="json")
    assert patched["data"] == {"a": "10", "c": "3"}
    with pytest.raises(KubeError) as info:  # the same test now fails: someone wrote in between
        kube.patch("v1", "ConfigMap", "p", namespace, [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv}], patch_type="json")
    assert info.value.status == 422
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": namespace},
           "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
                    "template": {"metadata": {"labels": {"app": "d"}},
                                 "spec": {"containers": [{"name": "main", "image": "example/d:1"},
                                                         {"name": "side", "image": "example/s:1"}]}}}}
    kube.create(dep)
    strategic = kube.patch("apps/v1", "Deployment", "d", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "side", "image": "example/s:2"}]}}}}, patch_type="strategic")
    images = [c["image"] for c in strategic["spec"]["template"]["spec"]["containers"]]
    assert images == ["example/d:1", "example/s:2"]  # merged by name, not replaced
    dry = kube.patch("v1", "ConfigMap", "p", namespace, {"data": {"a": "dry"}}, dry_run=True)
    assert dry["data"]["a"] == "dry" and kube.get("v1", "ConfigMap", "p", namespace)["data"]["a"] == "10"


def test_delete_and_wait(kube: Kube, namespace: str) -> None:
    kube.create(configmap("gone", namespace))
    assert kube.delete("v1", "ConfigMap", "gone", namespace, wait=True)
    assert kube.get("v1", "ConfigMap", "gone", namespace, missing_ok=True) is None
    assert not kube.delete("v1", "ConfigMap", "gone", namespace)
    with pytest.raises(KubeError, match="not found") as info:
        kube.delete("v1", "ConfigMap", "gone", namespace, missing_ok=False)
    assert info.value.status == 404


def test_watch_from_a_lists_resource_version(kube: Kube, namespace: str) -> None:
    start = kube.list("v1", "ConfigMap", namespace, selector="test=kube")
    kube.create(configmap("w", namespace, n="1"))
    kube.patch("v1", "ConfigMap", "w", namespace, {"data": {"n": "2"}})
    kube.delete("v1", "ConfigMap", "w", namespace)
    seen = []
    for event in kube.watch("v1", "ConfigMap", namespace, selector="test=kube",
                            resource_version=start.resource_version, timeout_seconds=10):
        if event.type is WatchEventType.BOOKMARK:
            continue
        seen.append((event.type, event.object["metadata"]["name"], event.object.get("data")))
        if len(seen) == 3:
            break
    assert seen == [(WatchEventType.ADDED, "w", {"n": "1"}), (WatchEventType.MODIFIED, "w", {"n": "2"}),
                    (WatchEventType.DELETED, "w", {"n": "2"})]


def test_watch_sees_changes_made_while_it_waits_metadata_only(kube: Kube, namespace: str) -> None:
    start = kube.list("v1", "Secret", namespace, metadata_only=True)

    def later() -> None:
        time.sleep(0.5)
        kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "late", "namespace": namespace},
                     "stringData": {"password": "hidden"}})

    thread = threading.Thread(target=later)
    thread.start()
    try:
        events = kube.watch("v1", "Secret", namespace, resource_version=start.resource_version, timeout_seconds=10,
                            metadata_only=True)
        event = next(e for e in events if e.type is WatchEventType.ADDED)
        events.close()
    finally:
        thread.join()
    assert event.object["metadata"]["name"] == "late"
    assert (event.object["apiVersion"], event.object["kind"]) == ("v1", "Secret")
    assert "data" not in event.object


def test_a_watch_from_a_resource_version_long_gone_is_410(kube: Kube, namespace: str) -> None:
    with pytest.raises(KubeError) as info:
        list(kube.watch("v1", "ConfigMap", namespace, resource_version="1", timeout_seconds=5))
    assert info.value.status == 410
    assert "list again" in (info.value.hint or "")


def test_discovery_serves_builtin_kinds_and_crds(kube: Kube) -> None:
    kinds = {(r.api_version, r.kind): r for r in kube.resources(refresh=True)}
    assert kinds[("v1", "ConfigMap")].namespaced and "list" in kinds[("v1", "ConfigMap")].verbs
    assert not kinds[("v1", "Namespace")].namespaced
    assert ("gateway.networking.k8s.io/v1", "HTTPRoute") in kinds
    assert "apps/v1" in kube._preferred
    fresh = Kube(kube.kubeconfig, kube.context)
    assert fresh.resource("apps/v1", "Deployment").name == "deployments"  # one group/version asked, not all


def test_server_version_and_threads_share_nothing_but_the_client(kube: Kube, namespace: str) -> None:
    assert kube.server_version().startswith("v1.35")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                kube.apply([configmap(f"t{i}-{j}", namespace)])
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(kube.list("v1", "ConfigMap", namespace, selector="test=kube")) == 20


def test_no_file_holds_the_client_key_while_a_kube_is_open(cluster, private_tempdir) -> None:
    import json

    user = json.loads(Path(cluster.kubeconfig).read_text())["users"][0]["user"]
    key = base64.b64decode(user["client-key-data"])  # the local cluster's kubeconfig embeds it
    with Kube(cluster.kubeconfig, cluster.context) as kube:
        kube.list("v1", "Secret", None, metadata_only=True)
        assert files_holding(key, private_tempdir) == []
