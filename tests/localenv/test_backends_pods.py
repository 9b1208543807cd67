"""Which pods the backends harness serves, and with what settings (pure: Pod objects as the API returns them)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from toolkit.localenv.backends import LABEL, BackendSpec, Role, Upstream, UpstreamOn, image_version, specs_from_pod


def _pod(**changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "web-7d9f-abcde", "namespace": "shop", "uid": "u-1",
                     "labels": {LABEL: "http", "app": "web"}, "annotations": {}},
        "spec": {"containers": [{"name": "web", "image": "registry.example/shop/web:1.4.2",
                                 "ports": [{"containerPort": 8080}],
                                 "env": [{"name": "BACKEND_LATENCY_MS", "value": "25"}]}]},
        "status": {"podIP": "10.244.0.7", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    for path, value in changes.items():
        target = pod
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return pod


def test_a_ready_labelled_pod_gets_one_server_per_tcp_port_with_its_settings() -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["ports"] += [{"containerPort": 9090, "protocol": "TCP"},
                                              {"containerPort": 53, "protocol": "UDP"}]
    specs, skipped = specs_from_pod(pod)
    assert skipped is None
    assert specs == [
        BackendSpec(uid="u-1", namespace="shop", pod="web-7d9f-abcde", ip="10.244.0.7", port=port, version="1.4.2",
                    role=Role.HTTP, latency_ms=25.0, error_rate=0.0, caller="shop/web")
        for port in (8080, 9090)]


@pytest.mark.parametrize("changes", [
    {"metadata__labels": {"app": "web"}},
    {"status__conditions": [{"type": "Ready", "status": "False"}]},
    {"status__conditions": []},
    {"metadata__deletionTimestamp": "2026-01-01T00:00:00Z"},
    {"status__podIP": None},
], ids=["not-labelled", "not-ready", "no-conditions", "terminating", "no-pod-ip"])
def test_pods_that_do_not_qualify_get_no_server_and_are_not_reported(changes: dict[str, Any]) -> None:
    assert specs_from_pod(_pod(**changes)) == ([], None)


@pytest.mark.parametrize(("env", "annotations", "reason"), [
    ({"BACKEND_ERROR_RATE": "1.5"}, {}, r"error rate must be between 0 and 1, got '1.5'"),
    ({"BACKEND_LATENCY_MS": "fast"}, {}, r"latency \(ms\) must be a number, got 'fast'"),
    ({}, {"chartkit.io/backend-error-rate": "-0.1"}, r"error rate must be between 0 and 1"),
    ({"BACKEND_UPSTREAM": "http://mq.shop:5672/q", "BACKEND_UPSTREAM_ON": "sometimes"}, {}, r"'sometimes'"),
], ids=["error-rate-above-1", "latency-not-a-number", "annotation-negative", "upstream-on-unknown"])
def test_bad_settings_skip_the_pod_naming_container_and_cause(env: dict[str, str], annotations: dict[str, str],
                                                            reason: str) -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["env"] = [{"name": k, "value": v} for k, v in env.items()]
    pod["metadata"]["annotations"] = annotations
    specs, skipped = specs_from_pod(pod)
    assert specs == []
    assert skipped is not None and (skipped.namespace, skipped.pod) == ("shop", "web-7d9f-abcde")
    assert "container 'web'" in skipped.reason
    assert re.search(reason, skipped.reason)


def test_an_unknown_role_and_a_pod_without_ports_are_reported() -> None:
    specs, skipped = specs_from_pod(_pod(metadata__labels={LABEL: "kafka"}))
    assert specs == [] and skipped is not None and "one of http, chat, mq, db" in skipped.reason
    no_ports = _pod()
    no_ports["spec"]["containers"][0].pop("ports")
    specs, skipped = specs_from_pod(no_ports)
    assert specs == [] and skipped is not None and skipped.reason == "no TCP containerPort to serve on"


def test_annotations_override_env_and_upstream_settings_are_read() -> None:
    pod = _pod(metadata__annotations={"chartkit.io/backend-latency-ms": "5", "chartkit.io/backend-error-rate": "0.2"})
    pod["metadata"]["labels"] = {LABEL: "chat", "app.kubernetes.io/instance": "staging"}
    pod["spec"]["containers"][0]["env"] += [
        {"name": "BACKEND_ERROR_RATE", "value": "0.9"},
        {"name": "BACKEND_UPSTREAM", "value": "http://chat-mq.shop.svc.cluster.local:5672/queues/chat/messages"},
        {"name": "BACKEND_UPSTREAM_ON", "value": "all"},
        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]
    [spec], _ = specs_from_pod(pod)
    assert (spec.role, spec.latency_ms, spec.error_rate, spec.caller) == (Role.CHAT, 5.0, 0.2, "shop/staging")
    assert spec.upstream == Upstream("http://chat-mq.shop.svc.cluster.local:5672/queues/chat/messages", "POST",
                                     UpstreamOn.ALL)


def test_specs_do_not_alias_the_pod() -> None:
    pod = _pod()
    before = copy.deepcopy(pod)
    specs_from_pod(pod)
    assert pod == before


@pytest.mark.parametrize(("image", "version"), [
    ("registry.example/shop/web:1.4.2", "1.4.2"),
    ("localhost:5000/web:2.0.0-rc.1", "2.0.0-rc.1"),
    ("localhost:5000/web", "latest"),
    ("web@sha256:0123456789abcdef0123456789abcdef", "sha256:0123456789ab"),
    ("", "latest"),
], ids=["tag", "registry-port-and-tag", "registry-port-no-tag", "digest", "empty"])
def test_image_version(image: str, version: str) -> None:
    assert image_version(image) == version
