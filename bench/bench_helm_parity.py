"""Interactive commands against helm's own, same run, same cluster, same chart (issue: "as fast as helm's own").

    chartkit instances -A        vs  helm list -A                       (target ≤ 1.5×)
    chartkit install I T         vs  helm install I oci://… --wait      (target ≤ 1.5×)
    chartkit upgrade I --set …   vs  helm upgrade I oci://… --reuse-values --set … --wait   (target ≤ 1.5×)
    chartkit history I           vs  helm history I                     (target ≤ 1.5×)
    chartkit instances -A        vs  helm list -A over 1,000 releases   (target ≤ 1.0×)

Each pair runs interleaved, median of ``--runs`` (default 5), as whole commands a user types (a new process each:
start-up and imports count). The 1,000 releases are real helm release records: one release installed by helm,
its storage Secret cloned under 1,000 names (record re-encoded with each name) — what both tools read.

    python3 bench/bench_helm_parity.py [--runs 5] [--releases 1000]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

TARGETS = {"instances": 1.5, "install": 1.5, "upgrade": 1.5, "history": 1.5, "instances_1000": 1.0}


def web_chart(directory: Path) -> Path:
    """A small real app: a Deployment kwok runs and a ConfigMap the ``message`` value feeds."""
    import io
    import tarfile

    files = {
        "Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\nappVersion: \"1.0\"\n",
        "values.yaml": "message: hello\nreplicaCount: 1\nimage: nginx:1.27\n",
        "values.schema.json": json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                                          "properties": {"message": {"type": "string"},
                                                         "replicaCount": {"type": "integer", "minimum": 1},
                                                         "image": {"type": "string"}}}),
        "templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
                                    "data:\n  message: {{ .Values.message | quote }}\n",
        "templates/deployment.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
            "  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n"
            "  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n"
            "        - name: web\n          image: {{ .Values.image }}\n"),
    }
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"web/{rel}")
            info.size, info.mtime, info.mode = len(data), 315532800, 0o644
            tar.addfile(info, io.BytesIO(data))
    path = directory / "web-1.0.0.tgz"
    path.write_bytes(buffer.getvalue())
    return path


def chartkit_argv() -> list[str]:
    """The chartkit a user runs: the console script beside this Python (not a pyenv shim), else -m."""
    script = Path(sys.executable).parent / "chartkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "toolkit.cli"]


def run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:4])} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return took


def pair(results: dict, key: str, ours: list[list[str]], theirs: list[list[str]], env: dict[str, str]) -> None:
    """Interleave the two tools' runs (one argv per run) and record both medians and the ratio."""
    a, b = [], []
    for mine, helm in zip(ours, theirs):
        a.append(run(mine, env))
        b.append(run(helm, env))
    results[key] = {"chartkit_s": round(statistics.median(a), 3), "helm_s": round(statistics.median(b), 3),
                    "ratio": round(statistics.median(a) / statistics.median(b), 2), "target": TARGETS[key],
                    "runs": len(a)}
    r = results[key]
    print(f"{key:<16} chartkit {r['chartkit_s']:.3f}s  helm {r['helm_s']:.3f}s  ratio {r['ratio']:.2f} "
          f"(target ≤ {r['target']})", flush=True)


def clone_releases(kube, source_ns: str, release: str, count: int, prefix: str) -> list[str]:
    """``count`` copies of one helm release record under new names, in 10 namespaces (what both tools list)."""
    # the deployed revision: the source may have been upgraded, and a clone of a superseded one lists differently
    secret = kube.list("v1", "Secret", source_ns, selector=f"owner=helm,name={release},status=deployed")[0]
    record = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    namespaces = [f"{prefix}-{i}" for i in range(10)]
    for ns in namespaces:
        kube.create_namespace(ns)
    for i in range(count):
        ns, name = namespaces[i % len(namespaces)], f"r{i:04d}"
        record.update(name=name, namespace=ns)
        blob = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(record).encode()))).decode()
        labels = {**secret["metadata"]["labels"], "name": name}
        kube.request("POST", f"/api/v1/namespaces/{ns}/secrets", body={
            "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{name}.v1", "labels": labels}, "data": {"release": blob}},
            what=f"create release record {ns}/{name}")
    return namespaces


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--releases", type=int, default=1000)
    args = parser.parse_args()

    from toolkit import localenv
    from toolkit.config import CatalogRef, CatalogURL, ClusterRef, Config
    from toolkit.core.publish import PublishOptions, publish

    registry, cluster = localenv.start_registry(), localenv.start_cluster()
    helm = str(localenv.ensure_helm())
    stamp = uuid.uuid4().hex[:6]
    catalog = f"{registry.url}/parity-{stamp}"
    config = Config(CatalogRef(CatalogURL.parse(catalog), "bench", registry.ca_file, registry.registry_config),
                    ClusterRef(cluster.kubeconfig, cluster.context), helm_binary=Path(helm))
    work = Path(f"/tmp/chartkit-parity-{stamp}")
    publish(config, PublishOptions(packages=(web_chart(work),))).raise_for_errors()
    kube = config.kube()
    ours_ns, theirs_ns = f"parity-ck-{stamp}", f"parity-helm-{stamp}"
    for ns in (ours_ns, theirs_ns):
        kube.create_namespace(ns)

    env = {**os.environ, "HELM_REGISTRY_CONFIG": str(registry.registry_config)}
    env.pop("KUBECONFIG", None)
    ck = [*chartkit_argv()]
    cluster_flags = ["--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context]
    catalog_flags = ["--catalog", catalog, "--ca-file", str(registry.ca_file),
                     "--registry-config", str(registry.registry_config)]
    ref = f"{catalog}/web"
    results: dict = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "runs": args.runs}
    n = args.runs
    namespaces: list[str] = []
    try:
        pair(results, "install",
             [[*ck, "install", f"i{i}", "web", "-n", ours_ns, *catalog_flags, *cluster_flags] for i in range(n)],
             [[helm, "install", f"h{i}", ref, "--version", "1.0.0", "-n", theirs_ns, "--wait", "--ca-file",
               str(registry.ca_file), *cluster_flags] for i in range(n)], env)
        pair(results, "upgrade",
             [[*ck, "upgrade", "i0", "-n", ours_ns, "--set", f"message=m{i}", *catalog_flags, *cluster_flags]
              for i in range(n)],
             [[helm, "upgrade", "h0", ref, "--version", "1.0.0", "-n", theirs_ns, "--reuse-values", "--set",
               f"message=m{i}", "--wait", "--ca-file", str(registry.ca_file), *cluster_flags] for i in range(n)], env)
        pair(results, "history",
             [[*ck, "history", "i0", "-n", ours_ns, *cluster_flags]] * n,
             [[helm, "history", "h0", "-n", theirs_ns, *cluster_flags]] * n, env)
        pair(results, "instances",
             [[*ck, "instances", "-A", *catalog_flags, *cluster_flags]] * n,
             [[helm, "list", "-A", *cluster_flags]] * n, env)
        # i1 was only installed (one deployed revision) when there are two runs or more
        namespaces = clone_releases(kube, ours_ns, "i1" if n > 1 else "i0", args.releases, f"parity-many-{stamp}")
        results["releases_listed"] = args.releases
        pair(results, "instances_1000",
             [[*ck, "instances", "-A", *catalog_flags, *cluster_flags]] * n,
             [[helm, "list", "-A", *cluster_flags]] * n, env)
    finally:
        # every namespace this run made goes, whichever step failed
        for ns in [*namespaces, ours_ns, theirs_ns]:
            kube.delete("v1", "Namespace", ns)
    results["met"] = {k: results[k]["ratio"] <= TARGETS[k] for k in TARGETS}
    print(f"results: {save('helm_parity', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
