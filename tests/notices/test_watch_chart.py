"""charts/chartkit-watch: the notifier as a Deployment with replicas; it lints and renders what `watch` expects."""

from __future__ import annotations

from toolkit.adapters.helm import run_plain
from toolkit.cli import build_parser
from toolkit.objects import parse_manifest


def test_the_watch_chart_lints_and_runs_chartkit_watch_with_replicas(helm_bin, repo_root):
    chart = repo_root / "charts" / "chartkit-watch"
    run_plain(["lint", "--strict", str(chart)], helm=helm_bin)
    out = run_plain(["template", "w", str(chart), "-n", "ops", "--set", "webhook=https://hooks.example/x",
                     "--set", "catalog=oci://registry.example/charts", "--set", "registrySecret=reg"],
                    helm=helm_bin).stdout
    objects = {(o["kind"], o["metadata"]["name"]): o for o in parse_manifest(out)}
    dep = objects[("Deployment", "w")]
    assert dep["spec"]["replicas"] == 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    # the arguments are the CLI's own: they parse
    args = build_parser().parse_args(container["args"])
    assert (args.all_namespaces, args.lease_namespace, args.webhook, args.catalog) == (
        True, "ops", "https://hooks.example/x", "oci://registry.example/charts")
    assert {e["name"] for e in container["env"]} >= {"POD_NAME", "CHARTKIT_REGISTRY_USERNAME", "CHARTKIT_REGISTRY_CA"}
    rules = objects[("ClusterRole", "w-chartkit-watch")]["rules"]
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]} in rules
