"""Catalog test helpers: small real charts written to tmp_path, registry clients, catalog URLs and the one
configuration operations run with."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Callable

import pytest

from toolkit.config import Config, resolve

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "replicaCount": {"type": "integer", "const": 1, "readOnly": True, "default": 1},
        "image": {"type": "object", "properties": {
            "repository": {"type": "string"}, "tag": {"type": "string"}}},
        "message": {"type": "string", "default": "hello"},
    },
}


def write_chart(root: Path, name: str = "demo", version: str = "0.1.0", *, message: str = "hello",
                extra_files: dict[str, str] | None = None) -> Path:
    """A small lint-clean chart: Chart.yaml, values.yaml, values.schema.json, a ConfigMap and a Deployment."""
    chart = root / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"2.4\"\n"
        f"description: {name} for catalog tests <web & api>\ntype: application\nkubeVersion: \">=1.25.0-0\"\n"
        "home: https://example.invalid/demo\nsources: [https://example.invalid/src]\n"
        "maintainers: [{name: Ops, email: ops@example.invalid}]\nannotations: {team: platform}\n")
    (chart / "values.yaml").write_text(
        f"replicaCount: 1\nimage:\n  repository: registry.example.invalid:5000/web\n  tag: \"1.20\"\n"
        f"message: {json.dumps(message)}\n")
    (chart / "values.schema.json").write_text(json.dumps(SCHEMA, indent=2))
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-msg\n"
        "data:\n  message: {{ .Values.message | toJson }}\n")
    (chart / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
        "  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n"
        "  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n"
        "        - name: web\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"
        "        - name: sidecar\n          image: docker.io/library/busybox:1.36\n")
    for rel, text in (extra_files or {}).items():
        (chart / rel).parent.mkdir(parents=True, exist_ok=True)
        (chart / rel).write_text(text)
    return chart


@pytest.fixture
def make_chart(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "demo", version: str = "0.1.0", **kwargs) -> Path:
        root = tmp_path / f"src-{uuid.uuid4().hex[:6]}"
        return write_chart(root, name, version, **kwargs)

    return make


def set_mtimes(root: Path, when: float) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in filenames + dirnames:
            os.utime(Path(dirpath) / entry, (when, when))


@pytest.fixture
def catalog(registry) -> str:
    """A catalog namespace of its own for one test: ``oci://HOST/c-<uuid8>``."""
    return f"{registry.url}/c-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def reg(registry):
    from toolkit.adapters.oci import Registry

    with Registry(registry.host, ca_file=registry.ca_file, registry_config=registry.registry_config) as client:
        yield client


@pytest.fixture
def registry_env(registry, monkeypatch):
    """Point chartkit's defaults (CA, credentials) at the shared local registry, as `chartkit env` would."""
    monkeypatch.setenv("CHARTKIT_REGISTRY_CA", str(registry.ca_file))
    monkeypatch.setenv("HELM_REGISTRY_CONFIG", str(registry.registry_config))
    return registry


@pytest.fixture
def config_for(helm_bin: Path, tmp_path: Path) -> Callable[..., Config]:
    """The configuration an operation runs with, resolved as a front door without a fallback would: ``catalog``
    (None: nothing names one), the CA and credentials from the flags or the environment, the local helm build."""
    xdg = tmp_path / "xdg-empty"  # no user config file decides for the test

    def make(catalog: str | None = None, *, ca_file: Path | None = None,
             registry_config: Path | None = None) -> Config:
        env = {**{k: v for k, v in os.environ.items() if k != "CHARTKIT_CATALOG"}, "XDG_CONFIG_HOME": str(xdg)}
        return resolve(catalog=catalog, ca_file=ca_file, registry_config=registry_config, helm=helm_bin, env=env,
                       cwd=tmp_path)

    return make
