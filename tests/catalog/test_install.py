"""Plain helm installs straight from the catalog: `helm install NAME oci://HOST/NAMESPACE/TYPE --version V`."""

from __future__ import annotations

import pytest

from toolkit.catalog.index import resolve
from toolkit.core.package import PackageOptions, package
from toolkit.core.publish import PublishOptions, publish

pytestmark = [pytest.mark.registry, pytest.mark.cluster]


def test_helm_installs_what_chartkit_published(make_chart, local_helm, config_for, registry_env, catalog, namespace,
                                                tmp_path):
    result = package(config_for(), PackageOptions(chart=make_chart("web", "3.1.4", message="from the catalog"),
                                                  destination=tmp_path))
    config = config_for(catalog)
    publish(config, PublishOptions(packages=(result.path,))).raise_for_errors()
    chosen = resolve(config.catalog, "web")
    assert chosen.version == "3.1.4"
    release = local_helm.install_or_upgrade("web", chosen.ref, version=chosen.version, namespace=namespace,
                                            wait=False, labels={"chartkit.dev/digest": chosen.digest[7:40]})
    assert release["info"]["status"] == "deployed"
    assert release["chart"]["metadata"]["version"] == "3.1.4"
    manifest = local_helm.get_manifest("web", namespace=namespace)
    assert '"from the catalog"' in manifest and "registry.example.invalid:5000/web:1.20" in manifest
    local_helm.uninstall("web", namespace=namespace, wait=False)
