"""Write a synthetic app of N objects (default 1,000) for benchmarks: components of Deployment, Service,
ConfigMap, Secret and ServiceAccount, every tenth with an HPA, in one namespace."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

KINDS_PER_COMPONENT = 5


def _letters(i: int) -> str:
    """0 → "aaa", 1 → "aab"…: names without digits (helmify turns digits in names into broken template keys)."""
    out = ""
    for _ in range(3):
        i, r = divmod(i, 26)
        out = chr(ord("a") + r) + out
    return out


def component(i: int, namespace: str) -> list[dict]:
    name = f"svc-{_letters(i)}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "synthetic"}
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace,
                                                                   "labels": labels}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config", "namespace": namespace,
                                                              "labels": labels},
         "data": {"LOG_LEVEL": "info", "VERSION": "1.20", "settings.json": json.dumps({"id": i, "cache": True})}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-creds", "namespace": namespace,
                                                           "labels": labels},
         "type": "Opaque", "data": {"PASSWORD": base64.b64encode(f"pw-{i}-synthetic".encode()).decode()}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace,
                                                                    "labels": labels},
         "spec": {"replicas": 1 + i % 3, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": name,
                      "containers": [{
                          "name": "app", "image": f"registry.example.com:5000/team/{name}:1.{i % 30}",
                          "ports": [{"name": "http", "containerPort": 8080}],
                          "env": [{"name": "PORT", "value": "8080"}, {"name": "MODE", "value": "yes"}],
                          "envFrom": [{"configMapRef": {"name": f"{name}-config"}},
                                      {"secretRef": {"name": f"{name}-creds"}}],
                          "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                        "limits": {"cpu": "500m", "memory": "256Mi"}},
                      }]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]
    return objects


def synthesize(count: int, namespace: str = "synthetic", secrets: bool = True) -> list[dict]:
    objects: list[dict] = []
    i = 0
    while len(objects) < count:
        parts = [o for o in component(i, namespace) if secrets or o["kind"] != "Secret"]
        if not secrets:
            for o in parts:
                for c in ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", []):
                    c["envFrom"] = [e for e in c["envFrom"] if "secretRef" not in e]
        objects.extend(parts[: count - len(objects)])
        i += 1
    return objects


def write(path: Path, count: int, secrets: bool = True) -> Path:
    """Block-style YAML (helmify cannot split multi-document JSON)."""
    from toolkit.chartify.emit import yaml_lines

    docs = ["\n".join(yaml_lines(o)) + "\n" for o in synthesize(count, secrets=secrets)]
    path.write_text("---\n".join(docs))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    print(write(args.output, args.count))
