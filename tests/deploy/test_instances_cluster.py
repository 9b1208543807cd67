"""Instances against the real local cluster and registry: lifecycle, failed upgrades, outdated, recovery."""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import replace

import pytest

from toolkit.catalog.index import deprecate
from toolkit.deploy import instances
from toolkit.deploy.config import Settings
from toolkit.deploy.instances import InstanceOptions, RecoveryAction
from toolkit.errors import DeployError

pytestmark = pytest.mark.cluster


@pytest.fixture
def settings(catalog, cluster):
    return Settings(catalog, cluster.kubeconfig, cluster.context, "90s")


def _container(kube, name, namespace):
    dep = kube.wait_deployment_available(name, namespace, timeout=60)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return container["image"], {e["name"]: e.get("value") for e in container.get("env", [])}


def test_lifecycle_install_upgrade_rollback_uninstall(settings, kube, namespace, publish_tiny):
    d1 = publish_tiny("1.0.0")
    opts = InstanceOptions(namespace=namespace)

    r = instances.install(settings, "web", "tiny@1.0.0", opts)
    assert (r.revision, r.status, r.version, r.digest) == (1, "deployed", "1.0.0", d1)
    assert _container(kube, "web", namespace) == ("registry.example/team/tiny:1.0", {"MODE": "prod", "PLAN": "small"})

    r = instances.upgrade(settings, "web", InstanceOptions(namespace=namespace, sets=("plan=large",)))
    assert (r.revision, r.version, r.note) == (2, "1.0.0", "values")
    assert _container(kube, "web", namespace)[1]["PLAN"] == "large"

    d2 = publish_tiny("1.1.0")
    r = instances.upgrade(settings, "web", InstanceOptions(namespace=namespace, sets=("image.tag=1.1",)),
                          to="latest")
    assert (r.revision, r.version, r.digest, r.note) == (3, "1.1.0", d2, "from 1.0.0")
    # the values change of revision 2 survives the version upgrade
    assert _container(kube, "web", namespace) == ("registry.example/team/tiny:1.1", {"MODE": "prod", "PLAN": "large"})

    r = instances.rollback(settings, "web", 1, namespace=namespace)
    assert (r.revision, r.status, r.version, r.digest) == (4, "deployed", "1.0.0", d1)
    assert _container(kube, "web", namespace) == ("registry.example/team/tiny:1.0", {"MODE": "prod", "PLAN": "small"})

    [inst] = instances.list_instances(settings, namespace=namespace)
    assert (inst.name, inst.type, inst.version, inst.digest, inst.revision) == ("web", "tiny", "1.0.0", d1, 4)
    rows = instances.history(settings, "web", namespace=namespace)
    assert [(h["revision"], h["version"], h["digest"]) for h in rows] == [
        (1, "1.0.0", d1), (2, "1.0.0", d1), (3, "1.1.0", d2), (4, "1.0.0", d1)]
    assert rows[0]["description"].endswith(f"/tiny:1.0.0@{d1}")

    gone = instances.uninstall(settings, "web", namespace=namespace)
    assert gone.version == "1.0.0"
    assert kube.get("apps/v1", "Deployment", "web", namespace, missing_ok=True) is None
    assert instances.list_instances(settings, namespace=namespace) == []


def test_upgrade_that_never_becomes_ready_is_rolled_back(settings, kube, namespace, publish_tiny):
    publish_tiny("1.0.0")
    instances.install(settings, "web", "tiny", InstanceOptions(namespace=namespace))
    # no node carries this label: the new pods stay Pending, the rollout never completes
    bad = InstanceOptions(namespace=namespace, sets=("nodeSelector.pool=nowhere", "plan=large"), timeout="8s")
    with pytest.raises(DeployError, match=r'unable to upgrade ".*/web" with tiny 1.0.0: .*; rolled back: '
                                          r"revision 3 \(rollback to 1\) is deployed"):
        instances.upgrade(settings, "web", bad)
    inst = instances.get_instance(settings, "web", namespace)
    assert (inst.revision, inst.status, inst.version) == (3, "deployed", "1.0.0")
    assert _container(kube, "web", namespace)[1]["PLAN"] == "small"  # the previous revision still serves
    dep = kube.get("apps/v1", "Deployment", "web", namespace)
    assert "nodeSelector" not in dep["spec"]["template"]["spec"]


def test_outdated_flags_exactly_the_older_instances(settings, catalog, namespace, publish_tiny):
    publish_tiny("1.0.0")
    for name in ("a", "b", "c"):
        instances.install(settings, name, "tiny", InstanceOptions(namespace=namespace))
    rows, _ = instances.outdated(settings, namespace=namespace)
    assert [r.instance.name for r in rows if r.outdated] == []

    publish_tiny("1.1.0")
    instances.upgrade(settings, "b", InstanceOptions(namespace=namespace), to="latest")
    publish_tiny("1.2.0-rc.1")  # prereleases are not what instances should run
    publish_tiny("1.3.0")
    deprecate(catalog.url, "tiny", "1.3.0", index_dir=None, reason="broken", ca_file=catalog.ca_file,
              registry_config=catalog.registry_config)  # nor deprecated versions
    rows, requests = instances.outdated(settings, namespace=namespace)
    assert {r.instance.name: (r.outdated, r.latest) for r in rows} == {
        "a": (True, "1.1.0"), "b": (False, "1.1.0"), "c": (True, "1.1.0")}
    assert requests <= 2  # one tag list for the one type (plus the auth challenge), not one per instance


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


def test_pending_release_is_detected_and_recovered(settings, kube, namespace, publish_tiny):
    publish_tiny("1.0.0")
    instances.install(settings, "web", "tiny", InstanceOptions(namespace=namespace))
    instances.upgrade(settings, "web", InstanceOptions(namespace=namespace, sets=("plan=large",)))
    _mark_pending(kube, "web", namespace, 2)

    assert instances.get_instance(settings, "web", namespace).pending
    with pytest.raises(DeployError, match=r"revision 2 is stuck in pending-upgrade"):
        instances.upgrade(settings, "web", InstanceOptions(namespace=namespace, sets=("plan=small",)))

    plan = instances.recover(settings, "web", namespace=namespace)
    assert (plan.action, plan.revision) == (RecoveryAction.ROLLBACK, 1)
    assert plan.describe("web", namespace) == (f"roll back {namespace}/web to revision 1 (revision 2 is stuck in "
                                              "pending-upgrade; revision 1 is the last one that was deployed)")
    instances.recover(settings, "web", namespace=namespace, apply=True)
    inst = instances.get_instance(settings, "web", namespace)
    assert (inst.revision, inst.status) == (3, "deployed")
    assert _container(kube, "web", namespace)[1]["PLAN"] == "small"


def test_instances_from_another_catalog_are_not_compared_or_changed(settings, namespace, publish_tiny):
    publish_tiny("1.0.0")
    instances.install(settings, "a", "tiny", InstanceOptions(namespace=namespace))
    elsewhere = replace(settings, catalog_source=replace(settings.catalog, url=settings.catalog.url + "-other"))
    rows, _ = instances.outdated(elsewhere, namespace=namespace)
    assert [(r.instance.name, r.outdated, r.note) for r in rows] == [("a", False, "installed from another catalog")]
    with pytest.raises(DeployError, match=r'unable to change instance ".*/a" from catalog ".*-other": it was '
                                          r"installed from another catalog"):
        instances.upgrade(elsewhere, "a", InstanceOptions(namespace=namespace, sets=("plan=large",)))


def test_install_refuses_a_plain_helm_release_of_that_name_and_leaves_it(settings, kube, namespace, local_helm,
                                                                         publish_tiny, tmp_path):
    publish_tiny("1.0.0")
    # the same chart straight from its directory: a release helm made without chartkit's labels
    local_helm.install_or_upgrade("web", tmp_path / "tiny-1.0.0" / "tiny", namespace=namespace, timeout="90s")
    before = local_helm.history("web", namespace=namespace)

    with pytest.raises(DeployError, match=rf'unable to install "{namespace}/web": a helm release "web" exists there '
                                          r"that was not installed by chartkit"):
        instances.install(settings, "web", "tiny@1.0.0", InstanceOptions(namespace=namespace))
    assert local_helm.history("web", namespace=namespace) == before
    assert instances.list_instances(settings, namespace=namespace) == []


def test_deploy_installs_then_upgrades_and_refuses_another_type(settings, namespace, publish_tiny):
    publish_tiny("1.0.0")
    publish_tiny("1.0.0", name="other")
    opts = InstanceOptions(namespace=namespace)
    first = instances.deploy(settings, "web", "tiny@1.0.0", opts)
    assert (first.action, first.version, first.revision) == ("install", "1.0.0", 1)
    publish_tiny("1.1.0")
    second = instances.deploy(settings, "web", "tiny", opts)
    assert (second.action, second.version, second.revision) == ("upgrade", "1.1.0", 2)

    with pytest.raises(DeployError, match=rf'unable to deploy other as "{namespace}/web": the instance is '
                                          r"tiny 1\.1\.0"):
        instances.deploy(settings, "web", "other", opts)
    [inst] = instances.list_instances(settings, namespace=namespace)
    assert (inst.type, inst.version, inst.revision) == ("tiny", "1.1.0", 2)


def test_cluster_only_commands_never_resolve_the_catalog(settings, kube, namespace, publish_tiny):
    from toolkit.deploy import binding

    publish_tiny("1.0.0")
    instances.install(settings, "web", "tiny", InstanceOptions(namespace=namespace))
    instances.upgrade(settings, "web", InstanceOptions(namespace=namespace, sets=("plan=large",)))

    def no_catalog():
        raise AssertionError("a cluster-only command resolved the catalog")

    lazy = Settings(no_catalog, settings.kubeconfig, settings.context, settings.timeout)
    assert [i.name for i in instances.list_instances(lazy, namespace=namespace)] == ["web"]
    assert [h["revision"] for h in instances.history(lazy, "web", namespace=namespace)] == [1, 2]
    assert instances.recover(lazy, "web", namespace=namespace).action is RecoveryAction.NONE
    assert binding.bindings(lazy, "web", namespace=namespace) == []
    assert instances.rollback(lazy, "web", 1, namespace=namespace).revision == 3
    assert instances.uninstall(lazy, "web", namespace=namespace).name == "web"
    assert instances.list_instances(lazy, namespace=namespace) == []


def test_install_pulls_the_digest_it_resolved_even_if_the_tag_moves(settings, kube, namespace, publish_tiny,
                                                                   catalog, local_helm, tiny_chart, tmp_path,
                                                                   monkeypatch):
    import toolkit.catalog.index as index

    d1 = publish_tiny("1.0.0")
    # another writer (plain helm push, which chartkit cannot stop) overwrites tag 1.0.0 with other content
    other = tiny_chart(tmp_path / "other", "tiny", "1.0.0")
    (other / "templates" / "configmap.yaml").write_text(
        (other / "templates" / "configmap.yaml").read_text() + '  overwritten: "yes"\n')
    other_pkg = local_helm.package(other, tmp_path / "other-pkg")
    real_resolve = index.resolve

    def resolve_then_tag_moves(*args, **kwargs):
        found = real_resolve(*args, **kwargs)
        local_helm.push(other_pkg, catalog.url)
        return found

    monkeypatch.setattr(index, "resolve", resolve_then_tag_moves)
    r = instances.install(settings, "web", "tiny@1.0.0", InstanceOptions(namespace=namespace))
    monkeypatch.setattr(index, "resolve", real_resolve)
    assert r.digest == d1
    assert index.resolve(catalog.url, "tiny", "1.0.0", ca_file=catalog.ca_file,
                         registry_config=catalog.registry_config).digest != d1  # the tag really moved
    config = kube.get("v1", "ConfigMap", "web-config", namespace)
    assert config["data"] == {"plan": "small"}  # the resolved artifact, not the one now under the tag


def test_registry_credentials_from_the_environment_reach_helm(catalog, cluster, registry, kube, namespace,
                                                              publish_tiny, tmp_path, monkeypatch):
    from toolkit.deploy.config import CatalogConfig

    d1 = publish_tiny("1.0.0")
    # a pipeline with only env credentials: no registry config file anywhere helm or chartkit would look
    for name in ("HELM_REGISTRY_CONFIG", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    from toolkit.localenv import paths

    monkeypatch.setenv("CHARTKIT_CACHE", str(paths.cache_root()))  # keep finding the cached helm build
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("CHARTKIT_REGISTRY_USERNAME", registry.username)
    monkeypatch.setenv("CHARTKIT_REGISTRY_PASSWORD", registry.password)
    env_only = Settings(CatalogConfig(catalog.url, "test", registry.ca_file, None), cluster.kubeconfig,
                        cluster.context, "90s")
    helm = env_only.helm()
    written = helm.config.registry_config
    assert written is not None and oct(written.stat().st_mode & 0o777) == "0o600"
    assert not str(written).startswith(str(tmp_path))  # a private temp dir, not the working tree
    r = instances.install(env_only, "web", "tiny@1.0.0", InstanceOptions(namespace=namespace), helm=helm)
    assert (r.status, r.digest) == ("deployed", d1)
