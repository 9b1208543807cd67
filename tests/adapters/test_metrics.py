"""The metrics adapter: Prometheus text in, typed samples out; failures as one-line ClusterErrors.

Real Traefik output is scraped and parsed in tests/localenv/test_traffic.py; this file holds the format's corners
and a real HTTP endpoint (a stdlib server in a thread).
"""

from __future__ import annotations

import http.server
import math
import threading
from typing import Iterator

import pytest

from toolkit.adapters.metrics import Sample, parse, scrape
from toolkit.errors import ClusterError

TEXT = r"""# HELP traefik_service_requests_total How many HTTP requests processed on a service.
# TYPE traefik_service_requests_total counter
traefik_service_requests_total{code="200",method="GET",protocol="http",service="shop-blue-http-80@kubernetesgateway"} 12
traefik_service_requests_total{code="502",method="GET",protocol="http",service="odd \"quoted\" \\ name"} 1.5e+03
# TYPE traefik_service_request_duration_seconds histogram
traefik_service_request_duration_seconds_bucket{service="s",le="0.1"} 3
traefik_service_request_duration_seconds_bucket{service="s",le="+Inf"} 4
traefik_service_request_duration_seconds_sum{service="s"} 0.5
traefik_service_request_duration_seconds_count{service="s"} 4
# TYPE traefik_open_connections gauge
traefik_open_connections{entrypoint="web",protocol="TCP"} NaN
"""


def test_parse_gives_sorted_labels_escapes_and_histogram_series() -> None:
    samples = parse(TEXT)
    assert samples[0] == Sample("traefik_service_requests_total",
                                (("code", "200"), ("method", "GET"), ("protocol", "http"),
                                 ("service", "shop-blue-http-80@kubernetesgateway")), 12.0)
    assert samples[1].label("service") == 'odd "quoted" \\ name' and samples[1].value == 1500.0
    assert [(s.name, s.label("le")) for s in samples[2:6]] == [
        ("traefik_service_request_duration_seconds_bucket", "0.1"),
        ("traefik_service_request_duration_seconds_bucket", "+Inf"),
        ("traefik_service_request_duration_seconds_sum", ""),
        ("traefik_service_request_duration_seconds_count", "")]
    assert math.isnan(samples[6].value)
    assert samples[2].matches({"service": "s"}) and not samples[2].matches({"service": "t"})


def test_parse_refuses_what_is_not_prometheus_text() -> None:
    with pytest.raises(ClusterError, match=r'unable to parse metrics "http://x/metrics": .*'):
        parse("<html>oops</html>\n", source="http://x/metrics")


class _Handler(http.server.BaseHTTPRequestHandler):
    body = TEXT.encode()

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        status = 200 if self.path == "/metrics" else 404
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_scrape_reads_a_real_endpoint_and_selects_by_labels(endpoint: str) -> None:
    got = scrape(f"{endpoint}/metrics")
    assert got.url == f"{endpoint}/metrics" and got.taken_at > 0
    assert [s.value for s in got.select("traefik_service_requests_total", code="200")] == [12.0]
    assert "traefik_open_connections" in got.names()


def test_scrape_failures_name_the_url(endpoint: str) -> None:
    with pytest.raises(ClusterError, match=r'unable to scrape metrics "http://127.0.0.1:\d+/nope": Not Found'):
        scrape(f"{endpoint}/nope")
    with pytest.raises(ClusterError, match=r'unable to scrape metrics "http://127.0.0.1:1/metrics": .*refused'):
        scrape("http://127.0.0.1:1/metrics")
