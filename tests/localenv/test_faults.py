"""Faults the local environment must detect and recover from (or report with the next step to take).

Each cluster fault runs a second cluster in a state dir of its own, so the shared one keeps serving other tests.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from toolkit import localenv
from toolkit.adapters.kube import Kube
from toolkit.errors import LocalEnvError
from toolkit.localenv import _build, _cluster, paths

pytestmark = pytest.mark.cluster


def test_a_killed_etcd_is_detected_and_the_cluster_recovers_with_its_data(own_cluster) -> None:
    kube = Kube(own_cluster.kubeconfig, own_cluster.context)
    kube.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "survivor"}, "data": {"k": "v"}}],
               "default")
    etcd = _cluster.pidfile("etcd").pid()
    assert etcd
    os.killpg(etcd, signal.SIGKILL)
    assert localenv.status()["cluster"] is None  # detected: not reported as running
    recovered = localenv.start_cluster()
    assert _cluster.pidfile("etcd").pid() not in (None, etcd)
    assert recovered.server == own_cluster.server
    again = Kube(recovered.kubeconfig, recovered.context)
    assert again.get("v1", "ConfigMap", "survivor", "default")["data"] == {"k": "v"}


def test_a_taken_apiserver_port_moves_the_cluster_and_rewrites_the_kubeconfig(own_cluster) -> None:
    port = int(own_cluster.server.rsplit(":", 1)[1])
    _cluster.stop()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        moved = localenv.start_cluster()
    assert moved.server != own_cluster.server
    assert moved.server in moved.kubeconfig.read_text()
    assert Kube(moved.kubeconfig, moved.context).server_version() == "v1.35.4"


def test_a_stale_apiserver_pid_file_is_replaced_and_the_unrelated_process_spared(own_cluster) -> None:
    _cluster.stop()
    stale = _cluster.pidfile("kube-apiserver")
    # our own pid with a start time that is not ours: a pid reused by an unrelated process
    stale.path.write_text(f'{{"pid": {os.getpid()}, "start": "1", "argv": ["kube-apiserver"]}}')
    info = localenv.start_cluster()
    assert stale.pid() not in (None, os.getpid())
    assert Kube(info.kubeconfig, info.context).server_version() == "v1.35.4"


# --- builds ---------------------------------------------------------------------------------------------------

@pytest.fixture
def own_cache(cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty binary cache that shares the warm Go module and build caches (a rebuild only links)."""
    go_env = paths.go_env()
    monkeypatch.setenv("CHARTKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "go_env", lambda: go_env)
    return tmp_path / "cache"


def test_a_half_finished_build_is_detected_and_rebuilt(own_cache: Path) -> None:
    real = Path(_build.go_env()["GOMODCACHE"]).parent.parent / "bin" / f"kwok-{paths.KWOK_VERSION}" / "kwok"
    target = paths.kwok_binary()
    target.parent.mkdir(parents=True)
    # a build killed while writing: the first megabyte of a real binary, and its scratch dir left behind
    target.write_bytes(real.read_bytes()[: 1 << 20])
    target.chmod(0o755)
    leftover = target.parent.parent / f".build-{target.parent.name}-dead"
    leftover.mkdir()
    messages: list[str] = []
    assert _build.ensure_kwok(messages.append) == target
    assert _build.reports_version(target, ["--version"], paths.KWOK_VERSION.lstrip("v"))
    assert not leftover.exists()
    assert any("building kwok" in m for m in messages)
    assert (paths.logs_dir() / f"kwok-{paths.KWOK_VERSION}-build.log").read_text().rstrip().endswith("EXIT 0")


def test_a_failed_build_leaves_no_binary_and_points_at_its_log(own_cache: Path) -> None:
    with pytest.raises(LocalEnvError, match=r"unable to build kwok v0\.0\.0-nonexistent: go exited 1.*read .*build\.log"):
        _build.ensure_kwok(version="v0.0.0-nonexistent")
    assert not paths.kwok_binary("v0.0.0-nonexistent").exists()
    assert not list(paths.kwok_binary("v0.0.0-nonexistent").parent.parent.glob(".build-*"))
