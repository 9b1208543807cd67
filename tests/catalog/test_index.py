"""The repo-index: full and incremental sync (request counts), schema, deprecation markers, the resolve API, CLI."""

from __future__ import annotations

import json

import jsonschema
import pytest

from toolkit.adapters.oci import Registry
from toolkit.catalog.index import latest_versions, load_index, resolve, schema_path
from toolkit.cli import main
from toolkit.config import CatalogURL
from toolkit.core.package import PackageOptions, package
from toolkit.core.publish import PublishOptions, publish
from toolkit.core.sync import SyncOptions, sync
from toolkit.errors import CatalogError

pytestmark = pytest.mark.registry


@pytest.fixture
def published(make_chart, config_for, registry_env, catalog, tmp_path):
    """web 1.0.0, 1.1.0, 1.2.0-rc.1 and api 0.1.0 published to a fresh catalog."""
    paths = []
    for name, version in (("web", "1.0.0"), ("web", "1.1.0"), ("web", "1.2.0-rc.1"), ("api", "0.1.0")):
        chart = make_chart(name, version)
        paths.append(package(config_for(), PackageOptions(chart=chart, destination=tmp_path / "pkgs")).path)
    publish(config_for(catalog), PublishOptions(packages=tuple(paths))).raise_for_errors()
    return catalog


def _client(registry) -> Registry:
    return Registry(registry.host, ca_file=registry.ca_file, registry_config=registry.registry_config)


def test_full_then_incremental_sync_fetches_only_what_changed(published, registry, make_chart, config_for,
                                                              tmp_path):
    index_dir = tmp_path / "repo-index"
    # listing the registry's repositories costs the 401 challenge + one request per _catalog page (1,000
    # repositories each); the shared registry holds every test's and benchmark's repositories, so measure it
    with _client(registry) as lister:
        lister.repositories()
        listing = lister.requests
    assert listing >= 2
    with _client(registry) as client:
        full = sync(config_for(published), SyncOptions(index_dir=index_dir), registry=client)
    # the listing + 2 tag lists + (manifest + chart blob) per version
    assert full.requests == listing + 2 + 2 * 4
    assert sorted(full.added) == ["api:0.1.0", "web:1.0.0", "web:1.1.0", "web:1.2.0-rc.1"]
    data = json.loads((index_dir / "index.json").read_text())
    jsonschema.Draft7Validator(json.loads(schema_path().read_text())).validate(data)
    assert list(data["types"]["web"]) == ["1.2.0-rc.1", "1.1.0", "1.0.0"]  # newest first

    with _client(registry) as client:
        unchanged = sync(config_for(published), SyncOptions(index_dir=index_dir), registry=client)
    assert unchanged.requests == listing + 2 and unchanged.added == []

    new = package(config_for(), PackageOptions(chart=make_chart("web", "1.3.0"), destination=tmp_path / "new"))
    publish(config_for(published), PublishOptions(packages=(new.path,))).raise_for_errors()
    with _client(registry) as client:
        incremental = sync(config_for(published), SyncOptions(index_dir=index_dir), registry=client)
    assert incremental.added == ["web:1.3.0"]
    assert incremental.requests == listing + 2 + 2

    entry = load_index(index_dir).types["web"]["1.3.0"]
    url = CatalogURL.parse(published)
    assert entry["ref"] == url.ref("web") and entry["tag"] == "1.3.0"
    assert entry["chartDigest"] == new.digest
    assert entry["appVersion"] == "2.4" and entry["kubeVersion"] == ">=1.25.0-0"
    assert entry["signed"] is False and entry["deprecated"] is False
    assert entry["images"] == ["docker.io/library/busybox:1.36", "registry.example.invalid:5000/web:1.20"]
    params = {p["name"]: p for p in entry["parameters"]}
    assert params["replicaCount"] == {"name": "replicaCount", "type": "integer", "default": 1, "locked": True}
    assert params["message"]["locked"] is False and params["message"]["default"] == "hello"
    assert params["image.tag"]["default"] == "1.20"


def test_deprecation_reaches_other_clones_and_the_api(published, registry, registry_env, config_for, tmp_path,
                                                      capsys):
    mine, other = tmp_path / "mine", tmp_path / "other-clone"
    assert main(["catalog", "sync", "--catalog", published, "--index", str(mine)]) == 0
    assert main(["catalog", "deprecate", "web", "1.1.0", "--catalog", published, "--index", str(mine),
                 "--reason", "CVE-0000"]) == 0
    assert "is now deprecated" in capsys.readouterr().out
    assert load_index(mine).types["web"]["1.1.0"]["deprecated"] is True
    with _client(registry) as client:
        tags = client.tags(CatalogURL.parse(published).repository("web"))
    assert "1.1.0.deprecated" in tags and "1.1.0" in tags  # marked, nothing deleted
    with _client(registry) as client:
        result = sync(config_for(published), SyncOptions(index_dir=other), registry=client)
    assert load_index(other).types["web"]["1.1.0"]["deprecated"] is True
    assert result.versions == 4  # the marker is not a version

    ref = config_for(published).catalog
    assert latest_versions(ref) == {"api": "0.1.0", "web": "1.0.0"}  # no prerelease, no deprecated
    chosen = resolve(ref, "web", "1.1.0")
    assert chosen.deprecated and chosen.version == "1.1.0" and chosen.digest.startswith("sha256:")
    assert chosen.ref == CatalogURL.parse(published).ref("web")
    assert resolve(ref, "web").version == "1.0.0"
    assert resolve(ref, "web", include_prerelease=True).version == "1.2.0-rc.1"
    with pytest.raises(CatalogError, match='no such type'):
        resolve(ref, "nope")
    with pytest.raises(CatalogError, match='no such version'):
        resolve(ref, "web", "9.9.9")

    # deprecating twice is a no-op; an unknown version is refused
    assert main(["catalog", "deprecate", "web", "1.1.0", "--catalog", published, "--index", str(mine)]) == 0
    assert "was already deprecated" in capsys.readouterr().out
    assert main(["catalog", "deprecate", "web", "7.0.0", "--catalog", published, "--index", str(mine)]) == 1
    assert 'unable to deprecate "web" version "7.0.0"' in capsys.readouterr().err


def test_list_show_search_read_the_index(published, registry_env, tmp_path, capsys):
    index_dir = tmp_path / "idx"
    assert main(["catalog", "sync", "--catalog", published, "--index", str(index_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == 4
    assert main(["catalog", "list", "--index", str(index_dir), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["type"], r["latest"], r["versions"]) for r in rows] == [("api", "0.1.0", 1), ("web", "1.1.0", 3)]
    assert main(["catalog", "show", "web", "--version", "1.0.0", "--index", str(index_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1.0.0"
    assert main(["catalog", "show", "web", "--index", str(index_dir)]) == 0
    text = capsys.readouterr().out
    assert "helm install NAME oci://" in text and "replicaCount" in text and "(locked)" in text
    assert main(["catalog", "search", "busybox", "--index", str(index_dir), "--json"]) == 0
    assert {h["type"] for h in json.loads(capsys.readouterr().out)} == {"api", "web"}
    assert main(["catalog", "search", "zzz-nothing", "--index", str(index_dir)]) == 1
    assert main(["catalog", "show", "nope", "--index", str(index_dir)]) == 1
    assert 'unable to show type "nope"' in capsys.readouterr().err
    assert main(["catalog", "list", "--index", str(tmp_path / "missing")]) == 1
    assert "catalog sync --catalog" in capsys.readouterr().err


def test_a_broken_index_is_refused_with_a_hint(tmp_path):
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(CatalogError, match="rebuild it with `chartkit catalog sync --full`"):
        load_index(tmp_path)


def test_verify_notices_a_version_overwritten_outside_chartkit(published, registry, registry_helm, config_for,
                                                               make_chart, tmp_path):
    from toolkit.adapters.oci import digest_of

    index_dir = tmp_path / "idx"
    with _client(registry) as client:
        sync(config_for(published), SyncOptions(index_dir=index_dir), registry=client)
    before = load_index(index_dir).types["api"]["0.1.0"]
    # plain helm push overwrites tags: exactly what chartkit's own publish refuses to do
    other = package(config_for(), PackageOptions(chart=make_chart("api", "0.1.0", message="overwritten"),
                                                 destination=tmp_path / "o"))
    registry_helm.push(other.path, published)
    # and something that is not a chart lands in the catalog namespace
    url = CatalogURL.parse(published)
    with _client(registry) as client:
        client.upload_blob(url.repository("notachart"), b"{}", digest_of(b"{}"))
        client.put_manifest(url.repository("notachart"), "1.0.0", json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(b"{}"), "size": 2},
            "layers": []}).encode(), "application/vnd.oci.image.manifest.v1+json")
    with _client(registry) as client:
        plain = sync(config_for(published), SyncOptions(index_dir=index_dir), registry=client)
    assert plain.changed == [] and plain.skipped == ["notachart:1.0.0"]
    assert load_index(index_dir).types["api"]["0.1.0"]["chartDigest"] == before["chartDigest"]  # not noticed
    with _client(registry) as client:
        checked = sync(config_for(published), SyncOptions(index_dir=index_dir, verify=True), registry=client)
    assert checked.changed == ["api:0.1.0"] and checked.added == []
    assert load_index(index_dir).types["api"]["0.1.0"]["chartDigest"] == other.digest
    assert "notachart" not in load_index(index_dir).types
