"""chartify writes the type's declarations (chartkit.yaml) it can infer, and the owner's from the overrides file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from toolkit.catalog.declarations import load_declarations
from toolkit.chartify import ChartifyOptions, chartify
from toolkit.errors import InputError

REPO = Path(__file__).resolve().parents[2]
CHAT = REPO / "examples" / "chat"


def _declarations(chart: Path):
    return load_declarations((chart / "chartkit.yaml").read_text(), str(chart))


def test_outputs_are_proposed_from_the_apps_service_and_secret(tmp_path):
    chartify([str(CHAT)], ChartifyOptions(name="chat", output=tmp_path / "chat", verify=False))
    decl = _declarations(tmp_path / "chat")
    outputs = {o.key: o for o in decl.outputs}
    assert (outputs["host"].service, outputs["port"].service, outputs["port"].port) == ("chat", "chat", "http")
    assert {k: (o.secret, o.secret_key) for k, o in outputs.items() if o.secret} == {
        "AMQP_URL": ("chat-mq", "AMQP_URL"), "RABBITMQ_PASSWORD": ("chat-mq", "RABBITMQ_PASSWORD"),
        "RABBITMQ_USER": ("chat-mq", "RABBITMQ_USER"), "uri": ("chat-mq", "AMQP_URL"),
        "password": ("chat-mq", "RABBITMQ_PASSWORD"), "username": ("chat-mq", "RABBITMQ_USER")}
    assert [(p.name, p.default, dict(p.values)) for p in decl.plans] == [("default", True, {})]
    assert decl.bindable and decl.declared and dict(decl.update_strategy) == {"kind": "rolling"}
    assert all(o.sensitive for o in decl.outputs if o.secret)


def test_the_owners_plans_outputs_and_strategy_come_from_the_overrides_and_survive_regeneration(tmp_path):
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(textwrap.dedent("""\
        parameters:
          chat.replicaCount: {description: replicas}
        declarations:
          plans:
            - {name: small, default: true, values: {chat: {replicaCount: 1}}, locked: [chat.replicaCount]}
            - {name: large, free: false, values: {chat: {replicaCount: 4}}}
          updateStrategy: {kind: blue-green, steps: [25, 100]}
          release: {security: true, notes: "fixes CVE-0000"}
        """))
    out = tmp_path / "chat"
    chartify([str(CHAT)], ChartifyOptions(name="chat", output=out, overrides=overrides, verify=False))
    chartify([str(CHAT)], ChartifyOptions(name="chat", output=out, verify=False))  # the kept copy is re-applied
    decl = _declarations(out)
    assert [(p.name, p.free, dict(p.values), p.locked) for p in decl.plans] == [
        ("small", True, {"chat": {"replicaCount": 1}}, ("chat.replicaCount",)),
        ("large", False, {"chat": {"replicaCount": 4}}, ())]
    assert dict(decl.update_strategy) == {"kind": "blue-green", "steps": [25, 100]}
    assert decl.security and decl.notes == "fixes CVE-0000"
    assert {o.key for o in decl.outputs} >= {"host", "port", "username", "password", "uri"}  # still inferred
    assert "declarations" in json.loads((out / ".chartify-overrides.yaml").read_text().split("\n", 2)[2])


@pytest.mark.parametrize(("declarations", "message"), [
    ({"plans": [{"name": "Not A Name"}]}, "plans/0/name"),
    ({"updateStrategy": {"kind": "yolo"}}, "updateStrategy/kind"),
    ({"binding": {"outputs": {"host": {}}}}, "binding/outputs/host"),
], ids=["plan-name", "strategy", "output-without-source"])
def test_bad_owner_declarations_are_refused_and_nothing_is_written(tmp_path, declarations, message):
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(json.dumps({"declarations": declarations}))
    with pytest.raises(InputError, match=message):
        chartify([str(CHAT)], ChartifyOptions(name="chat", output=tmp_path / "chat", overrides=overrides,
                                              verify=False))
    assert not (tmp_path / "chat").exists()


def test_an_app_with_nothing_to_hand_out_is_declared_not_bindable(tmp_path):
    (tmp_path / "app.yaml").write_text(textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: worker, namespace: jobs}
        spec:
          selector: {matchLabels: {app: worker}}
          template:
            metadata: {labels: {app: worker}}
            spec: {containers: [{name: worker, image: "worker:1.0"}]}
        """))
    chartify([str(tmp_path / "app.yaml")], ChartifyOptions(name="worker", output=tmp_path / "worker", verify=False))
    decl = _declarations(tmp_path / "worker")
    assert (decl.bindable, decl.outputs) == (False, ())


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_committed_rabbitmq_chart_is_what_chartify_generates_today(tmp_path):
    """charts/rabbitmq is `chartkit chartify examples/rabbitmq --name rabbitmq -o charts/rabbitmq` (the owner's
    choices kept in its .chartify-overrides.yaml), chartkit.yaml with the plans and outputs included."""
    committed = REPO / "charts" / "rabbitmq"
    chartify([str(REPO / "examples" / "rabbitmq")], ChartifyOptions(
        name="rabbitmq", output=tmp_path / "rabbitmq", overrides=committed / ".chartify-overrides.yaml",
        verify=False))
    generated = _files(tmp_path / "rabbitmq")
    assert generated == _files(committed), "regenerate: chartkit chartify examples/rabbitmq --name rabbitmq -o charts/rabbitmq"
    decl = _declarations(committed)
    assert [p.name for p in decl.plans] == ["small", "large"]
    assert {o.key for o in decl.outputs} == {"host", "port", "username", "password", "uri"}


@pytest.mark.parametrize("app", ["bookinfo", "guestbook", "kube-state-metrics", "online-boutique"])
def test_what_chartify_infers_alone_is_valid_against_the_declarations_schema(tmp_path, corpus_dir, app):
    # chartify checks only declarations an owner took part in (jsonschema's import is a fifth of a small chartify);
    # what it infers from an app by itself must therefore always be valid, which this holds on every corpus app
    from toolkit.catalog.declarations import parse_declarations
    from toolkit.objects import load_documents

    chartify([str(corpus_dir / app)], ChartifyOptions(name="app", output=tmp_path / "app", verify=False))
    doc = load_documents((tmp_path / "app" / "chartkit.yaml").read_text(), "chartkit.yaml")[0]
    decl = parse_declarations(doc, f"{app}'s inferred chartkit.yaml")  # validates; raises InputError if not
    assert [p.name for p in decl.plans] == ["default"] and decl.update_strategy["kind"] == "rolling"
