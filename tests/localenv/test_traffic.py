"""Real traffic on the local cluster: Traefik programs HTTPRoutes, kwok's pods answer through the backends harness,
the load generator counts who answered. Nothing is mocked: every request crosses TCP twice."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from toolkit import localenv
from toolkit.adapters.metrics import parse, scrape
from toolkit.adapters.kube import Kube
from toolkit.deploy.traffic import BackendRef, route_backends, stats_by, traefik_service
from toolkit.localenv import _gateway, paths
from toolkit.localenv.load import HeaderShare
from tests.localenv.traffic import backend, deploy, http, load, ref, route, servers, wait_for, wait_routed

pytestmark = [pytest.mark.cluster, pytest.mark.gateway]


def test_the_gateway_is_programmed_and_says_what_it_supports(gateway, kube: Kube) -> None:
    assert gateway.url.startswith("http://127.0.0.1:") and gateway.version == paths.TRAEFIK_VERSION
    gateway_class = kube.get("gateway.networking.k8s.io/v1", "GatewayClass", gateway.gateway_class)
    assert gateway_class["spec"]["controllerName"] == "traefik.io/gateway-controller"
    # read from the GatewayClass status Traefik wrote: what a rollout strategy may rely on
    assert {"Gateway", "HTTPRoute", "ReferenceGrant", "HTTPRouteHostRewrite"} <= set(gateway.supported_features)
    assert gateway.supports("HTTPRoute") and not gateway.supports("HTTPRouteRequestMirror")
    listed = localenv.status()["gateway"]
    assert listed["url"] == gateway.url and listed["metrics_url"] == gateway.metrics_url
    assert "HTTPRoute" in listed["supported_features"]


def test_starting_the_gateway_again_reuses_it_quickly(gateway) -> None:
    pid = _gateway.pidfile().pid()
    started = time.monotonic()
    again = localenv.start_gateway()
    assert time.monotonic() - started < 3
    assert again == gateway and _gateway.pidfile().pid() == pid


@pytest.mark.parametrize("weights", [(90, 10), (50, 50)], ids=["90-10", "50-50"])
def test_weighted_backend_refs_split_real_requests_by_weight(gateway, backends, kube: Kube, namespace: str,
                                                            weights: tuple[int, int]) -> None:
    deploy(kube, backends, namespace, [*backend("blue", "1.0.0"), *backend("green", "2.0.0")])
    host = f"{namespace}.split.test"
    kube.apply([route("web", gateway, host, [{"backendRefs": [ref("blue", weights[0]), ref("green", weights[1])]}])],
               namespace)
    wait_routed(gateway, host, {"1.0.0", "2.0.0"})
    result = load(gateway, host, requests=1000, rate=400)
    assert result.statuses == {200: 1000}
    # counted from the response bodies: which pod's version answered
    assert result.share("1.0.0") * 100 == pytest.approx(weights[0], abs=3)
    assert result.share("2.0.0") * 100 == pytest.approx(weights[1], abs=3)


def test_a_header_match_sends_every_acme_request_to_green(gateway, backends, kube: Kube, namespace: str) -> None:
    deploy(kube, backends, namespace, [*backend("blue", "1.0.0"), *backend("green", "2.0.0")])
    host = f"{namespace}.customers.test"
    kube.apply([route("web", gateway, host, [
        {"matches": [{"headers": [{"name": "X-Customer", "value": "acme"}]}], "backendRefs": [ref("green")]},
        {"backendRefs": [ref("blue")]},
    ])], namespace)
    wait_routed(gateway, host, {"2.0.0"}, headers={"X-Customer": "acme"})
    wait_routed(gateway, host, {"1.0.0"})
    result = load(gateway, host, requests=1000, rate=400, mix=(HeaderShare("X-Customer", "acme", 0.1),))
    assert result.statuses == {200: 1000}
    assert result.groups["X-Customer=acme"].versions == {"2.0.0": 100}
    assert result.groups["default"].versions == {"1.0.0": 900}


def test_a_failing_version_shows_the_same_error_ratio_to_clients_and_in_gateway_metrics(
        gateway, backends, kube: Kube, namespace: str) -> None:
    deploy(kube, backends, namespace, [
        *backend("blue", "1.0.0"),
        *backend("green", "2.0.0", env={"BACKEND_ERROR_RATE": "0.2", "BACKEND_LATENCY_MS": "50"})])
    host = f"{namespace}.errors.test"
    web = route("web", gateway, host, [{"backendRefs": [ref("blue", 50), ref("green", 50)]}])
    kube.apply([web], namespace)
    wait_routed_any(gateway, host, {"1.0.0", "2.0.0"})
    before = scrape(gateway.metrics_url)
    result = load(gateway, host, requests=2000, rate=400, concurrency=32)
    after = scrape(gateway.metrics_url)
    green_client = result.statuses.get(500, 0) / result.versions["2.0.0"]
    assert green_client == pytest.approx(0.2, abs=0.03)
    assert result.failed == 0 and set(result.statuses) == {200, 500}
    stats = route_backends({**web, "metadata": {"name": "web", "namespace": namespace}}, before, after)
    blue, green = stats[BackendRef(namespace, "blue", 80)], stats[BackendRef(namespace, "green", 80)]
    assert green.requests == result.versions["2.0.0"] and blue.requests == result.versions["1.0.0"]
    assert green.error_ratio == pytest.approx(green_client, abs=0.03) and blue.error_ratio == 0
    # green waits 50 ms before answering: the gateway sees at least that (its (25, 50] ms bucket or above); blue
    # answers at once. No upper bound: on a loaded machine queueing adds to both.
    assert green.p50_ms >= 25 and green.p95_ms >= green.p50_ms
    assert blue.p50_ms < green.p50_ms
    assert green.rate > 0 and green.seconds > 0


def wait_routed_any(gateway, host: str, versions: set[str]) -> None:
    """Until every version answered at least once (statuses may include the injected 500s)."""
    def routed() -> bool:
        result = load(gateway, host, requests=40)
        return result.failed == 0 and versions <= set(result.versions)

    wait_for(routed, 60, f"the gateway to route {host} to {sorted(versions)}", interval=0.5)


def test_the_metrics_adapter_parses_real_traefik_output(gateway, backends, kube: Kube, namespace: str) -> None:
    deploy(kube, backends, namespace, backend("blue", "1.0.0", replicas=1))
    host = f"{namespace}.metrics.test"
    kube.apply([route("web", gateway, host, [{"backendRefs": [ref("blue")]}])], namespace)
    wait_routed(gateway, host, {"1.0.0"})
    got = scrape(gateway.metrics_url)
    service = traefik_service(BackendRef(namespace, "blue", 80))
    assert {"traefik_config_reloads_total", "traefik_entrypoint_requests_total", "traefik_router_requests_total",
            "traefik_service_requests_total", "traefik_service_request_duration_seconds_bucket"} <= got.names()
    assert sum(s.value for s in got.select("traefik_service_requests_total", service=service, code="200")) >= 40
    buckets = {s.label("le") for s in got.select("traefik_service_request_duration_seconds_bucket", service=service)}
    assert {"0.005", "0.025", "+Inf"} <= buckets
    # the route's rule has a router of its own, sending to the rule's weighted service
    prefix = f"httproute-{namespace}-web-gw-{gateway.gateway_namespace}-{gateway.gateway_name}-ep-web-0"
    routers = {(s.label("router"), s.label("service")) for s in got.select("traefik_router_requests_total")
               if s.label("router").startswith(prefix)}
    [(router, service)] = routers
    assert service == router.replace("@kubernetesgateway", "-wrr@kubernetesgateway")


def test_pods_that_go_away_take_their_servers_with_them(backends, kube: Kube, namespace: str) -> None:
    deploy(kube, backends, namespace, backend("blue", "1.0.0", replicas=2))
    served = servers(backends, namespace)
    assert len(served) == 2
    for server in served:
        # a real socket on the pod's own IP, inside the pod range
        assert server["ip"].startswith("10.244.") and server["port"] == 8080
        with urllib.request.urlopen(f"http://{server['ip']}:{server['port']}/", timeout=5) as response:
            assert response.headers["X-Backend-Pod"] == server["pod"]
    kube.apply([{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "blue"},
                 "spec": {"replicas": 0}}], namespace, field_manager="chartkit-test")
    wait_for(lambda: not servers(backends, namespace), 30, "the servers of deleted pods to stop")
    for server in served:
        with pytest.raises(OSError), socket.create_connection((server["ip"], server["port"]), timeout=2):
            pass


def test_chat_mq_and_db_backends_answer_and_report_their_callers(gateway, backends, kube: Kube,
                                                                 namespace: str) -> None:
    mq_url = f"http://chat-mq.{namespace}.svc.cluster.local:80/queues/chat/messages"
    deploy(kube, backends, namespace, [
        *backend("chat", "1.21.0", replicas=2, role="chat", env={"BACKEND_UPSTREAM": mq_url}),
        *backend("chat-mq", "3.13.0", replicas=1, role="mq"),
        *backend("chat-db", "16.2.0", replicas=1, role="db")])
    host = f"{namespace}.chat.test"
    kube.apply([route("chat", gateway, host, [{"backendRefs": [ref("chat")]}])], namespace)
    wait_routed(gateway, host, {"1.21.0"})
    through = {"Host": host, "X-Caller": "call-center"}
    put = http("PUT", f"{gateway.url}/messages/support", b"hello", through)
    assert put.status == 201 and put.json()["upstream"] == 201 and put.json()["version"] == "1.21.0"
    room = http("GET", f"{gateway.url}/messages/support", headers=through).json()
    assert [m["text"] for m in room["messages"]] == ["hello"]
    assert http("PUT", f"{gateway.url}/rows/x", b"", through).status == 404  # a chat backend has no rows
    served = servers(backends, namespace)
    [mq] = [s for s in served if s["pod"].startswith("chat-mq")]
    [db] = [s for s in served if s["pod"].startswith("chat-db")]
    mq_base, db_base = f"http://{mq['ip']}:{mq['port']}", f"http://{db['ip']}:{db['port']}"
    message = http("GET", f"{mq_base}/queues/chat/messages")
    assert message.status == 200 and message.json()["message"] == "hello"
    assert http("GET", f"{mq_base}/queues/chat/messages").status == 204
    assert http("PUT", f"{db_base}/rows/user-1", b"ada").status == 200
    assert http("GET", f"{db_base}/rows/user-1").json()["value"] == "ada"
    assert http("GET", f"{db_base}/rows/nobody").status == 404
    # each side reports its own view of the edge, per caller: mq saw chat (as chat names itself) publish once
    mq_seen = parse(http("GET", f"{mq_base}/metrics").text)
    published = [s for s in mq_seen if s.name == "backend_requests_total" and s.label("method") == "POST"]
    assert [(s.label("caller"), s.label("route"), s.label("code"), s.value) for s in published] == [
        (f"{namespace}/chat", "/queues/{queue}/messages", "201", 1.0)]
    # the harness's merged view labels every sample with its pod: chat's upstream call and its own caller
    merged = parse(http("GET", f"{backends.url}/metrics").text)
    upstream = [s for s in merged if s.name == "backend_upstream_requests_total" and s.label("namespace") == namespace]
    assert [(s.label("code"), s.value) for s in upstream] == [("201", 1.0)]
    callers = {s.label("caller") for s in merged
               if s.name == "backend_requests_total" and s.label("namespace") == namespace}
    assert {"call-center", f"{namespace}/chat"} <= callers

    # under load, both edges (call-center -> chat, chat -> mq) count what the load generator sent
    before = scrape(f"{backends.url}/metrics")
    sent = load(gateway, host, requests=200, rate=200, method="PUT", path="/messages/support", body=b"hi",
                headers={"X-Caller": "call-center"})
    after = scrape(f"{backends.url}/metrics")
    assert sent.statuses == {201: 200}
    edges = stats_by(before, after, key=("caller", "pod"), requests="backend_requests_total",
                     duration="backend_request_duration_seconds", where={"namespace": namespace})
    by_caller: dict[str, float] = {}
    for (caller, _pod), stats in edges.items():
        if stats.requests:  # series from the requests above are there too, unchanged
            by_caller[caller] = by_caller.get(caller, 0) + stats.requests
    assert by_caller == {"call-center": 200, f"{namespace}/chat": 200}
