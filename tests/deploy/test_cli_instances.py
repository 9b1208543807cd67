"""The instance commands end to end through `chartkit` (argument parsing → core → real helm, registry, cluster)."""

from __future__ import annotations

import json

import pytest

from toolkit import cli

pytestmark = pytest.mark.cluster


@pytest.fixture
def run(catalog, cluster, capsys):
    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main([*argv, "--catalog", str(catalog.url), "--kubeconfig", str(cluster.kubeconfig),
                         "--kube-context", cluster.context])
        out = capsys.readouterr()
        return code, out.out, out.err
    return _run


def test_cli_install_refuses_locked_then_upgrades_all_of_a_type(run, namespace, publish_tiny):
    publish_tiny("1.0.0")
    code, out, err = run("install", "web", "tiny", "-n", namespace, "--set", "image.registry=evil.example")
    assert code == 1 and out == ""
    assert "parameter image.registry is locked by the type owner" in err

    for name in ("a", "b", "c"):
        code, out, _ = run("install", name, "tiny@1.0.0", "-n", namespace)
        assert code == 0 and out.strip() == f"install {namespace}/{name}: tiny 1.0.0 revision 1 deployed"
    publish_tiny("1.1.0")

    code, out, err = run("outdated", "-n", namespace, "--fail-on-outdated", "--json")
    assert code == 3
    assert json.loads(out)["outdated"] == 3

    # the last release's spelling (--to) still works for one release, with a warning
    code, out, err = run("upgrade", "--all-of", "tiny", "--to", "1.1.0", "-n", namespace, "--reset-values")
    assert code == 1 and out == ""
    assert "unable to upgrade: --all-of TYPE does not take --reset-values" in err
    assert "--to is deprecated" in err and "use --version" in err
    code, out, _ = run("outdated", "-n", namespace, "--json")
    assert json.loads(out)["outdated"] == 3  # refused before any change

    code, out, err = run("upgrade", "--all-of", "tiny", "--version", "1.1.0", "-n", namespace, "--concurrency", "3")
    assert code == 0, err
    assert out.strip() == "tiny: 3 upgraded, 0 failed"

    code, out, _ = run("instances", "-n", namespace, "--json")
    assert {(r["name"], r["version"], r["outdated"]) for r in json.loads(out)} == {
        ("a", "1.1.0", False), ("b", "1.1.0", False), ("c", "1.1.0", False)}
    code, out, _ = run("outdated", "-n", namespace, "--fail-on-outdated")
    assert code == 0 and out == ""

    code, out, _ = run("recover", "a", "-n", namespace)
    assert code == 0 and out.strip().startswith(f"nothing to do for {namespace}/a (revision 2 is deployed")
