"""Two broker processes against one cluster serve one API; one killed (-9) mid-upgrade leaves an operation the
other takes over and finishes, with nothing lost and the release history telling what happened."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.broker.conftest import catalog_plan, provision, wait_operation

pytestmark = pytest.mark.cluster


def _statuses(kube, release: str, namespace: str) -> dict[int, str]:
    found = kube.list("v1", "Secret", namespace, selector=f"owner=helm,name={release}")
    return {int(s["metadata"]["labels"]["version"]): s["metadata"]["labels"]["status"] for s in found}


def test_provision_through_one_poll_through_the_other_and_survive_a_kill_mid_upgrade(
        mq_catalog, start_broker, namespace, kube, cluster, helm_bin, state_namespace):
    first, second = start_broker(mq_catalog), start_broker(mq_catalog)
    iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
    with first.client() as one, second.client() as two:
        service_id, small, _ = catalog_plan(one)
        _, large, _ = catalog_plan(two, plan="large")
        op = provision(one, iid, service_id, small, namespace=namespace, name="shared")["operation"]
        assert wait_operation(two, iid, op)["state"] == "succeeded"
        bound = two.put(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                        json={"service_id": service_id, "plan_id": small})
        assert bound.status_code == 201
        # the same request through either process answers the same
        assert one.put(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                       json={"service_id": service_id, "plan_id": small}).status_code == 200

        answer = one.patch(f"/v2/service_instances/{iid}", params={"accepts_incomplete": "true"},
                           json={"service_id": service_id, "plan_id": large, "parameters": {"minReadySeconds": 6}})
        assert answer.status_code == 202, answer.text
        operation = answer.json()["operation"]
        deadline = time.monotonic() + 60
        while _statuses(kube, "shared", namespace).get(2) != "pending-upgrade":
            assert time.monotonic() < deadline, _statuses(kube, "shared", namespace)
            time.sleep(0.05)
        first.proc.kill()  # SIGKILL, mid-upgrade: helm is waiting for the new pods
        first.proc.wait()
        # while the dead process's lease runs out the operation is still reported in progress, then taken over
        assert two.get(f"/v2/service_instances/{iid}/last_operation",
                       params={"operation": operation}).json()["state"] == "in progress"
        done = wait_operation(two, iid, operation, timeout=240)
        assert done["state"] == "succeeded", done
        assert "taken over" in done["description"]
        fetched = two.get(f"/v2/service_instances/{iid}")
        assert fetched.status_code == 200 and fetched.json()["plan_id"] == large
        assert two.get(f"/v2/service_instances/{iid}/service_bindings/{bid}").status_code == 200

    from toolkit.config import ClusterRef, Config
    from toolkit.core.history import HistoryOptions, history

    config = Config(mq_catalog, ClusterRef(cluster.kubeconfig, cluster.context), helm_binary=helm_bin)
    revisions = history(config, HistoryOptions(instance="shared", namespace=namespace))
    described = [(r.revision, r.status, r.description) for r in revisions]
    # revision 2 was interrupted; the taker rolled it back and upgraded again: the newest serves plan large
    assert revisions[1].status in ("failed", "superseded", "pending-upgrade"), described
    assert any(r.description.startswith("Rollback to 1") for r in revisions), described
    assert revisions[-1].status == "deployed", described
    newest = kube.get("v1", "Secret", f"sh.helm.release.v1.shared.v{revisions[-1].revision}", namespace)
    assert newest["metadata"]["labels"]["chartkit.io/plan"] == "large"
    dep = kube.get("apps/v1", "Deployment", "shared", namespace)
    assert (dep["spec"]["replicas"], dep["spec"]["minReadySeconds"]) == (3, 6)
    # the dead process's lease is not renewed; the survivor holds the finished operation
    leases = kube.list("coordination.k8s.io/v1", "Lease", state_namespace)
    assert len(leases) == 2
