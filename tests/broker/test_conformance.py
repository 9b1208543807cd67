"""The broker's answers against the published Open Service Broker OpenAPI description (v2.17, pinned; see
shared/osb/SOURCE.txt), checked by schemathesis: generated requests for every operation, plus the whole life of an
instance and a binding, each answer validated for status code, content type, headers and body schema."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from tests.broker.conftest import API, PASSWORD, USER, catalog_plan, wait_operation

pytestmark = pytest.mark.cluster

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "osb" / "openapi.yaml"
_UNRESERVED = re.compile(r"[^A-Za-z0-9._~-]")


@pytest.fixture(scope="module")
def spec():
    if not SPEC.is_file():
        message = f"the OSB OpenAPI description is absent at {SPEC}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    import schemathesis

    return schemathesis.openapi.from_path(str(SPEC))


def _checks():
    from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                     response_schema_conformance, status_code_conformance)

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
            response_schema_conformance]


def _safe(case):
    """Ids from unreserved characters, as the spec recommends (a generated "/" would not reach the route)."""
    if case.path_parameters:
        case.path_parameters = {k: (_UNRESERVED.sub("-", str(v)) or "x") for k, v in case.path_parameters.items()}
    return case


def test_generated_requests_get_answers_the_spec_allows(spec, mq_catalog, start_broker):
    from hypothesis import HealthCheck, given, settings

    broker = start_broker(mq_catalog)
    checks = _checks()
    seen: dict[str, set[int]] = {}
    for result in spec.get_all_operations():
        operation = result.ok()

        @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(headers=dict(API)).map(_safe))
        def run(case):
            response = case.call(base_url=broker.url, auth=(USER, PASSWORD))
            seen.setdefault(operation.label, set()).add(response.status_code)
            case.validate_response(response, checks=checks)

        run()
    assert len(seen) == 10, seen  # every operation of the description was exercised
    assert seen["GET /v2/catalog"] == {200} and seen["DELETE /v2/service_instances/{instance_id}"] >= {410}
    assert PASSWORD not in broker.output()


def test_the_life_of_an_instance_conforms(spec, mq_catalog, start_broker, namespace):
    """Provision, poll, fetch, update, bind, fetch the binding, unbind, deprovision: schemathesis validates each."""
    broker = start_broker(mq_catalog)
    checks = _checks()
    iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
    with broker.client() as http:
        service_id, small, _ = catalog_plan(http)
        _, large, _ = catalog_plan(http, plan="large")

    def call(method: str, path: str, *, path_parameters=None, query=None, body=None, status: int):
        operation = spec.find_operation_by_path(method, path)
        extra = {"body": body} if body is not None else {}
        case = operation.Case(path_parameters=path_parameters or {}, query=query, headers=dict(API), **extra)
        response = case.call(base_url=broker.url, auth=(USER, PASSWORD))
        assert response.status_code == status, response.text
        case.validate_response(response, checks=checks)
        return response.json()

    ids = {"instance_id": iid}
    both = {"instance_id": iid, "binding_id": bid}
    context = {"platform": "kubernetes", "namespace": namespace, "instance_name": "conf"}
    call("GET", "/v2/catalog", status=200)
    op = call("PUT", "/v2/service_instances/{instance_id}", path_parameters=ids, query={"accepts_incomplete": True},
              body={"service_id": service_id, "plan_id": small, "organization_guid": "o", "space_guid": "s",
                    "context": context}, status=202)["operation"]
    with broker.client() as http:
        assert wait_operation(http, iid, op)["state"] == "succeeded"
    call("GET", "/v2/service_instances/{instance_id}/last_operation", path_parameters=ids,
         query={"operation": op, "service_id": service_id, "plan_id": small}, status=200)
    call("GET", "/v2/service_instances/{instance_id}", path_parameters=ids, status=200)
    op = call("PATCH", "/v2/service_instances/{instance_id}", path_parameters=ids, query={"accepts_incomplete": True},
              body={"service_id": service_id, "plan_id": large, "previous_values": {"plan_id": small}},
              status=202)["operation"]
    with broker.client() as http:
        assert wait_operation(http, iid, op)["state"] == "succeeded"
    call("PUT", "/v2/service_instances/{instance_id}/service_bindings/{binding_id}", path_parameters=both,
         body={"service_id": service_id, "plan_id": large, "bind_resource": {"app_guid": "app"}}, status=201)
    call("GET", "/v2/service_instances/{instance_id}/service_bindings/{binding_id}", path_parameters=both, status=200)
    call("GET", "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation",
         path_parameters=both, status=200)
    call("DELETE", "/v2/service_instances/{instance_id}/service_bindings/{binding_id}", path_parameters=both,
         query={"service_id": service_id, "plan_id": large}, status=200)
    op = call("DELETE", "/v2/service_instances/{instance_id}", path_parameters=ids,
              query={"service_id": service_id, "plan_id": large, "accepts_incomplete": True}, status=202)["operation"]
    with broker.client() as http:
        assert wait_operation(http, iid, op, ok=(410,))["_status"] == 410
    call("GET", "/v2/service_instances/{instance_id}/last_operation", path_parameters=ids, status=410)
