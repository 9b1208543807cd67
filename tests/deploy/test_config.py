"""Catalog resolution order: --catalog, CHARTKIT_CATALOG, project file, user file."""

from __future__ import annotations

import pytest

from toolkit.deploy.config import resolve_catalog
from toolkit.errors import InputError


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
    found = resolve_catalog(flag, env=env, cwd=work, local=False)
    assert found.url == url and found.source.endswith(source)
    assert str(found.ca_file) == env["CHARTKIT_REGISTRY_CA"]


def test_config_file_paths_are_relative_to_the_file(tmp_path, env):
    del env["CHARTKIT_REGISTRY_CA"], env["HELM_REGISTRY_CONFIG"]
    work = _files(tmp_path, "catalog: oci://proj.example/c\ncaFile: certs/ca.pem\nregistryConfig: /abs/cfg.json\n", None)
    found = resolve_catalog(None, env=env, cwd=work, local=False)
    assert found.ca_file == tmp_path / "proj" / "certs" / "ca.pem"
    assert str(found.registry_config) == "/abs/cfg.json"


@pytest.mark.parametrize(("project", "message"), [
    ("catalog: http://nope", r'unable to use "catalog" in ".*\.chartkit\.yaml": unable to use catalog "http://nope"'),
    ("- a list", r"the top level must be a map"),
], ids=["bad-url", "not-a-map"])
def test_bad_config_file_is_named(tmp_path, env, project, message):
    work = _files(tmp_path, project, None)
    with pytest.raises(InputError, match=message):
        resolve_catalog(None, env=env, cwd=work, local=False)


def test_no_catalog_without_local_fallback(tmp_path, env):
    with pytest.raises(InputError, match="unable to find a catalog"):
        resolve_catalog(None, env=env, cwd=_files(tmp_path, None, None), local=False)


def test_settings_resolve_the_catalog_only_when_it_is_used(tmp_path, env):
    from toolkit.deploy.config import resolve_settings

    # a bad --catalog is only noticed by a command that reaches the catalog; cluster-only commands never look
    settings = resolve_settings(catalog="http://not-oci.example", kubeconfig=str(tmp_path / "kubeconfig"), env=env,
                                cwd=_files(tmp_path, None, None))
    assert settings.kubeconfig == tmp_path / "kubeconfig"
    with pytest.raises(InputError, match="oci://"):
        settings.catalog


def test_ca_file_and_registry_config_flags_win_over_the_config_file(tmp_path, env):
    from toolkit.deploy.config import resolve_settings

    del env["CHARTKIT_REGISTRY_CA"], env["HELM_REGISTRY_CONFIG"]
    work = _files(tmp_path, "catalog: oci://proj.example/c\ncaFile: file-ca.pem\nregistryConfig: file-cfg.json\n", None)
    flagged = resolve_settings(kubeconfig=str(tmp_path / "kc"), env=env, cwd=work,
                               ca_file=tmp_path / "flag-ca.pem", registry_config=tmp_path / "flag-cfg.json")
    assert (flagged.catalog.url, flagged.catalog.ca_file, flagged.catalog.registry_config) == (
        "oci://proj.example/c", tmp_path / "flag-ca.pem", tmp_path / "flag-cfg.json")
    plain = resolve_settings(kubeconfig=str(tmp_path / "kc"), env=env, cwd=work)
    assert plain.catalog.ca_file == tmp_path / "proj" / "file-ca.pem"
    assert plain.catalog.registry_config == tmp_path / "proj" / "file-cfg.json"
