"""Fixtures for the broker: a small "mq" type with plans and binding outputs published to a catalog of its own,
and real broker processes (``chartkit broker``, uvicorn on loopback) talked to over HTTP with httpx."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
API = {"X-Broker-API-Version": "2.17"}
# one value per test process, even when pytest and a test module each import this file (importlib mode)
USER, PASSWORD = "platform", os.environ.setdefault("CHARTKIT_TEST_BROKER_PASSWORD", "br0ker-Pa55-" + uuid.uuid4().hex[:8])

VALUES = """\
replicaCount: 1
minReadySeconds: 0
image:
  repository: team/mq
  tag: "1.0"
resources:
  limits: {cpu: 100m, memory: 64Mi}
auth:
  username: app
  password: ""
"""

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "replicaCount": {"type": "integer", "minimum": 0, "maximum": 10},
        "minReadySeconds": {"type": "integer", "minimum": 0, "maximum": 60},
        "image": {"type": "object", "properties": {"repository": {"type": "string"}, "tag": {"type": "string"}}},
        "resources": {"type": "object"},
        "auth": {"type": "object", "additionalProperties": False, "properties": {
            "username": {"type": "string", "minLength": 1}, "password": {"type": "string"}}},
        "global": {"type": "object"},
    },
}

TEMPLATES = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
spec:
  replicas: {{ .Values.replicaCount | toJson }}
  minReadySeconds: {{ .Values.minReadySeconds | toJson }}
  selector:
    matchLabels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
    spec:
      containers:
        - name: mq
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports: [{name: amqp, containerPort: 5672}]
          resources: {{ toYaml .Values.resources | nindent 12 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
  ports: [{name: amqp, port: 5672, targetPort: amqp}]
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-auth
data:
  username: {{ .Values.auth.username | b64enc | quote }}
  password: {{ .Values.auth.password | default (printf "pw-%s" (sha256sum .Release.Name | trunc 12)) | b64enc | quote }}
"""


def declarations(strategy: dict[str, Any]) -> str:
    return json.dumps({
        "apiVersion": "chartkit.dev/v1", "kind": "TypeDeclarations",
        "plans": [
            {"name": "small", "description": "one small replica", "default": True,
             "values": {"replicaCount": 1, "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}},
             "locked": ["replicaCount"]},
            {"name": "large", "description": "three bigger replicas", "free": False,
             "values": {"replicaCount": 3, "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}},
             "locked": ["replicaCount"]},
            {"name": "nobind", "description": "no credentials to hand out", "bindable": False, "values": {}},
        ],
        "binding": {"outputs": {
            "host": {"service": "{release}"},
            "port": {"service": "{release}", "port": "amqp"},
            "username": {"secret": "{release}-auth", "key": "username"},
            "password": {"secret": "{release}-auth", "key": "password"},
            "uri": {"template": "amqp://{username}:{password}@{host}:{port}/", "secretValue": True},
        }, "rotation": True, "rotate": ["auth.password"]},
        "updateStrategy": strategy,
    }, indent=2)


def write_mq_chart(root: Path, version: str, *, strategy: dict[str, Any] | None = None, name: str = "mq") -> Path:
    chart = root / f"{name}-{version}" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: v2
        name: {name}
        version: {version}
        appVersion: "{version}"
        description: a small message queue for broker tests
        keywords: [amqp, messaging]
        """))
    (chart / "values.yaml").write_text(VALUES.replace('tag: "1.0"', f'tag: "{version}"'))
    (chart / "values.schema.json").write_text(json.dumps(SCHEMA, indent=2))
    (chart / "templates" / "mq.yaml").write_text(TEMPLATES)
    (chart / "chartkit.yaml").write_text(declarations(strategy or {"kind": "rolling"}))
    return chart


@pytest.fixture
def mq_catalog(registry, mq_publish):
    """A catalog of its own holding mq 1.0.0 (rolling); ``mq_publish(version, strategy)`` adds versions."""
    return mq_publish.catalog


@pytest.fixture
def mq_publish(registry, helm_bin, tmp_path):
    from toolkit.config import CatalogRef, CatalogURL, Config
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    catalog = CatalogRef(CatalogURL.parse(f"{registry.url}/b-{uuid.uuid4().hex[:8]}"), "test", registry.ca_file,
                         registry.registry_config)

    def _publish(version: str, strategy: dict[str, Any] | None = None, name: str = "mq") -> str:
        chart = write_mq_chart(tmp_path, version, strategy=strategy, name=name)
        config = Config(catalog, helm_binary=helm_bin)
        made = package(config, PackageOptions(chart=chart, version=version, destination=chart.parent, offline=True))
        report = publish(config, PublishOptions(packages=(made.path,), index_dir=None))
        report.raise_for_errors()
        return report.results[0].manifest_digest

    _publish("1.0.0")
    _publish.catalog = catalog  # type: ignore[attr-defined]
    return _publish


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BrokerProcess:
    url: str
    proc: subprocess.Popen
    log: Path
    argv: list[str]

    def client(self, *, auth: tuple[str, str] | None = (USER, PASSWORD), headers: dict | None = None):
        import httpx

        return httpx.Client(base_url=self.url, auth=auth, headers=API if headers is None else headers, timeout=60,
                            verify=False)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def state_namespace(kube) -> Iterator[str]:
    """A state namespace of its own: records, holder leases and marketplace Secrets of one test."""
    name = f"st-{uuid.uuid4().hex[:8]}"
    yield name
    kube.delete("v1", "Namespace", name, wait=False)


@pytest.fixture
def credentials_file(tmp_path) -> Path:
    path = tmp_path / "broker-credentials"
    path.write_text(f"{USER}:{PASSWORD}\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def start_broker(cluster, helm_bin, tmp_path, credentials_file, state_namespace) -> Iterator[Callable[..., BrokerProcess]]:
    """Start ``chartkit broker`` processes (killed at the end); each returns once it serves."""
    started: list[BrokerProcess] = []

    def _start(catalog, *extra: str, lease: float = 3.0, tls: tuple[Path, Path] | None = None,
               state: str | None = None, timeout: str = "90s", verbose: bool = False) -> BrokerProcess:
        port = free_port()
        argv = [sys.executable, "-m", "toolkit.cli", *(["-v"] if verbose else []), "broker", "--port", str(port), "--catalog", str(catalog.url),
                "--ca-file", str(catalog.ca_file), "--registry-config", str(catalog.registry_config),
                "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context,
                "--credentials-file", str(credentials_file), "--state-namespace", state or state_namespace,
                "--lease-seconds", str(lease), "--timeout", timeout, *extra]
        if tls:
            argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        log = tmp_path / f"broker-{port}.log"
        env = {**os.environ, "PYTHONPATH": str(REPO), "CHARTKIT_HELM": str(helm_bin)}
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        broker = BrokerProcess(f"{'https' if tls else 'http'}://127.0.0.1:{port}", proc, log, argv)
        started.append(broker)
        deadline = time.monotonic() + 60
        while "serving Open Service Broker" not in broker.output():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"broker did not start:\n{broker.output()}")
            time.sleep(0.1)
        return broker

    yield _start
    for broker in started:
        if broker.proc.poll() is None:
            broker.proc.terminate()
            try:
                broker.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                broker.proc.kill()


def catalog_plan(client, service: str = "mq", plan: str = "small") -> tuple[str, str, dict]:
    """(service_id, plan_id, plan object) from the broker's own catalog."""
    services = client.get("/v2/catalog").json()["services"]
    svc = next(s for s in services if s["name"] == service)
    found = next(p for p in svc["plans"] if p["name"] == plan)
    return svc["id"], found["id"], found


def wait_operation(client, instance_id: str, operation: str | None = None, *, timeout: float = 180,
                   ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
    """Poll last_operation until it is no longer in progress; returns the last answer (status in ``_status``)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/v2/service_instances/{instance_id}/last_operation",
                            params={"operation": operation} if operation else None)
        body = answer.json()
        body["_status"] = answer.status_code
        if answer.status_code != 200 or body.get("state") != "in progress":
            assert answer.status_code in ok, body
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"operation still in progress after {timeout}s: {body}")
        time.sleep(0.5)


def provision(client, instance_id: str, service_id: str, plan_id: str, *, namespace: str | None = None,
              parameters: dict | None = None, name: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"platform": "kubernetes"}
    if namespace:
        context["namespace"] = namespace
    if name:
        context["instance_name"] = name
    answer = client.put(f"/v2/service_instances/{instance_id}", params={"accepts_incomplete": "true"},
                        json={"service_id": service_id, "plan_id": plan_id, "organization_guid": "org",
                              "space_guid": "space", "context": context, "parameters": parameters or {}})
    assert answer.status_code == 202, answer.text
    return answer.json()
