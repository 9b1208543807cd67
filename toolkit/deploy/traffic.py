"""Traffic numbers from two metric scrapes: request rate, error ratio and latency quantiles per backend.

Pure functions over ``toolkit.adapters.metrics`` samples; what the rollout analysis gates and the service graph
consume. Counters are cumulative, so a window's numbers are the differences between two scrapes of one endpoint
(a counter that went down was reset by a restart: its later value is the window's count, as Prometheus does).
Quantiles interpolate linearly inside histogram buckets, like PromQL's ``histogram_quantile``.

Traefik's names (v3.6): each backendRef's Service becomes one Traefik service
``<namespace>-<name>-http-<port>@kubernetesgateway`` whatever route points at it; each match of a route rule a
router ``httproute-<ns>-<route>-gw-<gw ns>-<gw>-ep-<entrypoint>-<rule index>-<hash of the match>@kubernetesgateway``
sending to the weighted service of the same name plus ``-wrr``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from toolkit.adapters.metrics import Sample, Scrape

__all__ = [
    "BackendRef",
    "Stats",
    "TRAEFIK_DURATION",
    "TRAEFIK_REQUESTS",
    "histogram_quantile",
    "route_backends",
    "stats_by",
    "supported_features",
    "traefik_service",
    "traefik_services",
]

TRAEFIK_REQUESTS = "traefik_service_requests_total"
TRAEFIK_DURATION = "traefik_service_request_duration_seconds"
TRAEFIK_PROVIDER = "kubernetesgateway"


@dataclass(frozen=True)
class Stats:
    """Requests in one window between two scrapes, and their latency histogram (cumulative, seconds)."""

    requests: float
    errors: float  # answered 5xx
    seconds: float  # the window's length
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound in seconds, requests at or below it), inf last

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else math.nan

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests > 0 else math.nan

    def quantile_ms(self, q: float) -> float:
        return histogram_quantile(q, self.buckets) * 1000

    @property
    def p50_ms(self) -> float:
        return self.quantile_ms(0.5)

    @property
    def p95_ms(self) -> float:
        return self.quantile_ms(0.95)

    def __add__(self, other: Stats) -> Stats:
        """Both together (same window): counts add, and so do histograms bucket by bucket."""
        merged: dict[float, float] = defaultdict(float)
        for bound, count in (*self.buckets, *other.buckets):
            merged[bound] += count
        return Stats(self.requests + other.requests, self.errors + other.errors, max(self.seconds, other.seconds),
                     tuple(sorted(merged.items())))


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The q-quantile of a cumulative histogram, interpolated linearly within its bucket (NaN without data).

    As PromQL: the lowest bucket interpolates from 0; a quantile in the +Inf bucket is the highest finite bound.
    """
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][1] <= 0:
        return math.nan
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _delta(before: float | None, after: float) -> float:
    if before is None or after < before:
        return after  # new series, or a reset counter
    return after - before


def _index(samples: Iterable[Sample], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {s.labels: s.value for s in samples if s.name == name}


def stats_by(before: Scrape, after: Scrape, *, key: Sequence[str], requests: str = TRAEFIK_REQUESTS,
             duration: str = TRAEFIK_DURATION, code_label: str = "code",
             where: Mapping[str, str] | None = None) -> dict[tuple[str, ...], Stats]:
    """Per value of the ``key`` labels: the requests counter's increase (errors: codes >= 500) and the duration
    histogram's, between two scrapes of one endpoint. Only series whose labels include ``where`` count."""
    seconds = after.taken_at - before.taken_at
    wanted = dict(where or {})

    def keep(labels: tuple[tuple[str, str], ...]) -> bool:
        own = dict(labels)
        return all(own.get(k) == v for k, v in wanted.items())

    counts: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
    earlier = _index(before.samples, requests)
    for labels, value in _index(after.samples, requests).items():
        if not keep(labels):
            continue
        own = dict(labels)
        delta = _delta(earlier.get(labels), value)
        entry = counts[tuple(own.get(k, "") for k in key)]
        entry[0] += delta
        code = own.get(code_label, "")
        if code.isdigit() and int(code) >= 500:
            entry[1] += delta
    buckets: dict[tuple[str, ...], dict[float, float]] = defaultdict(lambda: defaultdict(float))
    earlier = _index(before.samples, f"{duration}_bucket")
    for labels, value in _index(after.samples, f"{duration}_bucket").items():
        if not keep(labels):
            continue
        own = dict(labels)
        buckets[tuple(own.get(k, "") for k in key)][float(own["le"])] += _delta(earlier.get(labels), value)
    return {k: Stats(v[0], v[1], seconds, tuple(sorted(buckets.get(k, {}).items()))) for k, v in counts.items()}


@dataclass(frozen=True)
class BackendRef:
    """A Service an HTTPRoute rule sends requests to."""

    namespace: str
    name: str
    port: int


def _normalize(name: str) -> str:
    # Traefik's provider.Normalize: every run of characters other than letters and digits becomes one "-"
    return "-".join(part for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def traefik_service(ref: BackendRef) -> str:
    """The Traefik service (metrics label ``service``) carrying a backendRef's requests."""
    return f"{_normalize(f'{ref.namespace}-{ref.name}-http-{ref.port}')}@{TRAEFIK_PROVIDER}"


def traefik_services(route: Mapping[str, object]) -> dict[str, BackendRef]:
    """Every backendRef (kind Service) of an HTTPRoute object, by the Traefik service that carries it."""
    meta = route.get("metadata") or {}
    spec = route.get("spec") or {}
    assert isinstance(meta, Mapping) and isinstance(spec, Mapping)
    found: dict[str, BackendRef] = {}
    for rule in spec.get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            if ref.get("kind", "Service") != "Service" or ref.get("group", "") not in ("", "core"):
                continue
            backend = BackendRef(ref.get("namespace") or str(meta.get("namespace", "")), ref["name"],
                                 int(ref.get("port", 0)))
            found[traefik_service(backend)] = backend
    return found


def route_backends(route: Mapping[str, object], before: Scrape, after: Scrape) -> dict[BackendRef, Stats]:
    """Per backendRef of an HTTPRoute: what the gateway measured for it between two scrapes of its metrics.

    A backend that got no request in the window is present with zero requests (so a gate can tell "no traffic"
    from "not measured"). Traefik shares one service per backend Service among all routes that name it.
    """
    services = traefik_services(route)
    measured = stats_by(before, after, key=("service",))
    seconds = after.taken_at - before.taken_at
    return {ref: measured.get((service,), Stats(0.0, 0.0, seconds)) for service, ref in services.items()}


def supported_features(gateway_class: Mapping[str, object]) -> frozenset[str]:
    """What a Gateway API implementation says it can do: the names in a GatewayClass's ``status.supportedFeatures``
    (empty until the controller accepted the class). A strategy needing a feature not listed must be refused."""
    status = gateway_class.get("status") or {}
    assert isinstance(status, Mapping)
    return frozenset(str(f["name"]) for f in status.get("supportedFeatures") or [] if isinstance(f, Mapping))
