"""The service graph as pure data: instances (nodes, with health) and who calls whom (edges), with per-edge
request rate, error ratio and p50/p95 latency over one window between two metric scrapes.

Edges come from three places:

* **bindings** (declared): a binding Secret (label ``chartkit.io/binding-of``) in a consumer namespace makes an
  edge from the instance(s) there that use it — the workloads whose pods reference the Secret, else the one other
  instance of that namespace, else the namespace itself (``NS/*``) — to the bound instance;
* **the gateway's metrics** (observed): requests a Gateway sent to an instance's Service (``gateway → instance``);
* **the apps' own reports** (observed): each server counts requests per ``X-Caller`` header (``caller`` label,
  ``<namespace>/<app>`` for apps, any name for others), labelled with the ``namespace`` and ``pod`` answering.
  A caller names an instance when its namespace holds one whose name, Deployment or pod ``app`` label matches;
  otherwise it is an outside caller (``caller:NAME``). Requests without the header name nobody: where the
  gateway sent an instance requests in the window, they are taken for the gateway's.

Latency is the callee's own view where it reports one (server-side histograms, fine buckets), so an edge says how
long the callee took: ``gateway → instance`` counts requests with the gateway's counter and times them with the
instance's own histogram of unnamed requests (the gateway's buckets are 2.5x wide: a 64 ms p50 reads 76 there).
A node's own time (``self_ms``) is its incoming p50 less the slowest p50 of the calls it makes, and the node with
the most own time is the **hot spot**: where a slow request spends its time.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from toolkit.adapters.metrics import Scrape
from toolkit.deploy.binding import LABEL_NAMESPACE, LABEL_OF
from toolkit.deploy.instance import Instance
from toolkit.deploy.strategies.plan import pod_references
from toolkit.deploy.traffic import BackendRef, Stats, stats_by, traefik_service

__all__ = [
    "APP_DURATION",
    "APP_REQUESTS",
    "Edge",
    "Graph",
    "Health",
    "Node",
    "NodeKind",
    "Workloads",
    "build_graph",
    "health_of",
    "neighbourhood",
]

APP_REQUESTS = "backend_requests_total"
APP_DURATION = "backend_request_duration_seconds"
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
GATEWAY_NODE = "gateway"
NO_CALLER = "-"


class NodeKind(str, enum.Enum):
    INSTANCE = "instance"
    GATEWAY = "gateway"
    CALLER = "caller"        # an outside caller that named itself (X-Caller), not an instance
    NAMESPACE = "namespace"  # a consumer namespace holding several instances that might use a binding


class Health(str, enum.Enum):
    HEALTHY = "healthy"      # release deployed, every Deployment available
    DEGRADED = "degraded"    # deployed, but a Deployment is not (fully) available
    PENDING = "pending"      # a helm operation is in progress
    FAILED = "failed"        # the newest revision failed
    UNKNOWN = "unknown"      # not an instance: health is not ours to say


@dataclass(frozen=True)
class Workloads:
    """The live Deployments and Services of one instance (by helm's release annotations)."""

    deployments: tuple[Mapping[str, Any], ...] = ()
    services: tuple[Mapping[str, Any], ...] = ()

    def names(self) -> set[str]:
        """Names a caller of this instance may go by: Deployments' and their pods' ``app`` labels."""
        found = {d["metadata"]["name"] for d in self.deployments}
        for dep in self.deployments:
            labels = ((dep.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
            found |= {labels[k] for k in ("app.kubernetes.io/instance", "app.kubernetes.io/name", "app")
                      if labels.get(k)}
        return found

    def owns_pod(self, pod: str) -> int:
        """The length of the Deployment name a pod name starts with (``<deployment>-<hash>-<id>``), 0 if none."""
        return max((len(d["metadata"]["name"]) for d in self.deployments
                    if pod.startswith(d["metadata"]["name"] + "-")), default=0)


def health_of(inst: Instance, workloads: Workloads, rolled_out: Any) -> tuple[Health, str]:
    """An instance's health and a few words why, from its release status and its Deployments."""
    if inst.pending:
        return Health.PENDING, inst.status
    if inst.status == "failed":
        return Health.FAILED, "newest revision failed"
    deps = workloads.deployments
    ready = sum(1 for d in deps if rolled_out(d))
    if ready < len(deps):
        return Health.DEGRADED, f"{ready}/{len(deps)} Deployments available"
    return Health.HEALTHY, f"{ready}/{len(deps)} Deployments available" if deps else inst.status


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    name: str
    namespace: str | None = None
    type: str | None = None
    version: str | None = None
    health: Health = Health.UNKNOWN
    detail: str = ""
    self_ms: float = math.nan  # own time (p50): incoming p50 less the slowest outgoing p50
    hot: bool = False
    status: str = ""  # an instance's release status (deployed, failed, pending-upgrade...)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "name": self.name, "namespace": self.namespace,
                "type": self.type, "version": self.version, "status": self.status, "health": self.health.value,
                "detail": self.detail, "selfMs": _num(self.self_ms), "hot": self.hot}


def _num(value: float, digits: int = 3) -> float | None:
    return None if math.isnan(value) else round(value, digits)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    bindings: tuple[str, ...] = ()   # "ns/name" of the binding Secrets declaring it
    observed: tuple[str, ...] = ()   # where its traffic was measured: "gateway", "app"
    stats: Stats | None = None       # the window's requests, merged over every way it was measured
    hot: bool = False                # into the hot spot

    @property
    def declared(self) -> bool:
        return bool(self.bindings)

    def number(self, what: str) -> float:
        if self.stats is None:
            return math.nan
        return {"rate": self.stats.rate, "requests": self.stats.requests, "error_ratio": self.stats.error_ratio,
                "p50_ms": self.stats.p50_ms, "p95_ms": self.stats.p95_ms}[what]

    def to_json(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "bindings": list(self.bindings),
                "observed": list(self.observed), "requests": _num(self.number("requests"), 1),
                "rate": _num(self.number("rate")), "errorRatio": _num(self.number("error_ratio"), 5),
                "p50Ms": _num(self.number("p50_ms")), "p95Ms": _num(self.number("p95_ms")), "hot": self.hot}


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    seconds: float = 0.0                         # the window traffic was measured over (0: not measured)
    sources: tuple[str, ...] = ()                # the metrics endpoints read
    notes: tuple[str, ...] = field(default=())   # what could not be measured, and why

    @property
    def hot_spot(self) -> Node | None:
        return next((n for n in self.nodes if n.hot), None)

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def edge(self, source: str, target: str) -> Edge | None:
        return next((e for e in self.edges if (e.source, e.target) == (source, target)), None)

    def to_json(self) -> dict[str, Any]:
        hot = self.hot_spot
        return {"nodes": [n.to_json() for n in self.nodes], "edges": [e.to_json() for e in self.edges],
                "hotSpot": hot.id if hot else None, "windowSeconds": round(self.seconds, 3),
                "sources": list(self.sources), "notes": list(self.notes)}


def _instance_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class _Index:
    """Lookups from what metrics and Secrets name (callers, pods, Services) to instance node ids."""

    def __init__(self, instances: Sequence[Instance], workloads: Mapping[tuple[str, str], Workloads]) -> None:
        self.by_namespace: dict[str, list[tuple[Instance, Workloads]]] = {}
        for inst in instances:
            self.by_namespace.setdefault(inst.namespace, []).append(
                (inst, workloads.get((inst.namespace, inst.name), Workloads())))
        self.services: dict[str, str] = {}
        for inst in instances:
            for svc in workloads.get((inst.namespace, inst.name), Workloads()).services:
                for port in (svc.get("spec") or {}).get("ports") or []:
                    ref = BackendRef(inst.namespace, svc["metadata"]["name"], int(port.get("port", 0)))
                    self.services[traefik_service(ref)] = _instance_id(inst.namespace, inst.name)

    def caller(self, caller: str) -> str | None:
        """The instance a ``<namespace>/<app>`` caller is, or None."""
        namespace, _, app = caller.partition("/")
        candidates = self.by_namespace.get(namespace, []) if app else []
        named = [i for i, _ in candidates if i.name == app] or [i for i, w in candidates if app in w.names()]
        return _instance_id(named[0].namespace, named[0].name) if len(named) == 1 else None

    def pod(self, namespace: str, pod: str) -> str | None:
        """The instance a pod belongs to (by its Deployment's name), or None."""
        best = max(((w.owns_pod(pod), i) for i, w in self.by_namespace.get(namespace, [])), key=lambda t: t[0],
                   default=(0, None))
        return _instance_id(best[1].namespace, best[1].name) if best[0] and best[1] else None

    def consumers(self, namespace: str, secret: str, provider: str) -> list[str]:
        """Who in ``namespace`` uses a binding Secret (see the module docstring)."""
        others = [(i, w) for i, w in self.by_namespace.get(namespace, [])
                  if _instance_id(i.namespace, i.name) != provider]
        using = [i for i, w in others if ("Secret", secret) in pod_references(list(w.deployments))]
        chosen = using or ([others[0][0]] if len(others) == 1 else [])
        return [_instance_id(i.namespace, i.name) for i in chosen] or [f"{namespace}/*"]


def _app_edges(index: _Index, before: Scrape, after: Scrape) -> dict[tuple[str, str], Stats]:
    """caller → instance from the apps' own reports; requests naming no caller under (NO_CALLER, instance)."""
    found: dict[tuple[str, str], Stats] = {}
    measured = stats_by(before, after, key=("namespace", "pod", "caller"), requests=APP_REQUESTS,
                        duration=APP_DURATION)
    for (namespace, pod, caller), stats in measured.items():
        target = index.pod(namespace, pod)
        if target is None or not stats.requests:
            continue
        source = NO_CALLER if not caller or caller == NO_CALLER else index.caller(caller) or f"caller:{caller}"
        key = (source, target)
        found[key] = found[key] + stats if key in found else stats
    return found


def _gateway_edges(index: _Index, before: Scrape, after: Scrape) -> dict[tuple[str, str], Stats]:
    found: dict[tuple[str, str], Stats] = {}
    for (service,), stats in stats_by(before, after, key=("service",)).items():
        target = index.services.get(service)
        if target is None or not stats.requests:
            continue
        key = (GATEWAY_NODE, target)
        found[key] = found[key] + stats if key in found else stats
    return found


def build_graph(instances: Sequence[Instance], workloads: Mapping[tuple[str, str], Workloads],
                bindings: Iterable[Mapping[str, Any]], *, health: Mapping[str, tuple[Health, str]] | None = None,
                gateway: tuple[Scrape, Scrape] | None = None, apps: tuple[Scrape, Scrape] | None = None,
                notes: Sequence[str] = ()) -> Graph:
    """Nodes and edges of every instance given; ``bindings`` are binding Secrets (their metadata suffices)."""
    index = _Index(instances, workloads)
    health = health or {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}

    def edge(key: tuple[str, str]) -> dict[str, Any]:
        return edges.setdefault(key, {"bindings": [], "observed": [], "stats": None})

    for secret in bindings:
        meta = secret.get("metadata") or {}
        labels = meta.get("labels") or {}
        if not labels.get(LABEL_OF):
            continue
        provider = _instance_id(labels.get(LABEL_NAMESPACE, meta.get("namespace", "")), labels[LABEL_OF])
        for consumer in index.consumers(meta.get("namespace", ""), meta.get("name", ""), provider):
            edge((consumer, provider))["bindings"].append(f"{meta.get('namespace')}/{meta.get('name')}")
    seconds = 0.0
    through = _gateway_edges(index, *gateway) if gateway else {}
    own = _app_edges(index, *apps) if apps else {}
    for scrapes in (gateway, apps):
        if scrapes is not None:
            seconds = max(seconds, scrapes[1].taken_at - scrapes[0].taken_at)
    for key, stats in through.items():
        entry = edge(key)
        entry["observed"].append("gateway")
        unnamed = own.get((NO_CALLER, key[1]))
        if unnamed is not None:
            # the requests the gateway counted, timed as the instance saw them (finer buckets)
            entry["observed"].append("app")
            stats = Stats(stats.requests, stats.errors, stats.seconds, unnamed.buckets)
        entry["stats"] = stats
    for key, stats in own.items():
        if key[0] == NO_CALLER:
            continue
        entry = edge(key)
        entry["observed"].append("app")
        entry["stats"] = stats
    own_ms = _own_time(edges)
    hot = max(((ms, node) for node, ms in own_ms.items() if ms > 0), default=(0.0, None))[1]
    nodes: dict[str, Node] = {}
    for inst in instances:
        node_id = _instance_id(inst.namespace, inst.name)
        state, detail = health.get(node_id, (Health.UNKNOWN, inst.status))
        nodes[node_id] = Node(node_id, NodeKind.INSTANCE, inst.name, inst.namespace, inst.type, inst.version, state,
                              detail, own_ms.get(node_id, math.nan), node_id == hot, inst.status)
    for source, target in edges:
        for node_id in (source, target):
            if node_id in nodes:
                continue
            if node_id == GATEWAY_NODE:
                nodes[node_id] = Node(node_id, NodeKind.GATEWAY, "gateway")
            elif node_id.startswith("caller:"):
                nodes[node_id] = Node(node_id, NodeKind.CALLER, node_id.split(":", 1)[1])
            else:
                namespace, _, name = node_id.partition("/")
                kind = NodeKind.NAMESPACE if name == "*" else NodeKind.INSTANCE
                nodes[node_id] = Node(node_id, kind, name, namespace, detail="not an instance chartkit knows"
                                      if kind is NodeKind.INSTANCE else "several instances may use it")
    out = tuple(Edge(s, t, tuple(sorted(e["bindings"])), tuple(e["observed"]), e["stats"], t == hot)
                for (s, t), e in sorted(edges.items()))
    return Graph(tuple(sorted(nodes.values(), key=lambda n: (n.kind is not NodeKind.INSTANCE, n.id))), out,
                 seconds, notes=tuple(notes))


def _own_time(edges: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[str, float]:
    """Per callee: p50 of its incoming requests (merged) less the slowest p50 of the calls it makes."""
    incoming: dict[str, Stats] = {}
    outgoing: dict[str, float] = {}
    for (source, target), entry in edges.items():
        stats = entry["stats"]
        if stats is None or not stats.requests:
            continue
        incoming[target] = incoming[target] + stats if target in incoming else stats
        outgoing[source] = max(outgoing.get(source, 0.0), stats.p50_ms)
    own = {}
    for node, stats in incoming.items():
        if not math.isnan(stats.p50_ms):
            own[node] = max(0.0, stats.p50_ms - outgoing.get(node, 0.0))
    return own


def neighbourhood(graph: Graph, keep: set[str]) -> Graph:
    """Only the given nodes, what they call and what calls them (one hop), and the edges among those."""
    edges = tuple(e for e in graph.edges if e.source in keep or e.target in keep)
    ids = keep | {e.source for e in edges} | {e.target for e in edges}
    return Graph(tuple(n for n in graph.nodes if n.id in ids), edges, graph.seconds, graph.sources, graph.notes)
