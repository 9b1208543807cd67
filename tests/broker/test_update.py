"""Updates through the broker: a plan change moves exactly the plan's values; a new version through
maintenance_info runs the type's declared update strategy."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.broker.conftest import catalog_plan, provision, wait_operation

pytestmark = pytest.mark.cluster


def _flatten(node: Any, path: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{path}.{key}"))
        return out
    if isinstance(node, list):
        out = {}
        for i, value in enumerate(node):
            out.update(_flatten(value, f"{path}[{i}]"))
        return out
    return {path: node}


def _rendered(kube, release: str, namespace: str, revision: int) -> dict[str, Any]:
    from toolkit.adapters.releases import ReleaseStore
    from toolkit.objects import parse_manifest

    objects = parse_manifest(ReleaseStore(kube).manifest(release, namespace, revision), "test")
    flat: dict[str, Any] = {}
    for obj in objects:
        flat.update({f"{obj['kind']}/{obj['metadata']['name']}{k}": v for k, v in _flatten(obj).items()})
    return flat


def test_plan_small_to_large_changes_exactly_the_plans_values(mq_catalog, start_broker, namespace, kube):
    broker = start_broker(mq_catalog)
    iid = str(uuid.uuid4())
    with broker.client() as http:
        service_id, small, _ = catalog_plan(http)
        _, large, _ = catalog_plan(http, plan="large")
        op = provision(http, iid, service_id, small, namespace=namespace, name="chat-q",
                       parameters={"auth": {"username": "chat"}})["operation"]
        assert wait_operation(http, iid, op)["state"] == "succeeded"
        answer = http.patch(f"/v2/service_instances/{iid}", params={"accepts_incomplete": "true"},
                            json={"service_id": service_id, "plan_id": large, "previous_values": {"plan_id": small}})
        assert answer.status_code == 202, answer.text
        done = wait_operation(http, iid, answer.json()["operation"])
        assert done["state"] == "succeeded" and "plan large" in done["description"]
        assert http.get(f"/v2/service_instances/{iid}").json()["plan_id"] == large
        # a locked parameter of the new plan is refused before anything changes
        refused = http.patch(f"/v2/service_instances/{iid}", params={"accepts_incomplete": "true"},
                             json={"service_id": service_id, "parameters": {"replicaCount": 2}})
        assert refused.status_code == 400 and "locked by the plan" in refused.json()["description"]
    before, after = _rendered(kube, "chat-q", namespace, 1), _rendered(kube, "chat-q", namespace, 2)
    changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {
        "Deployment/chat-q.spec.replicas": (1, 3),
        "Deployment/chat-q.spec.template.spec.containers[0].resources.limits.cpu": ("100m", "500m"),
        "Deployment/chat-q.spec.template.spec.containers[0].resources.limits.memory": ("64Mi", "256Mi"),
    }
    labels = kube.get("v1", "Secret", "sh.helm.release.v1.chat-q.v2", namespace)["metadata"]["labels"]
    assert labels["chartkit.io/plan"] == "large"


def test_a_new_version_through_maintenance_info_runs_the_declared_strategy(mq_catalog, mq_publish, start_broker,
                                                                          namespace, cluster, helm_bin):
    from toolkit.config import ClusterRef, Config
    from toolkit.core.rollout import RolloutTarget, status

    broker = start_broker(mq_catalog)
    iid = str(uuid.uuid4())
    with broker.client() as http:
        service_id, small, plan = catalog_plan(http)
        assert plan["maintenance_info"]["version"] == "1.0.0"
        op = provision(http, iid, service_id, small, namespace=namespace, name="q")["operation"]
        assert wait_operation(http, iid, op)["state"] == "succeeded"
        mq_publish("1.1.0", {"kind": "blue-green", "steps": [50, 100], "check": {"timeoutSeconds": 60}})
        url = f"/v2/service_instances/{iid}"
        body = {"service_id": service_id, "maintenance_info": {"version": "1.1.0"}}
        answer = http.patch(url, params={"accepts_incomplete": "true"}, json=body)
        assert answer.status_code == 202, answer.text
        done = wait_operation(http, iid, answer.json()["operation"], timeout=240)
        assert done["state"] == "succeeded", done
        assert http.get(url).json()["maintenance_info"] == {"version": "1.1.0"}
        stale = http.patch(url, params={"accepts_incomplete": "true"},
                           json={**body, "maintenance_info": {"version": "1.0.0"}})
        assert (stale.status_code, stale.json()["error"]) == (422, "MaintenanceInfoConflict")
        offered = catalog_plan(http)[2]
        assert offered["maintenance_info"]["version"] == "1.1.0" or offered["maintenance_info"]["version"] == "1.0.0"
    config = Config(mq_catalog, ClusterRef(cluster.kubeconfig, cluster.context), helm_binary=helm_bin)
    state = status(config, RolloutTarget(instance="q", namespace=namespace))
    assert state is not None
    assert (state["strategy"], state["from"], state["to"], state["phase"]) == ("blue-green", "1.0.0", "1.1.0",
                                                                               "complete")
    assert [s for s in state["steps"]] == [50, 100]
