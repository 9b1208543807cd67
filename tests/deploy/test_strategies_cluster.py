"""Rollouts of the sample chat type on the real local cluster: blue-green steps, an aborted rollout, a split."""

from __future__ import annotations

import json

import pytest

from toolkit.core.history import HistoryOptions, history
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.core.rollout import RolloutOptions, RolloutTarget, rollout, status
from toolkit.deploy.release import get_instance
from toolkit.deploy.strategies.plan import (ROUTE_API, Phase, StepKind, Strategy, StrategyOptions, route_weights,
                                            state_of)
from toolkit.errors import ChartkitError, DeployError, InputError

pytestmark = [pytest.mark.cluster, pytest.mark.gateway]


def _tag(kube, namespace: str) -> str:
    dep = kube.get("apps/v1", "Deployment", "chat", namespace)
    return dep["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]


def _gone(kube, namespace: str) -> bool:
    ns = kube.get("v1", "Namespace", namespace, missing_ok=True)
    return ns is None or ns["status"].get("phase") == "Terminating"


@pytest.fixture
def chat_v1_v2(chat_chart, traffic_config, publish_dir, kube, namespace):
    """chat 1.0.0 (image tag 1.20) installed in the test namespace, 1.1.0 (tag 1.21) published; rollouts attach
    their routes to the local Gateway."""
    config = traffic_config
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    publish_dir(chat_chart("1.1.0", "1.21"), "1.1.0")
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=namespace))
    yield config
    kube.delete("v1", "Namespace", f"{namespace}-chat-green", wait=False)


def test_blue_green_10_50_100(chat_v1_v2, kube, namespace):
    green = f"{namespace}-chat-green"
    seen, copied = [], []
    # the chart's default existingSecret: blue's pods use it, the release does not render it, green needs it too
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-mq", "namespace": namespace},
                 "stringData": {"RABBITMQ_PASSWORD": "pw"}}])

    def progress(event):
        if event.status == "done" and event.step.kind is StepKind.DEPLOY_GREEN:
            copied.append(kube.get("v1", "Secret", "chat-mq", green))
        if event.status == "done" and event.step.kind is StepKind.WEIGHT:
            obj = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace)
            seen.append((event.step.weight, route_weights(obj)[0]["backends"], state_of(obj)["phase"],
                         _tag(kube, namespace), _tag(kube, green)))

    options = RolloutOptions(instance="chat", version="1.1.0", namespace=namespace, strategy=StrategyOptions(
        kind=Strategy.BLUE_GREEN, steps=(10, 50, 100), check_timeout_seconds=60))
    result = rollout(chat_v1_v2, options, progress=progress)

    blue_ref, green_ref = f"{namespace}/chat", f"{green}/chat"
    assert seen == [
        (10, {blue_ref: 90, green_ref: 10}, "progressing", "1.20", "1.21"),
        (50, {blue_ref: 50, green_ref: 50}, "progressing", "1.20", "1.21"),
        (100, {blue_ref: 0, green_ref: 100}, "progressing", "1.20", "1.21"),
        # promoted: the instance of record runs 1.1.0 and takes the traffic back before green is retired
        (0, {blue_ref: 100, green_ref: 0}, "progressing", "1.21", "1.21"),
    ]
    assert copied[0]["data"] == kube.get("v1", "Secret", "chat-mq", namespace)["data"]
    assert copied[0]["metadata"]["labels"]["chartkit.io/copied-from"] == namespace
    assert (result.phase, result.from_version, result.to_version) == (Phase.COMPLETE, "1.0.0", "1.1.0")
    route = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace)
    assert route_weights(route) == [{"matches": [], "backends": {blue_ref: 100}}]
    assert state_of(route)["phase"] == "complete"
    assert kube.deployment_available("chat", namespace) and _tag(kube, namespace) == "1.21"
    inst = get_instance(chat_v1_v2, "chat", namespace)
    assert (inst.version, inst.revision, inst.status) == ("1.1.0", 2, "deployed")
    assert [h.version for h in history(chat_v1_v2, HistoryOptions(instance="chat", namespace=namespace))] == [
        "1.0.0", "1.1.0"]
    assert _gone(kube, green)
    assert status(chat_v1_v2, RolloutTarget(instance="chat", namespace=namespace))["phase"] == "complete"


def test_failed_check_aborts_back_to_blue(chat_v1_v2, config, kube, namespace):
    """Also: with no Gateway in the configuration the route attaches to none (no parentRef), and says so."""
    green = f"{namespace}-chat-green"
    weights, deployed = [], []

    def progress(event):
        if event.status == "done" and event.step.kind is StepKind.WEIGHT:
            weights.append(route_weights(kube.get(ROUTE_API, "HTTPRoute", "chat", namespace))[0]["backends"])
        if event.status == "done" and event.step.kind is StepKind.DEPLOY_GREEN:
            deployed.append(event.message)

    options = RolloutOptions(
        instance="chat", version="1.1.0", namespace=namespace,
        values=ValuesInput(sets=("chat.nodeSelector.disktype=none-has-it",)),  # green can never be scheduled
        strategy=StrategyOptions(kind=Strategy.BLUE_GREEN, steps=(10, 100), check_timeout_seconds=4))
    with pytest.raises(DeployError, match=r"step 2/\d+ \(check\) failed: green Deployment .* is not Available after "
                                          r"4s; aborted: 100% of traffic is back on 1.0.0 and green is removed"):
        rollout(config, options, progress=progress)

    assert weights == [{f"{namespace}/chat": 100, f"{green}/chat": 0}]  # the abort's step; never 10% on green
    assert deployed and deployed[0].endswith(f"route chat.{namespace}.chartkit.test attached to no Gateway (pass "
                                             "--gateway NAMESPACE/NAME)")
    route = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace)
    assert "parentRefs" not in route["spec"]
    assert route_weights(route) == [{"matches": [], "backends": {f"{namespace}/chat": 100}}]
    assert state_of(route)["phase"] == "aborted" and "is not Available" in state_of(route)["message"]
    assert _gone(kube, green)
    assert _tag(kube, namespace) == "1.20" and kube.deployment_available("chat", namespace)
    assert get_instance(chat_v1_v2, "chat", namespace).version == "1.0.0"


def test_split_by_customer_header_abort_then_promote_through_the_cli(chat_v1_v2, cluster, kube, namespace, capsys):
    from toolkit.cli import main

    green = f"{namespace}-chat-green"
    common = ["-n", namespace, "--catalog", str(chat_v1_v2.catalog.url), "--kubeconfig", str(cluster.kubeconfig),
              "--kube-context", cluster.context]
    assert main(["rollout", "start", "chat", "--version", "1.1.0", "--strategy", "split", "--header", "X-Customer",
                 "--customers", "acme,globex", "--check-timeout", "60", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["phase"] == "split"
    assert main(["rollout", "status", "chat", "--json", *common]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["phase"], status["from"], status["to"], status["customers"]) == (
        "split", "1.0.0", "1.1.0", ["acme", "globex"])
    assert status["rules"] == [
        {"matches": ["X-Customer=acme", "X-Customer=globex"], "backends": {f"{green}/chat": 1}},
        {"matches": [], "backends": {f"{namespace}/chat": 1}}]
    grant = kube.get("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", "chat-rollout", green)
    assert grant["spec"]["from"][0]["namespace"] == namespace
    assert kube.deployment_available("chat", green) and _tag(kube, green) == "1.21"

    # the last release's spelling (rollout INSTANCE --to V) still works for one release, with a warning
    assert main(["rollout", "chat", "--to", "1.1.0", "--strategy", "cutover", *common]) == 1
    err = capsys.readouterr().err
    assert "a split rollout to 1.1.0 is split" in err
    assert "`chartkit rollout INSTANCE --to/--promote/--abort` is deprecated" in err

    assert main(["rollout", "abort", "chat", *common]) == 0
    assert "aborted" in capsys.readouterr().out
    route = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace)
    assert route_weights(route) == [{"matches": [], "backends": {f"{namespace}/chat": 100}}]
    assert _gone(kube, green) and _tag(kube, namespace) == "1.20"

    # again at once (green's namespace may still be terminating), and this time promote
    assert main(["rollout", "start", "chat", "--version", "1.1.0", "--strategy", "split", "--customers", "acme",
                 "--check-timeout", "60", *common]) == 0
    assert "(split): split" in capsys.readouterr().out
    assert main(["rollout", "promote", "chat", "--json", *common]) == 0
    promoted = json.loads(capsys.readouterr().out)
    assert (promoted["strategy"], promoted["phase"]) == ("split", "complete")
    assert [s["kind"] for s in promoted["steps"]] == ["check", "weight", "promote", "weight", "retire-green"]
    route = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace)
    assert route_weights(route) == [{"matches": [], "backends": {f"{namespace}/chat": 100}}]
    assert _tag(kube, namespace) == "1.21" and _gone(kube, green)
    assert get_instance(chat_v1_v2, "chat", namespace).version == "1.1.0"


@pytest.mark.parametrize("strategy", ["rolling", "cutover"], ids=["rolling", "cutover-from-file"])
def test_rolling_and_cutover_through_the_cli(chat_v1_v2, cluster, kube, namespace, tmp_path, capsys, strategy):
    from toolkit.cli import main

    common = ["-n", namespace, "--catalog", str(chat_v1_v2.catalog.url), "--kubeconfig", str(cluster.kubeconfig),
              "--kube-context", cluster.context]
    flags = ["--strategy", "rolling"]
    if strategy == "cutover":
        (tmp_path / "cutover.yaml").write_text("kind: cutover\ncheck: {timeoutSeconds: 60}\n")
        flags = ["--strategy-file", str(tmp_path / "cutover.yaml")]
    assert main(["rollout", "start", "chat", "--version", "1.1.0", *flags, "--json", *common]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert (result["strategy"], result["phase"], result["to"]) == (strategy, "complete", "1.1.0")
    kinds = [s["kind"] + (f":{s['weight']}" if "weight" in s else "") for s in result["steps"]]
    assert kinds == (["upgrade"] if strategy == "rolling" else
                     ["deploy-green", "check", "weight:100", "promote", "weight:0", "retire-green"])
    assert _tag(kube, namespace) == "1.21"
    assert get_instance(chat_v1_v2, "chat", namespace).version == "1.1.0"
    route = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace, missing_ok=True)
    if strategy == "rolling":
        assert route is None  # an in-place upgrade shifts no traffic between instances
    else:
        assert route_weights(route) == [{"matches": [], "backends": {f"{namespace}/chat": 100}}]


def test_a_rollout_is_refused_before_anything_moves_when_its_gateway_cannot_carry_it(chat_v1_v2, config, kube,
                                                                                     namespace):
    """An analysis with no Gateway named, a Gateway that does not exist, one whose implementation lists no supported
    features (a GatewayClass no controller accepted), and an analysis without metrics: each refused with its
    reason, and no route or green is made."""
    import uuid
    from dataclasses import replace as _replace

    from toolkit.config import Config
    from toolkit.deploy.analysis import AnalysisOptions

    bare = Config(config.catalog, config.cluster, helm_binary=config.helm_binary, timeout="90s")  # no gateway
    options = RolloutOptions(instance="chat", version="1.1.0", namespace=namespace,
                             strategy=StrategyOptions(kind=Strategy.CUTOVER, check_timeout_seconds=30))
    gates = AnalysisOptions.from_data({"metrics": [{"name": "e", "successCondition": "error_ratio < 0.01"}]})
    with pytest.raises(InputError, match=r'unable to roll out ".*/chat" with cutover and an analysis: no Gateway '
                                         r"whose metrics the gates could read \(hint: pass --gateway NAMESPACE/NAME"):
        rollout(bare, _replace(options, strategy=_replace(options.strategy, analysis=gates)))
    with pytest.raises(DeployError, match=r'unable to attach a route to Gateway ".*/nowhere": it does not exist'):
        rollout(chat_v1_v2, _replace(options, strategy=_replace(options.strategy, gateway=("nowhere", namespace))))

    cls = f"chartkit-test-{uuid.uuid4().hex[:8]}"
    kube.apply([{"apiVersion": ROUTE_API, "kind": "GatewayClass", "metadata": {"name": cls},
                 "spec": {"controllerName": "example.com/nobody-runs-this"}}])
    try:
        kube.apply([{"apiVersion": ROUTE_API, "kind": "Gateway", "metadata": {"name": "edge"},
                     "spec": {"gatewayClassName": cls, "listeners": [{"name": "http", "protocol": "HTTP",
                                                                       "port": 80}]}}], namespace)
        split = StrategyOptions(kind=Strategy.SPLIT, customers=("acme",), gateway=("edge", namespace))
        with pytest.raises(DeployError, match=rf'with split: Gateway "{namespace}/edge" \(class {cls}, controller '
                                              r"example.com/nobody-runs-this\) does not support Gateway, HTTPRoute, "
                                              r"ReferenceGrant \(hint: its GatewayClass lists supportedFeatures: none"):
            rollout(chat_v1_v2, _replace(options, strategy=split))
    finally:
        kube.delete(ROUTE_API, "GatewayClass", cls, wait=False)
    # the local Gateway supports them, but an analysis needs its metrics: none given for a Gateway named by hand
    gated = StrategyOptions(kind=Strategy.CUTOVER, gateway=("chartkit", "chartkit-gateway"), analysis=gates)
    with pytest.raises(ChartkitError, match=r"and an analysis: no metrics URL for Gateway"):
        rollout(bare, _replace(options, strategy=gated))
    assert kube.get(ROUTE_API, "HTTPRoute", "chat", namespace, missing_ok=True) is None
    assert kube.get("v1", "Namespace", f"{namespace}-chat-green", missing_ok=True) is None
    assert get_instance(chat_v1_v2, "chat", namespace).version == "1.0.0"
