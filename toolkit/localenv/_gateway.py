"""The local Gateway API implementation: Traefik, run against the local API server, carrying real requests.

Traefik's Kubernetes Gateway provider watches GatewayClasses, Gateways, HTTPRoutes, ReferenceGrants, Services and
EndpointSlices and forwards requests to the pod IPs it finds there (kwok's pods get addresses this host can bind,
see ``_net.py``, and the backends harness answers on them). It runs as a ServiceAccount of its own with the
ClusterRole Traefik documents for that provider; its token comes from the TokenRequest API and is renewed by any
start once a day (client-go rereads a kubeconfig's ``tokenFile``). No telemetry, no update checks: Traefik makes
no outbound call besides the API server.

State (``$CHARTKIT_STATE/gateway``): ports.json (web = the Gateway's listener, admin = ping, metrics and Traefik's
API), token and kubeconfig (0600), config.sha256 (what the running process was started with), traefik.pid and
traefik.log. A start reuses a running Traefik started with the same configuration that answers its ping and has
programmed the Gateway; anything else is restarted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from toolkit.deploy.traffic import supported_features
from toolkit.localenv import _build, _net, _pki, _proc, paths
from toolkit.localenv._info import ClusterInfo, GatewayInfo
from toolkit.localenv._proc import PidFile, Progress, say

log = logging.getLogger(__name__)

NAMESPACE = "chartkit-gateway"
GATEWAY = "chartkit"
GATEWAY_CLASS = "chartkit-traefik"
CONTROLLER = "traefik.io/gateway-controller"
SERVICE_ACCOUNT = "traefik"
CLUSTER_ROLE = "chartkit-traefik-gateway"
LISTENER = "http"
FIELD_MANAGER = "chartkit-localenv"
PORTS = ("web", "admin")
TOKEN_SECONDS = 7 * 24 * 3600
TOKEN_RENEW_AFTER = 24 * 3600
#: latency histogram buckets (seconds): fine enough for p50/p95 of millisecond backends, up to slow ones
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: how long Traefik coalesces configuration changes (its default is 2s): route weight changes apply this fast
THROTTLE = "500ms"
GATEWAY_API = "gateway.networking.k8s.io/v1"


def state_dir() -> Path:
    return paths.state_root() / "gateway"


def pidfile() -> PidFile:
    return PidFile(state_dir() / "traefik.pid")


def _lock() -> Path:
    return paths.state_root() / "gateway.lock"


# --- objects --------------------------------------------------------------------------------------------------

def rbac_objects() -> list[dict[str, Any]]:
    """Traefik's identity: its namespace, a ServiceAccount and the ClusterRole its Gateway provider needs."""
    read = ["get", "list", "watch"]
    gateway_kinds = ["gatewayclasses", "gateways", "httproutes", "grpcroutes", "tcproutes", "tlsroutes",
                     "referencegrants", "backendtlspolicies"]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": CLUSTER_ROLE},
         "rules": [
             {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
             {"apiGroups": [""], "resources": ["services", "secrets", "configmaps"], "verbs": read},
             {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
             {"apiGroups": ["gateway.networking.k8s.io"], "resources": gateway_kinds, "verbs": read},
             {"apiGroups": ["gateway.networking.k8s.io"], "resources": [f"{k}/status" for k in gateway_kinds],
              "verbs": ["update"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": CLUSTER_ROLE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]},
    ]


def gateway_objects(web_port: int) -> list[dict[str, Any]]:
    """The GatewayClass Traefik handles and one Gateway whose http listener is Traefik's web entrypoint.

    Traefik matches a listener to an entrypoint by port, so the listener carries the port picked for ``web``.
    Routes from every namespace may attach; each should name a hostname of its own (the Gateway is shared).
    """
    return [
        {"apiVersion": GATEWAY_API, "kind": "GatewayClass", "metadata": {"name": GATEWAY_CLASS},
         "spec": {"controllerName": CONTROLLER,
                  "description": "Traefik run by chartkit's local environment"}},
        {"apiVersion": GATEWAY_API, "kind": "Gateway", "metadata": {"name": GATEWAY, "namespace": NAMESPACE},
         "spec": {"gatewayClassName": GATEWAY_CLASS,
                  "listeners": [{"name": LISTENER, "protocol": "HTTP", "port": web_port,
                                 "allowedRoutes": {"namespaces": {"from": "All"}}}]}},
    ]


# --- configuration --------------------------------------------------------------------------------------------

def _ports(directory: Path, *, keep: bool) -> dict[str, int]:
    """The recorded ports (as they are while Traefik runs on them; preferred again when free), recorded again."""
    path = directory / "ports.json"
    try:
        recorded = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (FileNotFoundError, ValueError):
        recorded = {}
    if keep and all(name in recorded for name in PORTS):
        return recorded
    ports: dict[str, int] = {}
    for name in PORTS:
        ports[name] = _proc.free_port(recorded.get(name), avoid=list(ports.values()))
    path.write_text(json.dumps(ports))
    return ports


def _recorded_ports(directory: Path) -> dict[str, int] | None:
    try:
        ports = {k: int(v) for k, v in json.loads((directory / "ports.json").read_text()).items()}
    except (FileNotFoundError, ValueError):
        return None
    return ports if all(name in ports for name in PORTS) else None


def argv(binary: Path, ports: dict[str, int]) -> list[str]:
    return [
        str(binary),
        "--global.checknewversion=false", "--global.sendanonymoususage=false",
        "--log.level=INFO", "--log.nocolor=true",
        f"--entrypoints.web.address=127.0.0.1:{ports['web']}",
        # ping, metrics and the API live on the internal entrypoint, apart from the traffic they measure
        f"--entrypoints.traefik.address=127.0.0.1:{ports['admin']}",
        "--ping=true", "--api=true", "--api.insecure=true", "--api.dashboard=false",
        "--metrics.prometheus=true", "--metrics.prometheus.entrypoint=traefik",
        "--metrics.prometheus.addentrypointslabels=true", "--metrics.prometheus.addrouterslabels=true",
        "--metrics.prometheus.addserviceslabels=true",
        f"--metrics.prometheus.buckets={','.join(str(b) for b in BUCKETS)}",
        f"--providers.providersthrottleduration={THROTTLE}",
        "--providers.kubernetesgateway=true",
        "--providers.kubernetesgateway.statusaddress.ip=127.0.0.1",
    ]


def _kubeconfig(directory: Path, cluster: ClusterInfo) -> bytes:
    ca = (paths.state_root() / "pki" / "ca.crt").read_bytes()
    name = "chartkit-local"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": cluster.server,
                                                "certificate-authority-data": base64.b64encode(ca).decode()}}],
        # a file, not the token itself: client-go rereads it, so a renewed token reaches the running Traefik
        "users": [{"name": SERVICE_ACCOUNT, "user": {"tokenFile": str(directory / "token")}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": SERVICE_ACCOUNT}}],
    }
    return json.dumps(config, indent=2).encode()


def _renew_token(kube: Any, directory: Path, *, force: bool = False) -> None:
    """A ServiceAccount token from the TokenRequest API, written 0600; renewed once a day (it lives a week)."""
    path = directory / "token"
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        age = float("inf")
    if not force and age < TOKEN_RENEW_AFTER:
        return
    answer = kube.request(
        "POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": TOKEN_SECONDS}},
        what=f'request a token for ServiceAccount "{NAMESPACE}/{SERVICE_ACCOUNT}"')
    _pki.write_private(path, answer["status"]["token"].encode())


def _env(kubeconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    # Traefik's provider reads $KUBECONFIG when set (and an in-cluster config when KUBERNETES_SERVICE_* are)
    env["KUBECONFIG"] = str(kubeconfig)
    return env


# --- health ---------------------------------------------------------------------------------------------------

def _ping(admin: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _condition(obj: dict[str, Any] | None, kind: str) -> bool:
    if not obj:
        return False
    generation = obj["metadata"].get("generation", 0)
    return any(c.get("type") == kind and c.get("status") == "True" and c.get("observedGeneration", 0) >= generation
               for c in obj.get("status", {}).get("conditions", []))


def _programmed(kube: Any, ports: dict[str, int]) -> GatewayInfo | None:
    """The GatewayInfo once Traefik accepted the class and programmed the Gateway on the web port, else None."""
    gateway_class = kube.get(GATEWAY_API, "GatewayClass", GATEWAY_CLASS, missing_ok=True)
    gateway = kube.get(GATEWAY_API, "Gateway", GATEWAY, NAMESPACE, missing_ok=True)
    if not (_condition(gateway_class, "Accepted") and _condition(gateway, "Programmed")):
        return None
    assert gateway_class is not None and gateway is not None
    if [listener.get("port") for listener in gateway["spec"]["listeners"]] != [ports["web"]]:
        return None
    return _info(ports, tuple(sorted(supported_features(gateway_class))))


def _info(ports: dict[str, int], features: tuple[str, ...]) -> GatewayInfo:
    admin = f"http://127.0.0.1:{ports['admin']}"
    return GatewayInfo(url=f"http://127.0.0.1:{ports['web']}", metrics_url=f"{admin}/metrics",
                       api_url=f"{admin}/api", gateway_name=GATEWAY, gateway_namespace=NAMESPACE,
                       gateway_class=GATEWAY_CLASS, controller=CONTROLLER, version=paths.TRAEFIK_VERSION,
                       supported_features=features, log_file=state_dir() / "traefik.log")


def _fingerprint(command: list[str], kubeconfig: bytes) -> str:
    return hashlib.sha256(json.dumps(command).encode() + b"\0" + kubeconfig).hexdigest()


# --- lifecycle ------------------------------------------------------------------------------------------------

def start(cluster: ClusterInfo, progress: Progress | None = None) -> GatewayInfo:
    """Start (or reuse) Traefik against ``cluster``, with the GatewayClass and Gateway it programs."""
    from toolkit.adapters.kube import Kube

    _net.ensure_pod_route(progress)
    binary = _build.ensure_traefik(progress)
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with _proc.locked(_lock()):
        kube = Kube(kubeconfig=cluster.kubeconfig, context=cluster.context)
        kube.apply(rbac_objects(), field_manager=FIELD_MANAGER)
        _renew_token(kube, directory)
        kubeconfig = _kubeconfig(directory, cluster)
        config_path = directory / "kubeconfig"
        pid = pidfile()
        running = pid.pid() is not None
        ports = _ports(directory, keep=running)
        command = argv(binary, ports)
        fingerprint = _fingerprint(command, kubeconfig)
        recorded = (directory / "config.sha256").read_text() if (directory / "config.sha256").exists() else ""
        if running and recorded == fingerprint and _ping(ports["admin"]):
            kube.apply(gateway_objects(ports["web"]), field_manager=FIELD_MANAGER)
            info = _wait_programmed(kube, ports, timeout=30)
            log.info("reusing the gateway at %s (pid %s)", info.url, pid.pid())
            return info
        if running:
            cause = "its configuration changed" if recorded != fingerprint else "it does not answer its ping"
            say(progress, f"restarting the gateway: {cause}")
            _proc.stop(pid)
            ports = _ports(directory, keep=False)
            command = argv(binary, ports)
            fingerprint = _fingerprint(command, kubeconfig)
        elif pid.stale():
            say(progress, f"removing a stale pid file {pid.path} (its process is gone)")
            pid.remove()
        started = time.monotonic()
        _pki.write_private(config_path, kubeconfig)
        (directory / "config.sha256").unlink(missing_ok=True)
        say(progress, f"starting traefik {paths.TRAEFIK_VERSION} (gateway on 127.0.0.1:{ports['web']})")
        log_file = directory / "traefik.log"
        _proc.spawn(command, pidfile=pid, log_file=log_file, env=_env(config_path), cwd=directory)
        try:
            _proc.wait_until(lambda: _ping(ports["admin"]), timeout=30, what="traefik", pidfile=pid,
                             log_file=log_file)
            kube.apply(gateway_objects(ports["web"]), field_manager=FIELD_MANAGER)
            info = _wait_programmed(kube, ports, timeout=60, pid=pid)
        except BaseException:
            _proc.stop(pid)
            raise
        (directory / "config.sha256").write_text(fingerprint)
        say(progress, f"gateway ready at {info.url} (metrics {info.metrics_url}) in {time.monotonic() - started:.1f}s")
        return info


def _wait_programmed(kube: Any, ports: dict[str, int], *, timeout: float,
                     pid: PidFile | None = None) -> GatewayInfo:
    found: list[GatewayInfo] = []

    def check() -> bool:
        info = _programmed(kube, ports)
        if info:
            found.append(info)
        return info is not None

    _proc.wait_until(check, timeout=timeout, what=f'traefik: Gateway "{NAMESPACE}/{GATEWAY}" programmed',
                     pidfile=pid or pidfile(), log_file=state_dir() / "traefik.log", interval=0.2)
    return found[-1]


def current(cluster: ClusterInfo | None) -> GatewayInfo | None:
    """The running gateway, or None (starts nothing)."""
    from toolkit.adapters.kube import Kube
    from toolkit.errors import ClusterError

    ports = _recorded_ports(state_dir())
    if cluster is None or ports is None or pidfile().pid() is None or not _ping(ports["admin"]):
        return None
    try:
        return _programmed(Kube(kubeconfig=cluster.kubeconfig, context=cluster.context), ports)
    except ClusterError:
        return None


def stop() -> bool:
    with _proc.locked(_lock()):
        return _proc.stop(pidfile())
