"""The load generator against a real HTTP server on loopback (uvicorn in a thread, answering like a backend)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from typing import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from toolkit.localenv.load import HeaderShare, Latency, LoadOptions, main, run


async def _answer(request: Request) -> Response:
    if request.url.path == "/text":
        return PlainTextResponse("no json here")
    # "customers" see v2, everyone else v1; /slow waits 30 ms; /fail fails every request
    version = "v2" if request.headers.get("x-customer") == "acme" else "v1"
    if request.url.path == "/slow":
        await asyncio.sleep(0.03)
    status = 500 if request.url.path == "/fail" else 200
    return JSONResponse({"version": version, "host": request.headers.get("host")}, status_code=status)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", _answer, methods=["GET", "PUT"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(5)


def test_a_bounded_load_counts_versions_statuses_and_groups_exactly(server: str) -> None:
    result = run(LoadOptions(url=f"{server}/", requests=1000, rate=math.inf, concurrency=16, host="shop.test",
                             mix=(HeaderShare("X-Customer", "acme", 0.1),)))
    assert (result.sent, result.answered, result.failed) == (1000, 1000, 0)
    assert result.statuses == {200: 1000}
    # the mix is spread evenly, not sampled: exactly 10% carried the header, and only they got v2
    assert result.groups["X-Customer=acme"].sent == 100
    assert result.groups["X-Customer=acme"].versions == {"v2": 100}
    assert result.groups["default"].versions == {"v1": 900}
    assert result.share("v2") == pytest.approx(0.1)
    assert result.error_ratio == 0.0
    assert result.latency.count == 1000 and 0 < result.latency.p50 <= result.latency.p95 <= result.latency.max


def test_the_rate_and_duration_bound_the_load(server: str) -> None:
    started = time.monotonic()
    result = run(LoadOptions(url=f"{server}/slow", rate=100, duration=1.0, concurrency=8))
    took = time.monotonic() - started
    assert result.sent == 100  # rate x duration, sent on schedule (late when the server falls behind)
    assert 0.95 <= took < 3.0
    # each request waited 30 ms on the server: the client measures at least that
    assert result.latency.p50 >= 30


def test_an_infinite_rate_runs_until_the_deadline(server: str) -> None:
    result = run(LoadOptions(url=f"{server}/", rate=math.inf, duration=0.5, concurrency=4))
    assert 0.5 <= result.seconds < 1.5 and result.sent == result.answered > 10


def test_errors_and_refused_connections_are_counted_not_raised(server: str) -> None:
    failing = run(LoadOptions(url=f"{server}/fail", requests=50, rate=math.inf))
    assert failing.statuses == {500: 50} and failing.error_ratio == 1.0
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = run(LoadOptions(url=f"http://127.0.0.1:{port}/", requests=20, rate=math.inf, timeout=2))
    assert (refused.answered, refused.failed) == (0, 20)
    assert refused.errors == {"ClientConnectorError": 20}
    assert refused.error_ratio == 1.0 and math.isnan(refused.latency.p50)


def test_bodies_without_a_version_count_as_empty(server: str) -> None:
    result = run(LoadOptions(url=f"{server}/text", requests=10, rate=math.inf))
    assert result.versions == {"": 10}


@pytest.mark.parametrize(("text", "error"), [
    ("X-Customer=acme", "is not NAME=VALUE:SHARE"),
    ("X-Customer=acme:2", "between 0 and 1"),
    ("acme:0.1", "is not NAME=VALUE:SHARE"),
], ids=["no-share", "share-above-1", "no-value"])
def test_header_mix_parsing_refuses_bad_input(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        HeaderShare.parse(text)


def test_latency_percentiles_are_nearest_rank() -> None:
    lat = Latency.of([float(n) for n in range(1, 101)])
    assert (lat.p50, lat.p90, lat.p95, lat.p99, lat.max, lat.mean) == (50, 90, 95, 99, 100, 50.5)


def test_the_cli_prints_json(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([f"{server}/", "--requests", "40", "--rate", "inf", "--mix", "X-Customer=acme:0.25",
                 "-H", "X-Trace: 1", "--host", "shop.test", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["sent"] == 40 and data["groups"]["X-Customer=acme"]["versions"] == {"v2": 10}
    assert data["rps"] > 0 and data["error_ratio"] == 0.0
