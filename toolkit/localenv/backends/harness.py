"""The harness process: one asyncio loop that keeps a real HTTP server bound to PODIP:PORT for every Ready pod
labelled ``chartkit.io/backend``, and a control server on loopback.

Pods are listed (label selector, all namespaces) every ``interval`` through the Kubernetes adapter; servers start
for new pods and stop ``linger`` seconds after their pod left (deleted, not Ready, terminating), so a gateway that
still routes to it for a moment (its configuration follows EndpointSlices with a short delay) is answered rather
than refused. When kwok hands a recycled IP to a new pod (it does at once), the server on that address answers as
the new pod from its next request: no restart, so the address never refuses nor drains as the old pod while the
gateway already sends the new one's traffic there (a graceful stop took seconds, and answered 503s and other pods'
identities meanwhile). Each server is a uvicorn
server on a socket of its own, all running one Starlette app (app.py).

Control server (127.0.0.1:PORT): ``/healthz`` (the code digest it runs), ``/servers`` (JSON: servers, skipped
pods), ``/metrics`` (every server's own counters, labelled namespace/pod/version/role).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.errors import ClusterError
from toolkit.localenv.backends.app import PodServer, Stores, make_app
from toolkit.localenv.backends.pods import LABEL, BackendSpec, Skipped, specs_from_pod

log = logging.getLogger(__name__)

SERVICE_HOST = re.compile(r"(?P<service>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<namespace>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
                          r"(\.svc(\.cluster\.local)?)?")
#: one DNS label: a Service in the caller's own namespace ("localhost" stays what it is)
SHORT_HOST = re.compile(r"(?!localhost$)[a-z]([-a-z0-9]*[a-z0-9])?")
ENDPOINTS_TTL = 1.0


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals alone: the harness runs many and handles SIGTERM once for all."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(app: Any) -> uvicorn.Config:
    # keep-alive longer than the gateway's idle timeout (90s): the client side must be the one to close, or it
    # may send a request on a connection the server is closing at that moment
    # log_config=None: the harness configured logging once; uvicorn would redo it for every server
    return uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning", access_log=False,
                          timeout_keep_alive=120, server_header=False, date_header=False)


@dataclass
class _Running:
    pod: PodServer
    server: _Server
    task: asyncio.Task[None]
    started: float
    retire_at: float | None = None


class Harness:
    """Servers for labelled pods, reconciled against the pod list."""

    def __init__(self, kube: Any, *, interval: float = 0.2, linger: float = 3.0, code: str = "") -> None:
        self.kube = kube
        self.interval = interval
        self.linger = linger
        self.code = code
        self.stores = Stores()
        self.app = make_app(self)
        self.servers: dict[tuple[str, int], _Running] = {}
        self.skipped: list[Skipped] = []
        self._client: aiohttp.ClientSession | None = None
        self._endpoints: dict[tuple[str, str, int], tuple[float, list[tuple[str, int]]]] = {}
        self._turn = 0
        self._listed_at = 0.0
        self._last_error = ""

    # -- lookups used by the app ------------------------------------------------------------------------------

    def pod_at(self, address: Sequence[Any] | None) -> PodServer | None:
        if not address:
            return None
        running = self.servers.get((str(address[0]), int(address[1])))
        return running.pod if running else None

    async def call_upstream(self, pod: PodServer, body: bytes) -> int:
        """One request to the pod's upstream as the app would make it; its status (599 when it never answered)."""
        upstream = pod.spec.upstream
        assert upstream is not None
        started = time.perf_counter()
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), trust_env=False)
        try:
            url = await self.resolve(upstream.url, namespace=pod.spec.namespace)
            async with self._client.request(upstream.method, url, data=body,
                                            headers={"X-Caller": pod.spec.caller}) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, ClusterError, LookupError) as exc:
            log.info("%s/%s: upstream %s failed: %s", pod.spec.namespace, pod.spec.pod, upstream.url, exc)
            status = 599
        pod.upstream_requests.labels(upstream.url, str(status)).inc()
        pod.upstream_duration.labels(upstream.url).observe(time.perf_counter() - started)
        return status

    async def resolve(self, url: str, *, namespace: str | None = None) -> str:
        """Service DNS names (``svc.ns[.svc[.cluster.local]]``, or a bare ``svc`` in the caller's ``namespace`` as
        the cluster DNS search path has it) become a ready endpoint's IP and target port, round robin, as
        kube-proxy would do; other hosts are left alone."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        match = SERVICE_HOST.fullmatch(host)
        short = SHORT_HOST.fullmatch(host) if namespace and not match else None
        if not (match or short):
            return url
        port = parts.port or 80
        key = (match["namespace"], match["service"], port) if match else (str(namespace), host, port)
        cached = self._endpoints.get(key)
        if cached is None or cached[0] < time.monotonic():
            found = await asyncio.to_thread(self._lookup_endpoints, *key)
            cached = (time.monotonic() + ENDPOINTS_TTL, found)
            self._endpoints[key] = cached
        if not cached[1]:
            raise LookupError(f'service "{key[0]}/{key[1]}" has no ready endpoint for port {port}')
        self._turn += 1
        ip, target = cached[1][self._turn % len(cached[1])]
        return urlunsplit((parts.scheme, f"{ip}:{target}", parts.path, parts.query, parts.fragment))

    def _lookup_endpoints(self, namespace: str, service: str, port: int) -> list[tuple[str, int]]:
        svc = self.kube.get("v1", "Service", service, namespace, missing_ok=True)
        if svc is None:
            return []
        name = next((p.get("name", "") for p in svc["spec"].get("ports", []) if p.get("port") == port), None)
        if name is None:
            return []
        found = []
        for piece in self.kube.list("discovery.k8s.io/v1", "EndpointSlice", namespace,
                                    selector=f"kubernetes.io/service-name={service}"):
            target = next((p["port"] for p in piece.get("ports") or [] if p.get("name", "") == name), None)
            if target is None:
                continue
            for endpoint in piece.get("endpoints") or []:
                if endpoint.get("conditions", {}).get("ready", True):
                    found.extend((address, target) for address in endpoint.get("addresses", []))
        return sorted(found)

    # -- reconciling ------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                pods = await asyncio.to_thread(self.kube.list, "v1", "Pod", None, selector=LABEL)
            except ClusterError as exc:
                if str(exc) != self._last_error:
                    log.warning("cannot list pods: %s", exc)
                    self._last_error = str(exc)
            else:
                self._last_error = ""
                self._listed_at = time.time()
                await self.reconcile(pods)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        await asyncio.gather(*(self._stop(address) for address in list(self.servers)))
        if self._client is not None:
            await self._client.close()

    async def reconcile(self, pods: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        desired: dict[tuple[str, int], BackendSpec] = {}
        skipped: list[Skipped] = []
        for pod in pods:
            specs, skip = specs_from_pod(pod)
            if skip:
                skipped.append(skip)
            for spec in specs:
                desired[spec.address] = spec
        stopping = []
        for address, running in self.servers.items():
            want = desired.get(address)
            if want is not None and want.uid == running.pod.spec.uid:
                running.pod.spec = want  # annotations (latency, error rate) may change on a live pod
                running.retire_at = None
            elif want is not None:
                # the address now belongs to another pod: the same socket answers as that pod from now on
                old = running.pod.spec
                running.pod, running.started, running.retire_at = PodServer(want), time.time(), None
                log.info("%s:%s now serves %s/%s (%s), was %s/%s", want.ip, want.port, want.namespace, want.pod,
                         want.version, old.namespace, old.pod)
            elif running.retire_at is not None and now >= running.retire_at:
                stopping.append(address)  # gone long enough
            elif running.retire_at is None:
                running.retire_at = now + self.linger
        await asyncio.gather(*(self._stop(address) for address in stopping))
        for address, spec in desired.items():
            if address in self.servers:
                continue
            try:
                await self._start(spec)
            except OSError as exc:
                skipped.append(Skipped(spec.namespace, spec.pod, f"cannot listen on {spec.ip}:{spec.port}: "
                                                                 f"{exc.strerror or exc}"))
        self.skipped = skipped

    async def _start(self, spec: BackendSpec) -> None:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only when the listener's proto
        # says TCP, and without it a keep-alive answer written in two pieces waits 40 ms for a delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(spec.address)
            # listening at once: connections queue while uvicorn starts accepting
            sock.listen(1024)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        server = _Server(_config(self.app))
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"{spec.namespace}/{spec.pod}:{spec.port}")
        self.servers[spec.address] = _Running(PodServer(spec), server, task, time.time())
        log.info("serving %s/%s (%s) on %s:%s", spec.namespace, spec.pod, spec.version, spec.ip, spec.port)

    async def _stop(self, address: tuple[str, int]) -> None:
        running = self.servers.get(address)
        if running is None:
            return
        running.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(running.task), timeout=5)
        except asyncio.TimeoutError:
            running.server.force_exit = True
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)
        # listed until its socket is closed: whoever sees it gone from /servers finds the address refusing
        if self.servers.get(address) is running:
            del self.servers[address]
        spec = running.pod.spec
        log.info("stopped %s/%s on %s:%s", spec.namespace, spec.pod, spec.ip, spec.port)

    # -- reporting --------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        servers = []
        for (ip, port), running in sorted(self.servers.items()):
            spec = running.pod.spec
            servers.append({
                "namespace": spec.namespace, "pod": spec.pod, "uid": spec.uid, "ip": ip, "port": port,
                "version": spec.version, "role": spec.role.value, "latency_ms": spec.latency_ms,
                "error_rate": spec.error_rate, "upstream": spec.upstream.url if spec.upstream else None,
                "requests": running.pod.served, "since": running.started, "retiring": running.retire_at is not None,
            })
        return {"servers": servers, "skipped": [vars(s) for s in self.skipped], "listed_at": self._listed_at,
                "error": self._last_error or None}

    def collect(self) -> Iterator[Metric]:
        """Every server's metrics as one exposition, each sample labelled with its pod (a prometheus Collector)."""
        families: dict[str, Metric] = {}
        for running in list(self.servers.values()):
            spec = running.pod.spec
            extra = {"namespace": spec.namespace, "pod": spec.pod, "version": spec.version, "role": spec.role.value}
            for family in running.pod.registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, **extra}, sample.value)
        yield from families.values()


def control_app(harness: Harness) -> Starlette:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(harness)  # type: ignore[arg-type]  # a Collector is anything with collect()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "code": harness.code, "servers": len(harness.servers)})

    async def servers(request: Request) -> Response:
        return JSONResponse(harness.status())

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/servers", servers), Route("/metrics", metrics)])


async def serve(kube: Any, *, port: int, code: str, interval: float, linger: float) -> None:
    """Run the harness and its control server until SIGTERM/SIGINT."""
    import signal

    harness = Harness(kube, interval=interval, linger=linger, code=code)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    control = _Server(uvicorn.Config(control_app(harness), host="127.0.0.1", port=port, lifespan="off",
                                     log_config=None, log_level="warning", access_log=False))
    control_task = asyncio.create_task(control.serve())
    while not control.started:
        if control_task.done():  # uvicorn logged why (the port is taken, most likely)
            raise SystemExit(f"backends harness: cannot serve its control endpoint on 127.0.0.1:{port}")
        await asyncio.sleep(0.02)
    log.info("backends harness: control on 127.0.0.1:%s, serving pods labelled %s", port, LABEL)
    try:
        await harness.run(stop)
    finally:
        control.should_exit = True
        await control_task
