"""Every endpoint of a real ``chartkit broker`` process over HTTP (httpx), against the real registry and API
server, with the error cases the Open Service Broker spec names."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.broker.conftest import API, PASSWORD, catalog_plan, provision, wait_operation

pytestmark = pytest.mark.cluster


def test_catalog_offers_each_type_as_a_service_and_each_plan_as_a_plan(mq_catalog, start_broker):
    broker = start_broker(mq_catalog)
    with broker.client() as http:
        answer = http.get("/v2/catalog")
    assert answer.status_code == 200
    (svc,) = answer.json()["services"]
    assert (svc["name"], svc["bindable"], svc["plan_updateable"], svc["instances_retrievable"],
            svc["bindings_retrievable"]) == ("mq", True, True, True, True)
    assert svc["description"] == "a small message queue for broker tests" and svc["tags"] == ["amqp", "messaging"]
    plans = {p["name"]: p for p in svc["plans"]}
    assert list(plans) == ["small", "large", "nobind"]
    assert plans["large"]["free"] is False and plans["nobind"]["bindable"] is False
    assert plans["small"]["binding_rotatable"] is True  # binding.rotation with the values it regenerates
    assert {p["maintenance_info"]["version"] for p in plans.values()} == {"1.0.0"}
    schema = plans["small"]["schemas"]["service_instance"]["create"]["parameters"]
    # the plan's locked parameter is visible as such: fixed at the plan's value, read-only
    assert schema["$schema"].startswith("http://json-schema.org/")
    assert schema["properties"]["replicaCount"]["const"] == 1 and schema["properties"]["replicaCount"]["readOnly"]
    assert plans["large"]["schemas"]["service_instance"]["create"]["parameters"]["properties"]["replicaCount"][
        "const"] == 3
    assert "service_binding" in plans["small"]["schemas"] and "service_binding" not in plans["nobind"]["schemas"]
    # ids are stable: a second process offers the same
    with start_broker(mq_catalog).client() as http:
        assert http.get("/v2/catalog").json()["services"][0]["id"] == svc["id"]


def test_headers_and_auth_are_checked_before_anything(mq_catalog, start_broker):
    broker = start_broker(mq_catalog)
    with broker.client(auth=None) as http:
        answer = http.get("/v2/catalog")
        assert answer.status_code == 401 and answer.json()["error"] == "Unauthorized"
        assert answer.headers["www-authenticate"].startswith("Basic")
    with broker.client(auth=("platform", "wrong")) as http:
        assert http.get("/v2/catalog").status_code == 401
    for headers, status in (({}, 412), ({"X-Broker-API-Version": "2.12"}, 412), ({"X-Broker-API-Version": "3.0"}, 412),
                            ({"X-Broker-API-Version": "2.13"}, 200), ({"X-Broker-API-Version": "2.17"}, 200)):
        with broker.client(headers=headers) as http:
            answer = http.get("/v2/catalog")
            assert answer.status_code == status, (headers, answer.text)
            if status == 412:
                assert answer.json()["error"] == "PreconditionFailed" and "2.13" in answer.json()["description"]
    with broker.client(headers={**API, "X-Broker-API-Request-Identity": "req-42"}) as http:
        assert http.get("/v2/catalog").headers["x-broker-api-request-identity"] == "req-42"


def test_provision_bind_update_unbind_deprovision_with_the_spec_error_cases(mq_catalog, start_broker, namespace, kube):
    broker = start_broker(mq_catalog)
    iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
    secret = "Sup3r-" + uuid.uuid4().hex[:10]
    with broker.client() as http:
        service_id, small, _ = catalog_plan(http)
        _, nobind, _ = catalog_plan(http, plan="nobind")
        body = {"service_id": service_id, "plan_id": small, "organization_guid": "o", "space_guid": "s",
                "context": {"platform": "kubernetes", "namespace": namespace, "instance_name": "queue"},
                "parameters": {"auth": {"password": secret}}}
        url = f"/v2/service_instances/{iid}"
        # unknown service / plan (400), async required (422), stale maintenance_info (422), a locked parameter (400)
        assert http.put(url, params={"accepts_incomplete": "true"}, json={**body, "service_id": "nope"}).status_code == 400
        assert http.put(url, params={"accepts_incomplete": "true"}, json={**body, "plan_id": "nope"}).status_code == 400
        answer = http.put(url, json=body)
        assert (answer.status_code, answer.json()["error"]) == (422, "AsyncRequired")
        answer = http.put(url, params={"accepts_incomplete": "true"},
                          json={**body, "maintenance_info": {"version": "0.9.0"}})
        assert (answer.status_code, answer.json()["error"]) == (422, "MaintenanceInfoConflict")
        answer = http.put(url, params={"accepts_incomplete": "true"},
                          json={**body, "parameters": {"replicaCount": 5}})
        assert answer.status_code == 400 and "replicaCount is locked by the plan" in answer.json()["description"]
        answer = http.put(url, params={"accepts_incomplete": "true"},
                          json={**body, "parameters": {"auth": {"username": 7}}})
        assert answer.status_code == 400 and "auth.username" in answer.json()["description"]
        assert kube.get("v1", "Secret", "sh.helm.release.v1.queue.v1", namespace, missing_ok=True) is None

        answer = http.put(url, params={"accepts_incomplete": "true"}, json=body,
                          headers={"X-Broker-API-Originating-Identity": "kubernetes " + base64.b64encode(
                              b'{"username": "intern", "uid": "1", "groups": []}').decode()})
        assert answer.status_code == 202, answer.text
        operation = answer.json()["operation"]
        # the identical request while it runs: 202 with the same operation; another one: 409
        again = http.put(url, params={"accepts_incomplete": "true"}, json=body)
        assert (again.status_code, again.json().get("operation")) == (202, operation)
        assert http.get(url).status_code == 404  # not fetchable while being provisioned
        assert http.get(f"{url}/last_operation", params={"operation": "no-such-op"}).status_code == 400
        done = wait_operation(http, iid, operation)
        assert done["state"] == "succeeded", done
        assert http.put(url, params={"accepts_incomplete": "true"}, json=body).status_code == 200
        conflict = http.put(url, params={"accepts_incomplete": "true"}, json={**body, "parameters": {}})
        assert (conflict.status_code, conflict.json()["error"]) == (409, "Conflict")

        fetched = http.get(url).json()
        assert (fetched["service_id"], fetched["plan_id"], fetched["maintenance_info"]) == (
            service_id, small, {"version": "1.0.0"})
        assert secret not in http.get(url).text

        # the release records who asked (label-safe, no secret) and the plan
        release = kube.get("v1", "Secret", "sh.helm.release.v1.queue.v1", namespace)
        assert release["metadata"]["labels"]["chartkit.io/requested-by"] == "kubernetes.intern"
        assert release["metadata"]["labels"]["chartkit.io/plan"] == "small"

        # bind: credentials from the declared outputs, only in this answer and the binding Secret
        burl = f"{url}/service_bindings/{bid}"
        bind_body = {"service_id": service_id, "plan_id": small, "parameters": {"name": "queue-creds"}}
        answer = http.put(burl, json=bind_body)
        assert answer.status_code == 201, answer.text
        creds = answer.json()["credentials"]
        host = f"queue.{namespace}.svc.cluster.local"
        assert creds["host"] == host and creds["port"] == 5672 and creds["username"] == "app"
        assert creds["password"] == secret and creds["uri"] == f"amqp://app:{secret}@{host}:5672/"
        stored = kube.get("v1", "Secret", "queue-creds", namespace)
        assert stored["type"] == "servicebinding.io/mq"
        assert base64.b64decode(stored["data"]["password"]).decode() == secret
        assert http.put(burl, json=bind_body).status_code == 200  # identical: the same binding
        assert http.put(burl, json={**bind_body, "parameters": {"name": "other"}}).status_code == 409
        fetched = http.get(burl)
        assert fetched.status_code == 200 and fetched.json()["parameters"] == {"name": "queue-creds"}
        assert secret not in fetched.text  # credentials are handed out in the bind answer only
        assert http.get(f"{burl}/last_operation").json()["state"] == "succeeded"
        assert http.get(f"{url}/service_bindings/nope").status_code == 404
        assert http.get(f"{url}/service_bindings/nope/last_operation").status_code == 404

        # update: no change is 200 {}; a plan change without accepts_incomplete is refused
        assert http.patch(url, json={"service_id": service_id}).json() == {}
        _, large, _ = catalog_plan(http, plan="large")
        answer = http.patch(url, json={"service_id": service_id, "plan_id": large})
        assert (answer.status_code, answer.json()["error"]) == (422, "AsyncRequired")

        # unbind, twice (410), deprovision unknown (410), deprovision (202 then 410 on poll)
        params = {"service_id": service_id, "plan_id": small}
        assert http.delete(burl, params=params).status_code == 200
        assert kube.get("v1", "Secret", "queue-creds", namespace, missing_ok=True) is None
        assert http.delete(burl, params=params).status_code == 410
        assert http.delete(burl).status_code == 400  # service_id and plan_id are required
        assert http.delete("/v2/service_instances/nope", params={**params, "accepts_incomplete": "true"}).status_code == 410
        answer = http.delete(url, params=params)
        assert (answer.status_code, answer.json()["error"]) == (422, "AsyncRequired")
        answer = http.delete(url, params={**params, "accepts_incomplete": "true"})
        assert answer.status_code == 202
        gone = wait_operation(http, iid, answer.json()["operation"], ok=(410,))
        assert gone["_status"] == 410
        assert http.get(url).status_code == 404
        assert http.delete(url, params={**params, "accepts_incomplete": "true"}).status_code == 410
    assert kube.get("v1", "Secret", "sh.helm.release.v1.queue.v1", namespace, missing_ok=True) is None
    log = broker.output()
    assert secret not in log and PASSWORD not in log


def test_binding_an_unbindable_plan_is_refused(mq_catalog, start_broker, namespace):
    broker = start_broker(mq_catalog)
    iid = str(uuid.uuid4())
    with broker.client() as http:
        service_id, nobind, _ = catalog_plan(http, plan="nobind")
        op = provision(http, iid, service_id, nobind, namespace=namespace, name="nb")["operation"]
        assert wait_operation(http, iid, op)["state"] == "succeeded"
        answer = http.put(f"/v2/service_instances/{iid}/service_bindings/b1",
                          json={"service_id": service_id, "plan_id": nobind})
        assert answer.status_code == 400 and "not bindable" in answer.json()["description"]
        answer = http.put("/v2/service_instances/unknown/service_bindings/b1",
                          json={"service_id": service_id, "plan_id": nobind})
        assert answer.status_code == 400 and "no such instance" in answer.json()["description"]
        assert http.get("/v2/service_instances/unknown/last_operation").status_code == 404
