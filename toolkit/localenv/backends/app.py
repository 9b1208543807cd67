"""The HTTP app every backend server runs (one ASGI app; the pod is known from the address a request came in on).

Every answer is JSON carrying the pod's identity (``pod``, ``namespace``, ``version``, ``role``) and the headers
``X-Backend-Pod``/``X-Backend-Version``, so a client can count who answered. Before answering, a backend waits its
latency; a share of requests (its error rate, spread evenly) answers 500. Routes:

    GET  /healthz, /metrics                 never delayed or failed; /metrics is Prometheus text of this pod
    PUT|GET /messages/{room}                chat: post a message (the body) / read a room
    POST|GET /queues/{queue}/messages       mq: publish / consume the oldest message (204 when empty)
    PUT|GET /rows/{key}                     db: write / read a row (404 when absent)
    any  /{path}                            identity (every role)

Roles only answer their own routes (others get 404). Data lives in the harness, per namespace and role, so every
pod of one app sees the same rooms, queues and rows. A request's caller is its ``X-Caller`` header ("-" without).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from toolkit.localenv.backends.pods import BackendSpec, Role, UpstreamOn



class Harness(Protocol):
    """What the app needs from the harness that runs it (toolkit.localenv.backends.harness.Harness)."""

    stores: Stores

    def pod_at(self, server: Any) -> PodServer | None: ...

    async def call_upstream(self, pod: PodServer, body: bytes) -> int: ...

#: the gateway's latency buckets (seconds, see _gateway.py): every one of them is a bound here too
GATEWAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: five buckets per doubling from 0.5 ms to 16 s, plus the gateway's: a quantile interpolated inside a bucket is
#: off by at most its width (15%), typically a few percent; the gateway's 2.5x-wide buckets put a 60 ms p50 at 75
BUCKETS = tuple(sorted({round(0.0005 * 2 ** (k / 5), 6) for k in range(76)} | set(GATEWAY_BUCKETS)))
WRITES = frozenset({"PUT", "POST", "PATCH", "DELETE"})
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
QUEUE_LIMIT = 10_000
ROOM_LIMIT = 1_000


class PodServer:
    """The live state of one backend server: its spec (settings may change while it runs) and its counters."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.served = 0
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("backend_requests", "Requests this backend answered", ["caller", "method", "route",
                                                                                       "code"],
                                registry=self.registry)
        self.duration = Histogram("backend_request_duration_seconds", "Time to answer, as this backend saw it",
                                  ["caller", "method", "route"], buckets=BUCKETS, registry=self.registry)
        self.upstream_requests = Counter("backend_upstream_requests", "Requests this backend made to its upstream",
                                         ["upstream", "code"], registry=self.registry)
        self.upstream_duration = Histogram("backend_upstream_request_duration_seconds",
                                           "Upstream round trips, as this backend saw them", ["upstream"],
                                           buckets=BUCKETS, registry=self.registry)

    def next_fails(self) -> bool:
        """Whether the next request fails: exactly floor(n * rate) of the first n do, evenly spread."""
        rate, n = self.spec.error_rate, self.served
        self.served += 1
        return math.floor((n + 1) * rate) > math.floor(n * rate)

    def identity(self) -> dict[str, Any]:
        spec = self.spec
        return {"pod": spec.pod, "namespace": spec.namespace, "version": spec.version, "role": spec.role.value}


@dataclass
class Stores:
    """What the chat, mq and db backends keep, per namespace (shared by every pod of that namespace and role)."""

    rooms: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    queues: dict[tuple[str, str], deque[str]] = field(default_factory=dict)
    rows: dict[tuple[str, str], str] = field(default_factory=dict)


Handler = Callable[[Request, PodServer], Awaitable[tuple[int, dict[str, Any]]]]


def make_app(harness: Harness) -> Starlette:
    stores = harness.stores

    async def serve(request: Request, route: str, role: Role | None, handler: Handler) -> Response:
        pod = harness.pod_at(request.scope.get("server"))
        if pod is None:
            return PlainTextResponse("no backend serves this address any more\n", status_code=503)
        if role is not None and pod.spec.role is not role:
            return JSONResponse({**pod.identity(), "error": f"a {pod.spec.role.value} backend has no {route}"}, 404)
        started = time.perf_counter()
        spec = pod.spec
        if spec.latency_ms:
            await asyncio.sleep(spec.latency_ms / 1000)
        if pod.next_fails():
            status, body = 500, {"error": "injected failure"}
        else:
            status, body = await handler(request, pod)
            upstream = spec.upstream
            if upstream and status < 400 and (upstream.on is UpstreamOn.ALL or request.method in WRITES):
                upstream_status = await harness.call_upstream(pod, await request.body())
                body["upstream"] = upstream_status
                if not 200 <= upstream_status < 400:
                    status = 502
        headers = {"X-Backend-Pod": spec.pod, "X-Backend-Version": spec.version}
        # a 204 carries no body
        response = Response(status_code=204, headers=headers) if status == 204 else \
            JSONResponse({**pod.identity(), **body}, status_code=status, headers=headers)
        caller = request.headers.get("x-caller", "-")
        pod.requests.labels(caller, request.method, route, str(status)).inc()
        pod.duration.labels(caller, request.method, route).observe(time.perf_counter() - started)
        return response

    async def identity(request: Request, pod: PodServer) -> tuple[int, dict[str, Any]]:
        return 200, {"path": request.url.path}

    async def messages(request: Request, pod: PodServer) -> tuple[int, dict[str, Any]]:
        room = stores.rooms.setdefault((pod.spec.namespace, request.path_params["room"]), [])
        if request.method == "PUT":
            text = (await request.body()).decode(errors="replace")
            room.append({"text": text, "author": request.headers.get("x-caller", "-"), "at": time.time()})
            del room[:-ROOM_LIMIT]
            return 201, {"room": request.path_params["room"], "messages": len(room)}
        return 200, {"room": request.path_params["room"], "messages": room[-100:]}

    async def queue(request: Request, pod: PodServer) -> tuple[int, dict[str, Any]]:
        items = stores.queues.setdefault((pod.spec.namespace, request.path_params["queue"]), deque(maxlen=QUEUE_LIMIT))
        if request.method == "POST":
            items.append((await request.body()).decode(errors="replace"))
            return 201, {"queue": request.path_params["queue"], "depth": len(items)}
        if not items:
            return 204, {}
        return 200, {"queue": request.path_params["queue"], "message": items.popleft(), "depth": len(items)}

    async def rows(request: Request, pod: PodServer) -> tuple[int, dict[str, Any]]:
        key = (pod.spec.namespace, request.path_params["key"])
        if request.method == "PUT":
            stores.rows[key] = (await request.body()).decode(errors="replace")
            return 200, {"key": key[1]}
        if key not in stores.rows:
            return 404, {"key": key[1], "error": "no such row"}
        return 200, {"key": key[1], "value": stores.rows[key]}

    def route(path: str, role: Role | None, handler: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await serve(request, path, role, handler)
        return Route(path, endpoint, methods=methods)

    async def healthz(request: Request) -> Response:
        pod = harness.pod_at(request.scope.get("server"))
        return JSONResponse({"ok": pod is not None, **(pod.identity() if pod else {})},
                            status_code=200 if pod else 503)

    async def metrics(request: Request) -> Response:
        pod = harness.pod_at(request.scope.get("server"))
        if pod is None:
            return PlainTextResponse("", status_code=503)
        return Response(generate_latest(pod.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        route("/messages/{room}", Role.CHAT, messages, ["GET", "PUT"]),
        route("/queues/{queue}/messages", Role.MQ, queue, ["GET", "POST"]),
        route("/rows/{key}", Role.DB, rows, ["GET", "PUT"]),
        route("/{path:path}", None, identity, ALL_METHODS),
    ])
