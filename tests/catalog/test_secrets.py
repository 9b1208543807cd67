"""A published chart carries no secret value from chartify's source objects (scan the pulled .tgz)."""

from __future__ import annotations

import base64
import gzip
import re
import tarfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from toolkit.cli import main
from toolkit.config import CatalogURL
from toolkit.core.package import PackageOptions, package
from toolkit.core.publish import PublishOptions, publish

pytestmark = pytest.mark.registry

EXTRA_SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: payments-db, namespace: shop}
type: Opaque
stringData:
  password: s3cr3t-Payments-DB-pass-9f2c
  dsn: postgres://pay:s3cr3t-Payments-DB-pass-9f2c@db:5432/pay
data:
  apiKey: c2stbGl2ZS1YWDk5LXBheW1lbnRzLWtleQ==
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payments, namespace: shop}
spec:
  selector: {matchLabels: {app: payments}}
  template:
    metadata: {labels: {app: payments}}
    spec:
      containers:
        - name: app
          image: registry.example.invalid/payments:2.0.1
          envFrom: [{secretRef: {name: payments-db}}]
"""


def _secret_values(sources: list[Path]) -> set[str]:
    """Every value of every Secret in the sources, decoded, plus its base64 form as stored."""
    values: set[str] = set()
    for source in sources:
        files = sorted(source.glob("*.yaml")) if source.is_dir() else [source]
        for path in files:
            for doc in YAML(typ="safe", pure=True).load_all(path.read_text()):
                if not doc or doc.get("kind") != "Secret":
                    continue
                for value in (doc.get("stringData") or {}).values():
                    values |= {str(value), base64.b64encode(str(value).encode()).decode()}
                for value in (doc.get("data") or {}).values():
                    values |= {str(value), base64.b64decode(value).decode()}
    return values


def _package_text(path: Path) -> str:
    parts = [gzip.decompress(path.read_bytes()).decode(errors="replace")]  # raw tar stream, headers included
    with tarfile.open(path) as tar:
        parts += [tar.extractfile(m).read().decode(errors="replace") for m in tar.getmembers() if m.isfile()]
    return "\n".join(parts)


def _package_files(path: Path) -> dict[str, str]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}


def test_published_chart_holds_no_source_secret(repo_root, registry_helm, config_for, registry_env, catalog, tmp_path):
    chat = repo_root / "examples" / "chat"
    extra = tmp_path / "payments.yaml"
    extra.write_text(EXTRA_SECRET)
    chart = tmp_path / "shop"
    assert main(["chartify", str(chat), str(extra), "--name", "shop", "-o", str(chart)]) == 0
    built = package(config_for(), PackageOptions(chart=chart, destination=tmp_path / "pkg"))
    publish(config_for(catalog), PublishOptions(packages=(built.path,))).raise_for_errors()
    pulled_dir = tmp_path / "pulled"
    pulled_dir.mkdir()
    pulled = registry_helm.pull(CatalogURL.parse(catalog).ref("shop"), pulled_dir, version=built.version)
    assert pulled.read_bytes() == built.path.read_bytes()
    text = _package_text(pulled)
    files = _package_files(pulled)
    # the chart still models the Secret: by default it names the existing one ...
    assert YAML(typ="safe").load(files["shop/values.yaml"])["chat"]["secret"]["existingSecret"] == "chat-mq"
    # ... and creates its own only when existingSecret is emptied
    guarded = re.compile(r"\{\{-? if not \.Values\.chat\.secret\.existingSecret -?\}\}\n"
                         r"(?:(?!\{\{-? end)[^\n]*\n)*?kind: Secret\nmetadata:\n  name: chat-mq\n")
    assert guarded.search(files["shop/templates/chat.yaml"]), "the chat-mq Secret is not guarded by existingSecret"
    secrets = _secret_values([chat, extra])
    # chat's RABBITMQ_USER is "chat", the app's own name, which the chart legitimately contains everywhere
    secrets = {s for s in secrets if len(s) >= 6}
    assert len(secrets) >= 8
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == [], f"secret values leaked into the published chart: {leaked}"
