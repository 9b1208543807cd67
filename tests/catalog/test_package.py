"""Reproducible packages: same files → same bytes whatever the mtimes; helm accepts them; versions from the catalog."""

from __future__ import annotations

import shutil
import tarfile

import pytest

from tests.catalog.conftest import set_mtimes, write_chart
from toolkit.catalog.package import PackageOptions, package
from toolkit.catalog.publish import PublishOptions, publish
from toolkit.errors import CatalogError, HelmError, InputError


def test_two_copies_with_different_mtimes_give_the_same_digest(make_chart, registry_helm, tmp_path):
    first = make_chart("web", extra_files={".helmignore": "*.bak\nnotes/\n", "notes/todo.txt": "x",
                                           "values.yaml.bak": "old: true\n"})
    second = tmp_path / "fresh-clone" / "web"
    shutil.copytree(first, second)
    set_mtimes(first, 1_000_000_000)
    set_mtimes(second, 1_700_000_000)
    a = package(first, PackageOptions(destination=tmp_path / "a"), helm=registry_helm)
    b = package(second, PackageOptions(destination=tmp_path / "b"), helm=registry_helm)
    assert a.digest == b.digest
    assert a.path.read_bytes() == b.path.read_bytes()
    with tarfile.open(a.path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert "web/Chart.yaml" in names and "web/templates/deployment.yaml" in names
    assert not any(n.endswith(".bak") or "/notes/" in n for n in names), names  # .helmignore respected
    assert {(m.uid, m.gid, m.mode) for m in members} == {(0, 0, 0o644)}
    assert {m.mtime for m in members} == {315532800}
    # helm itself reads the package back
    shown = registry_helm.show_chart(str(a.path))
    assert "name: web" in shown and "version: 0.1.0" in shown


def test_source_date_epoch_pins_the_file_times(make_chart, registry_helm, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    result = package(make_chart("web"), PackageOptions(destination=tmp_path), helm=registry_helm)
    with tarfile.open(result.path) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1600000000}


def test_dependencies_are_built_and_the_lock_is_reproducible(tmp_path, registry_helm):
    root = tmp_path / "src"
    write_chart(root, "db", "0.3.0")
    app = write_chart(root, "app", "1.0.0")
    (app / "Chart.yaml").write_text((app / "Chart.yaml").read_text()
                                    + "dependencies:\n  - name: db\n    version: 0.3.0\n    repository: file://../db\n")
    a = package(app, PackageOptions(destination=tmp_path / "a"), helm=registry_helm)
    set_mtimes(root, 1_200_000_000)
    b = package(app, PackageOptions(destination=tmp_path / "b"), helm=registry_helm)
    assert a.digest == b.digest
    with tarfile.open(a.path) as tar:
        names = tar.getnames()
        lock = tar.extractfile("app/Chart.lock").read().decode()
    assert "app/charts/db/Chart.yaml" in names
    assert "1980-01-01T00:00:00Z" in lock
    assert not (app / "Chart.lock").exists(), "the source chart must not be modified"


def test_version_and_app_version_overrides(make_chart, registry_helm, tmp_path):
    result = package(make_chart("web"), PackageOptions(version="2.0.0-rc.1", app_version="9.9",
                                                       destination=tmp_path), helm=registry_helm)
    assert result.path.name == "web-2.0.0-rc.1.tgz"
    shown = registry_helm.show_chart(str(result.path))
    assert "version: 2.0.0-rc.1" in shown and "appVersion: \"9.9\"" in shown


def test_lint_failure_writes_nothing(make_chart, registry_helm, tmp_path):
    chart = make_chart("web", extra_files={"templates/broken.yaml": "kind: {{ .Values.nope | bad }}\n"})
    with pytest.raises(HelmError, match="unable to lint"):
        package(chart, PackageOptions(destination=tmp_path / "out"), helm=registry_helm)
    assert not list((tmp_path / "out").glob("*.tgz"))


def test_bad_input_is_named(tmp_path, registry_helm):
    with pytest.raises(InputError, match="no Chart.yaml"):
        package(tmp_path, PackageOptions(destination=tmp_path), helm=registry_helm)
    with pytest.raises(InputError, match="not SemVer 2"):
        package(write_chart(tmp_path, "web"), PackageOptions(version="1.0", destination=tmp_path), helm=registry_helm)


@pytest.mark.registry
def test_bump_reads_the_catalog_and_existing_versions_are_checked(make_chart, registry_helm, registry_env, catalog,
                                                                  tmp_path):
    chart = make_chart("web", "0.1.0")
    with pytest.raises(InputError, match="no catalog given"):
        package(chart, PackageOptions(bump="patch", destination=tmp_path), helm=registry_helm)
    opts = dict(catalog=catalog, destination=tmp_path / "out")
    first = package(chart, PackageOptions(bump="minor", **opts), helm=registry_helm)
    assert first.version == "0.1.0"  # an empty catalog starts from the chart's own version
    publish([first.path], PublishOptions(to=catalog)).raise_for_errors()
    publish([package(chart, PackageOptions(version="1.4.0", **opts), helm=registry_helm).path],
            PublishOptions(to=catalog)).raise_for_errors()
    for bump, expected in (("patch", "1.4.1"), ("minor", "1.5.0"), ("major", "2.0.0"), ("prerelease", "1.4.1-rc.0")):
        assert package(chart, PackageOptions(bump=bump, **opts), helm=registry_helm).version == expected
    # the same version with the same bytes is fine (and says so); with other bytes it is refused
    again = package(chart, PackageOptions(version="1.4.0", **opts), helm=registry_helm)
    assert again.published
    changed = make_chart("web", "0.1.0", message="changed")
    with pytest.raises(CatalogError, match=r"already holds it with other content \(catalog sha256:\w+, this "
                                           r"package sha256:\w+\)"):
        package(changed, PackageOptions(version="1.4.0", **opts), helm=registry_helm)


@pytest.mark.registry
def test_signed_package_verifies(make_chart, registry_helm, tmp_path):
    from toolkit.catalog.sign import generate_key, public_keyring

    key = generate_key(tmp_path / "gnupg")
    result = package(make_chart("web"), PackageOptions(destination=tmp_path / "out", sign_key=key.uid,
                                                       gnupg_home=key.home), helm=registry_helm)
    assert result.prov is not None and result.prov.read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    out = registry_helm.verify(result.path, keyring=public_keyring(key.home, tmp_path / "pub.gpg"))
    assert "Signed by: chartkit test" in out
    with pytest.raises(CatalogError, match="no secret key"):
        package(make_chart("web"), PackageOptions(destination=tmp_path / "x", sign_key="nobody@nowhere",
                                                  gnupg_home=key.home), helm=registry_helm)
