"""The gateway's cost per request and the load generator's reach: a backend called through Traefik vs directly.

Added latency: 1,000 sequential requests each way (one connection, keep-alive), interleaved in rounds of 100 so a
busy neighbour slows both sides alike; medians and p95 compared. Reach: the most requests per second the load
generator sustains against Traefik's own /ping (a Go endpoint, so the generator is what saturates), then through
the gateway to a backend. Also the gateway's warm start (reuse) and the whole environment's cold gateway start are
reported when this run performs them. Same run, same machine, same cluster.
Run: python bench/bench_gateway.py [--requests 1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import namespace, save, timed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    from toolkit import localenv
    from toolkit.adapters.kube import Kube
    from toolkit.localenv import _gateway
    from toolkit.localenv.load import LoadOptions, run
    from tests.localenv.traffic import backend, deploy, ref, route, servers, wait_routed

    results: dict = {"requests": args.requests}
    gateway = localenv.start_gateway()
    with timed(results, "gateway_reuse_s"):
        localenv.start_gateway()
    backends = localenv.start_backends()
    cluster = localenv.start_cluster()
    kube = Kube(cluster.kubeconfig, cluster.context)
    ns = namespace("bench-gateway")
    kube.create_namespace(ns)
    try:
        deploy(kube, backends, ns, backend("echo", "1.0.0", replicas=1))
        host = f"{ns}.bench.test"
        kube.apply([route("echo", gateway, host, [{"backendRefs": [ref("echo")]}])], ns)
        wait_routed(gateway, host, {"1.0.0"})
        [server] = servers(backends, ns)
        direct = f"http://{server['ip']}:{server['port']}/"
        samples: dict[str, list[float]] = {"direct": [], "gateway": []}
        rounds = max(1, args.requests // 100)
        for _ in range(rounds):
            for name, url, host_header in (("direct", direct, None), ("gateway", f"{gateway.url}/", host)):
                result = run(LoadOptions(url=url, host=host_header, requests=args.requests // rounds,
                                         rate=math.inf, concurrency=1))
                assert result.statuses == {200: result.sent}, result.statuses
                samples[name] += result.samples_ms
        for name, values in samples.items():
            values.sort()
            results[f"{name}_p50_ms"] = round(values[len(values) // 2], 3)
            results[f"{name}_p95_ms"] = round(values[int(len(values) * 0.95)], 3)
        results["added_p50_ms"] = round(results["gateway_p50_ms"] - results["direct_p50_ms"], 3)
        results["added_p95_ms"] = round(results["gateway_p95_ms"] - results["direct_p95_ms"], 3)

        admin = json.loads((_gateway.state_dir() / "ports.json").read_text())["admin"]
        for name, url, host_header in (("ping", f"http://127.0.0.1:{admin}/ping", None),
                                       ("through_gateway", f"{gateway.url}/", host),
                                       ("direct_backend", direct, None)):
            best = 0.0
            for concurrency in (1, 8, 32):
                result = run(LoadOptions(url=url, host=host_header, rate=math.inf, duration=args.seconds,
                                         concurrency=concurrency))
                results[f"max_rps_{name}_c{concurrency}"] = round(result.rps)
                best = max(best, result.rps)
            results[f"max_rps_{name}"] = round(best)
    finally:
        kube.delete("v1", "Namespace", ns)
    path = save("gateway", results)
    print(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
