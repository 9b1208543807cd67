"""`outdated` over 200 instances of 10 types: chartkit (one kube list, one tag list per type) vs per-instance lookups.

The peer is nova-style: for every release, look up its chart's versions in the registry (one tag-list request per
instance, same HTTP client, so the request counts compare like with like). Same run, same registry, same cluster.
Run: python bench/bench_outdated.py [--instances 200] [--types 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import local_deploy, namespace, save, timed, write_package  # noqa: E402

VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
CONFIGMAP = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
             "data:\n  tag: {{ .Values.image.tag | quote }}\n")


def installable_package(directory: Path, name: str, version: str) -> Path:
    """_common's bench package with a ConfigMap as its only template (cheap to install 200 times)."""
    import io
    import tarfile

    path = write_package(directory, name, version)
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, data in members:
            if member.name.endswith("templates/deployment.yaml"):
                data = CONFIGMAP.encode()
                member.name = member.name.replace("deployment.yaml", "configmap.yaml")
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--types", type=int, default=10)
    args = parser.parse_args()

    from toolkit.catalog.index import resolve
    from toolkit.catalog.versions import tag_to_version
    from toolkit.core.instances import InstancesOptions, instances
    from toolkit.core.outdated import OutdatedOptions, outdated
    from toolkit.core.publish import PublishOptions, publish
    from toolkit.deploy.origin import Origin
    from toolkit.deploy.outdated import CatalogVersion, newest_version

    info, cluster, catalog, config, helm, kube = local_deploy("bench-outdated")
    ns = namespace("bench-outdated")
    kube.create_namespace(ns)
    types = [f"svc{i:02d}" for i in range(args.types)]
    results: dict = {"instances": args.instances, "types": args.types, "catalog": str(catalog.url)}
    try:
        with tempfile.TemporaryDirectory(prefix="chartkit-bench-") as tmp:
            packages = [installable_package(Path(tmp), t, v) for t in types for v in VERSIONS]
            publish(config, PublishOptions(packages=tuple(packages))).raise_for_errors()
            origins = {(t, v): resolve(catalog, t, v) for t in types for v in VERSIONS}
            by_name = {(p.name.rsplit("-", 1)[0], p.name.rsplit("-", 1)[1][:-4]): p for p in packages}

            def install(i: int) -> None:
                type_name, version = types[i % len(types)], VERSIONS[i % len(VERSIONS)]
                found = origins[(type_name, version)]
                origin = Origin(str(catalog.url), type_name, version, found.digest)
                helm.install_or_upgrade(f"i{i:03d}", by_name[(type_name, version)], namespace=ns,
                                        labels=origin.labels(), wait=False, rollback_on_failure=False)

            with timed(results, "setup_install_s"), ThreadPoolExecutor(8) as pool:
                list(pool.map(install, range(args.instances)))

        # chartkit: one list of release records, one tag list per type
        start = time.perf_counter()
        report = outdated(config, OutdatedOptions(namespace=ns))
        rows, requests = report.rows, report.registry_requests
        results["chartkit_s"] = round(time.perf_counter() - start, 3)
        results["chartkit_registry_requests"] = requests
        results["chartkit_outdated"] = sum(r.outdated for r in rows)

        # peer: the same instances, one registry lookup per instance
        start = time.perf_counter()
        found = instances(config, InstancesOptions(namespace=ns))
        url, reg = catalog.url, catalog.registry()
        with reg:
            outdated = 0
            for inst in found:
                versions = [v for v in (tag_to_version(t) for t in reg.tags(url.repository(inst.type))) if v]
                latest = newest_version(CatalogVersion(v) for v in versions)
                outdated += bool(latest and latest.version != inst.version)
            results["per_instance_registry_requests"] = reg.requests
        results["per_instance_s"] = round(time.perf_counter() - start, 3)
        results["per_instance_outdated"] = outdated
        assert outdated == results["chartkit_outdated"] == len(rows) - len(rows) // len(VERSIONS) - (
            1 if len(rows) % len(VERSIONS) > 2 else 0), results
        results["speedup"] = round(results["per_instance_s"] / results["chartkit_s"], 2)
        results["request_ratio"] = round(results["per_instance_registry_requests"]
                                         / max(1, results["chartkit_registry_requests"]), 1)
    finally:
        kube.delete("v1", "Namespace", ns, wait=False)
    print(f"outdated over {args.instances} instances of {args.types} types: chartkit {results['chartkit_s']}s "
          f"/ {results['chartkit_registry_requests']} registry requests vs per-instance lookups "
          f"{results['per_instance_s']}s / {results['per_instance_registry_requests']} requests "
          f"(x{results['speedup']} faster, x{results['request_ratio']} fewer requests); "
          f"{results['chartkit_outdated']} out of date")
    print(f"results: {save('outdated', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
