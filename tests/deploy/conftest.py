"""Fixtures for instance tests: a small type written in tmp_path and published to a per-test catalog."""

from __future__ import annotations

import json
import shutil
import textwrap
import uuid
from pathlib import Path
from typing import Callable

import pytest

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "replicaCount": {"type": "integer", "minimum": 0},
        "image": {"type": "object", "properties": {
            "registry": {"type": "string", "const": "registry.example", "readOnly": True},
            "repository": {"type": "string"},
            "tag": {"type": "string"},
        }},
        "plan": {"type": "string", "enum": ["small", "large"]},
        "resources": {"type": "object"},
        "env": {"type": "array", "items": {"type": "object"}},
        "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

VALUES = """\
replicaCount: 2
image:
  registry: registry.example
  repository: team/tiny
  tag: "1.0"
plan: small
resources:
  limits: {cpu: 100m, memory: 64Mi}
env:
  - {name: MODE, value: prod}
nodeSelector: {}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}, app.kubernetes.io/name: tiny}
spec:
  replicas: {{ .Values.replicaCount | toJson }}
  selector:
    matchLabels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}, app.kubernetes.io/name: tiny}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector: {{ toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: app
          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env: {{ toYaml .Values.env | nindent 12 }}
            - name: PLAN
              value: {{ .Values.plan | toJson }}
          resources: {{ toYaml .Values.resources | nindent 12 }}
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
data:
  plan: {{ .Values.plan | toJson }}
"""


def write_tiny_chart(root: Path, name: str = "tiny", version: str = "1.0.0") -> Path:
    """A small type with a locked parameter (image.registry), a plan enum and a labelled ConfigMap."""
    chart = root / f"{name}-{version}" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: v2
        name: {name}
        version: {version}
        appVersion: "{version}"
        description: a tiny type for instance tests
        """))
    (chart / "values.yaml").write_text(VALUES)
    (chart / "values.schema.json").write_text(json.dumps(SCHEMA, indent=2))
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    return chart


def publish_chart(chart: Path, catalog, helm_bin: Path, version: str | None = None) -> str:
    """Package and publish with the core API to ``catalog`` (a CatalogRef); returns the manifest digest."""
    from toolkit.config import Config
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    config = Config(catalog, helm_binary=helm_bin)
    # offline: the versions are the test's own, as when packaging without a catalog
    result = package(config, PackageOptions(chart=chart, version=version, destination=chart.parent, offline=True))
    report = publish(config, PublishOptions(packages=(result.path,)))
    report.raise_for_errors()
    return report.results[0].manifest_digest


@pytest.fixture
def catalog(registry):
    """A catalog of its own for one test: ``oci://HOST/t-<uuid8>`` with the local registry's CA and credentials."""
    from toolkit.config import CatalogRef, CatalogURL

    return CatalogRef(CatalogURL.parse(f"{registry.url}/t-{uuid.uuid4().hex[:8]}"), "test", registry.ca_file,
                      registry.registry_config)


@pytest.fixture
def config(catalog, cluster, helm_bin):
    """The one configuration over the test's catalog and the local cluster (helm waits up to 90s)."""
    from toolkit.config import ClusterRef, Config

    return Config(catalog, ClusterRef(cluster.kubeconfig, cluster.context, "test"), helm_binary=helm_bin,
                  timeout="90s")


@pytest.fixture
def traffic_config(catalog, cluster, helm_bin, gateway, backends):
    """The one configuration with the local Gateway (its metrics too) and the backends' own metrics: what a
    rollout attaches its route to and what its gates and the service graph read."""
    from toolkit.config import ClusterRef, Config, GatewayRef

    return Config(catalog, ClusterRef(cluster.kubeconfig, cluster.context, "test"), helm_binary=helm_bin,
                  timeout="90s", gateway=GatewayRef(gateway.gateway_name, gateway.gateway_namespace,
                                                    gateway.metrics_url, "test"),
                  app_metrics=f"{backends.url}/metrics")


@pytest.fixture
def publish_dir(catalog, helm_bin) -> Callable[[Path, str], str]:
    """Package and publish a chart directory at a version to the test's catalog; returns its digest."""
    return lambda chart, version: publish_chart(chart, catalog, helm_bin, version)


@pytest.fixture
def publish_tiny(tmp_path, catalog, helm_bin) -> Callable[..., str]:
    """Publish version V of the tiny type to the test's catalog; returns its digest."""
    def _publish(version: str = "1.0.0", name: str = "tiny") -> str:
        return publish_chart(write_tiny_chart(tmp_path, name, version), catalog, helm_bin)
    return _publish


@pytest.fixture
def tiny_chart() -> Callable[..., Path]:
    """Write the tiny type's chart directory (root, name, version) without publishing it."""
    return write_tiny_chart


@pytest.fixture
def chat_chart(repo_root, tmp_path) -> Callable[..., Path]:
    """A copy of charts/chat whose image tag is ``tag``, in a folder of its own per ``version``; ``pod_annotations``
    are added to the pods' (e.g. ``chartkit.io/backend-error-rate`` for a version the harness answers badly)."""
    def _make(version: str, tag: str, pod_annotations: dict[str, str] | None = None) -> Path:
        chart = tmp_path / version / "chat"
        shutil.copytree(repo_root / "charts" / "chat", chart)
        values = chart / "values.yaml"
        text = values.read_text().replace('tag: "1.20"', f'tag: "{tag}"', 1)
        extra = "".join(f'    {k}: "{v}"\n' for k, v in (pod_annotations or {}).items())
        values.write_text(text.replace("  podAnnotations:\n", f"  podAnnotations:\n{extra}", 1))
        return chart
    return _make
