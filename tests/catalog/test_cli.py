"""`chartkit package` and `chartkit publish` end to end through the CLI entry point (exit codes, --json)."""

from __future__ import annotations

import json

import pytest

from toolkit.catalog.index import load_index
from toolkit.cli import main

pytestmark = pytest.mark.registry


def test_package_bump_publish_and_refuse_through_the_cli(make_chart, registry_env, catalog, tmp_path, capsys):
    chart = make_chart("web", "0.5.0")
    out, index_dir = tmp_path / "out", tmp_path / "repo-index"
    assert main(["package", str(chart), "--catalog", catalog, "-o", str(out), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["version"] == "0.5.0" and first["alreadyPublished"] is False
    assert main(["publish", first["path"], "--catalog", catalog, "--index", str(index_dir)]) == 0
    assert capsys.readouterr().out.startswith("published: ")
    assert main(["publish", first["path"], "--catalog", catalog, "--index", str(index_dir)]) == 0
    assert capsys.readouterr().out.startswith("already published: ")

    assert main(["package", str(chart), "--bump", "minor", "--catalog", catalog, "-o", str(out), "--json"]) == 0
    bumped = json.loads(capsys.readouterr().out)
    assert bumped["version"] == "0.6.0"
    assert main(["publish", bumped["path"], "--catalog", catalog, "--index", str(index_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["status"] == "published"
    assert sorted(load_index(index_dir).types["web"]) == ["0.5.0", "0.6.0"]

    changed = make_chart("web", "0.5.0", message="other content")
    assert main(["package", str(changed), "--version", "0.6.0", "--catalog", catalog, "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "already holds it with other content" in err and bumped["digest"] in err
    assert not list((tmp_path / "x").glob("*.tgz"))
    assert main(["package", str(chart), "--bump", "patch", "--offline"]) == 1
    assert "--bump reads the catalog" in capsys.readouterr().err
    assert main(["publish", str(tmp_path / "missing.tgz"), "--catalog", catalog]) == 1
    assert 'unable to publish' in capsys.readouterr().err


@pytest.mark.parametrize("command", [["list"], ["show", "web"], ["search", "web"]], ids=["list", "show", "search"])
@pytest.mark.parametrize("flag", ["--ca-file", "--registry-config"], ids=["ca-file", "registry-config"])
def test_index_only_commands_refuse_registry_flags(command, flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["catalog", *command, "--index", str(tmp_path), flag, str(tmp_path / "x")])
    assert exited.value.code == 2
    assert f"unrecognized arguments: {flag}" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["sync"], ["deprecate", "web", "1.0.0"]], ids=["sync", "deprecate"])
def test_registry_commands_keep_registry_flags(command, tmp_path):
    from toolkit.cli import build_parser

    args = build_parser().parse_args(["catalog", *command, "--ca-file", str(tmp_path / "ca.pem"),
                                      "--registry-config", str(tmp_path / "c.json")])
    assert (args.ca_file, args.registry_config) == (tmp_path / "ca.pem", tmp_path / "c.json")


@pytest.mark.parametrize(("command", "old", "url"), [
    (["publish", "web-1.0.0.tgz"], "--to", "oci://reg.example:5000/team"),
    (["catalog", "sync"], "--from", "oci://reg.example:5000/team"),
], ids=["publish-to", "sync-from"])
def test_old_catalog_flag_spellings_still_work_and_warn(command, old, url, capsys):
    from toolkit.cli import build_parser

    args = build_parser().parse_args([*command, old, url])
    assert args.catalog == url
    assert f"chartkit: warning: {old} is deprecated and will be removed in the next release; use --catalog" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):  # the old spelling is hidden from the help
        build_parser().parse_args([*command, "-h"])
    shown = capsys.readouterr().out
    assert "--catalog" in shown and old not in shown
