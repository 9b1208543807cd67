"""Issue 14, items 6, 7 and the rollout part of 10: rollouts never crash or get cut off with traffic split.

Before: ``pauseSeconds: 1e308`` passed the schema and it and ``--pause 1e308|inf|nan`` ended in ``unexpected error:
OverflowError`` after routing 10% to green; SIGTERM and ^C left traffic split without saying so; two rollouts of
one instance started together destroyed each other; ``--version 9.9.9`` created the green namespace and route
before checking the version.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.reliability.harness import assert_sane, finish, record, run_chartkit, start_chartkit
from toolkit.core.install import InstallOptions, install
from toolkit.deploy.release import get_instance
from toolkit.deploy.strategies.plan import ROUTE_API, route_weights, state_of

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]


@pytest.fixture
def chat_v1_v2(chat_chart, config, publish_dir, kube, suite_namespace):
    """chat 1.0.0 running in the case's namespace, 1.1.0 published."""
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    publish_dir(chat_chart("1.1.0", "1.21"), "1.1.0")
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=suite_namespace))
    yield suite_namespace
    kube.delete("v1", "Namespace", f"{suite_namespace}-chat-green", wait=False)


LEASE_API = "coordination.k8s.io/v1"


def claim_name(what: str, instance: str) -> str:
    return f"chartkit-{what}-{instance}"


def wait_for(check, timeout: float = 60.0, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def weights(kube, ns: str) -> dict[str, int]:
    route = kube.get(ROUTE_API, "HTTPRoute", "chat", ns, missing_ok=True)
    return route_weights(route)[0]["backends"] if route else {}


def green_gone(kube, ns: str) -> bool:
    green = kube.get("v1", "Namespace", f"{ns}-chat-green", missing_ok=True)
    return green is None or green["status"].get("phase") == "Terminating"


BLUE_GREEN = ["--strategy", "blue-green", "--steps", "10,50,100", "--check-timeout", "60"]


def rollout_on_green(kube, ns: str, cli_env, tmp_path, *, pause: int):
    """A `rollout start` to 1.1.0 in a child process, returned once 10% of traffic is on green:
    (argv, started, (proc, tmpdir, out, err)) for ``finish``."""
    args = ["rollout", "start", "chat", "-n", ns, "--version", "1.1.0", *BLUE_GREEN, "--pause", str(pause)]
    started = time.monotonic()
    child = start_chartkit(args, env=cli_env, tmp_root=tmp_path)
    wait_for(lambda: weights(kube, ns).get(f"{ns}-chat-green/chat") == 10, 90, "10% on green")
    return args, started, child


@pytest.mark.parametrize("flags", [["--pause", "1e308"], ["--pause", "inf"], ["--pause", "nan"], ["--pause", "-1"],
                                   ["--check-timeout", "1e308"]], ids=["1e308", "inf", "nan", "negative", "check"])
def test_unbounded_durations_are_refused_before_any_traffic_moves(chat_v1_v2, kube, cli_env, tmp_path, flags):
    ns = chat_v1_v2
    run = run_chartkit(["rollout", "start", "chat", "-n", ns, "--version", "1.1.0", *BLUE_GREEN, *flags],
                       env=cli_env, tmp_root=tmp_path)
    record("issue 14", f"item 6: rollout {' '.join(flags)}", run)
    assert_sane(run)
    assert run.code == 1 and "seconds" in run.error_lines[0], run.stderr
    assert kube.get(ROUTE_API, "HTTPRoute", "chat", ns, missing_ok=True) is None


@pytest.mark.parametrize("pause", ["1.0e+308", ".inf", "7200"], ids=["1e308", "inf", "over-an-hour"])
def test_a_strategy_file_with_an_unbounded_pause_is_refused(chat_v1_v2, kube, cli_env, tmp_path, pause):
    ns = chat_v1_v2
    strategy = tmp_path / "strategy.yaml"
    strategy.write_text(f"kind: blue-green\nsteps: [10, 100]\npauseSeconds: {pause}\n")
    run = run_chartkit(["rollout", "start", "chat", "-n", ns, "--version", "1.1.0", "--strategy-file", str(strategy)],
                       env=cli_env, tmp_root=tmp_path)
    record("issue 14", f"item 6: strategy file pauseSeconds {pause}", run)
    assert_sane(run)
    assert run.code == 1 and "pauseSeconds" in run.error_lines[0], run.stderr
    assert kube.get(ROUTE_API, "HTTPRoute", "chat", ns, missing_ok=True) is None


def test_an_unknown_version_is_refused_before_green_and_the_route_exist(chat_v1_v2, kube, cli_env, tmp_path):
    ns = chat_v1_v2
    run = run_chartkit(["rollout", "start", "chat", "-n", ns, "--version", "9.9.9", *BLUE_GREEN], env=cli_env,
                       tmp_root=tmp_path)
    record("issue 14", "item 10: rollout start --version 9.9.9", run)
    assert run.code == 1 and "no such version" in run.error_lines[0], run.stderr
    assert kube.get(ROUTE_API, "HTTPRoute", "chat", ns, missing_ok=True) is None
    assert kube.get("v1", "Namespace", f"{ns}-chat-green", missing_ok=True) is None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_a_signal_mid_rollout_returns_traffic_to_stable_and_says_so(chat_v1_v2, kube, config, cli_env, tmp_path,
                                                                   signum):
    ns = chat_v1_v2
    args, started, (proc, tmpdir, out, err) = rollout_on_green(kube, ns, cli_env, tmp_path, pause=60)
    time.sleep(1)  # into the pause
    os.kill(proc.pid, signum)
    run = finish(proc, tmpdir, out, err, args, started=started, timeout=60)
    record("issue 14", f"item 6: {signal.Signals(signum).name} during a blue-green pause", run)
    assert_sane(run)
    assert run.code == 128 + signum, run.stderr
    assert (f"interrupted by {signal.Signals(signum).name}: the rollout of \"{ns}/chat\" to 1.1.0 stopped at step"
            in run.stderr and "aborted: 100% of traffic is on 1.0.0 and green is removed" in run.stderr), run.stderr
    assert weights(kube, ns) == {f"{ns}/chat": 100}
    assert state_of(kube.get(ROUTE_API, "HTTPRoute", "chat", ns))["phase"] == "aborted"
    wait_for(lambda: green_gone(kube, ns), 30, "green to go")
    assert kube.get(LEASE_API, "Lease", claim_name("rollout", "chat"), ns, missing_ok=True) is None
    assert get_instance(config, "chat", ns).version == "1.0.0"


def test_two_rollouts_at_the_same_moment_one_runs_the_other_is_refused_naming_the_holder(
        chat_v1_v2, kube, config, cli_env, tmp_path):
    ns = chat_v1_v2
    args = ["rollout", "start", "chat", "-n", ns, "--version", "1.1.0", *BLUE_GREEN, "--pause", "1"]
    started = time.monotonic()
    children = [start_chartkit(args, env=cli_env, tmp_root=tmp_path) for _ in range(2)]
    runs = [finish(*child, args, started=started, timeout=180) for child in children]
    for i, run in enumerate(runs):
        record("concurrency", f"rollout of one instance, 2 at once (#{i + 1})", run)
        assert_sane(run)
    assert sorted(r.code for r in runs) == [0, 1], [r.stderr for r in runs]
    winner = next(r for r in runs if r.code == 0)
    loser = next(r for r in runs if r.code == 1)
    assert "another rollout holds it: " in loser.error_lines[0] and f"pid {winner.pid}: rollout start 1.1.0" \
        in loser.error_lines[0], loser.stderr
    assert get_instance(config, "chat", ns).version == "1.1.0"
    assert weights(kube, ns) == {f"{ns}/chat": 100}
    assert state_of(kube.get(ROUTE_API, "HTTPRoute", "chat", ns))["phase"] == "complete"
    assert kube.get("apps/v1", "Deployment", "chat", f"{ns}-chat-green", missing_ok=True) is None or green_gone(kube, ns)


def test_a_killed_rollout_leaves_a_claim_that_expires_then_abort_takes_over(chat_v1_v2, kube, config, cli_env,
                                                                            tmp_path):
    ns = chat_v1_v2
    args, started, (proc, tmpdir, out, err) = rollout_on_green(kube, ns, cli_env, tmp_path, pause=60)
    os.kill(proc.pid, signal.SIGKILL)
    killed = finish(proc, tmpdir, out, err, args, started=started, timeout=30)
    assert killed.code == -signal.SIGKILL
    lease = kube.get(LEASE_API, "Lease", claim_name("rollout", "chat"), ns)
    assert f"pid {proc.pid}: rollout start 1.1.0" in lease["spec"]["holderIdentity"]

    # a killed holder on this machine is taken over at once (tests/deploy/test_rollout_traffic.py); one on another
    # machine, whose pid this one cannot look up, is asked on the route to stop, and taken over when its claim expires
    kube.patch(LEASE_API, "Lease", lease["metadata"]["name"], ns,
               {"spec": {"holderIdentity": f"ci@another-machine pid {proc.pid}: rollout start 1.1.0"}})
    args = ["rollout", "abort", "chat", "-n", ns]
    started = time.monotonic()
    aborting, tmpdir, out, err = start_chartkit(args, env=cli_env, tmp_root=tmp_path)
    state = state_of(kube.get(ROUTE_API, "HTTPRoute", "chat", ns))
    wait_for(lambda: (kube.get(ROUTE_API, "HTTPRoute", "chat", ns)["metadata"].get("annotations") or {})
             .get("chartkit.io/rollout-stop") == state["started"], 30, "the stop request on the route")
    time.sleep(2)
    assert aborting.poll() is None  # nobody drives the rollout to stop it: the abort waits for the claim
    # what the claim looks like 30 s after its holder died (no renewal since)
    stale = (datetime.now(timezone.utc) - timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.patch(LEASE_API, "Lease", lease["metadata"]["name"], ns, {"spec": {"renewTime": stale}})
    run = finish(aborting, tmpdir, out, err, args, started=started, timeout=60)
    record("faults", "kill -9 of chartkit mid-rollout, then rollout abort", killed,
           left="a killed rollout leaves traffic split: `chartkit rollout abort chat -n NS` (on the same machine at "
                "once; from another, once its claim expires: 30 s)")
    record("faults", "rollout abort after a killed rollout", run)
    assert run.code == 0, run.stderr
    assert weights(kube, ns) == {f"{ns}/chat": 100}
    assert json.loads(json.dumps(state_of(kube.get(ROUTE_API, "HTTPRoute", "chat", ns))))["phase"] == "aborted"
    wait_for(lambda: green_gone(kube, ns), 30, "green to go")


def test_a_rollout_another_process_drives_is_aborted_on_request_mid_pause(chat_v1_v2, kube, config, cli_env,
                                                                         tmp_path):
    ns = chat_v1_v2
    args, started, (proc, tmpdir, out, err) = rollout_on_green(kube, ns, cli_env, tmp_path, pause=300)
    asked = time.monotonic()
    run = run_chartkit(["rollout", "abort", "chat", "-n", ns], env=cli_env, tmp_root=tmp_path)
    record("concurrency", "rollout abort while another process drives the rollout (mid-pause)", run)
    assert run.code == 0, run.stderr
    assert time.monotonic() - asked < 30  # not the 300 s pause, nor the claim's expiry
    driver = finish(proc, tmpdir, out, err, args, started=started, timeout=30)
    record("concurrency", "the rollout asked to stop by another process", driver)
    assert driver.code == 1 and "stopped: an abort was asked for" in driver.error_lines[0] \
        and "aborted: 100% of traffic is back on 1.0.0" in driver.error_lines[0], driver.stderr
    assert weights(kube, ns) == {f"{ns}/chat": 100}
    assert state_of(kube.get(ROUTE_API, "HTTPRoute", "chat", ns))["phase"] == "aborted"
    assert get_instance(config, "chat", ns).version == "1.0.0"
    wait_for(lambda: green_gone(kube, ns), 30, "green to go")


def test_uninstall_removes_the_route_and_green_a_split_rollout_left(chat_v1_v2, kube, cli_env, tmp_path):
    ns = chat_v1_v2
    run = run_chartkit(["rollout", "start", "chat", "-n", ns, "--version", "1.1.0", "--strategy", "split",
                        "--customers", "acme", "--check-timeout", "60"], env=cli_env, tmp_root=tmp_path)
    assert run.code == 0, run.stderr
    assert kube.get(ROUTE_API, "HTTPRoute", "chat", ns) is not None
    run = run_chartkit(["uninstall", "chat", "-n", ns], env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 10: uninstall during a split rollout", run)
    assert run.code == 0, run.stderr
    assert kube.get(ROUTE_API, "HTTPRoute", "chat", ns, missing_ok=True) is None
    assert green_gone(kube, ns)
