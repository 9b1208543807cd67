"""Catalog commands and instance commands pick the catalog in one order (toolkit.deploy.config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.catalog.index import Index, write_index
from toolkit.catalog.settings import resolve_settings as catalog_settings
from toolkit.deploy.config import resolve_catalog


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("CHARTKIT_CATALOG", "CHARTKIT_INDEX", "CHARTKIT_REGISTRY_CA", "HELM_REGISTRY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return work


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

    publish = catalog_settings(index_dir=index_dir)
    install = resolve_catalog(None)

    assert publish.catalog == install.url == wanted
    assert (publish.ca_file, publish.registry_config) == (install.ca_file, install.registry_config)
    assert publish.ca_file == registry.ca_file and publish.registry_config == registry.registry_config


def test_index_catalog_never_decides(clean_env: Path, tmp_path: Path, registry) -> None:
    index_dir = tmp_path / "repo-index"
    _stale_index(index_dir)
    assert json.loads((index_dir / "index.json").read_text())["catalog"] == "oci://127.0.0.1:39415/charts"

    publish = catalog_settings(index_dir=index_dir)

    assert publish.catalog == f"{registry.url}/charts" == resolve_catalog(None).url


def test_flags_override_credentials_but_not_the_order(clean_env: Path, tmp_path: Path, registry) -> None:
    ca = tmp_path / "other-ca.pem"
    got = catalog_settings(catalog=f"{registry.url}/x", ca_file=ca, index_dir=tmp_path / "i")
    assert (got.catalog, got.ca_file, got.registry_config) == (f"{registry.url}/x", ca, registry.registry_config)


def test_bad_config_file_is_reported_not_skipped(clean_env: Path, tmp_path: Path) -> None:
    from toolkit.errors import InputError

    (tmp_path / "project" / ".chartkit.yaml").write_text("catalog: http://nope/x\n")
    with pytest.raises(InputError, match=r'unable to use "catalog" in ".*\.chartkit\.yaml"'):
        catalog_settings(index_dir=tmp_path / "i")
