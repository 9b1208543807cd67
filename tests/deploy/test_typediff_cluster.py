"""Type diffs, SemVer discipline and values migrations against the real registry and API server."""

from __future__ import annotations

import json

import pytest

from toolkit import cli
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.core.upgrade import UpgradeOptions, upgrade
from toolkit.errors import CatalogError, DeployError

pytestmark = pytest.mark.cluster

MIGRATION = """\
apiVersion: chartkit.dev/v1
kind: TypeDeclarations
migrations:
  - from: "<2.0.0"
    rename: {plan: tier}
"""


def _v2(chart, *, migration: bool = True):
    """tiny 2.0: the parameter `plan` is now `tier`, and replicaCount is capped at 5."""
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["tier"] = schema["properties"].pop("plan")
    schema["properties"]["replicaCount"]["maximum"] = 5
    (chart / "values.schema.json").write_text(json.dumps(schema))
    (chart / "values.yaml").write_text((chart / "values.yaml").read_text().replace("plan: small", "tier: small"))
    for name in ("deployment.yaml", "configmap.yaml"):
        path = chart / "templates" / name
        path.write_text(path.read_text().replace(".Values.plan", ".Values.tier"))
    if migration:
        (chart / "chartkit.yaml").write_text(MIGRATION)
    return chart


def test_breaking_publish_needs_a_major_and_a_migration_keeps_the_setting(config, catalog, cluster, kube, namespace,
                                                                          tiny_chart, publish_dir, tmp_path, capsys):
    publish_dir(tiny_chart(tmp_path, "tiny", "1.0.0"), "1.0.0")
    install(config, InstallOptions(instance="a", type_ref="tiny@1.0.0", namespace=namespace,
                                   values=ValuesInput(sets=("plan=large",))))
    install(config, InstallOptions(instance="b", type_ref="tiny@1.0.0", namespace=namespace, wait=False,
                                   values=ValuesInput(sets=("replicaCount=8",))))

    # the same change as a minor version is refused, with every breaking change listed
    with pytest.raises(CatalogError, match=r"tiny 1\.1\.0 breaks 1\.0\.0 without a major version: "
                                           r".*parameter renamed: plan -> tier.*range narrowed: replicaCount") as info:
        publish_dir(_v2(tiny_chart(tmp_path / "minor", "tiny", "1.1.0"), migration=False), "1.1.0")
    assert "--bump major" in str(info.value)
    publish_dir(_v2(tiny_chart(tmp_path, "tiny", "2.0.0")), "2.0.0")

    base = ["--catalog", str(catalog.url), "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context]
    capsys.readouterr()
    assert cli.main(["type", "diff", "tiny", "1.0.0", "2.0.0", *base, "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    kinds = {(c["kind"], c["subject"], c["breaking"]) for c in diff["changes"]}
    assert ("parameter renamed", "plan -> tier", False) in kinds  # the migration moves it
    assert ("range narrowed", "replicaCount", True) in kinds
    assert diff["needs"] == "major" and diff["semverViolation"] is False

    # upgrading keeps the instance's setting under its new name, and says so
    said = []
    result = upgrade(config, UpgradeOptions(instance="a", namespace=namespace, version="2.0.0"), progress=said.append)
    assert result.version == "2.0.0" and "renamed plan -> tier (kept 'large')" in result.note
    assert any("values migration to tiny 2.0.0: renamed plan -> tier" in line for line in said)
    assert kube.get("v1", "ConfigMap", "a-config", namespace)["data"]["plan"] == "large"

    # preflight: values the new version refuses stop the upgrade before the cluster changes, with the reason
    with pytest.raises(DeployError, match=r"unable to upgrade .*/b\" from tiny 1\.0\.0 to 2\.0\.0: its values fail "
                                          r"the new version's schema \(preflight\): parameter replicaCount"):
        upgrade(config, UpgradeOptions(instance="b", namespace=namespace, version="2.0.0", wait=False))
    assert kube.get("apps/v1", "Deployment", "b", namespace)["spec"]["replicas"] == 8


def test_a_version_the_catalog_holds_is_not_judged_again(catalog, helm_bin, tiny_chart, publish_dir, tmp_path):
    """A release pipeline re-run after publishing a breaking minor with --allow-breaking is a no-op, not a refusal:
    the breaking check judges only versions the catalog does not hold yet."""
    from toolkit.config import Config
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    publish_dir(tiny_chart(tmp_path, "tiny", "1.0.0"), "1.0.0")
    config = Config(catalog, helm_binary=helm_bin)
    chart = _v2(tiny_chart(tmp_path / "minor", "tiny", "1.1.0"), migration=False)
    path = package(config, PackageOptions(chart=chart, destination=chart.parent, offline=True)).path
    with pytest.raises(CatalogError, match=r"tiny 1\.1\.0 breaks 1\.0\.0 without a major version"):
        publish(config, PublishOptions(packages=(path,)))
    publish(config, PublishOptions(packages=(path,), allow_breaking=True)).raise_for_errors()
    again = publish(config, PublishOptions(packages=(path,)))
    again.raise_for_errors()
    assert [r.status.value for r in again.results] == ["already published"]
