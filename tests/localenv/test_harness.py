"""The harness's servers against pod lists it is handed (real sockets on pod-range addresses, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from toolkit.localenv.backends import LABEL
from toolkit.localenv.backends.harness import Harness

pytestmark = pytest.mark.cluster

#: far above what kwok hands out in a test run (it allocates from the bottom of 10.244.0.0/16)
ADDRESS = "10.244.254.201"


def _pod(name: str, uid: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "recycled", "uid": uid, "labels": {LABEL: "http"}},
            "spec": {"containers": [{"name": "app", "image": f"registry.example/app:{version}",
                                     "ports": [{"containerPort": 8080}]}]},
            "status": {"podIP": ADDRESS, "conditions": [{"type": "Ready", "status": "True"}]}}


def test_an_address_kwok_hands_to_a_new_pod_answers_as_that_pod_at_once(backends) -> None:
    """kwok gives a deleted pod's IP to the next pod at once: the server on it must answer as the new pod from
    the next request on — not drain as the old one, refuse, or answer 503 while the gateway already routes there."""

    async def scenario() -> list[tuple[float, int, str]]:
        harness = Harness(kube=None, linger=0.5)
        answers: list[tuple[float, int, str]] = []
        async with aiohttp.ClientSession() as client:
            async def ask() -> None:
                async with client.get(f"http://{ADDRESS}:8080/") as response:
                    body = await response.read()
                    answers.append((time.monotonic(), response.status, json.loads(body).get("pod", "")
                                    if response.status == 200 else ""))

            await harness.reconcile([_pod("app-a-1", "uid-a", "1.0.0")])
            first = harness.servers[(ADDRESS, 8080)]
            await ask()
            await harness.reconcile([_pod("app-b-1", "uid-b", "2.0.0")])
            swapped = time.monotonic()
            for _ in range(5):
                await ask()
            assert harness.servers[(ADDRESS, 8080)] is first  # the same socket: nothing restarted
            await harness.reconcile([])  # gone: it lingers, then stops
            await asyncio.sleep(0.6)
            await harness.reconcile([])
            assert (ADDRESS, 8080) not in harness.servers
        return [(t - swapped, status, pod) for t, status, pod in answers]

    answers = asyncio.run(scenario())
    assert answers[0][1:] == (200, "app-a-1")
    assert [a[1:] for a in answers[1:]] == [(200, "app-b-1")] * 5
