"""core.package: same files → same bytes whatever the mtimes; helm accepts them; versions from the catalog."""

from __future__ import annotations

import shutil
import tarfile

import pytest

from tests.catalog.conftest import catalog, config_for, make_chart, registry_env, set_mtimes, write_chart  # noqa: F401
from toolkit.core.package import PackageOptions, package
from toolkit.core.publish import PublishOptions, publish
from toolkit.errors import CatalogError, HelmError, InputError


def test_two_copies_with_different_mtimes_give_the_same_digest(make_chart, config_for, registry_helm, tmp_path):
    first = make_chart("web", extra_files={".helmignore": "*.bak\nnotes/\n", "notes/todo.txt": "x",
                                           "values.yaml.bak": "old: true\n"})
    second = tmp_path / "fresh-clone" / "web"
    shutil.copytree(first, second)
    set_mtimes(first, 1_000_000_000)
    set_mtimes(second, 1_700_000_000)
    a = package(config_for(), PackageOptions(chart=first, destination=tmp_path / "a"))
    b = package(config_for(), PackageOptions(chart=second, destination=tmp_path / "b"))
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


def test_source_date_epoch_pins_the_file_times(make_chart, config_for, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    result = package(config_for(), PackageOptions(chart=make_chart("web"), destination=tmp_path))
    with tarfile.open(result.path) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1600000000}


def test_dependencies_are_built_and_the_lock_is_reproducible(tmp_path, config_for):
    root = tmp_path / "src"
    write_chart(root, "db", "0.3.0")
    app = write_chart(root, "app", "1.0.0")
    (app / "Chart.yaml").write_text((app / "Chart.yaml").read_text()
                                    + "dependencies:\n  - name: db\n    version: 0.3.0\n    repository: file://../db\n")
    a = package(config_for(), PackageOptions(chart=app, destination=tmp_path / "a"))
    set_mtimes(root, 1_200_000_000)
    b = package(config_for(), PackageOptions(chart=app, destination=tmp_path / "b"))
    assert a.digest == b.digest
    with tarfile.open(a.path) as tar:
        names = tar.getnames()
        lock = tar.extractfile("app/Chart.lock").read().decode()
    assert "app/charts/db/Chart.yaml" in names
    assert "1980-01-01T00:00:00Z" in lock
    assert not (app / "Chart.lock").exists(), "the source chart must not be modified"


def test_version_and_app_version_overrides(make_chart, config_for, registry_helm, tmp_path):
    result = package(config_for(), PackageOptions(chart=make_chart("web"), version="2.0.0-rc.1", app_version="9.9",
                                                  destination=tmp_path))
    assert result.path.name == "web-2.0.0-rc.1.tgz"
    shown = registry_helm.show_chart(str(result.path))
    assert "version: 2.0.0-rc.1" in shown and "appVersion: \"9.9\"" in shown


def test_lint_failure_writes_nothing(make_chart, config_for, tmp_path):
    chart = make_chart("web", extra_files={"templates/broken.yaml": "kind: {{ .Values.nope | bad }}\n"})
    with pytest.raises(HelmError, match="unable to lint"):
        package(config_for(), PackageOptions(chart=chart, destination=tmp_path / "out"))
    assert not list((tmp_path / "out").glob("*.tgz"))


def test_bad_input_is_named(tmp_path, config_for):
    with pytest.raises(InputError, match="no Chart.yaml"):
        package(config_for(), PackageOptions(chart=tmp_path, destination=tmp_path))
    with pytest.raises(InputError, match="not SemVer 2"):
        package(config_for(), PackageOptions(chart=write_chart(tmp_path, "web"), version="1.0", destination=tmp_path))


@pytest.mark.registry
def test_bump_reads_the_catalog_and_existing_versions_are_checked(make_chart, config_for, registry_env, catalog,
                                                                  tmp_path):
    chart = make_chart("web", "0.1.0")
    with pytest.raises(InputError, match="unable to find a catalog"):
        package(config_for(), PackageOptions(chart=chart, bump="patch", destination=tmp_path))
    config, opts = config_for(catalog), dict(chart=chart, destination=tmp_path / "out")
    first = package(config, PackageOptions(bump="minor", **opts))
    assert first.version == "0.1.0"  # an empty catalog starts from the chart's own version
    publish(config, PublishOptions(packages=(first.path,))).raise_for_errors()
    publish(config, PublishOptions(packages=(package(config, PackageOptions(version="1.4.0", **opts)).path,))
            ).raise_for_errors()
    for bump, expected in (("patch", "1.4.1"), ("minor", "1.5.0"), ("major", "2.0.0"), ("prerelease", "1.4.1-rc.0")):
        assert package(config, PackageOptions(bump=bump, **opts)).version == expected
    # the same version with the same bytes is fine (and says so); with other bytes it is refused
    again = package(config, PackageOptions(version="1.4.0", **opts))
    assert again.published
    changed = make_chart("web", "0.1.0", message="changed")
    with pytest.raises(CatalogError, match=r"already holds it with other content \(catalog sha256:\w+, this "
                                           r"package sha256:\w+\)"):
        package(config, PackageOptions(chart=changed, version="1.4.0", destination=tmp_path / "out"))


@pytest.mark.registry
def test_signed_package_verifies(make_chart, config_for, registry_helm, tmp_path):
    from toolkit.adapters.gpg import generate_key, public_keyring

    key = generate_key(tmp_path / "gnupg")
    result = package(config_for(), PackageOptions(chart=make_chart("web"), destination=tmp_path / "out",
                                                  sign_key=key.uid, gnupg_home=key.home))
    assert result.prov is not None and result.prov.read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    out = registry_helm.verify(result.path, keyring=public_keyring(key.home, tmp_path / "pub.gpg"))
    assert "Signed by: chartkit test" in out
    with pytest.raises(CatalogError, match="no secret key"):
        package(config_for(), PackageOptions(chart=make_chart("web"), destination=tmp_path / "x",
                                             sign_key="nobody@nowhere", gnupg_home=key.home))
