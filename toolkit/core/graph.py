"""The service graph: every instance (with health) and who calls whom, with request rate, error ratio and p50/p95
latency per edge over a window (``chartkit graph``, the console).

Reads, besides release metadata: live Deployments and Services (one list each, matched to instances by helm's
release annotations), binding Secrets (metadata), and two scrapes ``window_seconds`` apart of the Gateway's
metrics and the apps' own (both from the configuration; either may be absent, and the graph says so). The rules
are ``toolkit.deploy.graph``'s.

A front door that refreshes (the console) passes the last result's ``observation`` as ``since``: the window is
then the time between the two calls and nothing waits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from toolkit.adapters.kube import Kube
from toolkit.adapters.metrics import Scrape, scrape
from toolkit.config import Config
from toolkit.core.instances import InstancesOptions, instances
from toolkit.deploy.binding import LABEL_OF
from toolkit.deploy.graph import (RELEASE_NAME, RELEASE_NAMESPACE, Graph, Workloads, build_graph, health_of,
                                  neighbourhood)
from toolkit.errors import ChartkitError, DeployError, InputError

__all__ = ["GraphOptions", "GraphResult", "Observation", "graph", "observe"]

log = logging.getLogger(__name__)

MAX_WINDOW_SECONDS = 600.0


@dataclass(frozen=True, kw_only=True)
class GraphOptions:
    """``chartkit graph INSTANCE|-A``: one instance and its neighbours, a namespace's, or everything."""

    instance: str | None = None
    namespace: str = "default"
    all_namespaces: bool = False
    window_seconds: float = 5.0  # how long traffic is measured (when no earlier observation is given)

    def __post_init__(self) -> None:
        if not 0 <= self.window_seconds <= MAX_WINDOW_SECONDS:
            raise InputError(f"unable to use a window of {self.window_seconds!r} seconds: give 0 to "
                             f"{MAX_WINDOW_SECONDS:g}")
        if self.instance and self.all_namespaces:
            raise InputError(f'unable to show the graph of "{self.instance}" and of every namespace at once',
                             hint="pass INSTANCE (with -n) or -A")


@dataclass(frozen=True)
class Observation:
    """One scrape of each metrics endpoint the configuration names (None: absent or unreachable)."""

    gateway: Scrape | None
    apps: Scrape | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GraphResult:
    graph: Graph
    observation: Observation  # the later scrapes: pass as ``since`` to measure the next window from here

    def to_json(self) -> dict[str, object]:
        return self.graph.to_json()


def _scrape(url: str | None, what: str, notes: list[str]) -> Scrape | None:
    if not url:
        notes.append(f"no {what} metrics configured")
        return None
    try:
        return scrape(url)
    except ChartkitError as exc:
        notes.append(f"{what} metrics unreadable: {exc.message}")
        return None


def observe(config: Config) -> Observation:
    """Scrape the Gateway's and the apps' metrics once (what a window starts or ends with)."""
    notes: list[str] = []
    gateway = config.gateway
    return Observation(_scrape(gateway.metrics_url if gateway else None, "gateway", notes),
                       _scrape(config.app_metrics_url, "apps'", notes), tuple(notes))


def _workloads(kube: Kube, namespace: str | None) -> dict[tuple[str, str], Workloads]:
    """Live Deployments and Services by the release (namespace, name) helm's annotations say made them."""
    found: dict[tuple[str, str], tuple[list[dict], list[dict]]] = {}
    for index, kind in enumerate(("Deployment", "Service")):
        for obj in kube.list("apps/v1" if kind == "Deployment" else "v1", kind, namespace):
            annotations = obj["metadata"].get("annotations") or {}
            name = annotations.get(RELEASE_NAME)
            if name:
                key = (annotations.get(RELEASE_NAMESPACE, obj["metadata"].get("namespace", "")), name)
                found.setdefault(key, ([], []))[index].append(obj)
    return {key: Workloads(tuple(deps), tuple(svcs)) for key, (deps, svcs) in found.items()}


def _pair(before: Scrape | None, after: Scrape | None) -> tuple[Scrape, Scrape] | None:
    return (before, after) if before is not None and after is not None and after.taken_at > before.taken_at \
        else None


def graph(config: Config, options: GraphOptions = GraphOptions(), *, since: Observation | None = None) -> GraphResult:
    """Nodes and edges for the options' scope; traffic over ``window_seconds`` (or since an earlier observation)."""
    kube = config.kube()
    everyone = instances(config, InstancesOptions())
    if options.instance and not any((i.namespace, i.name) == (options.namespace, options.instance)
                                    for i in everyone):
        raise DeployError(f'unable to show the graph of "{options.namespace}/{options.instance}": no such instance',
                          hint="`chartkit instances -A` lists them")
    before = since or observe(config)
    if since is None and options.window_seconds:
        time.sleep(options.window_seconds)
    after = observe(config)
    workloads = _workloads(kube, None)
    health = {f"{i.namespace}/{i.name}": health_of(i, workloads.get((i.namespace, i.name), Workloads()),
                                                   Kube.rolled_out) for i in everyone}
    bindings = kube.list("v1", "Secret", None, selector=LABEL_OF, metadata_only=True)
    notes = list(dict.fromkeys([*before.notes, *after.notes]))
    found = build_graph(everyone, workloads, bindings, health=health,
                        gateway=_pair(before.gateway, after.gateway), apps=_pair(before.apps, after.apps),
                        notes=notes)
    sources = tuple(s.url for s in (after.gateway, after.apps) if s is not None)
    found = Graph(found.nodes, found.edges, found.seconds, sources, found.notes)
    if options.instance:
        found = neighbourhood(found, {f"{options.namespace}/{options.instance}"})
    elif not options.all_namespaces:
        found = neighbourhood(found, {n.id for n in found.nodes if n.namespace == options.namespace})
    return GraphResult(found, after)
