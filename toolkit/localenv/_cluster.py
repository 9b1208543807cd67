"""The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

Flags follow kwokctl's binary runtime, on 127.0.0.1 with ports picked at first start and kept afterwards. One CA
(shared with the registry) signs the apiserver's serving certificate and one admin client certificate
(O=system:masters) that every component and the kubeconfig use. kwok marks pods on three fake nodes Ready, so
Deployments really roll out. State (``$CHARTKIT_STATE/cluster``): certificates, etcd data, kubeconfig, a pid file
and a log per component.

A start reuses a cluster whose processes all run and whose apiserver is ready; anything less (a killed etcd, a
stale pid file, a port taken meanwhile) stops what is left and starts every component again on the same data.
A healthy cluster started by an older chartkit is brought up to date in place: kwok restarts alone when its
flags changed (pods keep the IPs they have; new pods get addresses from ``paths.POD_CIDR``), and the Gateway API
CRDs are upgraded when the installed bundle is another version.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import LocalEnvError
from toolkit.localenv import _build, _pki, _proc, paths
from toolkit.localenv._info import ClusterInfo
from toolkit.localenv._proc import PidFile, Progress, say

log = logging.getLogger(__name__)

CONTEXT = "chartkit-local"
NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110"}
KWOK_STAGES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
               "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")
#: start order; stopped in reverse
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")
APISERVER_HOSTS = ("127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local", "10.96.0.1")


def state_dir() -> Path:
    return paths.state_root() / "cluster"


def pidfile(component: str) -> PidFile:
    return PidFile(state_dir() / f"{component}.pid")


@dataclass(frozen=True)
class _Pki:
    ca: _pki.KeyPair
    apiserver: _pki.KeyPair
    admin: _pki.KeyPair
    sa_key: Path
    sa_pub: Path


def _ensure_pki(directory: Path) -> _Pki:
    ca = _pki.ensure_ca(paths.state_root() / "pki")
    pki = directory / "pki"
    apiserver = _pki.ensure_cert(ca, _pki.KeyPair(pki / "apiserver.crt", pki / "apiserver.key"),
                                 common_name="kube-apiserver", hosts=APISERVER_HOSTS)
    admin = _pki.ensure_cert(ca, _pki.KeyPair(pki / "admin.crt", pki / "admin.key"), common_name="kubernetes-admin",
                             organization="system:masters", server=False, client=True)
    _pki.ensure_signing_key(pki / "sa.key", pki / "sa.pub")
    return _Pki(ca, apiserver, admin, pki / "sa.key", pki / "sa.pub")


def _ports(directory: Path) -> dict[str, int]:
    """Ports recorded by an earlier start when still free (stable URLs), else fresh ones; recorded again."""
    path = directory / "ports.json"
    try:
        recorded = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (FileNotFoundError, ValueError):
        recorded = {}
    ports: dict[str, int] = {}
    for name in PORTS:
        ports[name] = _proc.free_port(recorded.get(name), avoid=list(ports.values()))
        if recorded.get(name) and ports[name] != recorded[name]:
            log.warning("port %s for %s is taken by %s: moving to %s", recorded[name], name,
                        _proc.listeners_of(recorded[name]), ports[name])
    path.write_text(json.dumps(ports))
    return ports


def _recorded_ports(directory: Path) -> dict[str, int] | None:
    try:
        return {k: int(v) for k, v in json.loads((directory / "ports.json").read_text()).items()}
    except (FileNotFoundError, ValueError):
        return None


def _kubeconfig(directory: Path, server: str, pki: _Pki) -> Path:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": b64(pki.ca.cert)}}],
        "users": [{"name": f"{CONTEXT}-admin", "user": {"client-certificate-data": b64(pki.admin.cert),
                                                        "client-key-data": b64(pki.admin.key)}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin"}}],
    }
    path = directory / "kubeconfig"
    # JSON is YAML: kubectl, helm and client libraries read it
    _pki.write_private(path, json.dumps(config, indent=2).encode())
    return path


def _https_get(url: str, pki: _Pki, timeout: float = 2.0) -> tuple[int, str] | None:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return None


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _apiserver_ready(port: int, pki: _Pki) -> bool:
    answer = _https_get(f"https://127.0.0.1:{port}/readyz", pki)
    return answer is not None and answer[0] == 200


def _server_version(port: int, pki: _Pki) -> str:
    answer = _https_get(f"https://127.0.0.1:{port}/version", pki)
    if not answer or answer[0] != 200:
        raise LocalEnvError(f"unable to read the version of the local cluster at 127.0.0.1:{port}")
    return json.loads(answer[1])["gitVersion"]


def _argv(component: str, binaries: dict[str, Path], directory: Path, ports: dict[str, int], pki: _Pki,
          kubeconfig: Path, stages: list[Path]) -> list[str]:
    binary = str(binaries[component])
    host = "127.0.0.1"
    if component == "etcd":
        peer, client = f"http://{host}:{ports['etcd_peer']}", f"http://{host}:{ports['etcd']}"
        return [binary, "--name=node0", f"--data-dir={directory / 'etcd-data'}",
                f"--initial-advertise-peer-urls={peer}", f"--listen-peer-urls={peer}",
                f"--advertise-client-urls={client}", f"--listen-client-urls={client}",
                f"--initial-cluster=node0={peer}", "--auto-compaction-retention=1",
                "--quota-backend-bytes=8589934592", "--log-level=warn",
                # a throwaway local cluster: trade durability on power loss for speed on slow disks
                "--unsafe-no-fsync"]
    common = [f"--kubeconfig={kubeconfig}", "--kube-api-qps=5000", "--kube-api-burst=10000"]
    served = ["--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics", f"--bind-address={host}"]
    if component == "kube-apiserver":
        return [binary, "--etcd-prefix=/registry", f"--etcd-servers=http://{host}:{ports['etcd']}",
                "--allow-privileged=true", "--authorization-mode=Node,RBAC",
                f"--bind-address={host}", f"--secure-port={ports['apiserver']}",
                # no default route on these machines: without it the apiserver cannot pick an address
                f"--advertise-address={host}", "--endpoint-reconciler-type=none",
                "--service-cluster-ip-range=10.96.0.0/12",
                f"--tls-cert-file={pki.apiserver.cert}", f"--tls-private-key-file={pki.apiserver.key}",
                f"--client-ca-file={pki.ca.cert}",
                f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--proxy-client-cert-file={pki.admin.cert}", f"--proxy-client-key-file={pki.admin.key}",
                "--max-requests-inflight=0", "--max-mutating-requests-inflight=0",
                "--enable-priority-and-fairness=false"]
    if component == "kube-controller-manager":
        return [binary, *common, *served, f"--secure-port={ports['controller_manager']}", "--leader-elect=false",
                f"--root-ca-file={pki.ca.cert}", f"--service-account-private-key-file={pki.sa_key}"]
    if component == "kube-scheduler":
        return [binary, *common, *served, f"--secure-port={ports['scheduler']}", "--leader-elect=false"]
    if component == "kwok":
        return [binary, f"--kubeconfig={kubeconfig}", *(f"--config={stage}" for stage in stages),
                "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--tls-cert-file={pki.admin.cert}", f"--tls-private-key-file={pki.admin.key}",
                "--node-ip=10.0.0.1", "--node-name=kwok-controller", f"--node-port={ports['kwok']}",
                f"--server-address={host}:{ports['kwok']}", "--node-lease-duration-seconds=40",
                # pod IPs a host process can bind, so a pod can answer real requests (see _net.py)
                f"--cidr={paths.POD_CIDR}"]
    raise ValueError(component)


def _running() -> dict[str, int | None]:
    return {component: pidfile(component).pid() for component in COMPONENTS}


def _healthy(directory: Path) -> ClusterInfo | None:
    ports = _recorded_ports(directory)
    kubeconfig = directory / "kubeconfig"
    if not ports or not kubeconfig.exists() or None in _running().values():
        return None
    pki = _Pki(_pki.KeyPair(paths.state_root() / "pki" / "ca.crt", paths.state_root() / "pki" / "ca.key"),
               _pki.KeyPair(directory / "pki" / "apiserver.crt", directory / "pki" / "apiserver.key"),
               _pki.KeyPair(directory / "pki" / "admin.crt", directory / "pki" / "admin.key"),
               directory / "pki" / "sa.key", directory / "pki" / "sa.pub")
    try:
        if not _apiserver_ready(ports["apiserver"], pki):
            return None
        version = _server_version(ports["apiserver"], pki)
    except (OSError, ssl.SSLError, LocalEnvError, KeyError, ValueError):
        return None
    return ClusterInfo(kubeconfig=kubeconfig, context=CONTEXT, server=f"https://127.0.0.1:{ports['apiserver']}",
                       version=version)


def current() -> ClusterInfo | None:
    """The running local cluster, or None (starts nothing)."""
    return _healthy(state_dir())


def _stop_all(progress: Progress | None) -> list[str]:
    stopped = []
    for component in reversed(COMPONENTS):
        pid = pidfile(component)
        if pid.stale():
            say(progress, f"removing a stale pid file {pid.path} (its process is gone)")
        # only etcd holds state; the apiserver can hang in graceful shutdown while etcd is gone
        if _proc.stop(pid, timeout=10.0 if component == "etcd" else 3.0):
            stopped.append(component)
    return stopped


def _node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
                     "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok"}},
        "spec": {},
        "status": {"allocatable": dict(NODE_CAPACITY), "capacity": dict(NODE_CAPACITY),
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake",
                                "kubeProxyVersion": "fake"}},
    }


def _load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    from ruamel.yaml import YAML

    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc]


GATEWAY_BUNDLE_ANNOTATION = "gateway.networking.k8s.io/bundle-version"


def _installed_gateway_api(kube: Any) -> str | None:
    crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "httproutes.gateway.networking.k8s.io",
                   missing_ok=True)
    return None if crd is None else crd["metadata"].get("annotations", {}).get(GATEWAY_BUNDLE_ANNOTATION, "")


def _gateway_marker(directory: Path) -> Path:
    return directory / "gateway-api.version"


def _populate(info: ClusterInfo, crd_files: list[Path], progress: Progress | None) -> None:
    """Nodes and Gateway API CRDs (idempotent: server-side apply); wait until the cluster can run workloads."""
    from toolkit.adapters.kube import Kube

    kube = Kube(kubeconfig=info.kubeconfig, context=info.context)
    kube.apply([_node(name) for name in NODES], field_manager="chartkit-localenv")
    crd_names = []
    installed = _installed_gateway_api(kube)
    if installed != paths.GATEWAY_API_VERSION:
        say(progress, f"installing Gateway API {paths.GATEWAY_API_VERSION} CRDs"
                      + (f" (replacing {installed})" if installed else ""))
        # the standard channel's directory also holds a ValidatingAdmissionPolicy guarding against experimental
        # CRDs; only the CRDs are needed
        crds = [doc for path in crd_files for doc in _load_yaml_documents(path)
                if doc.get("kind") == "CustomResourceDefinition"]
        kube.apply(crds, field_manager="chartkit-localenv")
        crd_names = [crd["metadata"]["name"] for crd in crds]

    def settled() -> bool:
        for name in crd_names:
            crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name, missing_ok=True) or {}
            if not any(c["type"] == "Established" and c["status"] == "True"
                       for c in (crd.get("status") or {}).get("conditions") or []):
                return False
        for name in NODES:
            node = kube.get("v1", "Node", name, missing_ok=True) or {}
            if not any(c["type"] == "Ready" and c["status"] == "True"
                       for c in (node.get("status") or {}).get("conditions") or []):
                return False
        # the controller-manager works once it has made the default ServiceAccount pods need
        return kube.get("v1", "ServiceAccount", "default", "default", missing_ok=True) is not None

    _proc.wait_until(settled, timeout=90, what="the local cluster's nodes, CRDs and controllers",
                     log_file=state_dir() / "kwok.log", interval=0.3)
    _gateway_marker(state_dir()).write_text(paths.GATEWAY_API_VERSION)


def _outdated(directory: Path) -> list[str]:
    """What a healthy cluster started by an older chartkit lacks (cheap: files only, no API request)."""
    reasons = []
    argv = (pidfile("kwok").read() or {}).get("argv", [])
    if f"--cidr={paths.POD_CIDR}" not in argv:
        reasons.append(f"kwok hands out pod IPs outside {paths.POD_CIDR}")
    try:
        marker = _gateway_marker(directory).read_text().strip()
    except FileNotFoundError:
        marker = ""
    if marker != paths.GATEWAY_API_VERSION:
        reasons.append(f"Gateway API CRDs are not known to be {paths.GATEWAY_API_VERSION}")
    return reasons


def _release_node_leases(kubeconfig: Path) -> None:
    """kwok takes a new identity at every start and leaves a node alone while another identity's lease on it lasts
    (40 s: pods on it stay pending that long). The leases of a kwok that is gone are removed, so the new one takes
    its nodes at once."""
    from toolkit.adapters.kube import Kube

    kube = Kube(kubeconfig=kubeconfig, context=CONTEXT)
    for name in NODES:
        kube.delete("coordination.k8s.io/v1", "Lease", name, "kube-node-lease")


def _restart_kwok(binary: Path, directory: Path, pki: _Pki, stages: list[Path], progress: Progress | None) -> None:
    """kwok keeps no state of its own: restarting it alone leaves every pod, node and workload as it was."""
    ports = _recorded_ports(directory)
    if ports is None:
        raise LocalEnvError(f"unable to restart kwok: {directory / 'ports.json'} is missing")
    _proc.stop(pidfile("kwok"), timeout=3.0)
    _release_node_leases(directory / "kubeconfig")
    argv = _argv("kwok", {"kwok": binary}, directory, ports, pki, directory / "kubeconfig", stages)
    _proc.spawn(argv, pidfile=pidfile("kwok"), log_file=directory / "kwok.log", cwd=directory)


def start(progress: Progress | None = None) -> ClusterInfo:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with _proc.locked(paths.state_root() / "cluster.lock"):
        info = _healthy(directory)
        outdated = _outdated(directory) if info else []
        if info and not outdated:
            log.info("reusing the local cluster at %s", info.server)
            return info
        k8s_dir = _build.ensure_kubernetes(progress)
        kwok = _build.ensure_kwok(progress)
        kwok_src = _build.module_dir("sigs.k8s.io/kwok", paths.KWOK_VERSION)
        stages = [kwok_src / "kustomize" / "stage" / stage for stage in KWOK_STAGES]
        gateway = _build.module_dir("sigs.k8s.io/gateway-api", paths.GATEWAY_API_VERSION)
        crd_files = sorted((gateway / "config" / "crd" / "standard").glob("*.yaml"))
        missing = [str(p) for p in [*stages] if not p.exists()] + ([] if crd_files else ["gateway-api CRDs"])
        if missing:
            raise LocalEnvError(f"unable to start the local cluster: missing {', '.join(missing)}",
                                hint="clear the Go module cache (~/.cache/chartkit/go/mod) and retry")
        if info:
            say(progress, f"updating the running local cluster in place: {'; '.join(outdated)}")
            if any(reason.startswith("kwok") for reason in outdated):
                _restart_kwok(kwok, directory, _ensure_pki(directory), stages, progress)
            _populate(info, crd_files, progress)
            return info
        started = time.monotonic()
        if any(_running().values()):
            say(progress, "the local cluster is not healthy (a component died or does not answer): restarting it")
        _stop_all(progress)
        pki = _ensure_pki(directory)
        ports = _ports(directory)
        server = f"https://127.0.0.1:{ports['apiserver']}"
        kubeconfig = _kubeconfig(directory, server, pki)
        binaries = {name: k8s_dir / name for name in COMPONENTS if name != "kwok"}
        binaries["kwok"] = kwok
        (directory / "etcd-data").mkdir(mode=0o700, exist_ok=True)
        try:
            for component in COMPONENTS:
                say(progress, f"starting {component}")
                log_file = directory / f"{component}.log"
                if component == "kwok":
                    _release_node_leases(kubeconfig)
                _proc.spawn(_argv(component, binaries, directory, ports, pki, kubeconfig, stages),
                            pidfile=pidfile(component), log_file=log_file, cwd=directory)
                if component == "etcd":
                    _proc.wait_until(lambda: _http_ok(f"http://127.0.0.1:{ports['etcd']}/health"), timeout=30,
                                     what="etcd", pidfile=pidfile("etcd"), log_file=log_file)
                elif component == "kube-apiserver":
                    _proc.wait_until(lambda: _apiserver_ready(ports["apiserver"], pki), timeout=90,
                                     what="kube-apiserver", pidfile=pidfile(component), log_file=log_file,
                                     interval=0.25)
            info = ClusterInfo(kubeconfig=kubeconfig, context=CONTEXT, server=server,
                               version=_server_version(ports["apiserver"], pki))
            _populate(info, crd_files, progress)
            dead = [c for c, pid in _running().items() if pid is None]
            if dead:
                raise LocalEnvError(f"unable to start the local cluster: {', '.join(dead)} exited; its log ends "
                                    f"with: {_proc.log_tail(directory / f'{dead[0]}.log')}",
                                    hint=f"read {directory / (dead[0] + '.log')}")
        except BaseException:
            _stop_all(None)
            raise
        say(progress, f"cluster {info.version} ready at {server} in {time.monotonic() - started:.1f}s")
        return info


def stop() -> list[str]:
    with _proc.locked(paths.state_root() / "cluster.lock"):
        return _stop_all(None)
