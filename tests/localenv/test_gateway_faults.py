"""The gateway from scratch, after a crash, and a cluster started by an older chartkit brought up to date.

Each runs a second cluster in a state dir of its own (like test_faults.py), so the shared one keeps serving.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from toolkit import localenv
from toolkit.adapters.kube import Kube
from toolkit.localenv import _build, _cluster, _gateway, _proc, paths

pytestmark = [pytest.mark.cluster, pytest.mark.gateway]


def test_a_gateway_starts_from_scratch_and_recovers_from_a_kill(gateway, own_cluster) -> None:
    # (the shared gateway first: Traefik is built before the clock starts)
    messages: list[str] = []
    started = time.monotonic()
    info = localenv.start_gateway(messages.append)
    took = time.monotonic() - started
    assert took < 30, messages
    assert any(m.startswith("starting traefik") for m in messages)
    kube = Kube(own_cluster.kubeconfig, own_cluster.context)
    gw = kube.get("gateway.networking.k8s.io/v1", "Gateway", info.gateway_name, info.gateway_namespace)
    assert gw["spec"]["listeners"][0]["port"] == int(info.url.rsplit(":", 1)[1])
    assert gw["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    # Traefik authenticates as its own ServiceAccount with a token only it can read
    token = _gateway.state_dir() / "token"
    assert token.stat().st_mode & 0o777 == 0o600
    assert (_gateway.state_dir() / "kubeconfig").stat().st_mode & 0o777 == 0o600
    assert token.read_text() not in " ".join(_gateway.pidfile().read()["argv"])

    pid = _gateway.pidfile().pid()
    os.killpg(pid, signal.SIGKILL)
    _proc.wait_until(lambda: _gateway.pidfile().pid() is None, timeout=10, what="traefik to die")
    assert localenv.status()["gateway"] is None  # detected, not reported as running
    repaired = localenv.start_gateway(messages.append)
    assert _gateway.pidfile().pid() not in (None, pid)
    assert repaired.url == info.url  # its ports were free again: kept
    assert any("stale pid file" in m for m in messages)

    # a day-old token is renewed in place: the kubeconfig names the file, client-go rereads it, no restart
    old_token, day_ago = token.read_text(), time.time() - 25 * 3600
    os.utime(token, (day_ago, day_ago))
    pid = _gateway.pidfile().pid()
    assert localenv.start_gateway() == repaired
    assert token.read_text() != old_token and _gateway.pidfile().pid() == pid


def test_an_older_cluster_is_updated_in_place(own_cluster) -> None:
    directory = _cluster.state_dir()
    kube = Kube(own_cluster.kubeconfig, own_cluster.context)
    kube.create_namespace("old")
    # as an older chartkit left it: kwok without --cidr, Gateway API v1.3.0 CRDs, no marker
    old_argv = [a for a in _cluster.pidfile("kwok").read()["argv"] if not a.startswith("--cidr=")]
    _proc.stop(_cluster.pidfile("kwok"))
    _cluster._release_node_leases(directory / "kubeconfig")
    _proc.spawn(old_argv, pidfile=_cluster.pidfile("kwok"), log_file=directory / "kwok.log", cwd=directory)
    old_crds = sorted((_build.module_dir("sigs.k8s.io/gateway-api", "v1.3.0") / "config/crd/standard").glob("*.yaml"))
    kube.apply([doc for path in old_crds for doc in _cluster._load_yaml_documents(path)],
               field_manager="chartkit-localenv")
    (directory / "gateway-api.version").unlink()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "before"},
           "spec": {"containers": [{"name": "c", "image": "registry.example/x:1"}]}}
    _wait(lambda: kube.get("v1", "ServiceAccount", "default", "old", missing_ok=True) is not None)
    kube.apply([pod], "old")
    _wait(lambda: (kube.get("v1", "Pod", "before", "old") or {}).get("status", {}).get("podIP"))
    old_ip = kube.get("v1", "Pod", "before", "old")["status"]["podIP"]
    assert old_ip.startswith("10.0.0.")

    messages: list[str] = []
    kwok_pid = _cluster.pidfile("kwok").pid()
    apiserver_pid = _cluster.pidfile("kube-apiserver").pid()
    assert localenv.start_cluster(messages.append) == own_cluster
    assert any("updating the running local cluster in place" in m for m in messages)
    assert f"--cidr={paths.POD_CIDR}" in _cluster.pidfile("kwok").read()["argv"]
    # only kwok restarted; the control plane and its data went on
    assert _cluster.pidfile("kwok").pid() != kwok_pid and _cluster.pidfile("kube-apiserver").pid() == apiserver_pid
    crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "httproutes.gateway.networking.k8s.io")
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == paths.GATEWAY_API_VERSION
    # existing pods keep their addresses until recreated; new ones get bindable ones
    assert kube.get("v1", "Pod", "before", "old")["status"]["podIP"] == old_ip
    kube.apply([{**pod, "metadata": {"name": "after"}}], "old")
    _wait(lambda: (kube.get("v1", "Pod", "after", "old") or {}).get("status", {}).get("podIP"))
    assert kube.get("v1", "Pod", "after", "old")["status"]["podIP"].startswith("10.244.")
    # and the next start finds nothing to do
    messages.clear()
    assert localenv.start_cluster(messages.append) == own_cluster and messages == []


def _wait(check, timeout: float = 60) -> None:
    _proc.wait_until(lambda: bool(check()), timeout=timeout, what="the cluster", interval=0.2)
