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


# --- gates, hostnames, features, resume (issue 13) -------------------------------------------------------------

ANALYSIS_YAML = """\
kind: blue-green
steps: [10, 25, 50, 100]
hostnames: [chat.example.com]
gateway: {name: web, namespace: infra, metricsUrl: "http://127.0.0.1:9100/metrics"}
analysis:
  interval: 2s
  count: 2
  failureLimit: 0
  metrics:
    - {name: errors, successCondition: "error_ratio < 0.01"}
    - {name: latency, successCondition: "p95_ms < 300"}
"""


def test_strategy_file_with_analysis_and_hostnames(tmp_path):
    path = tmp_path / "strategy.yaml"
    path.write_text(ANALYSIS_YAML)
    options = load_strategy_file(path)
    assert options.hostnames == ("chat.example.com",) and options.gateway == ("web", "infra")
    assert options.metrics_url == "http://127.0.0.1:9100/metrics"
    assert options.analysis is not None and (options.analysis.interval_seconds, options.analysis.count) == (2, 2)
    assert [str(m.condition) for m in options.analysis.metrics] == ["error_ratio < 0.01", "p95_ms < 300"]
    assert kinds(plan(options)) == [
        "deploy-green", "check", "weight:10", "analysis", "check", "weight:25", "analysis", "check", "weight:50",
        "analysis", "check", "weight:100", "analysis", "promote", "weight:0", "retire-green"]


@pytest.mark.parametrize(("text", "message"), [
    ("kind: blue-green\nanalysis: {metrics: [{name: e, successCondition: 'error_ratio < 0.01'}], count: 0}\n",
     r"at analysis/count: 0 is less than the minimum of 1"),
    ("kind: blue-green\nanalysis: {metrics: [{name: e, successCondition: 'os.system(1)'}]}\n",
     r"at analysis/metrics/0/successCondition: 'os.system\(1\)' does not match"),
    ("kind: blue-green\nanalysis: {interval: 1d, metrics: [{name: e, successCondition: 'rate > 1'}]}\n",
     r"at analysis/interval: '1d' is not valid"),
    ("kind: rolling\nanalysis: {metrics: [{name: e, successCondition: 'rate > 1'}]}\n",
     r"unable to analyse a rolling rollout"),
    ("kind: cutover\nhostnames: [Chat.Example.com]\n", r"at hostnames/0: 'Chat.Example.com' does not match"),
], ids=["count-zero", "code-as-condition", "interval-days", "rolling-analysis", "uppercase-host"])
def test_bad_analysis_or_hostnames_in_a_strategy_file(tmp_path, text, message):
    path = tmp_path / "strategy.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_strategy_file(path)


def test_split_with_analysis_measures_after_the_split():
    from toolkit.deploy.analysis import AnalysisOptions

    analysis = AnalysisOptions.from_data({"metrics": [{"name": "e", "successCondition": "error_ratio < 0.05"}]})
    options = StrategyOptions(kind=Strategy.SPLIT, customers=("acme",), analysis=analysis)
    assert kinds(plan(options)) == ["deploy-green", "check", "split", "analysis"]


def test_flags_give_hostnames_and_the_gateway():
    from toolkit.deploy.strategies.plan import options_from_flags

    options = options_from_flags(kind="cutover", gateway="infra/web", hostnames=["a.example.com,b.example.com"],
                                 metrics_url="http://127.0.0.1:1/metrics")
    assert options.gateway == ("web", "infra") and options.hostnames == ("a.example.com", "b.example.com")
    with pytest.raises(InputError, match='unable to use hostname "bad_host"'):
        options_from_flags(kind="cutover", hostnames=["bad_host"])
    with pytest.raises(InputError, match='unable to parse --gateway "web": expected NAMESPACE/NAME'):
        options_from_flags(kind="cutover", gateway="web")


def test_route_carries_hostnames_and_parent():
    obj = route(RouteSpec("chat", "shop", BLUE, GREEN, 25, gateway=("web", "infra"),
                          hostnames=("chat.shop.chartkit.test",)))
    assert obj["spec"]["hostnames"] == ["chat.shop.chartkit.test"]
    assert obj["spec"]["parentRefs"] == [{"name": "web", "namespace": "infra"}]


@pytest.mark.parametrize(("kind", "features", "missing"), [
    (Strategy.BLUE_GREEN, {"Gateway", "HTTPRoute", "ReferenceGrant"}, []),
    (Strategy.SPLIT, {"Gateway", "HTTPRoute"}, ["ReferenceGrant"]),
    (Strategy.CUTOVER, set(), ["Gateway", "HTTPRoute", "ReferenceGrant"]),
    (Strategy.ROLLING, set(), []),
], ids=["all-there", "no-reference-grant", "nothing-listed", "rolling-needs-none"])
def test_missing_features(kind, features, missing):
    from toolkit.deploy.strategies.plan import GatewayTarget, missing_features

    target = GatewayTarget("web", "infra", "cls", "example.com/gateway", frozenset(features))
    assert missing_features(kind, target) == missing


@pytest.mark.parametrize(("state", "promoted", "expected"), [
    ({"weights": [10, 25, 50, 100], "weight": 25}, False,
     ["check", "weight:50", "check", "weight:100", "promote", "weight:0", "retire-green"]),
    ({"weights": [10, 25, 50, 100], "weight": 25, "pauseSeconds": 2, "analysis": {"metrics": []}}, False,
     ["analysis", "pause", "check", "weight:50", "analysis", "pause", "check", "weight:100", "analysis", "promote",
      "weight:0", "retire-green"]),
    ({"weights": [10, 100], "weight": 0}, False,
     ["check", "weight:10", "check", "weight:100", "promote", "weight:0", "retire-green"]),
    ({"weights": [10, 100], "weight": 100}, False, ["promote", "weight:0", "retire-green"]),
    ({"weights": [10, 100], "weight": 100}, True, ["weight:0", "retire-green"]),
    ({"strategy": "cutover", "steps": [10, 50, 100], "weight": 0}, False,
     ["check", "weight:100", "promote", "weight:0", "retire-green"]),
], ids=["mid-ramp", "mid-ramp-gated", "before-first-weight", "at-100", "promoted", "old-cutover-record"])
def test_resume_plan(state, promoted, expected):
    from toolkit.deploy.strategies.plan import plan_resume

    assert kinds(plan_resume(state, promoted=promoted)) == expected


def test_default_hostname_is_the_instance_own():
    from toolkit.deploy.strategies.plan import default_hostname

    assert default_hostname("chat", "shop") == "chat.shop.chartkit.test"
