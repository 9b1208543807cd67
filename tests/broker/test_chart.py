"""The broker ships as a chart made by chartkit itself: charts/chartkit-broker is chartify's output for
examples/chartkit-broker, renders N replicas behind a Service with least-privilege RBAC and the credentials from a
Secret, and packages and publishes like any type."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from toolkit.chartify import ChartifyOptions, chartify
from toolkit.objects import parse_manifest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "chartkit-broker"


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_committed_chart_is_what_chartify_generates_today(tmp_path):
    chartify([str(REPO / "examples" / "chartkit-broker")], ChartifyOptions(
        name="chartkit-broker", output=tmp_path / "out", overrides=CHART / ".chartify-overrides.yaml", verify=False))
    assert _files(tmp_path / "out") == _files(CHART), \
        "regenerate: chartkit chartify examples/chartkit-broker --name chartkit-broker -o charts/chartkit-broker"


@pytest.mark.helm
def test_it_renders_replicas_a_service_least_privilege_rbac_and_the_credentials_secret(helm_bin):
    from toolkit.adapters.helm import Helm, HelmConfig

    rendered = Helm(HelmConfig(executable=helm_bin)).template(
        CHART, release="broker", namespace="chartkit-system", set_values=["chartkitBroker.replicaCount=3"])
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in parse_manifest(rendered, "chartkit-broker")}
    dep = objects["Deployment/chartkit-broker"]
    assert dep["spec"]["replicas"] == 3
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["args"][:2] == ["broker", "--host=0.0.0.0"]
    assert "--credentials-file=/etc/chartkit-broker/credentials" in container["args"]
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["credentials"]["secret"] == {"secretName": "chartkit-broker-credentials", "defaultMode": 256}
    assert "Secret/chartkit-broker-credentials" not in objects  # existingSecret: the chart carries no credentials
    assert objects["Service/chartkit-broker"]["spec"]["ports"][0]["port"] == 8080
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "chartkit-broker"
    rules = objects["ClusterRole/chartkit-broker"]["rules"] + objects["Role/chartkit-broker-leases"]["rules"]
    assert not [r for r in rules if "*" in r["verbs"] or "*" in r["resources"] or "*" in r["apiGroups"]]
    assert objects["Role/chartkit-broker-leases"]["rules"][0]["resources"] == ["leases"]


@pytest.mark.registry
def test_it_is_packaged_and_published_by_chartkit(registry, helm_bin, tmp_path):
    from toolkit.config import CatalogRef, CatalogURL, Config
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    catalog = CatalogRef(CatalogURL.parse(f"{registry.url}/cb-{uuid.uuid4().hex[:8]}"), "test", registry.ca_file,
                         registry.registry_config)
    config = Config(catalog, helm_binary=helm_bin)
    made = package(config, PackageOptions(chart=CHART, version="0.1.0", destination=tmp_path, offline=True))
    report = publish(config, PublishOptions(packages=(made.path,), index_dir=tmp_path / "index"))
    report.raise_for_errors()
    import json

    entry = json.loads((tmp_path / "index" / "index.json").read_text())["types"]["chartkit-broker"]["0.1.0"]
    assert {o["key"] for o in entry["declarations"]["outputs"]} == {"host", "port", "credentials"}
    schema = json.loads((CHART / "values.schema.json").read_text())
    image = schema["properties"]["chartkitBroker"]["properties"]["image"]
    assert image["readOnly"] is True and image["const"]["repository"] == "platform/chartkit"  # the owner's lock
