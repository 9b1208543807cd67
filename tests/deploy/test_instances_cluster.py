"""Instances against the real local cluster and registry: lifecycle, failed upgrades, outdated, recovery."""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import replace

import pytest

from toolkit.config import CatalogRef, CatalogURL, ClusterRef, Config
from toolkit.core.deploy import DeployOptions, deploy
from toolkit.core.deprecate import DeprecateOptions, deprecate
from toolkit.core.history import HistoryOptions, history
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.core.instances import InstancesOptions, instances
from toolkit.core.outdated import OutdatedOptions, outdated
from toolkit.core.recover import RecoverOptions, RecoveryAction, plan, recover
from toolkit.core.rollback import RollbackOptions, rollback
from toolkit.core.uninstall import UninstallOptions, uninstall
from toolkit.core.upgrade import UpgradeOptions, upgrade
from toolkit.deploy.release import get_instance
from toolkit.errors import DeployError

pytestmark = pytest.mark.cluster


def _install(config, name, type_ref, namespace):
    return install(config, InstallOptions(instance=name, type_ref=type_ref, namespace=namespace))


def _upgrade(config, name, namespace, *sets, **options):
    return upgrade(config, UpgradeOptions(instance=name, namespace=namespace, values=ValuesInput(sets=sets),
                                          **options))


def _listed(config, namespace):
    return instances(config, InstancesOptions(namespace=namespace))


def _container(kube, name, namespace):
    dep = kube.wait_deployment_available(name, namespace, timeout=60)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return container["image"], {e["name"]: e.get("value") for e in container.get("env", [])}


def test_lifecycle_install_upgrade_rollback_uninstall(config, kube, namespace, publish_tiny):
    d1 = publish_tiny("1.0.0")

    r = _install(config, "web", "tiny@1.0.0", namespace)
    assert (r.revision, r.status, r.version, r.digest) == (1, "deployed", "1.0.0", d1)
    assert _container(kube, "web", namespace) == ("registry.example/team/tiny:1.0", {"MODE": "prod", "PLAN": "small"})

    r = _upgrade(config, "web", namespace, "plan=large")
    assert (r.revision, r.version, r.note) == (2, "1.0.0", "values")
    assert _container(kube, "web", namespace)[1]["PLAN"] == "large"

    d2 = publish_tiny("1.1.0")
    r = _upgrade(config, "web", namespace, "image.tag=1.1", version="latest")
    assert (r.revision, r.version, r.digest, r.note) == (3, "1.1.0", d2, "from 1.0.0")
    # the values change of revision 2 survives the version upgrade
    assert _container(kube, "web", namespace) == ("registry.example/team/tiny:1.1", {"MODE": "prod", "PLAN": "large"})

    r = rollback(config, RollbackOptions(instance="web", namespace=namespace, revision=1))
    assert (r.revision, r.status, r.version, r.digest) == (4, "deployed", "1.0.0", d1)
    assert _container(kube, "web", namespace) == ("registry.example/team/tiny:1.0", {"MODE": "prod", "PLAN": "small"})

    [inst] = _listed(config, namespace)
    assert (inst.name, inst.type, inst.version, inst.digest, inst.revision) == ("web", "tiny", "1.0.0", d1, 4)
    rows = history(config, HistoryOptions(instance="web", namespace=namespace))
    assert [(h.revision, h.version, h.digest) for h in rows] == [
        (1, "1.0.0", d1), (2, "1.0.0", d1), (3, "1.1.0", d2), (4, "1.0.0", d1)]
    assert rows[0].description.endswith(f"/tiny:1.0.0@{d1}")

    gone = uninstall(config, UninstallOptions(instance="web", namespace=namespace))
    assert gone.version == "1.0.0"
    assert kube.get("apps/v1", "Deployment", "web", namespace, missing_ok=True) is None
    assert _listed(config, namespace) == []


def test_upgrade_that_never_becomes_ready_is_rolled_back(config, kube, namespace, publish_tiny):
    publish_tiny("1.0.0")
    _install(config, "web", "tiny", namespace)
    # no node carries this label: the new pods stay Pending, the rollout never completes
    with pytest.raises(DeployError, match=r'unable to upgrade ".*/web" with tiny 1.0.0: .*; rolled back: '
                                          r"revision 3 \(rollback to 1\) is deployed"):
        _upgrade(config, "web", namespace, "nodeSelector.pool=nowhere", "plan=large", timeout="8s")
    inst = get_instance(config, "web", namespace)
    assert (inst.revision, inst.status, inst.version) == (3, "deployed", "1.0.0")
    assert _container(kube, "web", namespace)[1]["PLAN"] == "small"  # the previous revision still serves
    dep = kube.get("apps/v1", "Deployment", "web", namespace)
    assert "nodeSelector" not in dep["spec"]["template"]["spec"]


def test_outdated_flags_exactly_the_older_instances(config, namespace, publish_tiny):
    publish_tiny("1.0.0")
    for name in ("a", "b", "c"):
        _install(config, name, "tiny", namespace)
    report = outdated(config, OutdatedOptions(namespace=namespace))
    assert [r.instance.name for r in report.rows if r.outdated] == []

    publish_tiny("1.1.0")
    _upgrade(config, "b", namespace, version="latest")
    publish_tiny("1.2.0-rc.1")  # prereleases are not what instances should run
    publish_tiny("1.3.0")
    deprecate(config, DeprecateOptions(type="tiny", version="1.3.0", reason="broken", index_dir=None))  # nor these
    report = outdated(config, OutdatedOptions(namespace=namespace))
    assert {r.instance.name: (r.outdated, r.latest) for r in report.rows} == {
        "a": (True, "1.1.0"), "b": (False, "1.1.0"), "c": (True, "1.1.0")}
    assert report.registry_requests <= 2  # one tag list for the one type (plus the auth challenge), not one per instance


def _mark_pending(kube, name, namespace, revision):
    """Leave a revision the way a helm killed mid-upgrade does: its record says pending-upgrade."""
    secret = kube.get("v1", "Secret", f"sh.helm.release.v1.{name}.v{revision}", namespace)
    record = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    record["info"]["status"] = "pending-upgrade"
    packed = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(record).encode()))).decode()
    labels = {**secret["metadata"]["labels"], "status": "pending-upgrade"}
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "type": secret["type"],
                 "metadata": {"name": secret["metadata"]["name"], "namespace": namespace, "labels": labels},
                 "data": {"release": packed}}], namespace, field_manager="helm-killed")


def test_pending_release_is_detected_and_recovered(config, kube, namespace, publish_tiny):
    publish_tiny("1.0.0")
    _install(config, "web", "tiny", namespace)
    _upgrade(config, "web", namespace, "plan=large")
    _mark_pending(kube, "web", namespace, 2)

    assert get_instance(config, "web", namespace).pending
    with pytest.raises(DeployError, match=r"revision 2 is stuck in pending-upgrade"):
        _upgrade(config, "web", namespace, "plan=small")

    options = RecoverOptions(instance="web", namespace=namespace)
    planned = plan(config, options)
    assert (planned.action, planned.revision) == (RecoveryAction.ROLLBACK, 1)
    assert planned.describe("web", namespace) == (f"roll back {namespace}/web to revision 1 (revision 2 is stuck in "
                                                 "pending-upgrade; revision 1 is the last one that was deployed)")
    recover(config, options)
    inst = get_instance(config, "web", namespace)
    assert (inst.revision, inst.status) == (3, "deployed")
    assert _container(kube, "web", namespace)[1]["PLAN"] == "small"


def test_instances_from_another_catalog_are_not_compared_or_changed(config, catalog, helm_bin, namespace,
                                                                    publish_tiny):
    publish_tiny("1.0.0")
    _install(config, "a", "tiny", namespace)
    other = replace(catalog, url=CatalogURL.parse(f"{catalog.url}-other"))
    elsewhere = Config(other, config.cluster, helm_binary=helm_bin, timeout=config.timeout)
    report = outdated(elsewhere, OutdatedOptions(namespace=namespace))
    assert [(r.instance.name, r.outdated, r.note) for r in report.rows] == [
        ("a", False, "installed from another catalog")]
    with pytest.raises(DeployError, match=r'unable to change instance ".*/a" from catalog ".*-other": it was '
                                          r"installed from another catalog"):
        _upgrade(elsewhere, "a", namespace, "plan=large")


def test_install_refuses_a_plain_helm_release_of_that_name_and_leaves_it(config, kube, namespace, local_helm,
                                                                         publish_tiny, tmp_path):
    publish_tiny("1.0.0")
    # the same chart straight from its directory: a release helm made without chartkit's labels
    local_helm.install_or_upgrade("web", tmp_path / "tiny-1.0.0" / "tiny", namespace=namespace, timeout="90s")
    before = local_helm.history("web", namespace=namespace)

    with pytest.raises(DeployError, match=rf'unable to install "{namespace}/web": a helm release "web" exists there '
                                          r"that was not installed by chartkit"):
        _install(config, "web", "tiny@1.0.0", namespace)
    assert local_helm.history("web", namespace=namespace) == before
    assert _listed(config, namespace) == []


def test_deploy_installs_then_upgrades_and_refuses_another_type(config, namespace, publish_tiny):
    publish_tiny("1.0.0")
    publish_tiny("1.0.0", name="other")
    first = deploy(config, DeployOptions(instance="web", type_ref="tiny@1.0.0", namespace=namespace))
    assert (first.action, first.version, first.revision) == ("install", "1.0.0", 1)
    publish_tiny("1.1.0")
    second = deploy(config, DeployOptions(instance="web", type_ref="tiny", namespace=namespace))
    assert (second.action, second.version, second.revision) == ("upgrade", "1.1.0", 2)

    with pytest.raises(DeployError, match=rf'unable to deploy other as "{namespace}/web": the instance is '
                                          r"tiny 1\.1\.0"):
        deploy(config, DeployOptions(instance="web", type_ref="other", namespace=namespace))
    [inst] = _listed(config, namespace)
    assert (inst.type, inst.version, inst.revision) == ("tiny", "1.1.0", 2)


def test_cluster_only_commands_never_resolve_the_catalog(config, helm_bin, kube, namespace, publish_tiny):
    from toolkit.core.bind import BindingRef, bindings

    publish_tiny("1.0.0")
    _install(config, "web", "tiny", namespace)
    _upgrade(config, "web", namespace, "plan=large")

    def no_catalog():
        raise AssertionError("a cluster-only command resolved the catalog")

    lazy = Config(no_catalog, config.cluster, helm_binary=helm_bin, timeout=config.timeout)
    assert [i.name for i in _listed(lazy, namespace)] == ["web"]
    assert [h.revision for h in history(lazy, HistoryOptions(instance="web", namespace=namespace))] == [1, 2]
    assert plan(lazy, RecoverOptions(instance="web", namespace=namespace)).action is RecoveryAction.NONE
    assert bindings(lazy, BindingRef(instance="web", namespace=namespace)) == []
    assert rollback(lazy, RollbackOptions(instance="web", namespace=namespace, revision=1)).revision == 3
    assert uninstall(lazy, UninstallOptions(instance="web", namespace=namespace)).name == "web"
    assert _listed(lazy, namespace) == []


def test_install_pulls_the_digest_it_resolved_even_if_the_tag_moves(config, kube, namespace, publish_tiny,
                                                                   catalog, local_helm, tiny_chart, tmp_path,
                                                                   monkeypatch):
    import toolkit.catalog.index as index
    import toolkit.deploy.fetch as fetch

    d1 = publish_tiny("1.0.0")
    # another writer (plain helm push, which chartkit cannot stop) overwrites tag 1.0.0 with other content
    other = tiny_chart(tmp_path / "other", "tiny", "1.0.0")
    (other / "templates" / "configmap.yaml").write_text(
        (other / "templates" / "configmap.yaml").read_text() + '  overwritten: "yes"\n')
    other_pkg = local_helm.package(other, tmp_path / "other-pkg")
    real_resolve = fetch.resolve

    def resolve_then_tag_moves(*args, **kwargs):
        found = real_resolve(*args, **kwargs)
        local_helm.push(other_pkg, str(catalog.url))
        return found

    monkeypatch.setattr(fetch, "resolve", resolve_then_tag_moves)
    r = _install(config, "web", "tiny@1.0.0", namespace)
    monkeypatch.setattr(fetch, "resolve", real_resolve)
    assert r.digest == d1
    assert index.resolve(catalog, "tiny", "1.0.0").digest != d1  # the tag really moved
    configmap = kube.get("v1", "ConfigMap", "web-config", namespace)
    assert configmap["data"] == {"plan": "small"}  # the resolved artifact, not the one now under the tag


def test_registry_credentials_from_the_environment_reach_helm(catalog, cluster, registry, helm_bin, namespace,
                                                              publish_tiny, tmp_path, monkeypatch):
    d1 = publish_tiny("1.0.0")
    # a pipeline with only env credentials: no registry config file anywhere helm or chartkit would look
    for name in ("HELM_REGISTRY_CONFIG", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHARTKIT_CACHE", str(tmp_path / "cache"))  # an empty chart cache: the install really pulls
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("CHARTKIT_REGISTRY_USERNAME", registry.username)
    monkeypatch.setenv("CHARTKIT_REGISTRY_PASSWORD", registry.password)
    env_only = Config(CatalogRef(catalog.url, "test", registry.ca_file, None),
                      ClusterRef(cluster.kubeconfig, cluster.context), helm_binary=helm_bin, timeout="90s")
    helm = env_only.helm()
    # helm gets them as an in-memory registry config for the catalog's host: no file on disk, none in argv
    assert helm.config.registry_config is None and helm.config.registry_host == catalog.url.host
    shown = helm.show_chart(catalog.url.ref("tiny"), version="1.0.0")
    assert "name: tiny" in shown
    r = _install(env_only, "web", "tiny@1.0.0", namespace)
    assert (r.status, r.digest) == ("deployed", d1)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and registry.password.encode() in p.read_bytes()]
    assert written == []  # not in the working tree, the home directory or the cache
