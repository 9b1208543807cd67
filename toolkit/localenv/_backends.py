"""The backends harness as a managed process (see backends/ for what it does).

State (``$CHARTKIT_STATE/backends``): port (the control endpoint on 127.0.0.1), backends.pid, backends.log. A start
reuses a running harness that answers ``/healthz`` with the digest of the code this checkout would run and was
started for the same cluster; anything else is restarted (a harness from another checkout or an older commit
would otherwise keep serving with its own rules).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from toolkit.localenv import _net, _proc, paths
from toolkit.localenv._info import BackendsInfo, ClusterInfo
from toolkit.localenv._proc import PidFile, Progress, say
from toolkit.localenv.backends import LABEL

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent / "backends"
#: the toolkit package's parent: the harness must import this checkout's code, whatever the caller's PYTHONPATH
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    return paths.state_root() / "backends"


def pidfile() -> PidFile:
    return PidFile(state_dir() / "backends.pid")


def code_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _argv(cluster: ClusterInfo, port: int, code: str) -> list[str]:
    return [sys.executable, "-m", "toolkit.localenv.backends", "--kubeconfig", str(cluster.kubeconfig),
            "--context", cluster.context, "--port", str(port), "--code", code]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _recorded_port(directory: Path) -> int | None:
    try:
        return int((directory / "port").read_text())
    except (FileNotFoundError, ValueError):
        return None


def _info(port: int) -> BackendsInfo:
    return BackendsInfo(url=f"http://127.0.0.1:{port}", label=LABEL, pod_cidr=paths.POD_CIDR,
                        log_file=state_dir() / "backends.log")


def start(cluster: ClusterInfo, progress: Progress | None = None) -> BackendsInfo:
    """Start (or reuse) the harness serving the pods of ``cluster``."""
    _net.ensure_pod_route(progress)
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    code = code_digest()
    with _proc.locked(paths.state_root() / "backends.lock"):
        pid = pidfile()
        port = _recorded_port(directory)
        running = pid.pid() is not None
        if running and port:
            health = _health(port)
            same = (pid.read() or {}).get("argv") == _argv(cluster, port, code)
            if health and health.get("code") == code and same:
                log.info("reusing the backends harness at 127.0.0.1:%s (pid %s)", port, pid.pid())
                return _info(port)
            cause = ("it does not answer" if not health else "it runs other code" if health.get("code") != code
                     else "it serves another cluster")
            say(progress, f"restarting the backends harness: {cause}")
            _proc.stop(pid)
        elif pid.stale():
            say(progress, f"removing a stale pid file {pid.path} (its process is gone)")
            pid.remove()
        started = time.monotonic()
        port = _proc.free_port(port)
        (directory / "port").write_text(str(port))
        log_file = directory / "backends.log"
        _proc.spawn(_argv(cluster, port, code), pidfile=pid, log_file=log_file, env=_env(), cwd=directory)
        _proc.wait_until(lambda: (_health(port) or {}).get("code") == code, timeout=30,
                         what="the backends harness", pidfile=pid, log_file=log_file)
        say(progress, f"backends harness ready at http://127.0.0.1:{port} in {time.monotonic() - started:.1f}s")
        return _info(port)


def current() -> BackendsInfo | None:
    """The running harness, or None (starts nothing)."""
    port = _recorded_port(state_dir())
    if port is None or pidfile().pid() is None or _health(port) is None:
        return None
    return _info(port)


def stop() -> bool:
    with _proc.locked(paths.state_root() / "backends.lock"):
        return _proc.stop(pidfile())
