"""Fidelity on values that break naive generators (tests/chartify/data/tricky.yaml), checked with real helm."""

from __future__ import annotations

from pathlib import Path

from toolkit.chartify import ChartifyOptions, chartify, load_source
from toolkit.chartify.verify import Status, compare

DATA = Path(__file__).parent / "data"


def test_tricky_values_render_back_exactly(tmp_path: Path, helm, render) -> None:
    result = chartify([str(DATA / "tricky.yaml")], ChartifyOptions(name="tricky", output=tmp_path / "tricky"),
                      helm=lambda: helm)
    verification = result.verification
    assert [r for r in verification.rows if not r.status.ok] == []
    assert verification.figure == "6/6 objects equal (100%)"
    # independently of verify: render and compare each object ourselves
    source, _ = load_source([str(DATA / "tricky.yaml")])
    rendered = {(o["kind"], o["metadata"]["name"]): o for o in render(tmp_path / "tricky", namespace="edge")}
    for item in source:
        obj = item.obj
        diff, ignored = compare(rendered[(obj["kind"], obj["metadata"]["name"])], obj)
        assert diff is None, f"{item.id}: {diff}"
        assert "helm.sh/chart" not in ignored or obj["kind"] != "Deployment"  # the source's own value is kept
    deploy = rendered[("Deployment", "edge-app")]
    assert deploy["metadata"]["labels"]["helm.sh/chart"] == "kept-as-is-1"
    assert deploy["spec"]["progressDeadlineSeconds"] == 1000000
    assert rendered[("ConfigMap", "tricky")]["data"]["version"] == "1.20"
    rule = rendered[("PrometheusRule", "edge-rules")]["spec"]["groups"][0]["rules"][0]
    assert rule["annotations"]["summary"] == "{{ $labels.instance }} is down"
    assert rendered[("Matcher", "m1")]["op"] == "="


def test_verify_reports_a_changed_object(tmp_path: Path, helm) -> None:
    from toolkit.chartify import verify_against

    chartify([str(DATA / "tricky.yaml")], ChartifyOptions(name="tricky", output=tmp_path / "tricky", verify=False))
    changed = (DATA / "tricky.yaml").read_text().replace('version: "1.20"', "version: 1.20")
    (tmp_path / "changed.yaml").write_text(changed)
    result = verify_against(tmp_path / "tricky", [str(tmp_path / "changed.yaml")], helm=helm)
    rows = {r.id: r for r in result.rows}
    assert rows["ConfigMap/edge/tricky"].status is Status.DIFFERENT
    assert rows["ConfigMap/edge/tricky"].detail == ".data.version: 1.2 (float) != '1.20' (str)"
    assert result.figure == "5/6 objects equal (83%)"


def test_every_workload_kind_and_its_companions(tmp_path: Path, helm, render) -> None:
    result = chartify([str(DATA / "kinds.yaml")], ChartifyOptions(name="kinds", output=tmp_path / "kinds"),
                      helm=lambda: helm)
    assert [r for r in result.verification.rows if not r.status.ok] == []
    assert result.verification.figure == "13/13 objects equal (100%)"
    assert set(result.components) == {"db", "agent", "backup", "migrate", "shared", "legacy"}
    before = render(tmp_path / "kinds", namespace="store")
    after = render(tmp_path / "kinds", namespace="store",
                   set_values=("db.persistence.size=20Gi", "backup.image.tag=2.0", "shared.persistence.size=2Gi"))
    changed = {(o["kind"], o["metadata"]["name"]) for o in after if o not in before}
    assert changed == {("StatefulSet", "db"), ("CronJob", "backup"), ("PersistentVolumeClaim", "shared")}
    sts = next(o for o in after if o["kind"] == "StatefulSet")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    cron = next(o for o in after if o["kind"] == "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.local:5000/backup:2.0"
    # the RoleBinding's subject follows the release namespace
    moved = render(tmp_path / "kinds", namespace="elsewhere")
    binding = next(o for o in moved if o["kind"] == "RoleBinding")
    assert binding["subjects"][0]["namespace"] == "elsewhere"
