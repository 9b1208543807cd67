"""Traffic numbers from two scrapes (pure: the rules a rollout gate and the service graph rely on).

The real gateway's output is parsed and fed through these in tests/localenv/test_traffic.py.
"""

from __future__ import annotations

import math

import pytest

from toolkit.adapters.metrics import Scrape, parse
from toolkit.deploy.traffic import (
    BackendRef,
    Stats,
    histogram_quantile,
    route_backends,
    stats_by,
    supported_features,
    traefik_service,
    traefik_services,
)

INF = math.inf


@pytest.mark.parametrize(("q", "buckets", "expected"), [
    (0.5, [(0.1, 50), (0.2, 100), (INF, 100)], 0.1),
    (0.75, [(0.1, 50), (0.2, 100), (INF, 100)], 0.15),
    (0.5, [(0.1, 0), (0.2, 100), (INF, 100)], 0.15),
    (0.25, [(0.1, 100), (INF, 100)], 0.025),
    (0.99, [(0.1, 50), (0.2, 90), (INF, 100)], 0.2),
    (0.5, [(0.1, 0), (INF, 0)], math.nan),
    (0.5, [(0.1, 3)], math.nan),
    (0.5, [], math.nan),
], ids=["bucket-edge", "interpolated", "from-previous-bound", "lowest-bucket-from-zero", "in-inf-bucket",
        "no-requests", "no-inf-bucket", "empty"])
def test_histogram_quantile_matches_promql(q: float, buckets: list[tuple[float, float]], expected: float) -> None:
    got = histogram_quantile(q, buckets)
    assert math.isnan(got) if math.isnan(expected) else got == pytest.approx(expected)


def _scrape(text: str, at: float) -> Scrape:
    return Scrape("http://gateway/metrics", at, parse(text))


BEFORE = """
# TYPE traefik_service_requests_total counter
traefik_service_requests_total{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 100
traefik_service_requests_total{code="500",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 5
traefik_service_requests_total{code="200",method="GET",protocol="http",service="shop-green-http-80@kubernetesgateway"} 40
# TYPE traefik_service_request_duration_seconds histogram
traefik_service_request_duration_seconds_bucket{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="0.01"} 50
traefik_service_request_duration_seconds_bucket{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="0.1"} 100
traefik_service_request_duration_seconds_bucket{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="+Inf"} 100
traefik_service_request_duration_seconds_sum{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 2.0
traefik_service_request_duration_seconds_count{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 100
"""

AFTER = """
# TYPE traefik_service_requests_total counter
traefik_service_requests_total{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 500
traefik_service_requests_total{code="500",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 105
traefik_service_requests_total{code="503",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 10
traefik_service_requests_total{code="200",method="GET",protocol="http",service="shop-green-http-80@kubernetesgateway"} 30
# TYPE traefik_service_request_duration_seconds histogram
traefik_service_request_duration_seconds_bucket{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="0.01"} 50
traefik_service_request_duration_seconds_bucket{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="0.1"} 500
traefik_service_request_duration_seconds_bucket{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="+Inf"} 500
traefik_service_request_duration_seconds_bucket{code="500",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="0.01"} 110
traefik_service_request_duration_seconds_bucket{code="500",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="0.1"} 115
traefik_service_request_duration_seconds_bucket{code="500",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway",le="+Inf"} 115
"""


def test_stats_between_two_scrapes_count_increases_errors_and_quantiles() -> None:
    stats = stats_by(_scrape(BEFORE, 1000.0), _scrape(AFTER, 1010.0), key=("service",))
    blue = stats[("shop-blue-http-80@kubernetesgateway",)]
    # 400 more 200s, 100 more 500s, 10 new 503s (a series born in the window counts whole)
    assert (blue.requests, blue.errors, blue.seconds) == (510, 110, 10.0)
    assert blue.rate == pytest.approx(51.0)
    assert blue.error_ratio == pytest.approx(110 / 510)
    # the window's histogram: 400 ok requests all in (0.01, 0.1], 115 failed ones mostly under 10 ms
    assert blue.buckets == ((0.01, 110.0), (0.1, 515.0), (INF, 515.0))
    assert blue.p50_ms == pytest.approx(10 + 90 * (257.5 - 110) / 405)
    # green's counter went down: Traefik restarted, the later value is the window's count
    green = stats[("shop-green-http-80@kubernetesgateway",)]
    assert (green.requests, green.errors) == (30, 0)
    assert math.isnan(green.p95_ms)


def test_stats_can_be_filtered_and_keyed_by_other_labels() -> None:
    stats = stats_by(_scrape(BEFORE, 0.0), _scrape(AFTER, 5.0), key=("code",),
                     where={"service": "shop-blue-http-80@kubernetesgateway"})
    assert {k: v.requests for k, v in stats.items()} == {("200",): 400, ("500",): 100, ("503",): 10}
    assert stats[("500",)].error_ratio == 1.0


def test_stats_add_up_bucket_by_bucket() -> None:
    one = Stats(10, 1, 5.0, ((0.1, 10.0), (INF, 10.0)))
    two = Stats(30, 0, 5.0, ((0.1, 0.0), (1.0, 30.0), (INF, 30.0)))
    both = one + two
    assert (both.requests, both.errors, both.rate) == (40, 1, 8.0)
    assert both.buckets == ((0.1, 10.0), (1.0, 30.0), (INF, 40.0))


def test_an_empty_window_has_nan_ratios() -> None:
    empty = Stats(0, 0, 0.0)
    assert math.isnan(empty.rate) and math.isnan(empty.error_ratio) and math.isnan(empty.p50_ms)


ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"rules": [
        {"matches": [{"headers": [{"name": "X-Customer", "value": "acme"}]}],
         "backendRefs": [{"name": "green", "namespace": "shop-green", "port": 80}]},
        {"backendRefs": [{"name": "blue", "port": 80, "weight": 90},
                         {"name": "green", "namespace": "shop-green", "port": 80, "weight": 10},
                         {"name": "ext", "kind": "TraefikService", "group": "traefik.io"}]},
    ]},
}


def test_traefik_names_one_service_per_backend_service() -> None:
    assert traefik_service(BackendRef("shop", "blue", 80)) == "shop-blue-http-80@kubernetesgateway"
    assert traefik_service(BackendRef("a.b", "c_d", 8080)) == "a-b-c-d-http-8080@kubernetesgateway"
    assert traefik_services(ROUTE) == {
        "shop-green-green-http-80@kubernetesgateway": BackendRef("shop-green", "green", 80),
        "shop-blue-http-80@kubernetesgateway": BackendRef("shop", "blue", 80),
    }


def test_route_backends_reports_every_backend_even_without_traffic() -> None:
    result = route_backends(ROUTE, _scrape(BEFORE, 0.0), _scrape(AFTER, 10.0))
    assert result[BackendRef("shop", "blue", 80)].requests == 510
    assert result[BackendRef("shop-green", "green", 80)] == Stats(0.0, 0.0, 10.0)


def test_supported_features_come_from_the_gateway_class_status() -> None:
    accepted = {"status": {"supportedFeatures": [{"name": "HTTPRoute"}, {"name": "ReferenceGrant"}]}}
    assert supported_features(accepted) == {"HTTPRoute", "ReferenceGrant"}
    assert supported_features({"spec": {"controllerName": "x"}}) == frozenset()
