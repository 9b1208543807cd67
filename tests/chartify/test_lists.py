"""Typed list kinds (ConfigMapList, RoleList, RoleBindingList) from kube-prometheus chartify and render back."""

from __future__ import annotations

import shutil
from pathlib import Path

from toolkit.chartify import ChartifyOptions, chartify, load_source
from toolkit.chartify.read import load_documents
from toolkit.chartify.verify import compare

DATA = Path(__file__).parent / "data" / "kube-prometheus"


def test_kube_prometheus_typed_lists_chartify_and_render_back(tmp_path: Path, helm, render) -> None:
    source = tmp_path / "manifests"
    shutil.copytree(DATA / "manifests", source)
    shutil.copy(DATA / "grafana-dashboardDefinitions.yaml", source)
    lists = {doc["kind"]: len(doc["items"]) for path in source.glob("*.yaml")
             for doc in load_documents(path.read_text(), str(path)) if doc and doc["kind"].endswith("List")}
    assert lists == {"ConfigMapList": 33, "RoleList": 3, "RoleBindingList": 3}

    result = chartify([str(source)], ChartifyOptions(name="grafana", output=tmp_path / "grafana"), helm=lambda: helm)
    verification = result.verification
    assert [(r.id, r.detail) for r in verification.rows if not r.status.ok] == []
    assert verification.figure == "48/48 objects equal (100%)"
    assert "[WARNING]" not in verification.lint_output and "[ERROR]" not in verification.lint_output

    objects, _ = load_source([str(source)])
    kinds = [o.obj["kind"] for o in objects]
    assert (kinds.count("ConfigMap"), kinds.count("Role"), kinds.count("RoleBinding")) == (34, 3, 3)
    rendered = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
                for o in render(tmp_path / "grafana", namespace="monitoring")}
    for item in objects:
        meta = item.obj["metadata"]
        if item.obj["kind"] == "Secret":
            continue  # kept via existingSecret; verify recreated them from their data above
        diff, _ = compare(rendered[(item.obj["kind"], meta.get("namespace"), meta["name"])], item.obj)
        assert diff is None, f"{item.id}: {diff}"
    # Grafana's own {{ }} in the dashboards came through the chart untouched
    dashboard = rendered[("ConfigMap", "monitoring", "grafana-dashboard-alertmanager-overview")]
    assert '"legendFormat": "{{instance}}"' in dashboard["data"]["alertmanager-overview.json"]
