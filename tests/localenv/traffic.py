"""Helpers for tests that send real requests through the local gateway to backends on kwok pods."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from toolkit.adapters.kube import Kube
from toolkit.localenv import BackendsInfo, GatewayInfo
from toolkit.localenv.backends import LABEL
from toolkit.localenv.load import LoadOptions, LoadResult, run

PORT = 8080


def backend(name: str, version: str, *, replicas: int = 2, role: str = "http", env: Mapping[str, str] | None = None,
            app: str | None = None) -> list[dict[str, Any]]:
    """A Deployment whose pods the harness answers for (image tag = version) and a Service on port 80."""
    labels = {"app": app or name, "track": name}
    container = {"name": "app", "image": f"registry.example/{app or name}:{version}",
                 "ports": [{"name": "http", "containerPort": PORT}],
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": {**labels, LABEL: role}}, "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


def route(name: str, gateway: GatewayInfo, hostname: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """An HTTPRoute on the shared Gateway; the hostname keeps it apart from other tests' routes."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": name},
            "spec": {"parentRefs": [gateway.parent_ref], "hostnames": [hostname], "rules": rules}}


def ref(service: str, weight: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": service, "port": 80}
    if weight is not None:
        found["weight"] = weight
    return found


def servers(backends: BackendsInfo, namespace: str | None = None) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{backends.url}/servers", timeout=5) as response:
        listed = json.loads(response.read())["servers"]
    return [s for s in listed if namespace is None or s["namespace"] == namespace]


def deploy(kube: Kube, backends: BackendsInfo, namespace: str, objects: Iterable[dict[str, Any]],
           timeout: float = 60) -> None:
    """Apply, wait for every Deployment to be available and every one of its pods to be served."""
    objects = list(objects)
    # a ReplicaSet whose first pod is refused (no "default" ServiceAccount yet in a fresh namespace) backs off for
    # many seconds: wait for the controller-manager to make it
    wait_for(lambda: kube.get("v1", "ServiceAccount", "default", namespace, missing_ok=True) is not None, timeout,
             f'ServiceAccount "{namespace}/default"')
    kube.apply(objects, namespace)
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    for dep in deployments:
        kube.wait_deployment_available(dep["metadata"]["name"], namespace, timeout=timeout)
    want = sum(d["spec"]["replicas"] for d in deployments)
    wait_for(lambda: len({s["pod"] for s in servers(backends, namespace) if not s["retiring"]}) >= want,
             timeout, f"{want} pods of {namespace} served by the harness")


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_routed(gateway: GatewayInfo, host: str, versions: set[str], *, timeout: float = 60,
                headers: Mapping[str, str] | None = None) -> None:
    """Until the gateway answers for ``host`` only with 200s and every version in ``versions`` has answered."""
    def routed() -> bool:
        result = load(gateway, host, requests=40, headers=headers or {})
        return result.statuses == {200: 40} and versions <= set(result.versions)

    wait_for(routed, timeout, f"the gateway to route {host} to {sorted(versions)}", interval=0.5)


def load(gateway: GatewayInfo, host: str, *, requests: int, rate: float = math.inf, path: str = "/",
         **options: Any) -> LoadResult:
    return run(LoadOptions(url=f"{gateway.url}{path}", host=host, requests=requests, rate=rate,
                           concurrency=options.pop("concurrency", 16), **options))


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def http(method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None) -> Answer:
    """One real request (stdlib); any status is an answer."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())


@dataclass(frozen=True)
class Sent:
    """One request of a Recorder: when it left and came back (time.monotonic()), its group, status and version."""

    sent: float
    done: float
    group: str
    status: int  # 0: no HTTP answer
    version: str


class Recorder:
    """Steady open-loop load through the gateway in a background thread, every request recorded with its times,
    so a test can cut the stream at the moments a rollout's steps happened (aiohttp, like the load generator).

    Every ``1/share``-th request carries ``header`` (its group is ``NAME=VALUE``, the others ``default``).
    """

    def __init__(self, gateway: GatewayInfo, host: str, *, rate: float = 300, path: str = "/",
                 header: tuple[str, str, float] | None = None, concurrency: int = 32) -> None:
        import threading

        self.url, self.host, self.rate, self.header, self.concurrency = f"{gateway.url}{path}", host, rate, header, \
            concurrency
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recorder {host}", daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        import asyncio

        asyncio.run(self._load())

    async def _load(self) -> None:
        import asyncio

        import aiohttp

        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def one(client: aiohttp.ClientSession, index: int) -> None:
            headers = {"Host": self.host}
            group = "default"
            if self.header and math.floor((index + 1) * self.header[2]) > math.floor(index * self.header[2]):
                headers[self.header[0]] = self.header[1]
                group = f"{self.header[0]}={self.header[1]}"
            started = time.monotonic()
            status, version = 0, ""
            try:
                async with client.get(self.url, headers=headers) as response:
                    body = await response.read()
                    status = response.status
                    try:
                        version = str(json.loads(body).get("version", ""))
                    except ValueError:
                        version = ""
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            finally:
                slots.release()
            self.sent.append(Sent(started, time.monotonic(), group, status, version))

        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector, trust_env=False,
                                         timeout=aiohttp.ClientTimeout(total=10)) as client:
            start, index = time.monotonic(), 0
            while not self._stop.is_set():
                due = start + index / self.rate
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                await slots.acquire()
                task = asyncio.create_task(one(client, index))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            if tasks:
                await asyncio.gather(*tasks)

    def between(self, start: float, end: float, group: str | None = None) -> list[Sent]:
        """Requests sent at or after ``start`` and answered by ``end`` (optionally of one group)."""
        return [s for s in list(self.sent) if s.sent >= start and s.done <= end and (group is None or s.group == group)]

    def wait_for(self, check: Any, timeout: float, what: str) -> None:
        wait_for(lambda: check(list(self.sent)), timeout, what)


def share(sent: Iterable[Sent], version: str) -> float:
    """Share (0..1) of answered requests that came from ``version``."""
    answered = [s for s in sent if s.status]
    return sum(s.version == version for s in answered) / len(answered) if answered else math.nan
