"""What the console's pages show, read through the core API: one function per page, plain JSON out.

Some of it waits for core operations other branches are writing. Each such place is one clearly named hook here,
so wiring them in is a change to this file only:

- ``HOOK: core.graph`` (issue 13b) — ``edge_traffic`` and ``node_health``: request rate / error rate / latency per
  edge from the gateway's metrics, and live health per node. Until then an edge is a declared binding with no
  traffic figures, and a node's health is its release status.
- ``HOOK: core.notices`` (issue 11) — ``instance_notices``: the badges come from ``core.outdated`` (update, major,
  deprecated, and the update policy's security status); the watcher's notices are not read yet, and an
  instance's alerts come from ``core.drift``.
- ``HOOK: core.provision`` (issue 10) — plans are read from the type's declarations (``core.form``) and recorded
  as the release label the broker also writes; a service instance's plan change through the broker's ``update``
  is not wired here yet.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from toolkit.config import Config

__all__ = ["catalog", "drift", "edge_traffic", "graph", "instance", "instance_notices", "instances",
           "node_health", "rollout_view", "type_view"]

PLAN_LABEL = "chartkit.io/plan"


def catalog(config: Config, index_dir: Path | None, search: str = "") -> dict[str, Any]:
    from toolkit.core.describe import catalog_types

    return catalog_types(config, index_dir=index_dir, search=search).to_json()


def type_view(config: Config, type_name: str, version: str | None) -> dict[str, Any]:
    from toolkit.core.describe import DescribeOptions, describe

    return describe(config, DescribeOptions(type=type_name, version=version)).to_json()


def instance_notices(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The badges an instance's row shows: from core.outdated (update, major, deprecated) and the instance's update
    policy status (a security release). HOOK: core.notices — the watcher's notices (compliance, approvals) are not
    read here yet."""
    badges = []
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

    report = outdated(config, OutdatedOptions(namespace=namespace or None))
    rows = []
    for row in report.rows:
        data = row.to_json()
        # the row's JSON gives "status" to the update policy's verdict; the console shows the release's status
        # there and the policy's beside it
        data["status"] = row.instance.status
        data["policyStatus"] = row.status.to_json() if row.status is not None else None
        data["plan"] = (row.instance.labels or {}).get(PLAN_LABEL, "")
        data["badges"] = instance_notices(data)
        rows.append(data)
    return {"catalog": report.catalog, "instances": rows}


def instance(config: Config, namespace: str, name: str) -> dict[str, Any]:
    """One instance: its row, history, bindings (key names only) and last rollout."""
    from toolkit.core.bind import BindingRef, bindings
    from toolkit.core.history import HistoryOptions, history
    from toolkit.core.rollout import RolloutTarget, status

    listed = instances(config, namespace)["instances"]
    row = next((r for r in listed if (r["namespace"], r["name"]) == (namespace, name)), None)
    if row is None:
        from toolkit.errors import DeployError

        raise DeployError(f'unable to find instance "{namespace}/{name}": no chartkit release by that name')
    with ThreadPoolExecutor(3) as pool:
        revisions = pool.submit(history, config, HistoryOptions(instance=name, namespace=namespace))
        bound = pool.submit(bindings, config, BindingRef(instance=name, namespace=namespace))
        rolled = pool.submit(status, config, RolloutTarget(instance=name, namespace=namespace))
        return {"instance": row, "history": [r.to_json() for r in revisions.result()],
                "bindings": [b.to_json() for b in bound.result()], "rollout": rolled.result()}


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
    """Each side's release: blue is the instance of record, green its copy in the green namespace while it exists.

    HOOK: core.graph / analysis gates (issue 13b) — per-side request and error rates from the gateway."""
    from toolkit.core.instances import InstancesOptions, instances as listed

    def side(ns: str) -> dict[str, Any] | None:
        found = [i for i in listed(config, InstancesOptions(namespace=ns)) if i.name == name]
        if not found:
            return None
        inst = found[0]
        return {"namespace": ns, "version": inst.version, "status": inst.status, "revision": inst.revision,
                "health": node_health({"status": inst.status})}

    green_ns = (state or {}).get("greenNamespace")
    return {"blue": side(namespace), "green": side(green_ns) if green_ns else None}


def node_health(row: dict[str, Any]) -> str:
    """HOOK: core.graph (issue 13b). Health of an instance node: its release status until live health lands."""
    status = row.get("status", "")
    if status == "deployed":
        return "healthy"
    if status.startswith("pending"):
        return "progressing"
    return "failing"


def edge_traffic(consumer: str, provider: str) -> dict[str, Any] | None:
    """HOOK: core.graph (issue 13b). The traffic from ``consumer`` to ``provider`` (``NAMESPACE/NAME`` each) from
    the gateway's metrics as ``{"rate": req/s, "errorRatio": 0..1, "p95Ms": ms}`` (what the graph page draws:
    width by rate, colour and the hot spot by errors and latency); None: no traffic data."""
    return None


def graph(config: Config, namespaces: list[str] | None = None) -> dict[str, Any]:
    """Instances as nodes, bindings as edges (consumer → instance), health per node, traffic per edge where known;
    ``namespaces`` keeps the instances of those namespaces only.

    A binding's consumer is a namespace: its edge starts at each instance in that namespace, or at the
    namespace itself when no instance runs there (an app not deployed by chartkit)."""
    from toolkit.core.bind import BindingRef, bindings

    rows = [r for r in instances(config)["instances"] if not namespaces or r["namespace"] in namespaces]
    nodes = {f"{r['namespace']}/{r['name']}": {"id": f"{r['namespace']}/{r['name']}", "kind": "instance",
                                              "name": r["name"], "namespace": r["namespace"], "type": r["type"],
                                              "version": r["version"], "status": r["status"],
                                              "health": node_health(r)} for r in rows}
    by_namespace: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        by_namespace.setdefault(node["namespace"], []).append(node_id)
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda r: bindings(config, BindingRef(instance=r["name"], namespace=r["namespace"])),
                              rows))
    edges = []
    for row, listed in zip(rows, found):
        provider = f"{row['namespace']}/{row['name']}"
        for b in listed:
            consumers = by_namespace.get(b.namespace) or []
            if not consumers:
                consumer_id = f"namespace:{b.namespace}"
                nodes.setdefault(consumer_id, {"id": consumer_id, "kind": "namespace", "name": b.namespace,
                                               "namespace": b.namespace, "health": "unknown"})
                consumers = [consumer_id]
            for consumer in consumers:
                if consumer == provider:
                    continue
                edges.append({"from": consumer, "to": provider, "binding": f"{b.namespace}/{b.name}",
                              "type": b.type, "traffic": edge_traffic(consumer, provider)})
    return {"nodes": sorted(nodes.values(), key=lambda n: n["id"]), "edges": edges,
            "traffic": any(e["traffic"] for e in edges)}
