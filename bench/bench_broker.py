"""The broker against the CLI: provision → ready and bind latency through the broker (HTTP, two broker processes)
vs the CLI path (`chartkit provision` / `chartkit bind` as a user runs them), and 50 concurrent provisions spread
over 2 broker replicas (throughput, failures).

Both sides provision the same type and plan into the same cluster in the same run; each instance's Deployment
really rolls out (kwok marks its pods ready) before it counts as ready.
Run: python bench/bench_broker.py [--runs 5] [--concurrent 50] [--workers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import local_deploy, namespace, save  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
API = {"X-Broker-API-Version": "2.17"}

TEMPLATES = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicaCount | toJson }}
  selector: {matchLabels: {app: {{ .Release.Name | quote }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name | quote }}}}
    spec: {containers: [{name: q, image: "example.invalid/q:1.0", ports: [{name: amqp, containerPort: 5672}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}}
spec: {selector: {app: {{ .Release.Name | quote }}}, ports: [{name: amqp, port: 5672}]}
---
apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-auth}
data: {username: {{ "app" | b64enc | quote }}, password: {{ sha256sum .Release.Name | trunc 16 | b64enc | quote }}}
"""

DECLARATIONS = {
    "apiVersion": "chartkit.dev/v1", "kind": "TypeDeclarations",
    "plans": [{"name": "small", "default": True, "values": {"replicaCount": 1}},
              {"name": "large", "values": {"replicaCount": 2}}],
    "binding": {"outputs": {"host": {"service": "{release}"}, "port": {"service": "{release}", "port": "amqp"},
                            "username": {"secret": "{release}-auth", "key": "username"},
                            "password": {"secret": "{release}-auth", "key": "password"}}},
}


def write_chart(root: Path) -> Path:
    chart = root / "q"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: q\nversion: 1.0.0\ndescription: bench queue\n")
    (chart / "values.yaml").write_text("replicaCount: 1\n")
    (chart / "templates" / "q.yaml").write_text(TEMPLATES)
    (chart / "chartkit.yaml").write_text(json.dumps(DECLARATIONS))
    return chart


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8, help="operations each broker runs at once")
    args = parser.parse_args()

    import httpx

    from toolkit import localenv
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    info, cluster, catalog, config, _helm, kube = local_deploy("bench-broker", timeout="3m")
    state, ns_broker, ns_cli, ns_load = (namespace("bench-osb-state"), namespace("bench-osb"),
                                         namespace("bench-cli"), namespace("bench-osb-load"))
    results: dict = {"runs": args.runs, "concurrent": args.concurrent, "workers_per_broker": args.workers}
    procs: list[subprocess.Popen] = []
    user, password = "bench", uuid.uuid4().hex
    tmp = Path(tempfile.mkdtemp(prefix="chartkit-bench-broker-"))
    common = ["--catalog", str(catalog.url), "--ca-file", str(info.ca_file), "--registry-config",
              str(info.registry_config), "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context,
              "--state-namespace", state]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CHARTKIT_HELM": str(localenv.ensure_helm())}
    try:
        made = package(config, PackageOptions(chart=write_chart(tmp), destination=tmp, offline=True))
        publish(config, PublishOptions(packages=(made.path,), index_dir=None)).raise_for_errors()
        creds = tmp / "credentials"
        creds.write_text(f"{user}:{password}\n")
        creds.chmod(0o600)
        urls = []
        for i in range(2):
            from toolkit.broker.server import free_port

            port = free_port()
            log = open(tmp / f"broker-{i}.log", "wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "toolkit.cli", "broker", "--port", str(port), "--credentials-file", str(creds),
                 "--workers", str(args.workers), "--timeout", "3m", *common], stdout=log, stderr=subprocess.STDOUT,
                env=env))
            urls.append(f"http://127.0.0.1:{port}")
        clients = [httpx.Client(base_url=u, auth=(user, password), headers=API, timeout=120) for u in urls]
        deadline = time.monotonic() + 60
        for client in clients:
            while True:
                try:
                    if client.get("/v2/catalog").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("a broker did not start: see " + str(tmp))
                time.sleep(0.2)
        svc = clients[0].get("/v2/catalog").json()["services"][0]
        service_id, plan_id = svc["id"], svc["plans"][0]["id"]

        def provision(client, name: str, ns: str) -> tuple[str, float]:
            iid = str(uuid.uuid4())
            start = time.perf_counter()
            answer = client.put(f"/v2/service_instances/{iid}", params={"accepts_incomplete": "true"},
                                json={"service_id": service_id, "plan_id": plan_id, "organization_guid": "o",
                                      "space_guid": "s", "context": {"platform": "kubernetes", "namespace": ns,
                                                                     "instance_name": name}})
            assert answer.status_code == 202, answer.text
            operation = answer.json()["operation"]
            while True:
                body = client.get(f"/v2/service_instances/{iid}/last_operation",
                                  params={"operation": operation}).json()
                if body["state"] != "in progress":
                    if body["state"] != "succeeded":
                        raise RuntimeError(f"{name}: {body}")
                    return iid, time.perf_counter() - start
                time.sleep(0.2)

        broker_provision, broker_bind, cli_provision, cli_bind = [], [], [], []
        for run in range(args.runs):
            iid, took = provision(clients[run % 2], f"b{run}", ns_broker)
            broker_provision.append(took)
            start = time.perf_counter()
            answer = clients[(run + 1) % 2].put(f"/v2/service_instances/{iid}/service_bindings/{uuid.uuid4()}",
                                                json={"service_id": service_id, "plan_id": plan_id,
                                                      "parameters": {"name": f"b{run}-creds"}})
            broker_bind.append(time.perf_counter() - start)
            assert answer.status_code == 201, answer.text

            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "toolkit.cli", "provision", f"c{run}", "q", "--plan", "small",
                            "-n", ns_cli, "--timeout", "3m", *common], check=True, env=env, capture_output=True)
            cli_provision.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "toolkit.cli", "bind", f"c{run}", "-n", ns_cli,
                            "--consumer-namespace", ns_cli, "--name", f"c{run}-creds", *common[:-2]],
                           check=True, env=env, capture_output=True)
            cli_bind.append(time.perf_counter() - start)
        for key, values in (("broker_provision_ready_s", broker_provision), ("broker_bind_s", broker_bind),
                            ("cli_provision_ready_s", cli_provision), ("cli_bind_s", cli_bind)):
            results[key] = round(statistics.median(values), 3)

        start = time.perf_counter()
        failures: list[str] = []

        def one(i: int) -> float | None:
            try:
                return provision(clients[i % 2], f"q{i:02d}", ns_load)[1]
            except Exception as exc:  # noqa: BLE001 - counted
                failures.append(f"q{i:02d}: {exc}")
                return None

        with ThreadPoolExecutor(args.concurrent) as pool:
            latencies = [t for t in pool.map(one, range(args.concurrent)) if t is not None]
        elapsed = time.perf_counter() - start
        ready = sum(1 for d in kube.list("apps/v1", "Deployment", ns_load)
                    if (d.get("status") or {}).get("availableReplicas") == 1)
        results.update(concurrent_wall_s=round(elapsed, 3), concurrent_failures=len(failures),
                       concurrent_ready_deployments=ready,
                       throughput_per_min=round(len(latencies) / elapsed * 60, 1),
                       concurrent_p50_s=round(statistics.median(latencies), 3) if latencies else None,
                       concurrent_max_s=round(max(latencies), 3) if latencies else None)
        if failures:
            results["failure_samples"] = failures[:5]
        for client in clients:
            client.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ns in (state, ns_broker, ns_cli, ns_load):
            kube.delete("v1", "Namespace", ns, wait=False)
    print(f"provision -> ready (median of {args.runs}): broker {results['broker_provision_ready_s']}s, "
          f"CLI {results['cli_provision_ready_s']}s; bind: broker {results['broker_bind_s']}s, "
          f"CLI {results['cli_bind_s']}s")
    print(f"{args.concurrent} concurrent provisions over 2 brokers ({args.workers} workers each): "
          f"{results['concurrent_wall_s']}s, {results['throughput_per_min']}/min, p50 {results['concurrent_p50_s']}s, "
          f"failures {results['concurrent_failures']}, ready Deployments {results['concurrent_ready_deployments']}")
    print(f"results: {save('broker', results)}")
    return 1 if results["concurrent_failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
