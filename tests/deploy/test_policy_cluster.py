"""Update policies against the real registry and API server: policies × published versions → each status."""

from __future__ import annotations

import json

import pytest

from toolkit import cli
from toolkit.core.deprecate import DeprecateOptions, deprecate
from toolkit.core.install import InstallOptions, install
from toolkit.core.outdated import OutdatedOptions, outdated
from toolkit.core.policy import PolicyOptions, set_policy
from toolkit.deploy.release import get_instance

pytestmark = pytest.mark.cluster

SECURITY = "apiVersion: chartkit.dev/v1\nkind: TypeDeclarations\nrelease: {security: true, notes: CVE-2026-0001}\n"

#: instance → version it runs
RUNNING = {"a": "1.0.0", "b": "1.0.1", "c": "1.1.0", "d": "2.0.0"}
#: track → {instance: (status, target)} with the catalog 1.0.0, 1.0.1 (security), 1.1.0, 1.2.0 (deprecated),
#: 2.0.0, 2.1.0
EXPECTED = {
    "stable": {"a": ("security", "2.1.0"), "b": ("update available", "2.1.0"), "c": ("major available", "2.1.0"),
               "d": ("update available", "2.1.0")},
    "~1.0": {"a": ("security", "1.0.1"), "b": ("major available", None), "c": ("major available", None),
             "d": ("up to date", None)},
    "^1": {"a": ("security", "1.1.0"), "b": ("update available", "1.1.0"), "c": ("major available", None),
           "d": ("up to date", None)},
    "^2": {"a": ("security", "2.1.0"), "b": ("major available", "2.1.0"), "c": ("major available", "2.1.0"),
           "d": ("update available", "2.1.0")},
    "1.0.0": {"a": ("security", "1.0.1"), "b": ("major available", None), "c": ("major available", None),
              "d": ("up to date", None)},
    "2.0.0": {"a": ("security", "2.0.0"), "b": ("major available", "2.0.0"), "c": ("major available", "2.0.0"),
              "d": ("up to date", "")},
}


def test_policies_times_versions_give_each_instance_its_status(config, catalog, cluster, namespace, tiny_chart,
                                                               publish_dir, tmp_path, capsys):
    for version in ("1.0.0", "1.0.1", "1.1.0", "1.2.0", "2.0.0"):
        chart = tiny_chart(tmp_path, "tiny", version)
        if version == "1.0.1":
            (chart / "chartkit.yaml").write_text(SECURITY)
        publish_dir(chart, version)
    for name, version in RUNNING.items():
        install(config, InstallOptions(instance=name, type_ref=f"tiny@{version}", namespace=namespace, wait=False))
    publish_dir(tiny_chart(tmp_path, "tiny", "2.1.0"), "2.1.0")
    deprecate(config, DeprecateOptions(type="tiny", version="1.2.0", index_dir=None))

    cases = 0
    for track, expected in EXPECTED.items():
        for name in RUNNING:
            set_policy(config, PolicyOptions(instance=name, namespace=namespace, track=track))
        report = outdated(config, OutdatedOptions(namespace=namespace))
        assert report.registry_requests <= 2  # the tag list says versions, deprecations and security releases
        got = {r.instance.name: (r.status.status.value, r.status.target) for r in report.rows}
        want = {n: (s, t or None) for n, (s, t) in expected.items()}
        assert got == want, track
        assert all(r.policy.track == track for r in report.rows)
        cases += len(got)
    assert cases >= 20

    # the policy is release metadata: mode and ring too; an upgrade carries it on
    policy = set_policy(config, PolicyOptions(instance="a", namespace=namespace, track="~1.0", mode="automatic",
                                              ring="staging"))
    assert (policy.track, policy.mode.value, policy.ring) == ("~1.0", "automatic", "staging")
    from toolkit.core.upgrade import UpgradeOptions, upgrade
    upgrade(config, UpgradeOptions(instance="a", namespace=namespace, version="1.0.1", wait=False))
    labels = get_instance(config, "a", namespace).labels
    assert (labels["chartkit.io/track"], labels["chartkit.io/mode"], labels["chartkit.io/ring"]) == (
        "tilde-1.0", "automatic", "staging")

    base = ["-n", namespace, "--catalog", str(catalog.url), "--kubeconfig", str(cluster.kubeconfig),
            "--kube-context", cluster.context]
    assert cli.main(["policy", "set", "b", "--track", "^1", "--mode", "manual", "--ring", "", *base]) == 0
    capsys.readouterr()
    assert cli.main(["instances", *base, "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["a"]["status"], rows["a"]["target"]) == ("major available", None)  # ~1.0 holds it at 1.0.x
    assert rows["b"]["policy"] == {"track": "^1", "mode": "manual", "ring": ""}
    assert cli.main(["instances", *base]) == 0
    out = capsys.readouterr().out
    assert "STATUS" in out and "POLICY" in out and "major available" in out and "^1 manual" in out
