"""Buying from another broker: a second ``chartkit broker`` process with a catalog of its own is the vendor; the
org registers it, lists its plans beside its own types, provisions and binds through the OSB client, and the app
gets a binding Secret of the same shape as an in-cluster instance's."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.broker.conftest import PASSWORD, USER, write_mq_chart

pytestmark = pytest.mark.cluster


@pytest.fixture
def org_catalog(registry, helm_bin, tmp_path):
    """The org's own catalog, holding one type (orgdb)."""
    from toolkit.config import CatalogRef, CatalogURL, Config
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    catalog = CatalogRef(CatalogURL.parse(f"{registry.url}/org-{uuid.uuid4().hex[:8]}"), "test", registry.ca_file,
                         registry.registry_config)
    chart = write_mq_chart(tmp_path / "org", "2.0.0", name="orgdb")
    config = Config(catalog, helm_binary=helm_bin)
    made = package(config, PackageOptions(chart=chart, version="2.0.0", destination=chart.parent, offline=True))
    publish(config, PublishOptions(packages=(made.path,), index_dir=None)).raise_for_errors()
    return catalog


def test_provision_and_bind_through_a_vendor_broker(mq_catalog, org_catalog, start_broker, cluster, kube, tmp_path,
                                                    capsys, namespace, state_namespace):
    from toolkit.cli import main

    vendor = start_broker(mq_catalog)  # the vendor: its own process, catalog and records
    org_state = f"org-{uuid.uuid4().hex[:8]}"
    password_file = tmp_path / "vendor-password"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)
    common = ["--catalog", str(org_catalog.url), "--ca-file", str(org_catalog.ca_file), "--registry-config",
              str(org_catalog.registry_config), "--kubeconfig", str(cluster.kubeconfig), "--kube-context",
              cluster.context, "--state-namespace", org_state]
    try:
        assert main(["marketplace", "add", "vendor", vendor.url, "--username", USER, "--password-file",
                     str(password_file), *common]) == 0
        assert "1 services" in capsys.readouterr().out
        stored = kube.get("v1", "Secret", "chartkit-marketplace-vendor", org_state)
        assert stored["type"] == "chartkit.io/marketplace-broker"  # the vendor's credentials live in a Secret

        assert main(["marketplace", "list", "--json", *common]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert {(r["source"], r["service"], r["plan"]) for r in rows} == {
            ("catalog", "orgdb", "small"), ("catalog", "orgdb", "large"), ("catalog", "orgdb", "nobind"),
            ("vendor", "mq", "small"), ("vendor", "mq", "large"), ("vendor", "mq", "nobind")}

        assert main(["provision", "bought", "mq", "--plan", "small", "--marketplace", "vendor", "-n", namespace,
                     "--json", *common]) == 0
        made = json.loads(capsys.readouterr().out)
        assert (made["marketplace"], made["operation"]["state"], made["plan"]) == ("vendor", "succeeded", "small")

        assert main(["bind", "bought", "-n", namespace, "--consumer-namespace", namespace, "--name", "bought-mq",
                     *common]) == 0
        out = capsys.readouterr().out
        assert "bought-mq" in out and PASSWORD not in out
        bought = kube.get("v1", "Secret", "bought-mq", namespace)

        # the vendor's own binding Secret (in its instance's namespace) has the very same shape
        vendor_secrets = [s for s in kube.list("v1", "Secret", None, selector="chartkit.io/binding-of")
                          if s["metadata"]["namespace"].startswith("si-") and s["type"] == "servicebinding.io/mq"
                          and s["metadata"]["labels"]["chartkit.io/binding-namespace"] == s["metadata"]["namespace"]]
        assert vendor_secrets, "the vendor made a binding Secret of its own"
        assert bought["type"] == "servicebinding.io/mq"
        assert sorted(bought["data"]) == sorted(vendor_secrets[-1]["data"]) == [
            "host", "password", "port", "provider", "type", "uri", "username"]

        assert main(["provisioned", "-n", namespace, *common]) == 0
        assert "vendor" in capsys.readouterr().out

        assert main(["deprovision", "bought", "-n", namespace, *common]) == 0
        capsys.readouterr()
        assert kube.get("v1", "Secret", "bought-mq", namespace, missing_ok=True) is None
        with vendor.client() as http:  # gone at the vendor too
            remaining = [s for s in kube.list("v1", "Secret", state_namespace, selector="chartkit.io/record")
                         if json.loads(__import__("base64").b64decode(
                             (s.get("data") or {}).get("instance.json") or "e30=")).get("deprovisioned") is False]
            assert remaining == []
            assert http.get("/v2/catalog").status_code == 200
        assert main(["marketplace", "remove", "vendor", *common]) == 0
        assert kube.get("v1", "Secret", "chartkit-marketplace-vendor", org_state, missing_ok=True) is None
    finally:
        kube.delete("v1", "Namespace", org_state, wait=False)
