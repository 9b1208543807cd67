"""Bindings apps discover: the broker's bind projects the servicebinding.io Secret into the consumer Deployment
(volume at $SERVICE_BINDING_ROOT/<name>, the env), new credentials roll its pods, unbind gives the Deployment back
as it was; the credential values never reach a log line, argv, an event or another answer of the broker."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from tests.broker.conftest import catalog_plan, provision, wait_operation

pytestmark = pytest.mark.cluster

CONSUMER = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "chat"}},
             "template": {"metadata": {"labels": {"app": "chat"}},
                          "spec": {"containers": [{"name": "chat", "image": "chat/chat-server:1.20",
                                                   "env": [{"name": "NODE_ENV", "value": "production"}]}]}}},
}


def _template(kube, namespace: str) -> dict:
    return kube.get("apps/v1", "Deployment", "chat", namespace)["spec"]["template"]


def _wait(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_bind_projects_into_the_consumer_and_unbind_removes_it(mq_catalog, start_broker, namespace, kube):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    kube.create_namespace(consumer)
    try:
        kube.apply([CONSUMER], consumer, field_manager="kubectl")
        kube.wait_deployment_available("chat", consumer, timeout=60)
        original = _template(kube, consumer)
        first, second = "First-" + uuid.uuid4().hex[:12], "Second-" + uuid.uuid4().hex[:12]
        broker = start_broker(mq_catalog, verbose=True)
        iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
        with broker.client() as http:
            service_id, small, _ = catalog_plan(http)
            op = provision(http, iid, service_id, small, namespace=namespace, name="rabbit",
                           parameters={"auth": {"password": first}})["operation"]
            assert wait_operation(http, iid, op)["state"] == "succeeded"
            answer = http.put(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                              json={"service_id": service_id, "plan_id": small, "bind_resource": {"app_guid": "chat"},
                                    "parameters": {"namespace": consumer, "workload": "Deployment/chat",
                                                   "name": "rabbit"}})
            assert answer.status_code == 201, answer.text
            assert answer.json()["credentials"]["password"] == first

            template = _template(kube, consumer)
            spec = template["spec"]
            assert {"name": "binding-rabbit", "secret": {"secretName": "rabbit", "defaultMode": 420}} in spec["volumes"]
            (container,) = spec["containers"]
            assert {"name": "binding-rabbit", "mountPath": "/bindings/rabbit", "readOnly": True} in container[
                "volumeMounts"]
            assert {"name": "SERVICE_BINDING_ROOT", "value": "/bindings"} in container["env"]
            assert {"name": "NODE_ENV", "value": "production"} in container["env"]  # the app's own env stays
            checksum = template["metadata"]["annotations"]["binding.chartkit.io/rabbit"]
            kube.wait_deployment_available("chat", consumer, timeout=60)

            # new credentials (an update of the instance) reach the binding and roll the consumer's pods
            generation = kube.get("apps/v1", "Deployment", "chat", consumer)["metadata"]["generation"]
            answer = http.patch(f"/v2/service_instances/{iid}", params={"accepts_incomplete": "true"},
                                json={"service_id": service_id, "parameters": {"auth": {"password": second}}})
            assert answer.status_code == 202
            assert wait_operation(http, iid, answer.json()["operation"])["state"] == "succeeded"
            secret = kube.get("v1", "Secret", "rabbit", consumer)
            assert base64.b64decode(secret["data"]["password"]).decode() == second
            after = kube.get("apps/v1", "Deployment", "chat", consumer)
            assert after["spec"]["template"]["metadata"]["annotations"]["binding.chartkit.io/rabbit"] != checksum
            assert after["metadata"]["generation"] > generation

            responses = [http.get("/v2/catalog").text, http.get(f"/v2/service_instances/{iid}").text,
                         http.get(f"/v2/service_instances/{iid}/last_operation").text,
                         http.get(f"/v2/service_instances/{iid}/service_bindings/{bid}").text]
            assert http.delete(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                               params={"service_id": service_id, "plan_id": small}).status_code == 200
        _wait(lambda: _template(kube, consumer) == original, "the consumer's pod template is back as it was")
        assert kube.get("v1", "Secret", "rabbit", consumer, missing_ok=True) is None

        events = [e for ns in (namespace, consumer) for e in kube.list("v1", "Event", ns)]
        log = broker.output()
        assert "running: " in log  # verbose: every helm argv is in the log
        for text in (first, second, base64.b64encode(first.encode()).decode()):
            assert text not in log
            assert text not in " ".join(broker.argv)
            assert text not in json.dumps(events)
            assert all(text not in r for r in responses)
    finally:
        kube.delete("v1", "Namespace", consumer, wait=False)


def test_rotating_a_binding_issues_new_credentials_and_both_bindings_hold_them(mq_catalog, start_broker, namespace,
                                                                               kube, cluster, state_namespace, capsys):
    from toolkit.cli import main

    broker = start_broker(mq_catalog)
    iid, first, second = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    with broker.client() as http:
        service_id, small, _ = catalog_plan(http)
        op = provision(http, iid, service_id, small, namespace=namespace, name="rot")["operation"]
        assert wait_operation(http, iid, op)["state"] == "succeeded"
        url = f"/v2/service_instances/{iid}/service_bindings"
        old = http.put(f"{url}/{first}", json={"service_id": service_id, "plan_id": small,
                                               "parameters": {"name": "rot-a"}}).json()["credentials"]
        answer = http.put(f"{url}/{second}", json={"service_id": service_id, "plan_id": small,
                                                   "predecessor_binding_id": first})
        assert answer.status_code == 201, answer.text
        new = answer.json()["credentials"]
        assert new["password"] != old["password"] and new["username"] == old["username"]
        # both bindings are valid in parallel: the predecessor's Secret holds the new credentials too
        for name in ("rot-a", f"rot-{__import__('hashlib').sha256(second.encode()).hexdigest()[:8]}"):
            data = kube.get("v1", "Secret", name, namespace)["data"]
            assert base64.b64decode(data["password"]).decode() == new["password"]
        missing = http.put(f"{url}/{uuid.uuid4()}", json={"service_id": service_id, "plan_id": small,
                                                          "predecessor_binding_id": "nope"})
        assert missing.status_code == 400
    # the CLI rotates the same way: an update with new credentials rewrites every binding
    assert main(["update", "rot", "-n", namespace, "--rotate-credentials", "--kubeconfig", str(cluster.kubeconfig),
                 "--kube-context", cluster.context, "--catalog", str(mq_catalog.url), "--ca-file",
                 str(mq_catalog.ca_file), "--registry-config", str(mq_catalog.registry_config),
                 "--state-namespace", state_namespace]) == 0
    out = capsys.readouterr().out
    assert "update succeeded" in out and new["password"] not in out
    rotated = base64.b64decode(kube.get("v1", "Secret", "rot-a", namespace)["data"]["password"]).decode()
    assert rotated not in (old["password"], new["password"])
