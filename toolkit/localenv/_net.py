"""Pod IPs that are real addresses on this host.

kwok hands out pod IPs from ``paths.POD_CIDR``. The Kubernetes API refuses loopback addresses in EndpointSlices
("may not be in the loopback range"), so pods cannot simply get 127/8 addresses if a gateway is to find them. A
route of type ``local`` for the pod range on the loopback device makes the kernel treat every address in it as
its own (the "AnyIP" route, like 127/8 has): a process bound to PODIP:PORT then answers for the pod, and the
gateway reaches it through the EndpointSlice like a real cluster's would. The route lives until reboot; adding it
takes CAP_NET_ADMIN (root, or sudo without a password).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import shutil
import socket
import subprocess

from toolkit.errors import LocalEnvError
from toolkit.localenv import paths
from toolkit.localenv._proc import Progress, say

log = logging.getLogger(__name__)


def _probe_address(cidr: str) -> str:
    # the last usable address: kwok allocates from the bottom, so nothing of ours holds it
    return str(ipaddress.ip_network(cidr).broadcast_address - 1)


def pod_range_is_local(cidr: str = paths.POD_CIDR) -> bool:
    """True when addresses in ``cidr`` can be bound on this host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_probe_address(cidr), 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def _route_command(cidr: str) -> list[str]:
    ip = shutil.which("ip") or "/usr/sbin/ip"
    return [ip, "route", "replace", "local", cidr, "dev", "lo"]


def ensure_pod_route(progress: Progress | None = None, cidr: str = paths.POD_CIDR) -> None:
    """Make the pod range local to this host (idempotent; needs root or password-less sudo the first time)."""
    if pod_range_is_local(cidr):
        return
    command = _route_command(cidr)
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise _route_error(cidr, "not root and sudo is not installed")
        command = ["sudo", "-n", *command]
    say(progress, f"making pod addresses {cidr} local to this host: {' '.join(command)}")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _route_error(cidr, str(exc)) from exc
    if proc.returncode != 0 or not pod_range_is_local(cidr):
        raise _route_error(cidr, proc.stderr.strip() or f"exit {proc.returncode}")


def _route_error(cidr: str, cause: str) -> LocalEnvError:
    return LocalEnvError(f'unable to make pod addresses "{cidr}" local to this host: {cause}',
                         hint=f"run once per boot as root: ip route replace local {cidr} dev lo")
