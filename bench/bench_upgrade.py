"""Upgrade 20 instances to a new version: chartkit's bounded concurrency vs a sequential `helm upgrade --wait` loop.

Both sides upgrade real Deployments that really roll out (kwok marks the new pods ready), from the same catalog
version to the same new one, in the same run on the same cluster; each side has its own 20 instances.
Run: python bench/bench_upgrade.py [--instances 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import local_deploy, namespace, save, timed  # noqa: E402

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: {{ .Release.Name }}, labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}}
    spec:
      replicas: {{ .Values.replicaCount | toJson }}
      selector: {matchLabels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}}
      template:
        metadata: {labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}}
        spec:
          containers:
            - name: app
              image: "example.invalid/web:{{ .Values.tag }}"
    """)


def write_chart(root: Path, version: str) -> Path:
    chart = root / version / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: web\nversion: {version}\n")
    (chart / "values.yaml").write_text(f'replicaCount: 2\ntag: "{version}"\n')
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    return chart


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    from toolkit.adapters.helm import run_plain
    from toolkit.core.install import InstallOptions, install
    from toolkit.core.instances import InstancesOptions, instances
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish
    from toolkit.core.upgrade_all import UpgradeAllOptions, upgrade_all

    info, cluster, catalog, config, helm, kube = local_deploy("bench-upgrade")
    ours, theirs = namespace("bench-up-chartkit"), namespace("bench-up-helm")
    results: dict = {"instances": args.instances, "concurrency": args.concurrency}
    try:
        with tempfile.TemporaryDirectory(prefix="chartkit-bench-") as tmp:
            def ship(version: str) -> None:
                pkg = package(config, PackageOptions(chart=write_chart(Path(tmp), version), destination=Path(tmp),
                                                     offline=True))
                publish(config, PublishOptions(packages=(pkg.path,))).raise_for_errors()

            ship("1.0.0")
            with timed(results, "setup_install_s"), ThreadPoolExecutor(4) as pool:
                jobs = [(name, ns) for ns in (ours, theirs) for name in (f"web{i:02d}" for i in range(args.instances))]
                list(pool.map(lambda job: install(config, InstallOptions(instance=job[0], type_ref="web@1.0.0",
                                                                         namespace=job[1])), jobs))
            ship("1.1.0")

        start = time.perf_counter()
        outcomes = upgrade_all(config, UpgradeAllOptions(type="web", version="1.1.0", namespace=ours,
                                                         concurrency=args.concurrency))
        results["chartkit_s"] = round(time.perf_counter() - start, 3)
        assert len(outcomes) == args.instances and all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]

        env = helm.config.env()
        ref = catalog.url.ref("web")
        start = time.perf_counter()
        for i in range(args.instances):
            run_plain(["upgrade", f"web{i:02d}", ref, "--version", "1.1.0", "--namespace", theirs, "--wait",
                       "--rollback-on-failure", "--reset-then-reuse-values", "--ca-file", str(info.ca_file),
                       "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context], env=env,
                      helm=helm.executable)
        results["helm_loop_s"] = round(time.perf_counter() - start, 3)
        assert {i.version for i in instances(config, InstancesOptions(namespace=ours))} == {"1.1.0"}
        # plain helm keeps the release labels of the previous revision: check the rolled-out objects instead
        for ns in (ours, theirs):
            images = {d["spec"]["template"]["spec"]["containers"][0]["image"]
                      for d in kube.list("apps/v1", "Deployment", ns)}
            assert images == {"example.invalid/web:1.1.0"}, (ns, images)
        results["speedup"] = round(results["helm_loop_s"] / results["chartkit_s"], 2)
    finally:
        for ns in (ours, theirs):
            kube.delete("v1", "Namespace", ns, wait=False)
    print(f"upgrade {args.instances} instances 1.0.0 -> 1.1.0 (rollouts awaited): chartkit --all-of "
          f"(concurrency {args.concurrency}) {results['chartkit_s']}s vs sequential helm upgrade loop "
          f"{results['helm_loop_s']}s (x{results['speedup']})")
    print(f"results: {save('upgrade', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
