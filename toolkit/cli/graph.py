"""``chartkit graph INSTANCE|-A``: the service graph in the terminal (nodes with health, edges with traffic)."""

from __future__ import annotations

import argparse
import math

from toolkit.cli.options import add_cluster, add_json, add_namespace, config_of
from toolkit.cli.render import err, print_json, table

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "graph", help="who calls whom: instances with health, edges from bindings and measured traffic",
        description="Nodes are instances (health from their release and Deployments); edges are bindings and the "
                    "traffic measured over --window seconds at the Gateway and by the apps themselves (X-Caller), "
                    "with rate, error ratio and p50/p95 latency. The hot spot is the node whose own time is largest.")
    p.add_argument("instance", nargs="?", help="one instance and its neighbours (default: the namespace's)")
    p.add_argument("--window", type=float, default=5.0, metavar="SECONDS",
                   help="how long to measure traffic (default 5)")
    p.add_argument("--gateway", metavar="NAMESPACE/NAME", help="the Gateway whose metrics to read (default: the "
                                                               "configuration's)")
    p.add_argument("--gateway-metrics", metavar="URL", help="the Gateway's Prometheus metrics")
    add_namespace(p, all_namespaces=True)
    add_cluster(p)
    add_json(p)
    p.set_defaults(handler=_graph)


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def _graph(args: argparse.Namespace) -> int:
    from toolkit.core.graph import GraphOptions, graph

    options = GraphOptions(instance=args.instance, namespace=args.namespace, all_namespaces=args.all_namespaces,
                           window_seconds=args.window)
    result = graph(config_of(args, start_registry=False), options)
    if args.json:
        print_json(result.to_json())
        return 0
    g = result.graph
    table(["NODE", "KIND", "TYPE", "VERSION", "HEALTH", "OWN p50 ms", ""],
          [[n.id, n.kind.value, n.type or "-", n.version or "-", n.health.value, _ms(n.self_ms),
            "HOT SPOT" if n.hot else ""] for n in g.nodes])
    print()
    rows = []
    for e in g.edges:
        kinds = ", ".join([*(["binding"] if e.declared else []), *e.observed]) or "-"
        ratio = e.number("error_ratio")
        rows.append([f"{e.source} → {e.target}", kinds, _ms(e.number("rate")),
                     "-" if math.isnan(ratio) else f"{ratio:.1%}", _ms(e.number("p50_ms")),
                     _ms(e.number("p95_ms")), "HOT" if e.hot else ""])
    table(["EDGE", "FROM", "REQ/S", "ERRORS", "p50 ms", "p95 ms", ""], rows)
    hot = g.hot_spot
    print(f"\ntraffic over {g.seconds:.1f}s" + (f"; hot spot: {hot.id} ({_ms(hot.self_ms)} ms of its own per request)"
                                              if hot else "; no hot spot (no measured latency)"))
    for note in g.notes:
        err(f"chartkit: note: {note}")
    return 0
