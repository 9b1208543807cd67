"""A small real chart for localenv tests (a Deployment and a ConfigMap), written into a test's tmp dir."""

from __future__ import annotations

from pathlib import Path

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name | quote }}}
spec:
  replicas: {{ .Values.replicaCount | toJson }}
  selector:
    matchLabels: {app: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name | quote }}}
    spec:
      containers:
        - name: web
          image: {{ .Values.image | quote }}
          env:
            - {name: GREETING, value: {{ .Values.greeting | quote }}}
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: {{ .Values.greeting | quote }}
"""


def write_chart(parent: Path, name: str = "hello", version: str = "0.1.0", *, replicas: int = 2,
                image: str = "registry.example/hello:1.0", greeting: str = "hi") -> Path:
    chart = parent / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n")
    (chart / "values.yaml").write_text(f"replicaCount: {replicas}\nimage: {image}\ngreeting: {greeting}\n")
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    return chart
