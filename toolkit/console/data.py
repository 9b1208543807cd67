"""What the console's pages show, read through the core API: one function per page, plain JSON out.

Some of it waits for core operations other branches are writing. Each such place is one clearly named hook here,
so wiring them in is a change to this file only:

- ``core.graph`` (issue 13b, wired): the graph page's nodes, health and edges — bindings and the traffic measured at
  the gateway and by the apps — come from ``toolkit.core.graph``; each call measures the window since the previous
  one (the page refreshes every 10 s), so nothing waits. A rollout's sides carry their own traffic the same way.
- ``core.notices`` (issue 11, wired): the badges come from ``core.outdated`` (update, major, deprecated, and the
  update policy's security status) plus the watcher's active notices no other source shows (a rollout stuck or
  failed, an automatic upgrade that failed); an instance's page lists every notice
  the watcher's record holds, raised and resolved. Its alerts come from ``core.drift``, live.
- ``HOOK: core.provision`` (issue 10) — plans are read from the type's declarations (``core.form``) and recorded
  as the release label the broker also writes; a service instance's plan change through the broker's ``update``
  is not wired here yet.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from toolkit.config import Config
from toolkit.core.form import LABEL_PLAN

__all__ = ["catalog", "drift", "edge_traffic", "graph", "instance", "instance_notices", "instances",
           "node_health", "rollout_view", "type_view"]

#: the metrics seen by the last graph (any page): the next one measures the traffic since then
_LAST: dict[str, Any] = {}
_LAST_LOCK = threading.Lock()


def catalog(config: Config, index_dir: Path | None, search: str = "") -> dict[str, Any]:
    from toolkit.core.describe import catalog_types

    return catalog_types(config, index_dir=index_dir, search=search).to_json()


def type_view(config: Config, type_name: str, version: str | None) -> dict[str, Any]:
    from toolkit.core.describe import DescribeOptions, describe

    return describe(config, DescribeOptions(type=type_name, version=version)).to_json()


#: the watcher's notice kinds (core.notices.FactKind values) a row's badge shows; the others have a live source here
_WATCHED = {"rollout stuck": "failed", "rollout failed": "failed", "automatic upgrade failed": "failed"}


def instance_notices(row: dict[str, Any], watched: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The badges an instance's row shows: from core.outdated (update, major, deprecated), the instance's update
    policy status (a security release) and the watcher's active notices of ``_WATCHED`` kinds (core.notices)."""
    badges = []
    for note in watched:
        if note.get("kind") in _WATCHED and not any(b["text"] == note["kind"] for b in badges):
            badges.append({"kind": _WATCHED[note["kind"]], "text": note["kind"], "reason": note.get("message", "")})
    policy = row.get("policyStatus") or {}
    if policy.get("status") == "security":
        badges.append({"kind": "security", "text": f"security release {policy.get('target') or ''}".rstrip(),
                       "reason": policy.get("reason", "")})
    if row.get("deprecated"):
        badges.append({"kind": "deprecated", "text": f"{row['version']} is deprecated"})
    if row.get("outdated") and row.get("majorAvailable"):
        badges.append({"kind": "major", "text": f"major version {row['latest']} available"})
    elif row.get("outdated"):
        badges.append({"kind": "update", "text": f"update available: {row['latest']}"})
    return badges


def instances(config: Config, namespace: str | None = None) -> dict[str, Any]:
    """Every instance (of a namespace, or all) with its badges (one release list, one tag list per type)."""
    from toolkit.core.outdated import OutdatedOptions, outdated

    from toolkit.core.notices import list_notices

    with ThreadPoolExecutor(2) as pool:
        watched = pool.submit(list_notices, config, namespace=namespace or None)
        report = outdated(config, OutdatedOptions(namespace=namespace or None))
        notices = watched.result()
    rows = []
    for row in report.rows:
        data = row.to_json()
        data["plan"] = (row.instance.labels or {}).get(LABEL_PLAN, "")
        data["badges"] = instance_notices(data, [n for n in notices if (n.get("namespace"), n.get("instance"))
                                                 == (row.instance.namespace, row.instance.name)])
        rows.append(data)
    return {"catalog": report.catalog, "instances": rows}


def instance(config: Config, namespace: str, name: str) -> dict[str, Any]:
    """One instance: its row, history, bindings (key names only), last rollout and the watcher's notices."""
    from toolkit.core.bind import BindingRef, bindings
    from toolkit.core.history import HistoryOptions, history
    from toolkit.core.notices import list_notices
    from toolkit.core.rollout import RolloutTarget, status

    listed = instances(config, namespace)["instances"]
    row = next((r for r in listed if (r["namespace"], r["name"]) == (namespace, name)), None)
    if row is None:
        from toolkit.errors import DeployError

        raise DeployError(f'unable to find instance "{namespace}/{name}": no chartkit release by that name')
    with ThreadPoolExecutor(4) as pool:
        revisions = pool.submit(history, config, HistoryOptions(instance=name, namespace=namespace))
        bound = pool.submit(bindings, config, BindingRef(instance=name, namespace=namespace))
        rolled = pool.submit(status, config, RolloutTarget(instance=name, namespace=namespace))
        noted = pool.submit(list_notices, config, namespace=namespace, resolved=True)
        return {"instance": row, "history": [r.to_json() for r in revisions.result()],
                "bindings": [b.to_json() for b in bound.result()], "rollout": rolled.result(),
                "notices": [{k: n.get(k) for k in ("kind", "severity", "state", "message", "since", "resolvedAt",
                                                   "consumer")}
                            for n in noted.result() if n.get("instance") == name]}


def drift(config: Config, namespace: str, name: str) -> dict[str, Any]:
    """Drift and compliance alerts of one instance: field, old, new, who, when (Secret values hidden)."""
    from toolkit.core.drift import DriftOptions, drift as run

    return run(config, DriftOptions(instance=name, namespace=namespace)).to_json()


def rollout_view(config: Config, namespace: str, name: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The rollout's recorded state and live route weights, with the time to its next step when this process
    runs it (a pause's end is known; a check ends when green is Available, up to its timeout).

    HOOK: core.rollout status — when the core's status reports the step in progress and its deadline, read
    ``next`` from there (then it is known for rollouts other processes run too)."""
    from toolkit.core.rollout import RolloutTarget, status

    state = status(config, RolloutTarget(instance=name, namespace=namespace))
    upcoming: dict[str, Any] | None = None
    started = [e for e in events if e.get("status") == "started"]
    if started and state and state.get("phase") == "progressing":
        last = started[-1]
        done = any(e.get("status") in ("done", "failed") and e.get("index") == last.get("index")
                   and e.get("stage") == last.get("stage") for e in events)
        if not done:
            if last.get("kind") == "pause":
                remaining = max(0.0, last["time"] + float(last.get("seconds") or 0) - time.time())
                upcoming = {"step": last.get("step"), "seconds": round(remaining, 1), "bound": "exact"}
            elif last.get("kind") == "check":
                remaining = max(0.0, last["time"] + float(state.get("checkTimeoutSeconds") or 0) - time.time())
                upcoming = {"step": last.get("step"), "seconds": round(remaining, 1), "bound": "at most"}
    return {"status": state, "next": upcoming, "sides": _sides(config, namespace, name, state)}


def _sides(config: Config, namespace: str, name: str, state: dict[str, Any] | None) -> dict[str, Any]:
    """Each side's release: blue is the instance of record, green its copy in the green namespace while it exists;
    each with the traffic the gateway sent it since the last look (core.graph)."""
    from toolkit.core.instances import InstancesOptions, instances as listed

    green_ns = (state or {}).get("greenNamespace")
    measured = _measured(config)
    traffic = {e.target: _traffic(e) for e in measured.edges if e.source == "gateway"}
    health = {n.id: _health(n) for n in measured.nodes}

    def side(ns: str) -> dict[str, Any] | None:
        found = [i for i in listed(config, InstancesOptions(namespace=ns)) if i.name == name]
        if not found:
            return None
        inst = found[0]
        node_id = f"{ns}/{name}"
        return {"namespace": ns, "version": inst.version, "status": inst.status, "revision": inst.revision,
                "health": health.get(node_id) or node_health({"status": inst.status}),
                "traffic": traffic.get(node_id)}

    return {"blue": side(namespace), "green": side(green_ns) if green_ns else None}


def _measured(config: Config) -> Any:
    """The service graph (core.graph) over the window since the last one any page asked for."""
    from toolkit.core.graph import GraphOptions, graph as measure

    with _LAST_LOCK:
        since = _LAST.get("observation")
    result = measure(config, GraphOptions(all_namespaces=True, window_seconds=0), since=since)
    with _LAST_LOCK:
        _LAST["observation"] = result.observation
    return result.graph


def _traffic(edge: Any) -> dict[str, Any] | None:
    """An edge's figures as the graph page draws them; None when it carried no measured request."""
    if edge.stats is None or not edge.stats.requests:
        return None

    def number(what: str) -> float | None:
        value = edge.number(what)
        return None if math.isnan(value) else round(value, 4)

    return {"rate": number("rate"), "errorRatio": number("error_ratio"), "p50Ms": number("p50_ms"),
            "p95Ms": number("p95_ms"), "requests": number("requests")}


def _health(node: Any) -> str | None:
    """core.graph's health in the page's words (healthy, progressing, failing); None: not an instance's."""
    return {"healthy": "healthy", "pending": "progressing", "degraded": "failing",
            "failed": "failing"}.get(node.health.value)


def node_health(row: dict[str, Any]) -> str:
    """Health of an instance from its release status alone (where core.graph's live health is not at hand)."""
    status = row.get("status", "")
    if status == "deployed":
        return "healthy"
    if status.startswith("pending"):
        return "progressing"
    return "failing"


def edge_traffic(consumer: str, provider: str, graph: Any = None) -> dict[str, Any] | None:
    """The traffic from ``consumer`` to ``provider`` (``NAMESPACE/NAME`` each) in a core.graph result as
    ``{"rate": req/s, "errorRatio": 0..1, "p50Ms", "p95Ms", "requests"}``; None: no traffic measured."""
    edge = graph.edge(consumer, provider) if graph is not None else None
    return _traffic(edge) if edge is not None else None


def graph(config: Config, namespaces: list[str] | None = None) -> dict[str, Any]:
    """Instances as nodes (health from their release and Deployments), edges from bindings (consumer → instance)
    and from the traffic measured since the last look (the gateway's and the apps' own, per caller), from
    core.graph; ``namespaces`` keeps the instances of those namespaces and what they talk to."""
    measured = _measured(config)
    wanted = set(namespaces or ())

    def shown(node: Any) -> bool:
        return node.kind.value == "instance" and (not wanted or node.namespace in wanted)

    keep = {n.id for n in measured.nodes if shown(n)}
    edges = [e for e in measured.edges if e.source in keep or e.target in keep]
    ids = keep | {e.source for e in edges} | {e.target for e in edges}

    def node_id(raw: str) -> str:
        # a consumer namespace holding no single instance: the page names it namespace:NS
        return f"namespace:{raw[:-2]}" if raw.endswith("/*") else raw

    nodes = []
    for n in measured.nodes:
        if n.id not in ids:
            continue
        node: dict[str, Any] = {"id": node_id(n.id), "kind": n.kind.value, "name": n.name, "namespace": n.namespace,
                                "health": _health(n) or "unknown", "detail": n.detail, "hot": n.hot}
        if n.kind.value == "instance":
            node.update(type=n.type, version=n.version, status=n.status)
        nodes.append(node)
    out = [{"from": node_id(e.source), "to": node_id(e.target), "binding": ", ".join(e.bindings) or "—",
            "type": "binding" if e.bindings else "traffic at " + " and ".join(e.observed), "bindings": list(e.bindings),
            "observed": list(e.observed), "traffic": _traffic(e), "hot": e.hot} for e in edges]
    hot = measured.hot_spot
    return {"nodes": sorted(nodes, key=lambda n: n["id"]), "edges": out, "traffic": any(e["traffic"] for e in out),
            "hotSpot": hot.id if hot is not None and hot.id in ids else None, "windowSeconds": round(measured.seconds, 1),
            "notes": list(measured.notes)}
