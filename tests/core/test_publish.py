"""core.publish against the real registry (TLS + htpasswd): Helm-identical artifacts, immutability, faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.catalog.conftest import catalog, config_for, make_chart, reg, registry_env, write_chart  # noqa: F401
from toolkit.adapters.oci import Credentials, Registry
from toolkit.catalog.index import load_index
from toolkit.config import CatalogURL
from toolkit.core.package import PackageOptions, package
from toolkit.core.publish import PublishOptions, Status, publish
from toolkit.errors import CatalogError, RegistryError

pytestmark = pytest.mark.registry


@pytest.fixture
def pkg(make_chart, config_for, tmp_path):
    def build(name="web", version="0.1.0", message="hello", **opts):
        chart = make_chart(name, version, message=message)
        out = tmp_path / f"out-{name}-{version}-{abs(hash(message))}"
        return package(config_for(), PackageOptions(chart=chart, destination=out, **opts)).path

    return build


def test_manifest_is_byte_identical_to_helm_push(pkg, registry_helm, registry_env, reg, catalog, config_for,
                                                 tmp_path):
    from toolkit.adapters.gpg import generate_key, public_keyring

    key = generate_key(tmp_path / "gnupg")
    signed = pkg("web", "1.0.0+build.1", sign_key=key.uid, gnupg_home=key.home)
    plain = pkg("api", "0.2.0")
    # every Chart.yaml field helm serialises into the config blob, dependencies included
    root = tmp_path / "rich"
    write_chart(root, "db", "0.3.0")
    rich_chart = write_chart(root, "rich", "4.0.0-beta.2")
    (rich_chart / "Chart.yaml").write_text((rich_chart / "Chart.yaml").read_text() + (
        "keywords: [chat, \"caf\u00e9\"]\nicon: https://example.invalid/i.png?a=1&b=<2>\ndeprecated: true\n"
        "dependencies:\n  - name: db\n    version: 0.3.0\n    repository: file://../db\n    alias: store\n"
        "    condition: store.enabled\n    tags: [backend]\n    import-values: [{child: a, parent: b}]\n"))
    rich = package(config_for(), PackageOptions(chart=rich_chart, destination=tmp_path / "rich-out")).path
    report = publish(config_for(catalog), PublishOptions(packages=(signed, plain, rich)))
    report.raise_for_errors()
    assert {r.status for r in report.results} == {Status.PUBLISHED}
    helm_catalog = catalog + "-helm"
    for path in (signed, plain, rich):
        registry_helm.push(path, helm_catalog)  # same file, same mtime → same `created` annotation
    ours, theirs = CatalogURL.parse(catalog), CatalogURL.parse(helm_catalog)
    config = json.loads(reg.blob(ours.repository("rich"), json.loads(
        reg.manifest(ours.repository("rich"), "4.0.0-beta.2")[0])["config"]["digest"]))
    assert config["deprecated"] is True and config["dependencies"][0]["alias"] == "store"
    for name, tag in (("web", "1.0.0_build.1"), ("api", "0.2.0"), ("rich", "4.0.0-beta.2")):
        mine = reg.manifest(ours.repository(name), tag)
        helms = reg.manifest(theirs.repository(name), tag)
        assert mine is not None and helms is not None
        assert mine[0] == helms[0], "chartkit's manifest must be byte-identical to helm push's"
    layers = json.loads(reg.manifest(ours.repository("web"), "1.0.0_build.1")[0])["layers"]
    assert len(layers) == 2  # chart + provenance
    # plain helm consumes it: show chart, pull, and verify the signature of the pulled package
    assert "version: 1.0.0+build.1" in registry_helm.show_chart(ours.ref("web"), version="1.0.0+build.1")
    pulled_dir = tmp_path / "pulled"
    pulled_dir.mkdir()
    pulled = registry_helm.pull(ours.ref("web"), pulled_dir, version="1.0.0+build.1")
    assert pulled.read_bytes() == signed.read_bytes()
    from toolkit.adapters.helm import run_plain

    out = run_plain(["pull", ours.ref("web"), "--version", "1.0.0+build.1", "--prov", "-d", str(pulled_dir)],
                    env=registry_helm.config.env(), helm=registry_helm.executable)
    assert out.returncode == 0 and (pulled_dir / "web-1.0.0+build.1.tgz.prov").exists()
    verified = registry_helm.verify(pulled, keyring=public_keyring(key.home, tmp_path / "pub.gpg"))
    assert "Chart Hash Verified" in verified


def test_same_content_is_a_no_op_and_other_content_is_refused(pkg, registry_env, reg, catalog, config_for, tmp_path):
    first = pkg("web", "1.0.0")
    index_dir = tmp_path / "index"
    config = config_for(catalog)
    assert publish(config, PublishOptions(packages=(first,), index_dir=index_dir)).results[0].status is Status.PUBLISHED
    before = reg.manifest(CatalogURL.parse(catalog).repository("web"), "1.0.0")
    again = publish(config, PublishOptions(packages=(first,)))
    assert again.results[0].status is Status.ALREADY and again.ok
    other = pkg("web", "1.0.0", message="different")
    refused = publish(config, PublishOptions(packages=(other,)))
    assert not refused.ok and not refused.results
    message = str(refused.errors[0][1])
    assert "already published with other content" in message
    held = json.loads(before[0])["layers"][0]["digest"]
    assert held in message and publish_digest(other) in message
    assert reg.manifest(CatalogURL.parse(catalog).repository("web"), "1.0.0") == before  # untouched
    with pytest.raises(CatalogError, match="unable to publish 1 of 1 packages"):
        refused.raise_for_errors()
    assert list(load_index(index_dir).types["web"]) == ["1.0.0"]


def publish_digest(path: Path) -> str:
    from toolkit.adapters.oci import digest_of

    return digest_of(path.read_bytes())


def test_concurrent_publishes_of_one_version_exactly_one_wins(pkg, registry_env, reg, catalog, config_for):
    contents = [pkg("race", "1.0.0", message=f"writer {i}") for i in range(4)]
    barrier = threading.Barrier(len(contents))
    reports = []

    def run(path: Path) -> None:
        barrier.wait()
        reports.append(publish(config_for(catalog), PublishOptions(packages=(path,))))

    threads = [threading.Thread(target=run, args=(p,)) for p in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in reports if r.ok]
    losers = [r for r in reports if not r.ok]
    assert len(winners) == 1 and len(losers) == 3
    assert all("already published with other content" in str(r.errors[0][1]) for r in losers)
    held = reg.manifest(CatalogURL.parse(catalog).repository("race"), "1.0.0")
    assert held[1] == winners[0].results[0].manifest_digest


def test_concurrent_cli_processes_exactly_one_wins(pkg, registry_env, reg, catalog):
    paths = [pkg("proc", "2.0.0", message=f"process {i}") for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "toolkit.cli", "publish", str(p), "--catalog", catalog,
                               "--no-index"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
             for p in paths]
    results = [(p.wait(), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, _, err in results if code == 1)
    assert "already published with other content" in loser
    winner = next(out for code, out, _ in results if code == 0)
    held = reg.manifest(CatalogURL.parse(catalog).repository("proc"), "2.0.0")
    assert held[1] in winner


def test_many_charts_concurrently_skip_blobs_already_present(pkg, registry_env, registry, catalog, config_for):
    from toolkit.catalog.artifact import build_artifact

    paths = [pkg(f"svc{i}", "1.0.0") for i in range(6)]
    with Registry(registry.host, ca_file=registry.ca_file, registry_config=registry.registry_config) as client:
        first = publish(config_for(catalog), PublishOptions(packages=tuple(paths), workers=6), registry=client)
        assert first.ok and len(first.results) == 6
        assert client.calls["POST"] == 6 * 2  # config + chart per chart, each uploaded once
        before = client.requests
        second = publish(config_for(catalog), PublishOptions(packages=tuple(paths), workers=6), registry=client)
        assert {r.status for r in second.results} == {Status.ALREADY}
        assert client.requests - before == 1 + 6 + 6  # ping, a tag list per repository, a manifest GET per chart
    # an interrupted earlier run left the blobs but no manifest: the re-run uploads nothing again
    path = pkg("svc0", "1.0.1")
    artifact = build_artifact(path)
    repo = CatalogURL.parse(catalog).repository("svc0")
    with Registry(registry.host, ca_file=registry.ca_file, registry_config=registry.registry_config) as client:
        for blob in artifact.blobs:
            client.upload_blob(repo, blob.data, blob.digest)
        puts = client.calls["PUT"]
        report = publish(config_for(catalog), PublishOptions(packages=(path,)), registry=client)
        assert report.ok and report.results[0].status is Status.PUBLISHED
        assert client.calls["PUT"] == puts + 1  # the manifest only: both blobs were answered "already here"


@pytest.mark.parametrize("creds", [None, Credentials("chartkit", "wrong-password", "test")],
                         ids=["missing", "wrong"])
def test_bad_credentials_push_nothing(pkg, registry, registry_env, monkeypatch, tmp_path, catalog, reg, config_for,
                                     creds):
    path = pkg("web", "1.0.0")
    empty_config = tmp_path / "nocreds.json"
    empty_config.write_text('{"auths": {}}')
    monkeypatch.setenv("HELM_REGISTRY_CONFIG", str(empty_config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = Registry(registry.host, ca_file=registry.ca_file, credentials=creds)
    match = "no credentials found" if creds is None else 'as "chartkit" \\(from test\\): credentials rejected'
    with pytest.raises(RegistryError, match=match):
        publish(config_for(catalog), PublishOptions(packages=(path,)), registry=client)
    assert reg.tags(CatalogURL.parse(catalog).repository("web")) == []


def test_tls_is_verified(pkg, registry, registry_env, monkeypatch, catalog, config_for):
    monkeypatch.delenv("CHARTKIT_REGISTRY_CA")
    path = pkg("web", "1.0.0")
    with pytest.raises(RegistryError, match="TLS verification failed"):
        publish(config_for(catalog), PublishOptions(packages=(path,)))


@pytest.fixture
def private_registry(tmp_path_factory, monkeypatch):
    """A second registry of our own (own state dir, CA, port), so stopping it never touches the shared one."""
    from toolkit import localenv

    state = tmp_path_factory.mktemp("private-registry")
    monkeypatch.setenv("CHARTKIT_STATE", str(state))
    info = localenv.start_registry()
    yield info
    monkeypatch.setenv("CHARTKIT_STATE", str(state))
    localenv.down()


def test_registry_down_mid_publish_then_rerun_completes(pkg, private_registry, config_for, tmp_path, monkeypatch):
    from toolkit import localenv

    info = private_registry
    catalog = f"{info.url}/down"
    paths = [pkg(f"svc{i}", "1.0.0") for i in range(4)]
    index_dir = tmp_path / "index"
    config = config_for(catalog, ca_file=info.ca_file, registry_config=info.registry_config)
    opts = PublishOptions(packages=tuple(paths), index_dir=index_dir, workers=1)

    def stop_after_first(result) -> None:
        if result.name == "svc0":
            localenv.down(keep_data=True)  # CHARTKIT_STATE points at the private registry

    report = publish(config, opts, progress=stop_after_first)
    assert [r.name for r in report.results] == ["svc0"]
    assert len(report.errors) == 3
    assert all("unable to reach registry" in str(e) for _, e in report.errors)
    assert sorted(load_index(index_dir).types) == ["svc0"]  # only what landed
    cli = subprocess.run([sys.executable, "-m", "toolkit.cli", "publish", *map(str, paths), "--catalog", catalog,
                          "--ca-file", str(info.ca_file), "--registry-config", str(info.registry_config),
                          "--index", str(index_dir)], capture_output=True, text=True)
    assert cli.returncode == 1 and "unable to reach registry" in cli.stderr
    restarted = localenv.start_registry()
    assert restarted.host == info.host  # same port and data: references stay valid
    rerun = publish(config, opts)
    assert rerun.ok
    assert [r.status for r in rerun.results] == [Status.ALREADY] + [Status.PUBLISHED] * 3
    assert sorted(load_index(index_dir).types) == ["svc0", "svc1", "svc2", "svc3"]
