"""Issue 14, item 9: a killed or stopped chartkit leaves no credentials behind, and no helm that outlives it.

Before: kill -9 of an upgrade left the cluster admin's CA, client certificate and key in /tmp (one key
byte-identical to the admin key) plus ``/tmp/chartkit-upgrade-*`` folders, and its helm child kept running:
``recover`` rolled back meanwhile, then the orphan finished, leaving two revisions marked deployed.
"""

from __future__ import annotations

import base64
import os
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.harness import assert_sane, finish, record, start_chartkit
from toolkit.core.history import HistoryOptions, history
from toolkit.core.install import InstallOptions, install
from toolkit.objects import load_documents

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if int(rest[1]) == pid:
                found.append((int(entry.name), name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def key_material(kubeconfig: Path) -> list[bytes]:
    """The CA, client certificate and client key of the kubeconfig's user (what must never land on disk)."""
    config = load_documents(kubeconfig.read_text(), "kubeconfig")[0]
    out = []
    for entry in config.get("users", []) + config.get("clusters", []):
        for key in ("client-key-data", "client-certificate-data", "certificate-authority-data"):
            data = (entry.get("user") or entry.get("cluster") or {}).get(key)
            if data:
                out.append(base64.b64decode(data))
    return out


def assert_nothing_left_in(tmpdir: Path, secrets: list[bytes]) -> None:
    """chartkit ran with this private TMPDIR: whatever it left there (key files, scratch dirs) is a leak."""
    assert secrets  # the kubeconfig does embed a CA, certificate and key: there was something to leak
    leftovers = sorted(tmpdir.rglob("*"))
    holding = [p for p in leftovers if p.is_file() and any(s in p.read_bytes() for s in secrets)]
    assert (leftovers, holding) == ([], []), f"chartkit left files in its TMPDIR: {leftovers} (key material: {holding})"


def statuses(config, name: str, ns: str) -> list[str]:
    """The status of each revision, oldest first ([] when no release of that name exists)."""
    from toolkit.errors import DeployError

    try:
        return [r.status for r in history(config, HistoryOptions(instance=name, namespace=ns))]
    except DeployError:
        return []


def start_stuck_upgrade(ns: str, cli_env: dict, tmp_path: Path):
    """An upgrade whose pods can never be scheduled: helm waits (until --timeout) — the moment to strike."""
    args = ["upgrade", "web", "-n", ns, "--set", "nodeSelector.chartkit-test=nowhere", "--timeout", "120s"]
    started = time.monotonic()
    proc, tmpdir, out, err = start_chartkit(args, env=cli_env, tmp_root=tmp_path)
    deadline = time.monotonic() + 60
    while not (helm := [pid for pid, name in children(proc.pid) if name == "helm"]):
        assert time.monotonic() < deadline, "no helm child appeared"
        assert proc.poll() is None, err.read_text()
        time.sleep(0.1)
    time.sleep(2)  # helm has applied the new revision and waits for its pods
    return args, started, proc, tmpdir, out, err, helm[0]


@pytest.fixture
def web(publish_tiny, config, suite_namespace):
    publish_tiny("1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny@1.0.0", namespace=suite_namespace))
    return suite_namespace


def test_kill9_mid_upgrade_leaves_no_key_no_orphan_and_recover_cannot_race_it(web, config, cluster, cli_env, tmp_path):
    ns = web
    args, started, proc, tmpdir, out, err, helm = start_stuck_upgrade(ns, cli_env, tmp_path)
    assert statuses(config, "web", ns)[-1] == "pending-upgrade"
    os.kill(proc.pid, signal.SIGKILL)
    killed = finish(proc, tmpdir, out, err, args, started=started, timeout=30)
    assert killed.code == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while alive(helm):
        assert time.monotonic() < deadline, f"helm (pid {helm}) outlived chartkit"
        time.sleep(0.05)
    assert_nothing_left_in(tmpdir, key_material(cluster.kubeconfig))
    record("faults", "kill -9 of chartkit mid-upgrade (helm waiting)", killed,
           left="kill -9 mid-upgrade leaves the new revision pending-upgrade: `chartkit recover web -n NS`")

    recover = finish(*start_chartkit(["recover", "web", "-n", ns, "--timeout", "60s"], env=cli_env,
                                     tmp_root=tmp_path)[:4], ["recover"], started=time.monotonic(), timeout=120)
    record("faults", "recover after kill -9 mid-upgrade", recover)
    assert recover.code == 0, recover.stderr
    recovered = statuses(config, "web", ns)
    # helm's rollback leaves the interrupted revision's record as it was; the rollback's is the one deployed
    assert recovered == ["superseded", "pending-upgrade", "deployed"], recovered
    time.sleep(5)  # an orphaned helm would have finished its upgrade by now, as a fourth, deployed revision
    assert statuses(config, "web", ns) == recovered


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_a_stopped_upgrade_stops_helm_gracefully_and_says_what_it_left(web, config, cluster, cli_env, tmp_path,
                                                                      signum):
    ns = web
    args, started, proc, tmpdir, out, err, helm = start_stuck_upgrade(ns, cli_env, tmp_path)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # ^C reaches the terminal's whole process group: chartkit and helm
    else:
        os.kill(proc.pid, signum)    # `kill PID`, a service manager: chartkit alone
    run = finish(proc, tmpdir, out, err, args, started=started, timeout=90)
    record("faults", f"{signal.Signals(signum).name} of chartkit mid-upgrade", run)
    assert_sane(run)
    assert run.code == 128 + signum, run.stderr
    assert "upgrade of" in run.stderr and "stopped;" in run.stderr, run.stderr
    assert not alive(helm)
    assert_nothing_left_in(tmpdir, key_material(cluster.kubeconfig))
    now = statuses(config, "web", ns)
    assert not any(s.startswith("pending-") for s in now), now  # helm failed the revision and rolled back
    assert now.count("deployed") == 1 and now[-1] == "deployed", now
