"""The service graph on real traffic (issue 13): the call center, chat, a RabbitMQ-like queue and a row store run as
instances of chartified types, bound to each other; load through the Gateway crosses call-center → chat →
rabbitmq, and the graph's edges must match what the load generator itself counted."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from toolkit.chartify import ChartifyOptions, chartify
from toolkit.core.bind import BindOptions, bind
from toolkit.core.graph import GraphOptions, graph, observe
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.deploy.graph import Health, NodeKind
from tests.localenv.traffic import load, route, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.gateway]

REPO = Path(__file__).resolve().parents[2]
CHAT_MS, QUEUE_MS = 80, 40  # each backend's own latency (chartkit.io/backend-latency-ms)


def _values(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / f"{name}-values.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def callcenter(chat_chart, traffic_config, publish_dir, kube, namespace, tmp_path, gateway, request):
    """chat + rabbitmq in the test namespace, call-center + records in a second one, bound as the README says,
    and a route for the call center on the Gateway. Yields (chat namespace, call-center namespace, host)."""
    config = traffic_config
    cc_ns = f"t-{uuid.uuid4().hex[:8]}"
    kube.create_namespace(cc_ns)
    request.addfinalizer(lambda: kube.delete("v1", "Namespace", cc_ns, wait=False))
    charts = {}
    for folder, type_name in (("app", "call-center"), ("queue", "callcenter-queue"), ("records", "callcenter-db")):
        chartify([str(REPO / "examples" / "callcenter" / folder)],
                 ChartifyOptions(name=type_name, output=tmp_path / "charts" / type_name, verify=False))
        charts[type_name] = tmp_path / "charts" / type_name
        publish_dir(charts[type_name], "1.0.0")
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-mq", "namespace": namespace},
                 "stringData": {"RABBITMQ_USER": "chat", "RABBITMQ_PASSWORD": "example",  # what chat's type
                                "AMQP_URL": f"amqp://chat:example@rabbitmq.{namespace}.svc:5672/chat"}}])  # hands out
    latency = "chartkit.io/backend-latency-ms"
    installs = [
        ("rabbitmq", "callcenter-queue", namespace, ValuesInput(
            files=(_values(tmp_path, "rabbitmq", {"rabbitmq": {"podAnnotations": {latency: str(QUEUE_MS)},
                                                               "secret": {"existingSecret": "", "values": {
                                                                   "RABBITMQ_DEFAULT_USER": "chat-svc",
                                                                   "RABBITMQ_DEFAULT_PASS": "example-pass"}}}}),))),
        ("chat", "chat", namespace, ValuesInput(
            files=(_values(tmp_path, "chat", {"chat": {"podAnnotations": {latency: str(CHAT_MS)}}}),))),
        ("records", "callcenter-db", cc_ns, ValuesInput(
            files=(_values(tmp_path, "records", {"records": {"secret": {"existingSecret": "", "values": {
                "POSTGRES_USER": "desk", "POSTGRES_PASSWORD": "example-pass"}}}}),))),
        ("call-center", "call-center", cc_ns, ValuesInput(
            sets=(f"callCenter.env.BACKEND_UPSTREAM=http://chat.{namespace}.svc.cluster.local:80/messages/support",))),
    ]
    for name, type_name, ns, values in installs:
        install(config, InstallOptions(instance=name, type_ref=f"{type_name}@1.0.0", namespace=ns, values=values))
    bind(config, BindOptions(instance="rabbitmq", namespace=namespace, consumer_namespace=namespace))
    bind(config, BindOptions(instance="records", namespace=cc_ns, consumer_namespace=cc_ns))
    bind(config, BindOptions(instance="chat", namespace=namespace, consumer_namespace=cc_ns))
    host = f"call-center.{cc_ns}.test"
    kube.apply([route("call-center", gateway, host, [{"backendRefs": [{"name": "call-center", "port": 80}]}])], cc_ns)

    def routed() -> bool:
        answer = load(gateway, host, requests=10, method="PUT", path="/tickets/warmup", body=b"hi")
        return answer.statuses == {200: 10}

    wait_for(routed, 60, f"the gateway to route {host} through chat to the queue", interval=0.5)
    return namespace, cc_ns, host


def _slow_down(kube, namespace: str, app: str, ms: int) -> None:
    """The harness reads a pod's latency annotation live: every pod of ``app`` answers ``ms`` later from now."""
    for pod in kube.list("v1", "Pod", namespace, selector=f"app.kubernetes.io/name={app}"):
        kube.patch("v1", "Pod", pod["metadata"]["name"], namespace,
                   {"metadata": {"annotations": {"chartkit.io/backend-latency-ms": str(ms)}}}, patch_type="merge")


def test_graph_edges_match_the_load_generators_counts_and_a_slowed_backend_is_the_hot_spot(
        callcenter, traffic_config, gateway, kube, capsys):
    chat_ns, cc_ns, host = callcenter
    chat, queue, desk, records = (f"{chat_ns}/chat", f"{chat_ns}/rabbitmq", f"{cc_ns}/call-center",
                                  f"{cc_ns}/records")
    before = observe(traffic_config)
    sent = load(gateway, host, requests=600, rate=60, method="PUT", path="/tickets/1", body=b"ticket")
    found = graph(traffic_config, GraphOptions(all_namespaces=True), since=before).graph
    assert sent.statuses == {200: 600}
    lat = sent.latency
    rate = sent.sent / sent.seconds
    report = {(e.source, e.target): (e.number("requests"), round(e.number("rate"), 1), round(e.number("p50_ms"), 1),
                                     round(e.number("p95_ms"), 1)) for e in found.edges}
    print(f"\nload: {sent.sent} requests, {rate:.1f}/s, p50 {lat.p50:.1f} ms, p95 {lat.p95:.1f} ms; graph: {report}")

    for node_id in (chat, queue, desk, records):
        node = found.node(node_id)
        assert node is not None and node.kind is NodeKind.INSTANCE and node.health is Health.HEALTHY, node
    entry, desk_chat, chat_queue = found.edge("gateway", desk), found.edge(desk, chat), found.edge(chat, queue)
    for edge in (entry, desk_chat, chat_queue):
        assert edge is not None and edge.number("requests") == pytest.approx(sent.sent, rel=0.1), report
        assert edge.number("rate") == pytest.approx(rate, rel=0.1), report
        assert edge.number("error_ratio") == 0
    # declared by bindings, and seen carrying traffic
    assert desk_chat.bindings == (f"{cc_ns}/chat-binding",) and desk_chat.observed == ("app",)
    assert chat_queue.bindings == (f"{chat_ns}/rabbitmq-binding",) and chat_queue.observed == ("app",)
    quiet = found.edge(desk, records)
    assert quiet is not None and quiet.bindings == (f"{cc_ns}/records-binding",) and quiet.stats is None
    # the entry edge is what the load generator waited for (the call center's own timing of the requests the
    # gateway counted); the call center's wait on chat is most of it; the queue's is its own 40 ms
    assert entry.observed == ("gateway", "app")
    assert entry.number("p50_ms") == pytest.approx(lat.p50, rel=0.1), report
    assert entry.number("p95_ms") == pytest.approx(lat.p95, rel=0.1), report
    assert desk_chat.number("p50_ms") == pytest.approx(lat.p50, rel=0.1), report
    assert desk_chat.number("p50_ms") <= desk_chat.number("p95_ms") <= lat.p95 * 1.1, report
    assert chat_queue.number("p50_ms") == pytest.approx(QUEUE_MS, rel=0.1), report
    assert found.hot_spot is not None and found.hot_spot.id == chat
    assert found.node(chat).self_ms == pytest.approx(CHAT_MS, rel=0.2)

    # the queue slows down: it becomes the hot spot, through the CLI as the console would get it from the core
    _slow_down(kube, chat_ns, "rabbitmq", 300)
    time.sleep(0.5)  # the harness lists pods every 0.2 s
    background = threading.Thread(target=load, args=(gateway, host), kwargs=dict(
        requests=200, rate=40, method="PUT", path="/tickets/1", body=b"ticket"))
    background.start()
    from toolkit.cli import main

    cluster = traffic_config.cluster
    common = ["--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context]
    assert main(["graph", "chat", "-n", chat_ns, "--window", "3", *common]) == 0
    text = capsys.readouterr().out
    assert main(["graph", "-A", "--window", "1.5", "--json", *common]) == 0
    data = json.loads(capsys.readouterr().out)
    background.join()
    print(text)
    assert f"hot spot: {queue}" in text
    assert f"{desk} → {chat}" in text and f"{chat} → {queue}" in text
    assert data["hotSpot"] == queue
    slow = next(e for e in data["edges"] if (e["from"], e["to"]) == (chat, queue))
    assert slow["p50Ms"] >= 300 and slow["hot"] and slow["bindings"] == [f"{chat_ns}/rabbitmq-binding"]

    # the console's graph page reads the same core operation: the window since its last look, nothing waits
    from toolkit.console import data

    data.graph(traffic_config, [chat_ns, cc_ns])
    load(gateway, host, requests=120, rate=60, method="PUT", path="/tickets/1", body=b"ticket")
    page = data.graph(traffic_config, [chat_ns, cc_ns])
    edges = {(e["from"], e["to"]): e for e in page["edges"]}
    assert page["traffic"] and page["hotSpot"] == queue
    assert edges[(chat, queue)]["traffic"]["requests"] == pytest.approx(120, rel=0.1)
    assert edges[(chat, queue)]["binding"] == f"{chat_ns}/rabbitmq-binding" and edges[(chat, queue)]["hot"]
    assert edges[("gateway", desk)]["type"] == "traffic at gateway and app"
    assert {n["id"]: n["health"] for n in page["nodes"] if n["kind"] == "instance"} == {
        chat: "healthy", queue: "healthy", desk: "healthy", records: "healthy"}
