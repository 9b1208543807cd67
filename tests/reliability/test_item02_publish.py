"""Issue 14, item 2: a truncated (or otherwise invalid) package is never published; a batch publishes the valid ones.

Before: ``publish x.tgz`` of a truncated file pushed it (the tag held the broken file for good) and crashed with
``unexpected error: EOFError``; in a batch every package was pushed and the index was not written.
"""

from __future__ import annotations

import shutil

import pytest

from tests.reliability.harness import assert_sane, record, run_chartkit
from toolkit.catalog.index import load_index
from toolkit.config import Config
from toolkit.core.package import PackageOptions, package

pytestmark = [pytest.mark.reliability, pytest.mark.registry]


@pytest.fixture
def packages(tmp_path, tiny_chart, catalog, helm_bin):
    """Write and package the tiny type at a version; returns the .tgz (offline: no catalog consulted)."""
    config = Config(catalog, helm_binary=helm_bin)

    def make(version: str, *, lint: bool = True, broken_template: bool = False):
        chart = tiny_chart(tmp_path / "src", "tiny", version)
        if broken_template:
            (chart / "templates" / "broken.yaml").write_text("kind: ConfigMap\ndata: {{ .Values.plan | nosuchfn }}\n")
        return package(config, PackageOptions(chart=chart, destination=tmp_path / "out", offline=True,
                                              lint=lint)).path

    return make


def _tags(catalog, name: str) -> list[str]:
    with catalog.registry() as reg:
        return reg.tags(catalog.url.repository(name))


def test_a_truncated_package_is_refused_in_one_line_and_nothing_is_pushed(packages, catalog, cli_env, tmp_path):
    good = packages("2.0.0")
    data = good.read_bytes()
    truncated = tmp_path / "cut" / good.name
    truncated.parent.mkdir()
    truncated.write_bytes(data[:3000] if len(data) > 3000 else data[: len(data) // 2])
    run = run_chartkit(["publish", str(truncated), "--index", str(tmp_path / "index")], env=cli_env,
                       tmp_root=tmp_path)
    record("issue 14", "item 2: publish a truncated package", run)
    assert_sane(run)
    assert run.code == 1 and len(run.error_lines) == 1, run.stderr
    assert "not a whole chart package (a truncated or corrupt .tgz" in run.error_lines[0]
    assert _tags(catalog, "tiny") == []
    assert not (tmp_path / "index" / "index.json").exists()


def test_a_batch_publishes_the_valid_packages_reports_the_others_and_indexes_what_landed(
        packages, catalog, cli_env, tmp_path):
    good = packages("1.0.0")
    cut = tmp_path / "bad" / "tiny-1.1.0.tgz"
    cut.parent.mkdir()
    cut.write_bytes(packages("1.1.0").read_bytes()[:-200])             # the gzip trailer and more are missing
    renamed = tmp_path / "bad" / "tiny-9.9.9.tgz"
    shutil.copy(packages("1.2.0"), renamed)                            # Chart.yaml says 1.2.0
    lint_fails = packages("1.3.0", lint=False, broken_template=True)   # packaged without lint, renders nothing
    index = tmp_path / "index"
    run = run_chartkit(["publish", str(good), str(cut), str(renamed), str(lint_fails), "--index", str(index)],
                       env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 2: publish a batch with three invalid packages", run)
    assert_sane(run)
    assert run.code == 1
    assert f"published: {catalog.url.ref('tiny')}:1.0.0" in run.stdout
    errors = run.error_lines
    assert len(errors) == 3, run.stderr
    assert any("tiny-1.1.0.tgz" in e and "truncated or corrupt" in e for e in errors)
    assert any("tiny-9.9.9.tgz" in e and 'should be named "tiny-1.2.0.tgz"' in e for e in errors)
    assert any("tiny-1.3.0.tgz" in e and "helm lint fails" in e and "nosuchfn" in e for e in errors)
    assert _tags(catalog, "tiny") == ["1.0.0"]
    assert list(load_index(index).types["tiny"]) == ["1.0.0"]
