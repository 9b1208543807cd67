"""The rules service instances follow, on plain data: where an instance goes, who asked, what a plan locks, how
records and operations round-trip, what a projection adds and how a template output is built."""

from __future__ import annotations

import base64
import json

import pytest

from toolkit.catalog.declarations import Plan, TypeDeclarations
from toolkit.core.offerings import Offering, OfferedPlan, plan_id, plan_schema, service_id
from toolkit.core.provision import ProvisionOptions, _identity_label, _placement
from toolkit.deploy.binding import projection, render_template
from toolkit.deploy.records import Kind, Operation, ServiceInstance, State
from toolkit.errors import DeployError, InputError, VersionConflictError


def _b64(data: dict) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(("header", "label"), [
    ("kubernetes " + _b64({"username": "duke", "uid": "1"}), "kubernetes.duke"),
    ("cloudfoundry " + _b64({"user_id": "683ea748-3092-4ff4-b656-39cacc4d5360"}),
     "cloudfoundry.683ea748-3092-4ff4-b656-39cacc4d5360"),
    ("kubernetes not-base64!", "kubernetes"),
    ("kubernetes " + _b64({"username": "a@b c/d" * 20}), None),
    ("", ""),
], ids=["kubernetes", "cloudfoundry", "garbage", "long-and-odd", "none"])
def test_the_originating_identity_becomes_a_label_safe_value(header, label):
    found = _identity_label(header)
    assert len(found) <= 63 and all(c.isalnum() or c in "-_." for c in found)
    if label is not None:
        assert found == label


def test_placement_follows_the_kubernetes_context_else_a_namespace_of_its_own():
    k8s = ProvisionOptions(service="mq", context={"platform": "kubernetes", "namespace": "team-a",
                                                   "instance_name": "Orders-Queue"})
    assert _placement(k8s, "id-1") == ("orders-queue", "team-a", False)
    cf = ProvisionOptions(service="mq", context={"platform": "cloudfoundry", "instance_name": "my queue!"})
    name, namespace, owned = _placement(cf, "id-2")
    assert name == namespace and name.startswith("si-") and owned
    assert _placement(cf, "id-2") == (name, namespace, owned)  # stable for one id
    with pytest.raises(InputError, match="not a valid namespace"):
        _placement(ProvisionOptions(service="mq", namespace="Bad_NS"), "id-3")


def test_a_plans_locked_parameters_are_fixed_in_the_schema_it_offers():
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"replicaCount": {"type": "integer"}}}
    plan = Plan("large", values={"replicaCount": 3, "auth": {"tls": True}}, locked=("replicaCount", "auth.tls"))
    offered = plan_schema(schema, plan)
    assert offered["properties"]["replicaCount"] == {"type": "integer", "const": 3, "readOnly": True,
                                                     "description": "(locked by the plan)"}
    assert offered["properties"]["auth"]["properties"]["tls"]["const"] is True
    assert schema["properties"]["replicaCount"] == {"type": "integer"}  # the type's own schema is untouched


def test_ids_are_stable_and_the_catalog_version_is_the_only_one_accepted():
    assert service_id("oci://r/c", "mq") == service_id("oci://r/c/", "mq") != service_id("oci://r/d", "mq")
    assert plan_id("oci://r/c", "mq", "small") != plan_id("oci://r/c", "mq", "large")
    offering = Offering("sid", "mq", "1.1.0", "", TypeDeclarations(), (OfferedPlan("pid", Plan("default"), True, None),))
    offering.check_version(None)
    offering.check_version("1.1.0")
    with pytest.raises(VersionConflictError, match="offers 1.1.0"):
        offering.check_version("1.0.0")
    with pytest.raises(InputError, match='plan "gold"'):
        offering.plan("gold")
    assert offering.to_osb()["plans"][0]["description"] == "mq plan default"  # never empty, as the spec requires


def test_a_record_and_its_operations_round_trip_through_its_secret():
    op = Operation.new(Kind.PROVISION, {"plan": "small", "values": {"a": 1}}, "broker-x")
    rec = ServiceInstance(id="i-1", service_id="s", plan_id="p", type="mq", plan="small", release="q",
                          namespace="ns", parameters={"auth": {"password": "p@ss"}}).with_operation(op)
    secret = rec.to_secret("state")
    assert "p@ss" not in json.dumps(secret["metadata"])  # parameters live in the data only
    assert secret["metadata"]["labels"]["chartkit.io/operation-state"] == "in-progress"
    back = ServiceInstance.of_secret(secret)
    assert back.parameters == {"auth": {"password": "p@ss"}} and back.operation == op
    assert not back.provisioned
    done = back.with_operation(op.finished(State.SUCCEEDED, "ok"))
    assert done.provisioned and done.history == ()
    update = Operation.new(Kind.UPDATE, {}, "broker-y")
    later = done.with_operation(update)
    assert later.find_operation(op.id).state is State.SUCCEEDED and later.find_operation(update.id) == update
    assert later.find_operation("nope") is None


def test_a_projection_adds_a_volume_mount_and_env_per_container_and_unprojection_is_the_bare_object():
    obj = projection("CronJob", "report", "apps", "db", containers=["a", "b"], checksum="abc")
    template = obj["spec"]["jobTemplate"]["spec"]["template"]
    assert template["metadata"]["annotations"] == {"binding.chartkit.io/db": "abc"}
    assert template["spec"]["volumes"] == [{"name": "binding-db", "secret": {"secretName": "db"}}]
    assert [c["volumeMounts"][0]["mountPath"] for c in template["spec"]["containers"]] == ["/bindings/db"] * 2
    assert projection("Deployment", "web", "apps", "db") == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"}}
    with pytest.raises(InputError, match="a binding goes into a Deployment"):
        projection("Pod", "x", "apps", "db", containers=[], checksum="")


def test_a_template_output_is_built_from_the_other_outputs():
    enc = {k: base64.b64encode(v.encode()).decode() for k, v in {"user": "u", "password": "p:w", "port": "1"}.items()}
    built = render_template("amqp://{user}:{password}@h:{port}/", enc, "uri")
    assert base64.b64decode(built).decode() == "amqp://u:p:w@h:1/"
    with pytest.raises(DeployError, match='uses "{host}"'):
        render_template("{host}", enc, "uri")


@pytest.mark.cluster
def test_deprovisioned_records_are_forgotten_after_a_while_and_live_ones_stay(cluster):
    import uuid

    from toolkit.config import CatalogRef, CatalogURL, ClusterRef, Config
    from toolkit.core.provision import forget_deprovisioned
    from toolkit.deploy.records import RecordStore

    config = Config(CatalogRef(CatalogURL.parse("oci://unused.invalid/x")), ClusterRef(cluster.kubeconfig,
                                                                                       cluster.context))
    state = f"st-{uuid.uuid4().hex[:8]}"
    store = RecordStore(config.kube(), state)
    try:
        for name, gone in (("old", True), ("live", False)):
            op = Operation.new(Kind.DEPROVISION if gone else Kind.PROVISION, {}, "h")
            op = op.finished(State.SUCCEEDED, "done")
            from dataclasses import replace

            op = replace(op, updated="2020-01-01T00:00:00.000000Z")
            store.create(ServiceInstance(id=name, service_id="s", plan_id="p", type="t", plan="p", release=name,
                                         namespace="ns", deprovisioned=gone).with_operation(op))
        assert forget_deprovisioned(config, state_namespace=state) == 1
        assert store.instance("old") is None and store.instance("live") is not None
    finally:
        config.kube().delete("v1", "Namespace", state, wait=False)
