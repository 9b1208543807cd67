"""Rollouts measured on requests (issue 13): the chat type's pods answer through the backends harness, the local
Gateway (Traefik) carries steady load while chartkit moves weights, and every answer is counted by the version its
body names. Nothing is mocked: real helm, API server, gateway, harness, TCP."""

from __future__ import annotations

import json
import os
from collections import Counter
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolkit.console import data
from toolkit.core.install import InstallOptions, install
from toolkit.core.rollout import RolloutOptions, RolloutTarget, abort, rollout, status
from toolkit.deploy.analysis import AnalysisOptions
from toolkit.deploy.release import get_instance
from toolkit.deploy.values import ValuesInput
from toolkit.deploy.strategies.plan import ROUTE_API, Phase, StepKind, Strategy, StrategyOptions, route_weights
from toolkit.errors import DeployError
from tests.localenv.traffic import Recorder, servers, share, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.gateway]

REPO = Path(__file__).resolve().parents[2]
OLD, NEW = "1.20", "1.21"  # the image tags the harness answers with, as "version"
#: Traefik coalesces configuration changes for 0.5 s and follows the API server's watch: a weight is in force
#: within about a second of the route's update
SETTLE = 1.0


def _host(namespace: str) -> str:
    return f"chat.{namespace}.chartkit.test"  # the route's default hostname


def _gone(kube, namespace: str) -> bool:
    ns = kube.get("v1", "Namespace", namespace, missing_ok=True)
    return ns is None or ns["status"].get("phase") == "Terminating"


@pytest.fixture
def chat_installed(chat_chart, traffic_config, publish_dir, kube, namespace):
    """chat 1.0.0 (answers as 1.20) installed; the test publishes the versions it rolls out to."""
    publish_dir(chat_chart("1.0.0", OLD), "1.0.0")
    yield lambda version, tag, **annotations: publish_dir(chat_chart(version, tag, annotations or None), version)
    kube.delete("v1", "Namespace", f"{namespace}-chat-green", wait=False)


def _install(config, namespace: str) -> None:
    # a fixed replica count: with chat's HPA the Deployment starts at 1 and the HPA adds a pod 15 s later, mid-ramp,
    # and the local harness starts answering for a new pod up to one poll after the Gateway routes to it (502s)
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=namespace,
                                   values=ValuesInput(sets=("chat.autoscaling.enabled=false",))))


class Timeline:
    """The rollout's progress events with the moment each arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, object]] = []

    def __call__(self, event) -> None:
        self.events.append((time.monotonic(), event))

    def at(self, kind: StepKind, status: str, weight: int | None = None) -> list[float]:
        return [t for t, e in self.events if e.step.kind is kind and e.status == status
                and (weight is None or e.step.weight == weight)]

    def around(self, bad: list) -> str:
        """Where failed requests fell among the steps (for an assertion's message)."""
        lines = [f"{len(bad)} bad answers"]
        for t, e in self.events:
            lines.append(f"{t:.3f} {e.line()}")
        lines += [f"{b.sent:.3f}-{b.done:.3f} {b.status}" for b in bad[:20]]
        return "\n".join(lines)

    def next_started(self, after: float) -> float:
        """When the next step other than an analysis started (the traffic in force may change from there)."""
        return min(t for t, e in self.events if t > after and e.status == "started"
                   and e.step.kind not in (StepKind.ANALYSIS, StepKind.PAUSE))


def test_blue_green_ramp_under_steady_load_moves_every_share_within_3_points(chat_installed, traffic_config, kube,
                                                                              backends, gateway, namespace):
    chat_installed("1.1.0", NEW)
    _install(traffic_config, namespace)
    analysis = AnalysisOptions.from_data({"interval": "2.5s", "count": 2, "metrics": [
        {"name": "errors", "successCondition": "error_ratio < 0.01"},
        {"name": "latency", "successCondition": "p95_ms < 300"}]})
    strategy = StrategyOptions(kind=Strategy.BLUE_GREEN, steps=(10, 25, 50, 100), check_timeout_seconds=60,
                               analysis=analysis)
    timeline = Timeline()
    with Recorder(gateway, _host(namespace), rate=350) as recorder:
        result = rollout(traffic_config, RolloutOptions(instance="chat", version="1.1.0", namespace=namespace,
                                                        strategy=strategy), progress=timeline)
        ended = time.monotonic()
        time.sleep(2.5)  # after the end: the instance of record answers, as the new version
    # the route appears during green's deployment (before it, the hostname routes nowhere): count from then on
    [routed] = timeline.at(StepKind.DEPLOY_GREEN, "done")
    first = routed + SETTLE

    figures = {}
    for weight in strategy.steps:
        [done] = timeline.at(StepKind.WEIGHT, "done", weight)
        window = recorder.between(done + SETTLE, timeline.next_started(done))
        figures[weight] = (len(window), round(share(window, NEW) * 100, 2),
                           dict(Counter((s.status, s.version) for s in window)))
        assert len(window) >= 1000, figures
        assert share(window, NEW) * 100 == pytest.approx(weight, abs=3), figures
    print(f"\nramp shares (requests, % new) per step: {figures}")
    # zero failed requests from the route's programming through the ramp, the promotion and green's removal
    everything = [s for s in recorder.sent if s.sent >= first]
    assert len(everything) > 5000 and {s.status for s in everything} == {200}, timeline.around(
        [s for s in everything if s.status != 200])
    after = recorder.between(ended, ended + 2.5)
    assert after and share(after, NEW) == 1.0
    assert (result.phase, result.from_version, result.to_version) == (Phase.COMPLETE, "1.0.0", "1.1.0")
    analyses = [e for _, e in timeline.events if e.step.kind is StepKind.ANALYSIS and e.status == "measured"]
    assert len(analyses) == 8 and all("(error_ratio < 0.01: ok)" in e.message for e in analyses)
    # the old side is gone: green's namespace is removed, no server answers as the old version any more
    assert _gone(kube, f"{namespace}-chat-green")
    wait_for(lambda: {s["version"] for s in servers(backends, namespace) if not s["retiring"]} == {NEW}, 30,
             "only the new version's pods served")
    assert get_instance(traffic_config, "chat", namespace).version == "1.1.0"
    route = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace)
    assert route_weights(route) == [{"matches": [], "backends": {f"{namespace}/chat": 100}}]
    assert route["spec"]["hostnames"] == [_host(namespace)]
    [parent] = route["spec"]["parentRefs"]
    assert (parent["name"], parent["namespace"]) == (gateway.gateway_name, gateway.gateway_namespace)
    overhead = {s["kind"] + (f":{s['weight']}" if "weight" in s else ""): s["seconds"] for s in result.steps}
    print(f"step seconds: {overhead}")


def test_a_failing_version_is_aborted_at_the_first_analysis_and_traffic_returns_within_one_interval(
        chat_installed, traffic_config, kube, gateway, namespace):
    chat_installed("1.1.0", NEW, **{"chartkit.io/backend-error-rate": "0.2"})
    _install(traffic_config, namespace)
    interval = 2.0
    analysis = AnalysisOptions.from_data({"interval": interval, "count": 3, "metrics": [
        {"name": "errors", "successCondition": "error_ratio < 0.01"}]})
    strategy = StrategyOptions(kind=Strategy.BLUE_GREEN, steps=(10, 50, 100), check_timeout_seconds=60,
                               analysis=analysis)
    timeline = Timeline()
    with Recorder(gateway, _host(namespace), rate=300) as recorder:
        with pytest.raises(DeployError, match=r"step 4/\d+ \(analysis\) failed: analysis failed after 1 "
                                              r"measurement\(s\).*errors 0\.\d+ \(error_ratio < 0.01: FAILED\).*; "
                                              r"aborted: 100% of traffic is back on 1.0.0"):
            rollout(traffic_config, RolloutOptions(instance="chat", version="1.1.0", namespace=namespace,
                                                   strategy=strategy), progress=timeline)
        time.sleep(interval + 1)
    [failed] = timeline.at(StepKind.ANALYSIS, "failed")
    [back] = [t for t, e in timeline.events if e.stage == "abort" and e.step.kind is StepKind.WEIGHT
              and e.status == "done"]
    measured = [e for _, e in timeline.events if e.status == "measured"]
    assert len(measured) == 1 and "FAILED" in measured[0].message
    # green did answer, badly, before the gate closed: the abort is about real responses
    green = [s for s in recorder.sent if s.version == NEW]
    assert green and sum(s.status == 500 for s in green) / len(green) == pytest.approx(0.2, abs=0.07)
    last_new = max(s.done for s in green)
    later = [s for s in recorder.sent if s.sent >= failed + interval]
    assert len(later) > 300 and {s.version for s in later} == {OLD} and {s.status for s in later} == {200}
    print(f"\nabort: route back {back - failed:.2f}s after the gate failed; last answer from the new version "
          f"{last_new - failed:.2f}s after it (interval {interval:g}s)")
    assert last_new - failed < interval
    assert get_instance(traffic_config, "chat", namespace).version == "1.0.0"
    recorded = status(traffic_config, RolloutTarget(instance="chat", namespace=namespace))
    assert recorded["phase"] == "aborted" and recorded["lastAnalysis"]["verdict"] == "failed"
    assert recorded["rules"] == [{"matches": [], "backends": {f"{namespace}/chat": 100}}]
    wait_for(lambda: _gone(kube, f"{namespace}-chat-green"), 30, "green's namespace to go")


def test_a_split_sends_every_acme_request_and_no_other_to_the_new_version(chat_installed, traffic_config, gateway,
                                                                         namespace):
    chat_installed("1.1.0", NEW)
    _install(traffic_config, namespace)
    strategy = StrategyOptions(kind=Strategy.SPLIT, header="X-Customer", customers=("acme",),
                               check_timeout_seconds=60)
    timeline = Timeline()
    with Recorder(gateway, _host(namespace), rate=400, header=("X-Customer", "acme", 0.5)) as recorder:
        result = rollout(traffic_config, RolloutOptions(instance="chat", version="1.1.0", namespace=namespace,
                                                        strategy=strategy), progress=timeline)
        [split] = timeline.at(StepKind.SPLIT, "done")
        time.sleep(SETTLE)
        data.rollout_view(traffic_config, namespace, "chat", [])  # the console's rollout page: a first look
        time.sleep(5.5)
        measured_until = time.monotonic()
        sides = data.rollout_view(traffic_config, namespace, "chat", [])["sides"]
    assert result.phase is Phase.SPLIT
    # the console's rollout page shows each side's traffic since its last look: half of it is acme's, on green
    blue, green = sides["blue"]["traffic"], sides["green"]["traffic"]
    assert sides["green"]["version"] == "1.1.0" and green["errorRatio"] == 0
    assert green["requests"] == pytest.approx(blue["requests"], rel=0.1)
    acme = recorder.between(split + SETTLE, measured_until, "X-Customer=acme")
    others = recorder.between(split + SETTLE, measured_until, "default")
    assert len(acme) >= 1000 and len(others) >= 1000
    assert share(acme, NEW) == 1.0 and share(others, NEW) == 0.0
    assert {s.status for s in acme + others} == {200}
    abort(traffic_config, RolloutTarget(instance="chat", namespace=namespace))


def _cli(namespace: str, config, *args: str) -> list[str]:
    cluster = config.cluster
    return [sys.executable, "-m", "toolkit.cli", *args, "-n", namespace, "--catalog", str(config.catalog.url),
            "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context]


def _start_and_kill_at(command: list[str], line: str, timeout: float = 120) -> str:
    """Run a real chartkit process and SIGKILL it once its progress shows ``line`` (nothing gets to clean up)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    for text in proc.stderr:
        seen.append(text)
        if line in text:
            proc.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "".join(seen)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def test_killing_chartkit_mid_ramp_leaves_the_weight_then_resume_completes_and_abort_returns(
        chat_installed, traffic_config, gateway, kube, namespace, tmp_path, capsys):
    from toolkit.cli import main

    chat_installed("1.1.0", NEW)
    chat_installed("1.2.0", "1.22")
    _install(traffic_config, namespace)
    strategy = tmp_path / "ramp.yaml"
    strategy.write_text("kind: blue-green\nsteps: [10, 25, 100]\npauseSeconds: 12\ncheck: {timeoutSeconds: 60}\n")
    host = _host(namespace)
    common = ["-n", namespace, "--catalog", str(traffic_config.catalog.url), "--kubeconfig",
              str(traffic_config.cluster.kubeconfig), "--kube-context", traffic_config.cluster.context]

    for to, tag, end in (("1.1.0", NEW, "resume"), ("1.2.0", "1.22", "abort")):
        before = get_instance(traffic_config, "chat", namespace).version
        before_tag = OLD if before == "1.0.0" else NEW
        log = _start_and_kill_at(_cli(namespace, traffic_config, "rollout", "start", "chat", "--version", to,
                                      "--strategy-file", str(strategy)), "route 25% to green done")
        killed = time.monotonic()
        assert "route 10% to green done" in log
        # nothing is driving the rollout now: the Gateway keeps the last weight
        with Recorder(gateway, host, rate=350) as recorder:
            time.sleep(SETTLE + 4)
        held = recorder.between(killed + SETTLE, time.monotonic())
        assert len(held) >= 1000 and {s.status for s in held} == {200}
        assert share(held, tag) * 100 == pytest.approx(25, abs=3)
        assert main(["rollout", "status", "chat", "--json", *common]) == 0
        recorded = json.loads(capsys.readouterr().out)
        assert (recorded["phase"], recorded["weight"], recorded["to"]) == ("progressing", 25, to)

        with Recorder(gateway, host, rate=200) as recorder:
            assert main(["rollout", end, "chat", "--json", *common]) == 0
            finished = time.monotonic()
            time.sleep(SETTLE + 1.5)
        out = json.loads(capsys.readouterr().out)
        after = recorder.between(finished + SETTLE, time.monotonic())
        assert {s.status for s in recorder.sent} == {200}
        if end == "resume":
            assert (out["phase"], out["to"]) == ("complete", to)
            assert [s["kind"] for s in out["steps"]] == ["pause", "check", "weight", "promote", "weight",
                                                        "retire-green"]
            assert share(after, tag) == 1.0 and get_instance(traffic_config, "chat", namespace).version == to
        else:
            assert out["phase"] == "aborted"
            assert share(after, before_tag) == 1.0
            assert get_instance(traffic_config, "chat", namespace).version == before
        route = kube.get(ROUTE_API, "HTTPRoute", "chat", namespace)
        assert route_weights(route) == [{"matches": [], "backends": {f"{namespace}/chat": 100}}]
        wait_for(lambda: _gone(kube, f"{namespace}-chat-green"), 60, "green's namespace to go")
        # the next rollout must not find the last green namespace still terminating
        wait_for(lambda: kube.get("v1", "Namespace", f"{namespace}-chat-green", missing_ok=True) is None, 60,
                 "green's namespace deleted")
