"""The service graph's rules over plain data: who a caller, a pod, a Service and a binding's consumer are; how edges
from bindings, the gateway and the apps merge; health; the hot spot; one instance's neighbourhood."""

from __future__ import annotations

import math

import pytest

from toolkit.adapters.metrics import Sample, Scrape
from toolkit.deploy.graph import (APP_DURATION, APP_REQUESTS, Health, NodeKind, Workloads, build_graph, health_of,
                                  neighbourhood)
from toolkit.deploy.instance import Instance
from toolkit.deploy.traffic import BackendRef, TRAEFIK_DURATION, TRAEFIK_REQUESTS, traefik_service


def inst(namespace: str, name: str, type_name: str = "t", status: str = "deployed") -> Instance:
    return Instance(name=name, namespace=namespace, revision=1, status=status, updated="", type=type_name,
                    version="1.0.0", digest="", catalog_id="")


def deployment(name: str, app: str | None = None, secrets: tuple[str, ...] = (), ready: bool = True) -> dict:
    labels = {"app.kubernetes.io/name": app or name}
    containers = [{"name": "c", "envFrom": [{"secretRef": {"name": s}} for s in secrets]}]
    status = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1 if ready else 0,
              "conditions": [{"type": "Available", "status": "True" if ready else "False"}]}
    return {"kind": "Deployment", "metadata": {"name": name, "generation": 1},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}},
            "status": status}


def service(name: str, port: int = 80) -> dict:
    return {"kind": "Service", "metadata": {"name": name}, "spec": {"ports": [{"port": port}]}}


def binding(namespace: str, name: str, of: str, of_namespace: str) -> dict:
    return {"metadata": {"namespace": namespace, "name": name,
                         "labels": {"chartkit.io/binding-of": of, "chartkit.io/binding-namespace": of_namespace}}}


def histogram(name: str, labels: dict, count: float, seconds: float) -> list[Sample]:
    """``count`` requests all taking ``seconds``, as cumulative buckets plus the counter."""
    out = []
    for bound in (0.01, 0.05, 0.1, 0.5, math.inf):
        le = "+Inf" if math.isinf(bound) else str(bound)
        out.append(Sample(f"{name}_bucket", tuple(sorted({**labels, "le": le}.items())),
                          count if seconds <= bound else 0.0))
    return out


def app_samples(namespace: str, pod: str, caller: str, count: float, seconds: float) -> list[Sample]:
    labels = {"namespace": namespace, "pod": pod, "caller": caller, "method": "PUT", "route": "/x"}
    return [Sample(APP_REQUESTS, tuple(sorted({**labels, "code": "201"}.items())), count),
            *histogram(APP_DURATION, {k: v for k, v in labels.items()}, count, seconds)]


def gateway_samples(service_name: str, count: float, errors: float = 0) -> list[Sample]:
    labels = {"service": service_name, "method": "GET", "protocol": "http"}
    return [Sample(TRAEFIK_REQUESTS, tuple(sorted({**labels, "code": "200"}.items())), count - errors),
            Sample(TRAEFIK_REQUESTS, tuple(sorted({**labels, "code": "500"}.items())), errors),
            *histogram(TRAEFIK_DURATION, labels, count, 0.2)]


def scrapes(samples: list[Sample], seconds: float = 10.0) -> tuple[Scrape, Scrape]:
    return Scrape("u", 100.0, ()), Scrape("u", 100.0 + seconds, tuple(samples))


INSTANCES = [inst("chat", "chat"), inst("chat", "rabbitmq"), inst("cc", "call-center"), inst("cc", "records")]
WORKLOADS = {
    ("chat", "chat"): Workloads((deployment("chat"),), (service("chat"),)),
    ("chat", "rabbitmq"): Workloads((deployment("rabbitmq"),), (service("rabbitmq", 5672),)),
    ("cc", "call-center"): Workloads((deployment("call-center", secrets=("chat-binding",)),), (service("call-center"),)),
    ("cc", "records"): Workloads((deployment("records"),), (service("records", 5432),)),
}
BINDINGS = [binding("chat", "rabbitmq-binding", "rabbitmq", "chat"), binding("cc", "chat-binding", "chat", "chat"),
            binding("cc", "records-binding", "records", "cc")]


def test_bindings_make_declared_edges_from_the_consumers_that_use_them():
    graph = build_graph(INSTANCES, WORKLOADS, BINDINGS)
    assert {(e.source, e.target): e.bindings for e in graph.edges} == {
        ("chat/chat", "chat/rabbitmq"): ("chat/rabbitmq-binding",),  # the one other instance of the namespace
        ("cc/call-center", "chat/chat"): ("cc/chat-binding",),       # its pods reference the Secret
        ("cc/call-center", "cc/records"): ("cc/records-binding",),    # not records itself: the one other
    }
    assert all(e.stats is None and not e.observed for e in graph.edges)


def test_a_binding_in_a_namespace_of_several_possible_consumers_goes_to_the_namespace():
    crowded = [*INSTANCES, inst("cc", "reports")]
    graph = build_graph(crowded, {**WORKLOADS, ("cc", "reports"): Workloads((deployment("reports"),))},
                        [binding("cc", "records-binding", "records", "cc")])
    [edge] = graph.edges
    assert (edge.source, edge.target) == ("cc/*", "cc/records")
    assert graph.node("cc/*").kind is NodeKind.NAMESPACE


def test_traffic_edges_from_the_gateway_and_the_apps_own_reports():
    gateway = scrapes(gateway_samples(traefik_service(BackendRef("cc", "call-center", 80)), 100, errors=5))
    apps = scrapes([
        *app_samples("cc", "call-center-5d9f-abcde", "-", 100, 0.3),           # unnamed: the gateway's requests
        *app_samples("chat", "chat-7c4b8d-x2x2x", "cc/call-center", 95, 0.25),  # an instance, by its app label
        *app_samples("chat", "rabbitmq-6f5-qwert", "chat/chat", 95, 0.04),
        *app_samples("chat", "chat-7c4b8d-x2x2x", "support-bot", 10, 0.02),    # an outside caller naming itself
        *app_samples("chat", "unknown-pod-zzz", "chat/chat", 7, 0.02),          # no instance's pod: dropped
    ])
    graph = build_graph(INSTANCES, WORKLOADS, BINDINGS, gateway=gateway, apps=apps)
    entry = graph.edge("gateway", "cc/call-center")
    assert entry.observed == ("gateway", "app") and entry.number("requests") == 100
    assert entry.number("error_ratio") == pytest.approx(0.05) and entry.number("rate") == pytest.approx(10)
    assert 100 < entry.number("p50_ms") <= 500  # timed by the call center's own histogram: (0.1, 0.5] s
    desk_chat = graph.edge("cc/call-center", "chat/chat")
    assert desk_chat.observed == ("app",) and desk_chat.bindings == ("cc/chat-binding",)
    assert desk_chat.number("requests") == 95
    assert graph.edge("caller:support-bot", "chat/chat").number("requests") == 10
    assert graph.node("caller:support-bot").kind is NodeKind.CALLER and graph.node("gateway").kind is NodeKind.GATEWAY
    assert graph.edge("chat/chat", "chat/rabbitmq").number("p50_ms") < 50
    assert graph.seconds == 10
    # own time: the call center waits on chat, chat on the queue; chat spends the most of its own
    hot = graph.hot_spot
    assert hot is not None and hot.id == "chat/chat" and graph.edge("cc/call-center", "chat/chat").hot
    assert graph.node("chat/rabbitmq").self_ms < graph.node("chat/chat").self_ms


def test_health_from_release_status_and_deployments():
    ready, not_ready = deployment("a"), deployment("b", ready=False)

    def rolled_out(dep: dict) -> bool:
        return dep["status"]["availableReplicas"] == dep["spec"]["replicas"]

    assert health_of(inst("n", "x"), Workloads((ready,)), rolled_out) == (Health.HEALTHY, "1/1 Deployments available")
    assert health_of(inst("n", "x"), Workloads((ready, not_ready)), rolled_out) == (
        Health.DEGRADED, "1/2 Deployments available")
    assert health_of(inst("n", "x", status="pending-upgrade"), Workloads(), rolled_out)[0] is Health.PENDING
    assert health_of(inst("n", "x", status="failed"), Workloads(), rolled_out)[0] is Health.FAILED


def test_neighbourhood_keeps_one_hop():
    graph = build_graph(INSTANCES, WORKLOADS, BINDINGS)
    around = neighbourhood(graph, {"chat/rabbitmq"})
    assert {n.id for n in around.nodes} == {"chat/rabbitmq", "chat/chat"}
    assert [(e.source, e.target) for e in around.edges] == [("chat/chat", "chat/rabbitmq")]


def test_graph_json_names_the_hot_spot_and_leaves_unmeasured_numbers_empty():
    data = build_graph(INSTANCES, WORKLOADS, BINDINGS, notes=("no gateway metrics configured",)).to_json()
    assert data["hotSpot"] is None and data["notes"] == ["no gateway metrics configured"]
    edge = data["edges"][0]
    assert edge["rate"] is None and edge["p95Ms"] is None and edge["bindings"]


@pytest.mark.parametrize("module", ["toolkit.deploy.graph", "toolkit.core.graph", "toolkit.deploy.analysis"])
def test_exported_surface(module):
    import importlib

    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__)
    assert all(hasattr(mod, name) for name in mod.__all__)
