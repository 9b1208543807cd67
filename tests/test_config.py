"""One configuration (toolkit.config): the catalog's resolution order, shared by catalog and instance commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit import localenv
from toolkit.catalog.index import Index, write_index
from toolkit.config import resolve, resolve_catalog, resolve_index_dir
from toolkit.errors import InputError

# --- resolution order, without a fallback (was tests/deploy/test_config.py) ---------------------------------


@pytest.fixture
def env(tmp_path):
    ca, reg = tmp_path / "ca.pem", tmp_path / "config.json"
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "CHARTKIT_REGISTRY_CA": str(ca), "HELM_REGISTRY_CONFIG": str(reg)}


def _files(tmp_path, project: str | None, user: str | None):
    work = tmp_path / "proj" / "sub"
    work.mkdir(parents=True)
    if project is not None:
        (tmp_path / "proj" / ".chartkit.yaml").write_text(project)
    if user is not None:
        (tmp_path / "xdg" / "chartkit").mkdir(parents=True)
        (tmp_path / "xdg" / "chartkit" / "config.yaml").write_text(user)
    return work


@pytest.mark.parametrize(("flag", "env_value", "project", "user", "url", "source"), [
    ("oci://flag.example/a", "oci://env.example/b", "catalog: oci://proj.example/c", None,
     "oci://flag.example/a", "--catalog"),
    (None, "oci://env.example/b", "catalog: oci://proj.example/c", None, "oci://env.example/b", "CHARTKIT_CATALOG"),
    (None, None, "catalog: oci://proj.example/c", "catalog: oci://user.example/d", "oci://proj.example/c",
     ".chartkit.yaml"),
    (None, None, None, "catalog: oci://user.example/d", "oci://user.example/d", "config.yaml"),
], ids=["flag", "env", "project-file", "user-file"])
def test_catalog_resolution_order(tmp_path, env, flag, env_value, project, user, url, source):
    work = _files(tmp_path, project, user)
    if env_value:
        env["CHARTKIT_CATALOG"] = env_value
    found = resolve_catalog(flag, env=env, cwd=work)
    assert str(found.url) == url and found.source.endswith(source)
    assert str(found.ca_file) == env["CHARTKIT_REGISTRY_CA"]


def test_config_file_paths_are_relative_to_the_file(tmp_path, env):
    del env["CHARTKIT_REGISTRY_CA"], env["HELM_REGISTRY_CONFIG"]
    work = _files(tmp_path, "catalog: oci://proj.example/c\ncaFile: certs/ca.pem\nregistryConfig: /abs/cfg.json\n", None)
    found = resolve_catalog(None, env=env, cwd=work)
    assert found.ca_file == tmp_path / "proj" / "certs" / "ca.pem"
    assert str(found.registry_config) == "/abs/cfg.json"


@pytest.mark.parametrize(("project", "message"), [
    ("catalog: http://nope", r'unable to use "catalog" in ".*\.chartkit\.yaml": unable to use catalog "http://nope"'),
    ("- a list", r"the top level must be a map"),
], ids=["bad-url", "not-a-map"])
def test_bad_config_file_is_named(tmp_path, env, project, message):
    work = _files(tmp_path, project, None)
    with pytest.raises(InputError, match=message):
        resolve_catalog(None, env=env, cwd=work)


def test_no_catalog_without_local_fallback(tmp_path, env):
    with pytest.raises(InputError, match="unable to find a catalog"):
        resolve_catalog(None, env=env, cwd=_files(tmp_path, None, None))


def test_settings_resolve_the_catalog_only_when_it_is_used(tmp_path, env):
    # a bad --catalog is only noticed by a command that reaches the catalog; cluster-only commands never look
    config = resolve(catalog="http://not-oci.example", kubeconfig=str(tmp_path / "kubeconfig"), env=env,
                     cwd=_files(tmp_path, None, None))
    assert config.cluster.kubeconfig == tmp_path / "kubeconfig"
    with pytest.raises(InputError, match="oci://"):
        config.catalog


def test_ca_file_and_registry_config_flags_win_over_the_config_file(tmp_path, env):
    del env["CHARTKIT_REGISTRY_CA"], env["HELM_REGISTRY_CONFIG"]
    work = _files(tmp_path, "catalog: oci://proj.example/c\ncaFile: file-ca.pem\nregistryConfig: file-cfg.json\n", None)
    flagged = resolve(kubeconfig=str(tmp_path / "kc"), env=env, cwd=work,
                      ca_file=tmp_path / "flag-ca.pem", registry_config=tmp_path / "flag-cfg.json")
    assert (str(flagged.catalog.url), flagged.catalog.ca_file, flagged.catalog.registry_config) == (
        "oci://proj.example/c", tmp_path / "flag-ca.pem", tmp_path / "flag-cfg.json")
    plain = resolve(kubeconfig=str(tmp_path / "kc"), env=env, cwd=work)
    assert plain.catalog.ca_file == tmp_path / "proj" / "file-ca.pem"
    assert plain.catalog.registry_config == tmp_path / "proj" / "file-cfg.json"


# --- catalog and instance commands agree, the local registry as the fallback (was tests/catalog/test_settings.py)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("CHARTKIT_CATALOG", "CHARTKIT_INDEX", "CHARTKIT_REGISTRY_CA", "HELM_REGISTRY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return work


def _catalog_command(catalog: str | None = None, *, ca_file: Path | None = None, index_dir: Path | None = None):
    """What catalog commands (package, publish, sync, deprecate) resolve: a running local registry, never started."""
    resolve_index_dir(index_dir)
    return resolve_catalog(catalog, ca_file=ca_file, fallback=localenv.fallback(start_registry=False))


def _instance_command():
    """What instance commands (install, upgrade, ...) resolve: the local registry, started on demand."""
    return resolve_catalog(None, fallback=localenv.fallback())


def _stale_index(index_dir: Path) -> None:
    """An index committed on another machine, naming that machine's registry."""
    write_index(index_dir, Index(catalog="oci://127.0.0.1:39415/charts"))


@pytest.mark.parametrize("source", ["env", "project-file", "user-file"], ids=["env", "project-file", "user-file"])
def test_catalog_and_install_settings_pick_the_same_catalog(clean_env: Path, tmp_path: Path, registry,
                                                             monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    wanted = f"{registry.url}/team-{source}"
    if source == "env":
        monkeypatch.setenv("CHARTKIT_CATALOG", wanted)
    elif source == "project-file":
        (tmp_path / "project" / ".chartkit.yaml").write_text(f"catalog: {wanted}\n")
    else:
        (tmp_path / "xdg" / "chartkit").mkdir(parents=True)
        (tmp_path / "xdg" / "chartkit" / "config.yaml").write_text(f"catalog: {wanted}\n")
    index_dir = tmp_path / "repo-index"
    _stale_index(index_dir)

    publish = _catalog_command(index_dir=index_dir)
    install = _instance_command()

    assert str(publish.url) == str(install.url) == wanted
    assert (publish.ca_file, publish.registry_config) == (install.ca_file, install.registry_config)
    assert publish.ca_file == registry.ca_file and publish.registry_config == registry.registry_config


def test_index_catalog_never_decides(clean_env: Path, tmp_path: Path, registry) -> None:
    index_dir = tmp_path / "repo-index"
    _stale_index(index_dir)
    assert json.loads((index_dir / "index.json").read_text())["catalog"] == "oci://127.0.0.1:39415/charts"

    publish = _catalog_command(index_dir=index_dir)

    assert str(publish.url) == f"{registry.url}/charts" == str(_instance_command().url)


def test_flags_override_credentials_but_not_the_order(clean_env: Path, tmp_path: Path, registry) -> None:
    ca = tmp_path / "other-ca.pem"
    got = _catalog_command(f"{registry.url}/x", ca_file=ca, index_dir=tmp_path / "i")
    assert (str(got.url), got.ca_file, got.registry_config) == (f"{registry.url}/x", ca, registry.registry_config)


def test_bad_config_file_is_reported_not_skipped(clean_env: Path, tmp_path: Path) -> None:
    (tmp_path / "project" / ".chartkit.yaml").write_text("catalog: http://nope/x\n")
    with pytest.raises(InputError, match=r'unable to use "catalog" in ".*\.chartkit\.yaml"'):
        _catalog_command(index_dir=tmp_path / "i")


# --- the Gateway rollouts attach to, and the metrics the gates and the graph read (issue 13) --------------------

def _local_gateway():
    from toolkit.config import GatewayRef

    local = "/state/cluster/kubeconfig"
    return lambda ref: GatewayRef("chartkit", "chartkit-gateway", "http://127.0.0.1:1/metrics", "local gateway") \
        if str(ref.kubeconfig) == local else None


@pytest.mark.parametrize(("flag", "env_value", "project", "expected", "source", "metrics"), [
    ("infra/web", "ops/edge", "gateway: team/gw", ("web", "infra"), "--gateway", None),
    (None, "ops/edge", "gateway: team/gw", ("edge", "ops"), "CHARTKIT_GATEWAY", None),
    (None, None, "gateway: team/gw\ngatewayMetrics: http://gw.example:9100/metrics", ("gw", "team"), ".chartkit.yaml",
     "http://gw.example:9100/metrics"),
    (None, None, None, ("chartkit", "chartkit-gateway"), "local gateway", "http://127.0.0.1:1/metrics"),
    ("chartkit-gateway/chartkit", None, None, ("chartkit", "chartkit-gateway"), "--gateway",
     "http://127.0.0.1:1/metrics"),
], ids=["flag", "env", "project-file", "fallback", "flag-naming-the-fallback-gateway"])
def test_gateway_resolution_order(tmp_path, env, flag, env_value, project, expected, source, metrics):
    from toolkit.config import ClusterRef, Fallback, resolve_gateway

    work = _files(tmp_path, project, None)
    if env_value:
        env["CHARTKIT_GATEWAY"] = env_value
    local = ClusterRef(Path("/state/cluster/kubeconfig"), "chartkit-local", "local cluster")
    found = resolve_gateway(flag, env=env, cwd=work, cluster=local, fallback=Fallback(gateway=_local_gateway()))
    assert (found.name, found.namespace) == expected and found.source.endswith(source)
    # the metrics: the config file's, or the fallback's for the fallback's own Gateway only
    assert found.metrics_url == metrics


def test_gateway_metrics_flag_and_env(tmp_path, env):
    from toolkit.config import resolve_gateway

    work = _files(tmp_path, None, None)
    env["CHARTKIT_GATEWAY_METRICS"] = "http://env.example/metrics"
    assert resolve_gateway("infra/web", env=env, cwd=work).metrics_url == "http://env.example/metrics"
    assert resolve_gateway("infra/web", "http://flag.example/metrics", env=env, cwd=work).metrics_url == \
        "http://flag.example/metrics"


def test_no_gateway_is_none_and_another_cluster_gets_no_local_gateway(tmp_path, env):
    from toolkit.config import ClusterRef, Fallback, resolve_gateway

    work = _files(tmp_path, None, None)
    other = ClusterRef(Path("/elsewhere/kubeconfig"), None, "--kubeconfig")
    assert resolve_gateway(env=env, cwd=work, cluster=other, fallback=Fallback(gateway=_local_gateway())) is None
    with pytest.raises(InputError, match='unable to use gateway "web" \\(from --gateway\\): expected NAMESPACE/NAME'):
        resolve_gateway("web", env=env, cwd=work)


def test_the_local_fallback_offers_its_gateway_and_app_metrics_for_its_own_cluster_only(cluster, gateway, backends,
                                                                                        tmp_path):
    from toolkit.config import ClusterRef, resolve

    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    local = resolve(kubeconfig=str(cluster.kubeconfig), context=cluster.context, env=env, cwd=tmp_path,
                    fallback=localenv.fallback(start_registry=False))
    assert local.gateway is not None and (local.gateway.name, local.gateway.namespace) == (
        gateway.gateway_name, gateway.gateway_namespace)
    assert local.gateway.metrics_url == gateway.metrics_url and local.gateway.source == "local gateway"
    assert local.app_metrics_url == f"{backends.url}/metrics"
    copied = tmp_path / "kubeconfig"
    copied.write_bytes(cluster.kubeconfig.read_bytes())
    elsewhere = resolve(kubeconfig=str(copied), env=env, cwd=tmp_path, fallback=localenv.fallback(start_registry=False))
    assert elsewhere.gateway is None and elsewhere.app_metrics_url is None
    assert isinstance(elsewhere.cluster, ClusterRef)


def test_the_fallback_knows_the_names_the_gateway_programs():
    from toolkit.localenv import _gateway

    assert (_gateway.GATEWAY, _gateway.NAMESPACE) == ("chartkit", "chartkit-gateway")
