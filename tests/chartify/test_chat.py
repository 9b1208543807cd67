"""The sample chat app: committed chart stays current, carries no secret, overrides and locks work in real helm."""

from __future__ import annotations

import base64
import gzip
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from toolkit.chartify import ChartifyOptions, chartify, load_source
from toolkit.errors import HelmError, InputError
from toolkit.objects import load_documents

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "chat"
CHART = REPO / "charts" / "chat"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _flatten(node: Any, path: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{path}.{k}"))
        return out or {path: {}}
    if isinstance(node, list):
        out = {}
        for i, v in enumerate(node):
            out.update(_flatten(v, f"{path}[{i}]"))
        return out or {path: []}
    return {path: node}


def _changed_fields(before: list[dict], after: list[dict]) -> dict[str, tuple[Any, Any]]:
    """Every leaf that differs between two renders: 'Kind/name.path' → (before, after)."""
    def index(objs: list[dict]) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for o in objs:
            for k, v in _flatten(o).items():
                flat[f"{o['kind']}/{o['metadata']['name']}{k}"] = v
        return flat

    a, b = index(before), index(after)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def test_committed_chart_is_what_chartify_generates_today(tmp_path: Path) -> None:
    chartify([str(EXAMPLE)], ChartifyOptions(name="chat", output=tmp_path / "chat", verify=False))
    generated, committed = _files(tmp_path / "chat"), _files(CHART)
    assert sorted(generated) == sorted(committed)
    stale = [name for name in generated if generated[name] != committed[name]]
    assert stale == [], "regenerate: chartkit chartify examples/chat --name chat -o charts/chat"


def test_committed_chart_reproduces_the_app(helm) -> None:
    from toolkit.chartify import verify_against

    result = verify_against(CHART, [str(EXAMPLE)], helm=helm)
    assert result.figure == "6/6 objects equal (100%)"
    secret_row = next(r for r in result.rows if r.id == "Secret/chat/chat-mq")
    assert secret_row.detail == ("kept via chat.secret.existingSecret; recreated exactly from chat.secret.values")
    assert result.ignored_labels == ("app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                                     "app.kubernetes.io/version", "helm.sh/chart")


def _secret_needles(objects) -> list[bytes]:
    needles: list[bytes] = []
    for item in objects:
        if item.obj["kind"] != "Secret":
            continue
        for value in (item.obj.get("data") or {}).values():
            needles += [value.encode(), base64.b64decode(value)]
        for value in (item.obj.get("stringData") or {}).values():
            needles += [value.encode(), base64.b64encode(value.encode())]
    return needles


def test_packaged_chart_holds_no_secret_value(tmp_path: Path, helm) -> None:
    objects, _ = load_source([str(EXAMPLE)])
    needles = _secret_needles(objects)
    assert len(needles) == 6
    package = helm.package(CHART, tmp_path)
    raw = package.read_bytes()
    blobs = [raw, gzip.decompress(raw)]
    with tarfile.open(package, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        assert {"chat/values.yaml", "chat/values.schema.json", "chat/templates/chat.yaml"} <= {
            m.name for m in members}
        blobs += [tar.extractfile(m).read() for m in members]
    for needle in needles:
        for blob in blobs:
            assert needle not in blob


def test_secret_needs_data_only_when_the_chart_creates_it(tmp_path: Path, render) -> None:
    default = {o["kind"] for o in render(CHART, namespace="chat")}
    assert "Secret" not in default  # adoption leaves the existing Secret alone
    with pytest.raises(HelmError, match=r"set chat.secret.values.RABBITMQ_USER or chat.secret.existingSecret"):
        render(CHART, namespace="chat", values={"chat": {"secret": {"existingSecret": ""}}})
    values = {"chat": {"secret": {"existingSecret": "", "values": {
        "RABBITMQ_USER": "u", "RABBITMQ_PASSWORD": "p", "AMQP_URL": "amqp://u:p@mq/"}}}}
    secret = next(o for o in render(CHART, namespace="chat", values=values) if o["kind"] == "Secret")
    assert secret["data"] == {"RABBITMQ_USER": "dQ==", "RABBITMQ_PASSWORD": "cA==", "AMQP_URL": "YW1xcDovL3U6cEBtcS8="}
    moved = render(CHART, namespace="chat", set_values=("chat.secret.existingSecret=vault-mq",))
    deploy = next(o for o in moved if o["kind"] == "Deployment")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["envFrom"][1] == {"secretRef": {"name": "vault-mq"}}


@pytest.mark.parametrize(("setting", "expected"), [
    # the HPA is enabled by default and owns spec.replicas: replicaCount feeds it only once the HPA is disabled
    pytest.param("chat.replicaCount=5", {}, id="replicas-left-to-the-hpa"),
    pytest.param("chat.autoscaling.minReplicas=3", {"HorizontalPodAutoscaler/chat.spec.minReplicas": (2, 3)},
                 id="hpa-min"),
    pytest.param("chat.image.tag=1.21", {"Deployment/chat.spec.template.spec.containers[0].image": (
        "registry.example.com:5000/chat/chat-server:1.20", "registry.example.com:5000/chat/chat-server:1.21")},
        id="image-tag"),
    pytest.param("chat.env.NODE_ENV=staging", {"Deployment/chat.spec.template.spec.containers[0].env[0].value": (
        "production", "staging")}, id="env"),
    pytest.param("chat.service.type=NodePort", {"Service/chat.spec.type": ("ClusterIP", "NodePort")}, id="service"),
    pytest.param("chat.autoscaling.maxReplicas=20", {"HorizontalPodAutoscaler/chat.spec.maxReplicas": (10, 20)},
                 id="hpa"),
    pytest.param("chat.ingress.className=traefik", {"Ingress/chat.spec.ingressClassName": ("nginx", "traefik")},
                 id="ingress"),
    pytest.param("chat.nodeSelector.disktype=ssd", {"Deployment/chat.spec.template.spec.nodeSelector.disktype": (
        None, "ssd")}, id="unset-in-source-nodeSelector"),
    pytest.param("chat.tolerations[0].key=spot", {"Deployment/chat.spec.template.spec.tolerations[0].key": (
        None, "spot")}, id="unset-in-source-tolerations"),
])
def test_an_exposed_parameter_changes_exactly_the_fields_it_feeds(render, setting: str, expected: dict) -> None:
    before = render(CHART, namespace="chat")
    after = render(CHART, namespace="chat", set_values=(setting,))
    assert _changed_fields(before, after) == expected


def test_disabling_the_hpa_removes_the_hpa_and_hands_replicas_back_to_the_chart(render) -> None:
    before = render(CHART, namespace="chat")
    after = render(CHART, namespace="chat", set_values=("chat.autoscaling.enabled=false",))
    assert sorted(o["kind"] for o in before if o not in after) == ["Deployment", "HorizontalPodAutoscaler"]
    assert len(after) == len(before) - 1
    deployment = next(o for o in after if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2 and "replicas" not in next(
        o for o in before if o["kind"] == "Deployment")["spec"]


def test_schema_refuses_typos_and_wrong_types_but_allows_global(render) -> None:
    with pytest.raises(HelmError, match=r"values don't meet the specifications of the schema"):
        render(CHART, namespace="chat", set_values=("chat.replicaCont=3",))
    with pytest.raises(HelmError, match=r"values don't meet the specifications of the schema"):
        render(CHART, namespace="chat", values={"chat": {"image": {"tag": 1.2}}})
    with pytest.raises(HelmError, match=r"values don't meet the specifications of the schema"):
        render(CHART, namespace="chat", set_values=("chat.service.type=Internal",))
    assert len(render(CHART, namespace="chat", set_values=("global.imageRegistry=mirror.local",))) == 5
    assert len(render(CHART, namespace="chat", set_values=("enabled=true",))) == 5  # a parent's condition key


OVERRIDES = {
    "parameters": {
        "chat.replicaCount": {"locked": True, "description": "Fixed by the platform team"},
        "chat.image.registry": {"locked": True},
        "chat.podAnnotations": {"drop": True},
        "chat.tolerations": {"drop": True},
        "chat.autoscaling": {"rename": "chat.hpa"},
    },
    "add": [{"key": "chat.terminationGracePeriodSeconds", "object": "Deployment/chat",
             "field": "spec.template.spec.terminationGracePeriodSeconds", "description": "Grace period on stop"},
            {"key": "chat.readinessPath", "object": "Deployment/chat/chat",
             "field": "spec.template.spec.containers[name=chat].readinessProbe.httpGet.path"}],
}


@pytest.fixture
def owned_chart(tmp_path: Path, helm) -> Path:
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(json.dumps(OVERRIDES))
    result = chartify([str(EXAMPLE)], ChartifyOptions(name="chat", output=tmp_path / "chat", overrides=overrides),
                      helm=lambda: helm)
    assert result.verification.figure == "6/6 objects equal (100%)"
    assert result.locked == 2
    return tmp_path / "chat"


def test_locked_parameters_are_refused_by_helm_and_visible_to_uis(owned_chart: Path, render) -> None:
    schema = json.loads((owned_chart / "values.schema.json").read_text())
    chat = schema["properties"]["chat"]["properties"]
    assert chat["replicaCount"]["const"] == 2 and chat["replicaCount"]["readOnly"] is True
    assert chat["replicaCount"]["description"] == "Fixed by the platform team"
    registry = chat["image"]["properties"]["registry"]
    assert registry["const"] == "registry.example.com:5000" and registry["readOnly"] is True
    assert "const" not in chat["image"]["properties"]["tag"]
    with pytest.raises(HelmError, match=r"values don't meet the specifications of the schema") as info:
        render(owned_chart, namespace="chat", set_values=("chat.replicaCount=3",))
    assert "at '/chat/replicaCount': value must be 2" in info.value.stderr
    assert info.value.hint and "locked parameters cannot be changed" in info.value.hint
    with pytest.raises(HelmError, match=r"values don't meet the specifications of the schema") as info:
        render(owned_chart, namespace="chat", values={"chat": {"image": {"registry": "evil.example.com"}}})
    assert "at '/chat/image/registry': value must be 'registry.example.com:5000'" in info.value.stderr
    assert len(render(owned_chart, namespace="chat", set_values=("chat.image.tag=1.21",))) == 5
    readme = (owned_chart / "README.md").read_text()
    assert "| `chat.replicaCount` | integer | `2` | Fixed by the platform team | yes |" in readme
    assert "# Fixed by the platform team [locked]" in (owned_chart / "values.yaml").read_text()


def test_renamed_added_and_dropped_parameters(owned_chart: Path, render) -> None:
    values = load_documents((owned_chart / "values.yaml").read_text(), "values.yaml")[0]["chat"]
    assert "podAnnotations" not in values and "autoscaling" not in values and "tolerations" not in values
    assert values["hpa"]["maxReplicas"] == 10
    assert values["terminationGracePeriodSeconds"] == 30 and values["readinessPath"] == "/healthz/ready"
    deploy_tpl = (owned_chart / "templates" / "chat.yaml").read_text()
    assert 'prometheus.io/scrape: "true"' in deploy_tpl  # dropped: the literal is back in the template
    assert "tolerations" not in deploy_tpl  # dropped, and the source never had it: gone
    before = render(owned_chart, namespace="chat")
    after = render(owned_chart, namespace="chat", set_values=("chat.terminationGracePeriodSeconds=60",
                                                              "chat.hpa.minReplicas=3"))
    assert _changed_fields(before, after) == {
        "Deployment/chat.spec.template.spec.terminationGracePeriodSeconds": (30, 60),
        "HorizontalPodAutoscaler/chat.spec.minReplicas": (2, 3)}


def test_overrides_survive_regeneration(owned_chart: Path, helm) -> None:
    kept = owned_chart / ".chartify-overrides.yaml"
    assert json.loads(kept.read_text().split("\n", 2)[2]) == OVERRIDES
    # no --overrides
    chartify([str(EXAMPLE)], ChartifyOptions(name="chat", output=owned_chart), helm=lambda: helm)
    schema = json.loads((owned_chart / "values.schema.json").read_text())
    assert schema["properties"]["chat"]["properties"]["replicaCount"]["readOnly"] is True
    assert "hpa" in schema["properties"]["chat"]["properties"]
    assert ".chartify-overrides.yaml" in (owned_chart / ".helmignore").read_text()


@pytest.mark.parametrize(("overrides", "message"), [
    pytest.param({"parameters": {"chat.replicas": {"locked": True}}}, r'parameter "chat.replicas" does not exist',
                 id="unknown-parameter"),
    pytest.param({"parameters": {"chat.replicaCount": {"lock": True}}},
                 r"at parameters/chat.replicaCount: Additional properties are not allowed", id="schema-violation"),
    pytest.param({"parameters": {"chat.image.tag": {"drop": True}}}, r"part of a larger parameter",
                 id="drop-part-of-image"),
    pytest.param({"parameters": {"chat.secret.values": {"drop": True}}}, r"Secret data and existingSecret stay",
                 id="drop-secret-data"),
    pytest.param({"parameters": {"chat.replicaCount": {"rename": "chat.service"}}}, r"collide",
                 id="rename-collision"),
    pytest.param({"add": [{"key": "chat.x", "object": "Deployment/chat", "field": "spec.replicas"}]},
                 r"is already a parameter", id="add-over-parameter"),
    pytest.param({"add": [{"key": "chat.x", "object": "Deployment/nope", "field": "spec.replicas"}]},
                 r'object "Deployment/nope" is not in the source', id="add-unknown-object"),
    pytest.param({"add": [{"key": "chat.x", "object": "Deployment/chat", "field": "spec.paused"}]},
                 r"does not exist", id="add-missing-field"),
])
def test_bad_overrides_are_refused_and_write_nothing(tmp_path: Path, overrides: dict, message: str) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(json.dumps(overrides))
    with pytest.raises(InputError, match=message):
        chartify([str(EXAMPLE)], ChartifyOptions(name="chat", output=tmp_path / "out", overrides=path, verify=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.yaml"]


def test_overrides_schema_file_is_the_one_chartify_validates_with() -> None:
    from toolkit.chartify.overrides import OVERRIDES_SCHEMA

    committed = json.loads((REPO / "schemas" / "chartify-overrides.schema.json").read_text())
    assert committed == OVERRIDES_SCHEMA
