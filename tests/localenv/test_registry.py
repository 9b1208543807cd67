"""The local OCI registry: real docker-registry with TLS from our CA and htpasswd auth, driven by real helm."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit import localenv
from toolkit.adapters.helm import Helm, HelmConfig
from toolkit.errors import HelmError
from toolkit.localenv import _registry, paths
from tests.localenv.charts import write_chart

SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def package(tmp_path: Path, registry_helm: Helm) -> Path:
    chart = write_chart(tmp_path / "src", "hello", "0.1.0")
    return registry_helm.package(chart, tmp_path / "pkg")


def test_push_with_credentials_then_pull_returns_the_same_bytes(
        registry_helm: Helm, registry_repo: str, package: Path, tmp_path: Path) -> None:
    digest = registry_helm.push(package, registry_repo)
    assert digest.startswith("sha256:")
    (tmp_path / "pulled").mkdir()
    pulled = registry_helm.pull(f"{registry_repo}/hello", tmp_path / "pulled", version="0.1.0")
    assert _sha256(pulled) == _sha256(package)


def test_anonymous_push_is_refused(helm_bin: Path, registry, registry_repo: str, package: Path,
                                   tmp_path: Path) -> None:
    anonymous = Helm(HelmConfig(executable=helm_bin, ca_file=registry.ca_file,
                                registry_config=tmp_path / "no-credentials.json"))
    with pytest.raises(HelmError, match=r"basic credential not found|unauthorized") as caught:
        anonymous.push(package, registry_repo)
    assert caught.value.hint and "log in" in caught.value.hint


def test_wrong_password_is_refused(helm_bin: Path, registry, tmp_path: Path) -> None:
    stranger = Helm(HelmConfig(executable=helm_bin, ca_file=registry.ca_file,
                               registry_config=tmp_path / "config.json"))
    with pytest.raises(HelmError, match=r"unauthorized|401"):
        stranger.registry_login(registry.host, username=registry.username, password="not-the-password")


def test_tls_is_verified_with_the_generated_ca(helm_bin: Path, registry, registry_repo: str, package: Path) -> None:
    # the credentials are right; only the CA is missing: helm must refuse the registry's certificate
    no_ca = Helm(HelmConfig(executable=helm_bin, registry_config=registry.registry_config,
                            extra_env={"SSL_CERT_FILE": SYSTEM_CAS}))
    with pytest.raises(HelmError, match="certificate signed by unknown authority"):
        no_ca.push(package, registry_repo)


def test_start_registry_reuses_the_running_one(registry) -> None:
    pid = _registry.pidfile().pid()
    again = localenv.start_registry()
    assert again == registry
    assert _registry.pidfile().pid() == pid


# --- faults, each in a state dir of its own so the shared registry is untouched -----------------------------

@pytest.fixture
def own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHARTKIT_STATE", str(tmp_path / "state"))
    yield tmp_path / "state"
    localenv.down()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("recorded", ["dead", "reused"], ids=["pid-of-dead-process", "pid-reused-by-another"])
def test_a_stale_pid_file_is_detected_and_replaced(own_state: Path, recorded: str) -> None:
    pidfile = _registry.pidfile()
    pidfile.path.parent.mkdir(parents=True)
    # "reused": a live process (us) whose start time differs from the recorded one
    pid = _dead_pid() if recorded == "dead" else os.getpid()
    pidfile.path.write_text(f'{{"pid": {pid}, "start": "1", "argv": ["docker-registry"]}}')
    assert pidfile.stale()
    info = localenv.start_registry()
    assert pidfile.pid() not in (None, pid)
    assert _registry.probe(info.host, info.ca_file) == 401
    assert os.path.exists(f"/proc/{pid}") == (recorded == "reused")  # the unrelated process was left alone


def test_a_taken_port_moves_the_registry_to_a_free_one(own_state: Path) -> None:
    first = localenv.start_registry()
    port = int(first.host.rsplit(":", 1)[1])
    _registry.stop()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        moved = localenv.start_registry()
        assert moved.host != first.host
        assert _registry.probe(moved.host, moved.ca_file) == 401
        # helm's registry config follows the registry to its new port
        assert moved.host in moved.registry_config.read_text()


def test_a_killed_registry_is_restarted(own_state: Path) -> None:
    info = localenv.start_registry()
    pid = _registry.pidfile().pid()
    assert pid
    os.killpg(pid, signal.SIGKILL)
    again = localenv.start_registry()
    assert _registry.pidfile().pid() not in (None, pid)
    assert again.host == info.host  # the port was free again, so references stay valid


def test_a_costly_password_hash_is_replaced_by_a_restart(own_state: Path) -> None:
    """The registry checks the bcrypt hash on every request: a state from before BCRYPT_ROUNDS (cost 10, ~80 ms a
    request) is restarted with the cheap hash, and the same credentials keep working."""
    import bcrypt

    info = localenv.start_registry()
    pid = _registry.pidfile().pid()
    htpasswd = own_state / "registry" / "htpasswd"
    assert htpasswd.read_text().split(":", 1)[1].startswith(f"$2b${_registry.BCRYPT_ROUNDS:02d}$")
    costly = bcrypt.hashpw(info.password.encode(), bcrypt.gensalt(rounds=10)).decode()
    htpasswd.write_text(f"{info.username}:{costly}\n")
    again = localenv.start_registry()
    assert _registry.pidfile().pid() not in (None, pid)
    assert htpasswd.read_text().split(":", 1)[1].startswith(f"$2b${_registry.BCRYPT_ROUNDS:02d}$")
    assert (again.username, again.password) == (info.username, info.password)
    assert _registry.probe(again.host, again.ca_file, (again.username, again.password)) == 200


def test_down_stops_the_registry_and_removes_state(own_state: Path) -> None:
    localenv.start_registry()
    pid = _registry.pidfile().pid()
    assert localenv.down() == ["registry"]
    assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    assert not own_state.exists()
    assert localenv.status()["registry"] is None
    assert paths.state_root() == own_state


def test_concurrent_starts_share_one_registry(own_state: Path) -> None:
    # three processes at once, as pytest sessions of several engineers (or CI steps) do
    code = "from toolkit import localenv; print(localenv.start_registry().host)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    hosts = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(hosts) == 1
    registries = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).startswith("/usr/bin/docker-registry")
                  and str(own_state) in _cmdline(p)]
    assert len(registries) == 1


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_chartkit_up_and_down_commands(own_state: Path, helm_bin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from toolkit.cli import main

    assert main(["up", "--no-cluster", "--json"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert env["registry"]["url"].startswith("oci://127.0.0.1:") and env["cluster"] is None
    assert env["state_dir"] == str(own_state)
    assert main(["down"]) == 0
    assert capsys.readouterr().out.strip() == "stopped: registry"
    assert main(["down"]) == 0
    assert capsys.readouterr().out.strip() == "nothing was running"
