"""Fault injection: kill -9 and SIGTERM of chartkit, of its helm child, of the registry and of the API server, at
steps of publish, install, upgrade, rollout and bind.

chartkit and helm faults run against the shared registry and cluster (only this test's processes die). Registry
and API-server faults run against a registry and a cluster of the module's own (own CHARTKIT_STATE), so the
shared ones keep serving other engineers' runs. Every case must end as a success, one clean error line, or an
interruption that says what it left; any state left for a human is recorded with the command that resolves it,
and the test runs that command and checks it does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.reliability.harness import assert_sane, finish, record, run_chartkit, start_chartkit
from tests.reliability.ledger import LEDGER
from tests.reliability.test_item09_kill import alive, children, statuses
from toolkit.core.install import InstallOptions, install

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]

SIGNALS = [signal.SIGKILL, signal.SIGTERM]
IDS = ["kill-9", "SIGTERM"]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def first_landed(catalog_url: str, ca_file, registry_config, packages: list[Path]):
    """A check that is true once any of the packages' versions is in the registry (publish prints at the end)."""
    from toolkit.adapters.oci import Registry
    from toolkit.config import CatalogURL

    url = CatalogURL.parse(catalog_url)
    reg = Registry(url.host, ca_file=ca_file, registry_config=registry_config)
    names = [p.name.rsplit("-", 1)[0] for p in packages]
    return lambda: any(reg.tags(url.repository(name)) for name in names[:2])


def helm_child(pid: int, timeout: float = 60) -> int:
    return wait_for(lambda: next((p for p, name in children(pid) if name == "helm"), None), timeout, "a helm child")


# -- chartkit itself ---------------------------------------------------------------------------------------------

@pytest.fixture
def packages(tmp_path, tiny_chart, catalog, helm_bin):
    from toolkit.config import Config
    from toolkit.core.package import PackageOptions, package

    config = Config(catalog, helm_binary=helm_bin)
    return [package(config, PackageOptions(chart=tiny_chart(tmp_path / "src", f"svc{i}", "1.0.0"),
                                           destination=tmp_path / "out", offline=True)).path for i in range(6)]


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_chartkit_killed_mid_publish_leaves_whole_versions_and_a_rerun_completes(packages, catalog, cli_env,
                                                                                 tmp_path, signum):
    args = ["publish", *map(str, packages), "--workers", "1", "--index", str(tmp_path / "index")]
    started = time.monotonic()
    proc, tmpdir, out, err = start_chartkit(args, env=cli_env, tmp_root=tmp_path)
    wait_for(first_landed(str(catalog.url), catalog.ca_file, catalog.registry_config, packages), 60,
             "a first version to land")
    os.kill(proc.pid, signum)
    run = finish(proc, tmpdir, out, err, args, started=started, timeout=60)
    record("faults", f"{signal.Signals(signum).name} of chartkit mid-publish (6 packages)", run)
    assert_sane(run)
    with catalog.registry() as reg:  # what landed is whole: every tag's manifest and blobs are there
        landed = {p.name for p in packages
                  if reg.tags(catalog.url.repository(p.name.rsplit("-", 1)[0]))}
        for package in packages:
            repo = catalog.url.repository(package.name.rsplit("-", 1)[0])
            if "1.0.0" in reg.tags(repo):
                manifest = reg.manifest(repo, "1.0.0")
                assert manifest is not None
    rerun = run_chartkit([*args[:-4], "--index", str(tmp_path / "index")], env=cli_env, tmp_root=tmp_path)
    record("faults", "publish again after the interrupted one", rerun)
    assert rerun.code == 0, rerun.stderr
    assert rerun.stdout.count("already published:") == len(landed)
    assert rerun.stdout.count("published:") == len(packages)


@pytest.fixture
def web(publish_tiny, config, suite_namespace):
    publish_tiny("1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny@1.0.0", namespace=suite_namespace))
    return suite_namespace


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_chartkit_killed_mid_install_then_the_named_command_resolves_it(publish_tiny, config, suite_namespace,
                                                                        cli_env, tmp_path, signum):
    ns = suite_namespace
    publish_tiny("1.0.0")
    args = ["install", "stuck", "tiny@1.0.0", "-n", ns, "--set", "nodeSelector.chartkit-test=nowhere", "--timeout",
            "120s"]
    started = time.monotonic()
    proc, tmpdir, out, err = start_chartkit(args, env=cli_env, tmp_root=tmp_path)
    helm = helm_child(proc.pid)
    time.sleep(2)
    os.kill(proc.pid, signum)
    run = finish(proc, tmpdir, out, err, args, started=started, timeout=90)
    assert_sane(run)
    wait_for(lambda: not alive(helm), 10, "helm to end")
    left = statuses(config, "stuck", ns) if run.code == -signal.SIGKILL else []
    if left:
        assert left == ["pending-install"], left
        record("faults", "kill -9 of chartkit mid-install", run,
               left="kill -9 mid-install leaves a pending-install release: `chartkit recover stuck -n NS` (uninstalls)")
        fix = run_chartkit(["recover", "stuck", "-n", ns, "--timeout", "60s"], env=cli_env, tmp_root=tmp_path)
        record("faults", "recover after a killed install", fix)
        assert fix.code == 0 and "uninstall" in fix.stdout, fix.stderr
    else:
        record("faults", f"{signal.Signals(signum).name} of chartkit mid-install", run)
        assert run.code == 128 + signum and "install of" in run.stderr, run.stderr
    assert statuses(config, "stuck", ns) == [] or statuses(config, "stuck", ns)[-1] not in ("pending-install",)


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_chartkit_killed_during_bind_leaves_the_binding_whole_or_absent(chat_chart, publish_dir, config, kube,
                                                                        suite_namespace, cli_env, tmp_path, signum):
    ns = suite_namespace
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=ns))
    password = LEDGER.secret("mq")  # the scanner looks for it in everything chartkit wrote
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-mq", "namespace": ns},
                 "stringData": {"RABBITMQ_USER": "chat", "RABBITMQ_PASSWORD": password,
                                # every key chat's type declares as a binding output (charts/chat/chartkit.yaml)
                                "AMQP_URL": f"amqp://chat:{password}@rabbitmq:5672/chat"}}])
    consumer = f"{ns}-app"
    kube.create_namespace(consumer)
    try:
        outcomes = []
        for delay in (0.2, 0.35, 0.5):  # three moments in its short life
            args = ["bind", "chat", "-n", ns, "--consumer-namespace", consumer]
            started = time.monotonic()
            proc, tmpdir, out, err = start_chartkit(args, env=cli_env, tmp_root=tmp_path)
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signum)
            run = finish(proc, tmpdir, out, err, args, started=started, timeout=60)
            record("faults", f"{signal.Signals(signum).name} of chartkit during bind (+{delay}s)", run)
            assert_sane(run)
            binding = kube.get("v1", "Secret", "chat-binding", consumer, missing_ok=True)
            assert binding is None or {"host", "port", "type", "RABBITMQ_PASSWORD"} <= set(binding["data"])
            outcomes.append(run.outcome)
        again = run_chartkit(["bind", "chat", "-n", ns, "--consumer-namespace", consumer], env=cli_env,
                             tmp_root=tmp_path)
        assert again.code == 0, again.stderr
    finally:
        kube.delete("v1", "Namespace", consumer, wait=False)


# -- the helm child ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_helm_killed_mid_upgrade_is_one_line_and_the_state_is_named(web, config, cli_env, tmp_path, signum):
    ns = web
    args = ["upgrade", "web", "-n", ns, "--set", "nodeSelector.chartkit-test=nowhere", "--timeout", "120s"]
    started = time.monotonic()
    proc, tmpdir, out, err = start_chartkit(args, env=cli_env, tmp_root=tmp_path)
    helm = helm_child(proc.pid)
    time.sleep(2)
    os.kill(helm, signum)
    run = finish(proc, tmpdir, out, err, args, started=started, timeout=90)
    assert_sane(run)
    assert run.code == 1 and len(run.error_lines) == 1, run.stderr
    now = statuses(config, "web", ns)
    if now[-1].startswith("pending-"):
        assert "`chartkit recover web -n" in run.stderr, run.stderr
        record("faults", f"{signal.Signals(signum).name} of helm mid-upgrade", run,
               left="helm killed mid-upgrade leaves the revision pending-upgrade: `chartkit recover web -n NS`")
        fix = run_chartkit(["recover", "web", "-n", ns, "--timeout", "60s"], env=cli_env, tmp_root=tmp_path)
        assert fix.code == 0, fix.stderr
    else:
        record("faults", f"{signal.Signals(signum).name} of helm mid-upgrade", run)
    assert statuses(config, "web", ns)[-1] == "deployed"


# -- the registry and the API server: a private pair -------------------------------------------------------------

@contextlib.contextmanager
def private_state(state: Path) -> Iterator[None]:
    before = os.environ.get("CHARTKIT_STATE")
    os.environ["CHARTKIT_STATE"] = str(state)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CHARTKIT_STATE", None)
        else:
            os.environ["CHARTKIT_STATE"] = before


@pytest.fixture(scope="module")
def private(tmp_path_factory, cluster, registry):
    """A registry and a cluster of this module's own (started after the shared ones exist, so builds are shared)."""
    from toolkit import localenv

    state = tmp_path_factory.mktemp("faults-state")
    with private_state(state):
        reg = localenv.start_registry()
        kube_info = localenv.start_cluster()
    yield state, reg, kube_info
    with private_state(state):
        localenv.down()


def restart(state: Path) -> None:
    from toolkit import localenv

    with private_state(state):
        localenv.start_registry()
        localenv.start_cluster()


def kill(state: Path, what: str, signum: int, *, wait: bool = True) -> None:
    from toolkit.localenv import _cluster, _registry

    with private_state(state):
        pid = _registry.pidfile().pid() if what == "registry" else _cluster.pidfile("kube-apiserver").pid()
    assert pid, f"the private {what} is not running"
    os.killpg(pid, signum)
    if wait:
        wait_for(lambda: not alive(pid), 90, f"the {what} to die")


@pytest.fixture
def private_env(private, helm_bin, tmp_path):
    state, reg, kube_info = private
    restart(state)  # a previous case may have left something dead
    return {"CHARTKIT_CATALOG": f"{reg.url}/faults-{tmp_path.name[-12:].lower().replace('_', '-')}",
            "CHARTKIT_REGISTRY_CA": str(reg.ca_file), "HELM_REGISTRY_CONFIG": str(reg.registry_config),
            "KUBECONFIG": str(kube_info.kubeconfig), "CHARTKIT_HELM": str(helm_bin)}


@pytest.fixture
def private_web(private, private_env, tmp_path, tiny_chart, helm_bin):
    """tiny 1.0.0 and 1.1.0 in the private catalog, 1.0.0 installed as ``web`` in the private cluster."""
    from toolkit.config import CatalogRef, CatalogURL
    from tests.deploy.conftest import publish_chart

    state, reg, kube_info = private
    catalog = CatalogRef(CatalogURL.parse(private_env["CHARTKIT_CATALOG"]), "test", reg.ca_file, reg.registry_config)
    for version in ("1.0.0", "1.1.0"):
        publish_chart(tiny_chart(tmp_path / version, "tiny", version), catalog, helm_bin)
    ns = f"f-{tmp_path.name[-8:].lower().replace('_', '-')}"
    run = run_chartkit(["install", "web", "tiny@1.0.0", "-n", ns, "--timeout", "60s"], env=private_env,
                       tmp_root=tmp_path)
    assert run.code == 0, run.stderr
    return ns


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_registry_dies_mid_publish_then_a_rerun_completes(private, private_env, packages, tmp_path, signum):
    state = private[0]
    args = ["publish", *map(str, packages), "--workers", "1", "--index", str(tmp_path / "index")]
    started = time.monotonic()
    proc, tmpdir, out, err = start_chartkit(args, env=private_env, tmp_root=tmp_path)
    wait_for(first_landed(private_env["CHARTKIT_CATALOG"], Path(private_env["CHARTKIT_REGISTRY_CA"]),
                          Path(private_env["HELM_REGISTRY_CONFIG"]), packages), 60, "a first version to land")
    kill(state, "registry", signum)
    run = finish(proc, tmpdir, out, err, args, started=started, timeout=120)
    record("faults", f"{signal.Signals(signum).name} of the registry mid-publish", run,
           left="a registry that died mid-publish: start it, then publish the same packages again")
    assert_sane(run)
    assert run.code == 1 and "unable to reach registry" in run.stderr, run.stderr
    restart(state)
    rerun = run_chartkit([*args[:-4], "--index", str(tmp_path / "index")], env=private_env, tmp_root=tmp_path)
    record("faults", "publish again once the registry is back", rerun)
    assert rerun.code == 0 and rerun.stdout.count("published:") == len(packages), rerun.stderr


@pytest.mark.parametrize(("step", "signum"), [("install", signal.SIGKILL), ("install", signal.SIGTERM),
                                              ("upgrade-version", signal.SIGKILL), ("rollout", signal.SIGKILL)],
                         ids=["install-kill-9", "install-SIGTERM", "upgrade-version-kill-9", "rollout-kill-9"])
def test_a_dead_registry_is_one_line_and_nothing_changes(private, private_env, private_web, tmp_path, signum, step):
    state, ns = private[0], private_web
    kill(state, "registry", signum)
    args = {"install": ["install", "other", "tiny@1.1.0", "-n", ns],
            "upgrade-version": ["upgrade", "web", "-n", ns, "--version", "1.1.0"],
            "rollout": ["rollout", "start", "web", "-n", ns, "--version", "1.1.0"]}[step]
    run = run_chartkit(args, env=private_env, timeout=120, tmp_root=tmp_path)
    record("faults", f"{signal.Signals(signum).name} of the registry before {step}", run)
    assert_sane(run)
    assert run.code == 1 and "unable to reach registry" in run.error_lines[0], run.stderr
    restart(state)
    listed = run_chartkit(["instances", "-n", ns, "--no-outdated", "--json"], env=private_env, tmp_root=tmp_path)
    assert '"version": "1.0.0"' in listed.stdout and '"other"' not in listed.stdout, listed.stdout


@pytest.mark.parametrize("step", ["install", "bind", "rollout"])
def test_a_dead_api_server_is_one_line(private, private_env, private_web, tmp_path, step):
    state, ns, signum = private[0], private_web, signal.SIGKILL  # (a SIGTERM'd one drains first: mid-upgrade below)
    kill(state, "apiserver", signum)
    args = {"install": ["install", "other", "tiny@1.1.0", "-n", ns],
            "bind": ["bind", "web", "-n", ns, "--consumer-namespace", "elsewhere"],
            "rollout": ["rollout", "start", "web", "-n", ns, "--version", "1.1.0"]}[step]
    run = run_chartkit(args, env=private_env, timeout=120, tmp_root=tmp_path)
    record("faults", f"{signal.Signals(signum).name} of the API server before {step}", run)
    assert_sane(run)
    assert run.code == 1 and "connection refused" in run.error_lines[0], run.stderr
    restart(state)


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_api_server_dies_mid_upgrade_then_recover_resolves_it(private, private_env, private_web, tmp_path, signum):
    state, ns = private[0], private_web
    args = ["upgrade", "web", "-n", ns, "--set", "nodeSelector.chartkit-test=nowhere", "--timeout", "8s"]
    started = time.monotonic()
    proc, tmpdir, out, err = start_chartkit(args, env=private_env, tmp_root=tmp_path)
    helm_child(proc.pid)
    time.sleep(3)  # helm applied the revision and waits for pods
    kill(state, "apiserver", signum, wait=False)  # a SIGTERM'd API server drains its requests as it goes
    run = finish(proc, tmpdir, out, err, args, started=started, timeout=180)
    assert_sane(run)
    assert run.code == 1, run.stderr
    restart(state)
    listed = run_chartkit(["instances", "-n", ns, "--no-outdated", "--json"], env=private_env, tmp_root=tmp_path)
    if '"status": "pending-upgrade"' in listed.stdout or '"status": "failed"' in listed.stdout:
        record("faults", f"{signal.Signals(signum).name} of the API server mid-upgrade", run,
               left="an API server that died mid-upgrade leaves the release pending/failed: `chartkit recover web "
                    "-n NS` once it is back")
        fix = run_chartkit(["recover", "web", "-n", ns, "--timeout", "60s"], env=private_env, tmp_root=tmp_path)
        record("faults", "recover after the API server came back", fix)
        assert fix.code == 0, fix.stderr
    else:
        record("faults", f"{signal.Signals(signum).name} of the API server mid-upgrade", run)
    listed = run_chartkit(["instances", "-n", ns, "--no-outdated", "--json"], env=private_env, tmp_root=tmp_path)
    assert '"status": "deployed"' in listed.stdout, listed.stdout
