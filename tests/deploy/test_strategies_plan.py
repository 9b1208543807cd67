"""Rollout planning over plain data: steps per strategy, routes, strategy files."""

from __future__ import annotations

import json

import pytest

from toolkit.deploy.strategies.plan import (Backend, RouteSpec, Step, StepKind, Strategy, StrategyOptions,
                                            green_namespace, load_strategy_file, parse_steps, plan, plan_abort,
                                            plan_promote, pod_references, reference_grant, route, route_weights,
                                            state_of)
from toolkit.errors import InputError

W = StepKind.WEIGHT


def kinds(steps: list[Step]) -> list[str]:
    return [f"{s.kind.value}:{s.weight}" if s.kind is W else s.kind.value for s in steps]


@pytest.mark.parametrize(("options", "expected"), [
    (StrategyOptions(kind=Strategy.ROLLING), ["upgrade"]),
    (StrategyOptions(kind=Strategy.BLUE_GREEN, steps=(10, 50, 100)),
     ["deploy-green", "check", "weight:10", "check", "weight:50", "check", "weight:100", "promote", "weight:0",
      "retire-green"]),
    (StrategyOptions(kind=Strategy.BLUE_GREEN, steps=(25, 100), pause_seconds=3),
     ["deploy-green", "check", "weight:25", "pause", "check", "weight:100", "promote", "weight:0", "retire-green"]),
    (StrategyOptions(kind=Strategy.CUTOVER),
     ["deploy-green", "check", "weight:100", "promote", "weight:0", "retire-green"]),
    (StrategyOptions(kind=Strategy.SPLIT, customers=("acme",)), ["deploy-green", "check", "split"]),
], ids=["rolling", "blue-green", "blue-green-pause", "cutover", "split"])
def test_plan(options, expected):
    assert kinds(plan(options)) == expected


def test_promote_and_abort_plans():
    assert kinds(plan_promote()) == ["check", "weight:100", "promote", "weight:0", "retire-green"]
    assert kinds(plan_abort()) == ["weight:0", "retire-green"]


@pytest.mark.parametrize("steps", [(), (50, 10, 100), (10, 50), (0, 100), (10, 10, 100), (10, 150)],
                         ids=["empty", "falling", "no-100", "zero", "repeated", "over-100"])
def test_bad_blue_green_steps_refused(steps):
    with pytest.raises(InputError, match="blue-green steps must rise strictly"):
        StrategyOptions(kind=Strategy.BLUE_GREEN, steps=steps)


def test_split_needs_customers():
    with pytest.raises(InputError, match="without customers"):
        StrategyOptions(kind=Strategy.SPLIT)


def test_parse_steps():
    assert parse_steps("10,50,100") == (10, 50, 100)
    with pytest.raises(InputError, match='unable to parse --steps "10,half"'):
        parse_steps("10,half")


BLUE = Backend("chat", "shop", 80)
GREEN = Backend("chat", "shop-chat-green", 80)


def test_weighted_route_points_across_namespaces():
    obj = route(RouteSpec("chat", "shop", BLUE, GREEN, 10, state={"phase": "progressing", "to": "1.1.0"}))
    assert obj["metadata"]["name"] == "chat" and obj["metadata"]["namespace"] == "shop"
    assert obj["spec"]["rules"][0]["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "chat", "port": 80, "weight": 90},
        {"group": "", "kind": "Service", "name": "chat", "namespace": "shop-chat-green", "port": 80, "weight": 10}]
    assert "parentRefs" not in obj["spec"]
    assert state_of(obj) == {"phase": "progressing", "to": "1.1.0"}
    assert route_weights(obj) == [{"matches": [], "backends": {"shop/chat": 90, "shop-chat-green/chat": 10}}]


def test_split_route_matches_each_customer_header():
    obj = route(RouteSpec("chat", "shop", BLUE, GREEN, split=("X-Customer", ("acme", "globex")),
                          gateway=("web", "infra")))
    assert route_weights(obj) == [
        {"matches": ["X-Customer=acme", "X-Customer=globex"], "backends": {"shop-chat-green/chat": 1}},
        {"matches": [], "backends": {"shop/chat": 1}}]
    assert obj["spec"]["parentRefs"] == [{"name": "web", "namespace": "infra"}]


def test_route_without_green_is_all_blue():
    assert route_weights(route(RouteSpec("chat", "shop", BLUE))) == [{"matches": [], "backends": {"shop/chat": 100}}]


def test_reference_grant_allows_the_route_namespace():
    grant = reference_grant("chat", "shop", "shop-chat-green")
    assert grant["metadata"]["namespace"] == "shop-chat-green"
    assert grant["spec"]["from"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "shop"}]


def test_green_namespace_length_checked():
    assert green_namespace("shop", "chat") == "shop-chat-green"
    with pytest.raises(InputError, match="longer than 63 characters"):
        green_namespace("n" * 40, "i" * 20)


def test_pod_references():
    dep = {"kind": "Deployment", "spec": {"template": {"spec": {
        "containers": [{"envFrom": [{"secretRef": {"name": "mq"}}, {"configMapRef": {"name": "cfg"}}],
                        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]}],
        "volumes": [{"secret": {"secretName": "tls"}}, {"emptyDir": {}}],
        "imagePullSecrets": [{"name": "pull"}]}}}}
    assert pod_references([dep]) == {("Secret", "mq"), ("ConfigMap", "cfg"), ("Secret", "db"), ("Secret", "tls"),
                                     ("Secret", "pull")}


@pytest.mark.parametrize(("text", "expected"), [
    ("kind: blue-green\nsteps: [20, 100]\npauseSeconds: 1\ncheck: {timeoutSeconds: 30}\n",
     StrategyOptions(kind=Strategy.BLUE_GREEN, steps=(20, 100), pause_seconds=1, check_timeout_seconds=30)),
    ('{"kind": "split", "split": {"header": "X-Tenant", "customers": ["acme"]}, "gateway": {"name": "web", '
     '"namespace": "infra"}}',
     StrategyOptions(kind=Strategy.SPLIT, header="X-Tenant", customers=("acme",), gateway=("web", "infra"))),
    ("kind: cutover\n", StrategyOptions(kind=Strategy.CUTOVER)),
], ids=["yaml-blue-green", "json-split", "cutover"])
def test_strategy_file(tmp_path, text, expected):
    path = tmp_path / "strategy.yaml"
    path.write_text(text)
    assert load_strategy_file(path) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("kind: canary\n", r"at kind: 'canary' is not one of"),
    ("kind: blue-green\nsteps: [10, 500]\n", r"at steps/1: 500 is greater than the maximum of 100"),
    ("kind: split\n", r"at \(top level\): 'split' is a required property"),
    ("kind: rolling\nspeed: fast\n", r"Additional properties are not allowed \('speed' was unexpected\)"),
    ("kind: blue-green\nsteps: [50, 10, 100]\n", r"blue-green steps must rise strictly"),
], ids=["unknown-kind", "weight-over-100", "split-without-customers", "unknown-key", "falling-steps"])
def test_bad_strategy_file_named(tmp_path, text, message):
    path = tmp_path / "strategy.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_strategy_file(path)


def test_strategy_schema_is_draft7(repo_root):
    schema = json.loads((repo_root / "schemas" / "rollout-strategy.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert set(schema["properties"]["kind"]["enum"]) == {s.value for s in Strategy}


def test_event_and_status_lines():
    from toolkit.core.rollout import RolloutEvent, describe_status

    assert RolloutEvent(3, 10, Step(W, 10), "done", "shop/chat 90%, green 10%", 0.04).line() == (
        "[3/10] route 10% to green done (0.0s): shop/chat 90%, green 10%")
    assert RolloutEvent(1, 2, Step(W, 0), "started", stage="abort").line() == (
        "abort [1/2] route 100% to the instance of record started")
    obj = route(RouteSpec("chat", "shop", BLUE, GREEN, 50))
    data = {"instance": "chat", "namespace": "shop", "strategy": "blue-green", "from": "1.0.0", "to": "1.1.0",
            "phase": "progressing", "weight": 50, "step": "6/10 route 50% to green", "rules": route_weights(obj)}
    assert describe_status(data) == ("shop/chat: blue-green 1.0.0 → 1.1.0 progressing (green 50%, 6/10 route 50% to "
                                     "green); route: shop/chat 50, shop-chat-green/chat 50")


@pytest.mark.parametrize("module", ["toolkit.deploy.strategies", "toolkit.deploy.strategies.plan",
                                    "toolkit.core.rollout", "toolkit.deploy.binding", "toolkit.core.bind"])
def test_exported_surface(module):
    import importlib

    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__)
    assert all(hasattr(mod, name) for name in mod.__all__)
