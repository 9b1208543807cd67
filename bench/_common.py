"""Shared bench helpers: the local registry, synthetic chart packages, timing and a results file."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

RESULTS = Path(__file__).resolve().parent / "results"


def registry():
    from toolkit import localenv

    return localenv.start_registry()


def catalog_config(info, prefix: str):
    """A fresh catalog repository on the local registry, as the one configuration (catalog only, local helm)."""
    from toolkit import localenv
    from toolkit.config import CatalogRef, CatalogURL, Config

    catalog = CatalogRef(CatalogURL.parse(f"{info.url}/{namespace(prefix)}"), "bench", info.ca_file,
                         info.registry_config)
    # helm is looked up when first used (packaging), so timing a publish never includes finding helm
    return Config(catalog, helm_fallback=localenv.ensure_helm)


def local_deploy(prefix: str, timeout: str = "5m"):
    """Registry, cluster, a fresh catalog repository, the one configuration over them, and the adapters the
    instance benchmarks drive: (registry info, cluster info, CatalogRef, Config, Helm, Kube)."""
    from toolkit import localenv
    from toolkit.adapters.helm import Helm
    from toolkit.config import ClusterRef, Config

    info, cluster = registry(), localenv.start_cluster()
    catalog = catalog_config(info, prefix).catalog
    config = Config(catalog, ClusterRef(cluster.kubeconfig, cluster.context, "local cluster"),
                    helm_binary=localenv.ensure_helm(), timeout=timeout)
    return (info, cluster, catalog, config, Helm(localenv.helm_config(registry=info, cluster=cluster)),
            config.kube())


def namespace(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_package(directory: Path, name: str, version: str) -> Path:
    """A valid chart package written directly (setup only; chartkit's own packaging is benchmarked elsewhere)."""
    files = {
        "Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n"
                      f"description: bench chart {name}\n",
        "values.yaml": f"image:\n  repository: example.invalid/{name}\n  tag: \"{version}\"\nreplicaCount: 1\n",
        "values.schema.json": json.dumps({"type": "object", "properties": {
            "replicaCount": {"type": "integer", "const": 1}, "image": {"type": "object", "properties": {
                "repository": {"type": "string"}, "tag": {"type": "string"}}}}}),
        "templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
                                     "spec:\n  replicas: {{ .Values.replicaCount }}\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}.tgz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size, info.mtime, info.mode = len(data), 315532800, 0o644
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


@contextmanager
def timed(results: dict, key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[key] = round(time.perf_counter() - start, 3)


def save(name: str, results: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
