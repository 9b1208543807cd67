"""One configuration for every command: where the catalog is, which cluster, which helm — resolved in one order.

The catalog (``CatalogRef``), first found wins:

1. ``--catalog oci://HOST/PATH`` (a flag of the front door)
2. ``CHARTKIT_CATALOG``
3. the project config file: ``.chartkit.yaml`` in the working directory or a parent
4. the user config file: ``$XDG_CONFIG_HOME/chartkit/config.yaml`` (``~/.config/chartkit/config.yaml``)
5. what the front door offers as a fallback (the CLI offers the local registry, started on demand)

A config file is YAML: ``catalog: oci://HOST/PATH`` with optional ``caFile`` and ``registryConfig`` (relative
paths are relative to the file). The registry's TLS CA and credentials: the flags, else the config file's, else
``CHARTKIT_REGISTRY_CA`` / ``HELM_REGISTRY_CONFIG``, else what the fallback knows for that host.

The cluster (``ClusterRef``): ``--kubeconfig``/``--kube-context``, else ``KUBECONFIG`` (a ``:`` list is merged
as kubectl does), else the fallback (the CLI offers the local cluster when it runs), else ``~/.kube/config``.
chartify's ``cluster:`` sources and every instance command use this same order.

helm: ``--helm``, else ``CHARTKIT_HELM``, else ``helm`` on PATH, else the fallback (the local build).

The Gateway rollouts attach their routes to (``GatewayRef``): ``--gateway NAMESPACE/NAME``, else
``CHARTKIT_GATEWAY``, else ``gateway:`` in a config file, else the fallback's when the cluster is its own (the CLI
offers the local gateway). Its Prometheus metrics (rollout analysis, the service graph): ``--gateway-metrics``,
else ``CHARTKIT_GATEWAY_METRICS``, else the config file's ``gatewayMetrics``, else the fallback's for that same
Gateway. The apps' own request metrics (the graph's caller → instance edges): ``CHARTKIT_APP_METRICS``, else
``appMetrics`` in a config file, else the fallback's (the local backends harness).

The core never knows the local environment exists: a front door passes a ``Fallback`` built from it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from toolkit.errors import InputError

if TYPE_CHECKING:  # the adapters are imported on first use: a command pays only for what it talks to
    from toolkit.adapters.helm import Helm
    from toolkit.adapters.kube import Kube
    from toolkit.adapters.oci import Registry

__all__ = [
    "CatalogRef",
    "CatalogURL",
    "ClusterRef",
    "Config",
    "DEFAULT_CATALOG_PATH",
    "Fallback",
    "GatewayRef",
    "PROJECT_FILE",
    "cache_dir",
    "resolve",
    "resolve_app_metrics",
    "resolve_catalog",
    "resolve_cluster",
    "resolve_gateway",
    "resolve_index_dir",
    "user_config_file",
]

PROJECT_FILE = ".chartkit.yaml"
#: the repository path types live under when a catalog is a bare registry (the local one: oci://HOST/charts)
DEFAULT_CATALOG_PATH = "charts"
_CATALOG_URL = re.compile(r"oci://([^/\s]+)(?:/([a-z0-9]+(?:[._/-][a-z0-9]+)*))?/?")


@dataclass(frozen=True)
class CatalogURL:
    """``oci://HOST[:PORT]/PATH``: where a catalog's types live, each type the repository ``PATH/TYPE``.

    ``path`` is an OCI repository path prefix, not a Kubernetes namespace.
    """

    host: str
    path: str

    @classmethod
    def parse(cls, url: str) -> CatalogURL:
        match = _CATALOG_URL.fullmatch(url.strip())
        if not match:
            raise InputError(f'unable to use catalog "{url}": expected oci://HOST[:PORT]/PATH '
                             f"(lowercase path, e.g. oci://127.0.0.1:5000/charts)")
        return cls(match.group(1), match.group(2) or "")

    def __str__(self) -> str:
        return f"oci://{self.host}/{self.path}" if self.path else f"oci://{self.host}"

    def repository(self, type_name: str) -> str:
        return f"{self.path}/{type_name}" if self.path else type_name

    def ref(self, type_name: str) -> str:
        """The reference plain helm installs from: ``oci://HOST/PATH/TYPE``."""
        return f"oci://{self.host}/{self.repository(type_name)}"

    def type_of(self, repository: str) -> str | None:
        """The type a repository holds, or None when it is not directly under this catalog's path."""
        prefix = f"{self.path}/" if self.path else ""
        if not repository.startswith(prefix):
            return None
        rest = repository[len(prefix):]
        return rest if rest and "/" not in rest else None


@dataclass(frozen=True)
class CatalogRef:
    """A catalog: its URL (parsed once), the TLS CA and credentials to reach it, and where it was found."""

    url: CatalogURL
    source: str = "--catalog"
    ca_file: Path | None = None
    registry_config: Path | None = None

    def __str__(self) -> str:
        return str(self.url)

    def registry(self) -> Registry:
        """A registry client for this catalog's host (use it as a context manager)."""
        from toolkit.adapters.oci import Registry

        return Registry(self.url.host, ca_file=self.ca_file, registry_config=self.registry_config)


@dataclass(frozen=True)
class ClusterRef:
    """A cluster: a kubeconfig (None: ``KUBECONFIG`` or ``~/.kube/config``, as kubectl) and a context."""

    kubeconfig: Path | None = None
    context: str | None = None
    source: str = "default"

    def kube(self) -> Kube:
        from toolkit.adapters.kube import Kube

        return Kube(self.kubeconfig, self.context)


@dataclass(frozen=True)
class GatewayRef:
    """A Gateway (Gateway API) that routes attach to, and where its implementation's metrics are."""

    name: str
    namespace: str
    metrics_url: str | None = None  # Prometheus text (Traefik's: per-service counters and latency histograms)
    source: str = "--gateway"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str, source: str = "--gateway", metrics_url: str | None = None) -> GatewayRef:
        namespace, _, name = text.strip().partition("/")
        if not (namespace and name) or "/" in name:
            raise InputError(f'unable to use gateway "{text}" (from {source}): expected NAMESPACE/NAME')
        return cls(name, namespace, metrics_url, source)


@dataclass(frozen=True)
class Fallback:
    """What a front door offers when nothing names a catalog, a cluster or helm: the CLI's is the local
    environment (``toolkit.localenv.fallback()``); a server may offer none."""

    catalog: Callable[[], CatalogRef] | None = None
    #: the CA file and registry config the fallback holds for a registry host, if it is its own
    registry_access: Callable[[str], tuple[Path, Path] | None] | None = None
    cluster: Callable[[], ClusterRef | None] | None = None
    helm: Callable[[], Path | None] | None = None
    #: its Gateway (with metrics) when the given cluster is its own and a gateway runs there
    gateway: Callable[[ClusterRef], GatewayRef | None] | None = None
    #: its apps' own request metrics (Prometheus text with caller labels) when the cluster is its own
    app_metrics: Callable[[ClusterRef], str | None] | None = None


NO_FALLBACK = Fallback()


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """chartkit's cache: ``$CHARTKIT_CACHE``, default ``~/.cache/chartkit`` (builds, pulled packages, ...)."""
    env = os.environ if env is None else env
    return Path(env.get("CHARTKIT_CACHE") or Path.home() / ".cache" / "chartkit")


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "chartkit" / "config.yaml"


def _project_file(cwd: Path) -> Path | None:
    for directory in (cwd, *cwd.parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def _read_config(path: Path) -> dict[str, Any]:
    from toolkit.objects import load_documents

    docs = load_documents(path.read_text(errors="replace"), f"chartkit config {path}")
    data = docs[0] if docs else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f'unable to read chartkit config "{path}": the top level must be a map')
    return data


def _path(value: Any, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else base / path


def _env_path(env: Mapping[str, str], name: str) -> Path | None:
    return Path(env[name]) if env.get(name) else None


def _found_catalog(flag: str | None, env: Mapping[str, str], cwd: Path) -> CatalogRef | None:
    """The first catalog named by flag, environment or config file (access from the file where it has some)."""
    if flag is not None:
        if not flag.strip():
            # an empty --catalog is a mistake (an unset variable in a script), not "use the default"
            raise InputError('unable to use catalog "": --catalog is empty',
                             hint="pass oci://HOST/PATH, or leave the flag out to use the configured catalog")
        return CatalogRef(CatalogURL.parse(flag), "--catalog")
    if env.get("CHARTKIT_CATALOG"):
        return CatalogRef(CatalogURL.parse(env["CHARTKIT_CATALOG"]), "CHARTKIT_CATALOG")
    for path in (_project_file(cwd), user_config_file(env)):
        if path is None or not path.is_file():
            continue
        data = _read_config(path)
        if data.get("catalog"):
            try:
                url = CatalogURL.parse(str(data["catalog"]))
            except InputError as exc:
                raise InputError(f'unable to use "catalog" in "{path}": {exc.message}') from exc
            return CatalogRef(url, str(path), _path(data.get("caFile"), path.parent),
                              _path(data.get("registryConfig"), path.parent))
    return None


def resolve_catalog(flag: str | None = None, *, ca_file: Path | None = None, registry_config: Path | None = None,
                    env: Mapping[str, str] | None = None, cwd: Path | None = None,
                    fallback: Fallback = NO_FALLBACK) -> CatalogRef:
    """The catalog a command uses, with the CA and credentials to reach it (order: the module docstring)."""
    env = os.environ if env is None else env
    found = _found_catalog(flag, env, cwd or Path.cwd())
    if found is None:
        if fallback.catalog is None:
            raise InputError("unable to find a catalog: no --catalog, CHARTKIT_CATALOG or config file",
                             hint=f"pass --catalog oci://HOST/PATH or write catalog: ... into {PROJECT_FILE}")
        found = fallback.catalog()
    ca = ca_file or found.ca_file or _env_path(env, "CHARTKIT_REGISTRY_CA")
    reg = registry_config or found.registry_config or _env_path(env, "HELM_REGISTRY_CONFIG")
    if (ca is None or reg is None) and fallback.registry_access is not None:
        local = fallback.registry_access(found.url.host)
        if local:
            ca, reg = ca or local[0], reg or local[1]
    return replace(found, ca_file=ca, registry_config=reg)


def resolve_cluster(kubeconfig: str | Path | None = None, context: str | None = None, *,
                    env: Mapping[str, str] | None = None, fallback: Fallback = NO_FALLBACK) -> ClusterRef:
    """The cluster a command talks to (order: the module docstring)."""
    env = os.environ if env is None else env
    if kubeconfig:
        return ClusterRef(Path(kubeconfig), context, "--kubeconfig")
    if env.get("KUBECONFIG"):
        # a list (a:b) is merged by helm and the Kubernetes adapter themselves; one path would drop the rest
        return ClusterRef(None, context, "KUBECONFIG")
    local = fallback.cluster() if fallback.cluster is not None else None
    if local is not None:
        return replace(local, context=context or local.context)
    return ClusterRef(None, context, "~/.kube/config")


def _config_value(env: Mapping[str, str], cwd: Path, key: str) -> tuple[Any, str] | None:
    """A key of the first config file (project, then user) that sets it, and that file's path."""
    for path in (_project_file(cwd), user_config_file(env)):
        if path is not None and path.is_file():
            data = _read_config(path)
            if data.get(key):
                return data[key], str(path)
    return None


def resolve_gateway(flag: str | None = None, metrics_url: str | None = None, *, cluster: ClusterRef | None = None,
                    env: Mapping[str, str] | None = None, cwd: Path | None = None,
                    fallback: Fallback = NO_FALLBACK) -> GatewayRef | None:
    """The Gateway routes attach to and its metrics (order: the module docstring); None when nothing names one."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    found: GatewayRef | None = None
    if flag:
        found = GatewayRef.parse(flag, "--gateway")
    elif env.get("CHARTKIT_GATEWAY"):
        found = GatewayRef.parse(env["CHARTKIT_GATEWAY"], "CHARTKIT_GATEWAY")
    elif (named := _config_value(env, cwd, "gateway")) is not None:
        found = GatewayRef.parse(str(named[0]), named[1])
    own = fallback.gateway(cluster or ClusterRef()) if fallback.gateway is not None else None
    if found is None:
        found = own
    if found is None:
        return None
    url = metrics_url or env.get("CHARTKIT_GATEWAY_METRICS") or found.metrics_url
    if not url and (named := _config_value(env, cwd, "gatewayMetrics")) is not None:
        url = str(named[0])
    if not url and own is not None and (own.name, own.namespace) == (found.name, found.namespace):
        url = own.metrics_url
    return replace(found, metrics_url=url or None)


def resolve_app_metrics(*, cluster: ClusterRef | None = None, env: Mapping[str, str] | None = None,
                        cwd: Path | None = None, fallback: Fallback = NO_FALLBACK) -> str | None:
    """Where the apps' own request metrics are (order: the module docstring); None when nowhere."""
    env = os.environ if env is None else env
    if env.get("CHARTKIT_APP_METRICS"):
        return env["CHARTKIT_APP_METRICS"]
    named = _config_value(env, cwd or Path.cwd(), "appMetrics")
    if named is not None:
        return str(named[0])
    return fallback.app_metrics(cluster or ClusterRef()) if fallback.app_metrics is not None else None


def resolve_index_dir(flag: Path | None = None, *, env: Mapping[str, str] | None = None) -> Path:
    """Where the catalog's index lives: ``--index``, else ``CHARTKIT_INDEX``, else ``./repo-index``."""
    env = os.environ if env is None else env
    return Path(flag or env.get("CHARTKIT_INDEX") or "repo-index")


class Config:
    """Everything an operation needs to reach the catalog, the cluster and helm.

    The catalog may be given as a function: it is then resolved on first use of ``catalog``, so operations that
    only talk to the cluster (uninstall, history, rollback, bindings) never look for or start a registry.
    Adapters are made on first use and shared by the operation's steps.
    """

    def __init__(self, catalog: CatalogRef | Callable[[], CatalogRef], cluster: ClusterRef | None = None, *,
                 helm_binary: Path | None = None, timeout: str = "5m",
                 helm_fallback: Callable[[], Path | None] | None = None,
                 gateway: GatewayRef | Callable[[], GatewayRef | None] | None = None,
                 app_metrics: str | Callable[[], str | None] | None = None) -> None:
        self._catalog = catalog
        self.cluster = cluster or ClusterRef()
        self.helm_binary = helm_binary
        self.timeout = timeout
        self._helm_fallback = helm_fallback
        self._gateway = gateway
        self._app_metrics = app_metrics
        self._helms: dict[bool, Helm] = {}

    @cached_property
    def catalog(self) -> CatalogRef:
        source = self._catalog
        return source if isinstance(source, CatalogRef) else source()

    @cached_property
    def gateway(self) -> GatewayRef | None:
        """The Gateway rollouts attach routes to (and its metrics), or None when nothing names one."""
        source = self._gateway
        return source() if callable(source) else source

    @cached_property
    def app_metrics_url(self) -> str | None:
        """The apps' own request metrics (Prometheus text, a ``caller`` label per request), or None."""
        source = self._app_metrics
        return source() if callable(source) else source

    def helm(self, *, registry: bool = True) -> Helm:
        """helm for this cluster; ``registry=False`` for cluster-only work (no catalog needed)."""
        if registry not in self._helms:
            from toolkit.adapters.helm import Helm, HelmConfig, find_helm

            cat = self.catalog if registry else None
            fallback = self._helm_fallback() if self._helm_fallback else None
            self._helms[registry] = Helm(HelmConfig(
                executable=find_helm(self.helm_binary, fallback=fallback),
                kubeconfig=self.cluster.kubeconfig, kube_context=self.cluster.context,
                registry_host=cat.url.host if cat else None,
                registry_config=cat.registry_config if cat else None,
                ca_file=cat.ca_file if cat else None, timeout=self.timeout))
        return self._helms[registry]

    @cached_property
    def _kube(self) -> Kube:
        return self.cluster.kube()

    def kube(self) -> Kube:
        return self._kube

    def registry(self) -> Registry:
        return self.catalog.registry()


def resolve(*, catalog: str | None = None, ca_file: Path | None = None, registry_config: Path | None = None,
            kubeconfig: str | Path | None = None, context: str | None = None, helm: str | Path | None = None,
            timeout: str = "5m", env: Mapping[str, str] | None = None, cwd: Path | None = None,
            gateway: str | None = None, gateway_metrics: str | None = None,
            fallback: Fallback = NO_FALLBACK) -> Config:
    """One command's configuration; the catalog and the gateway are resolved when first used."""
    cluster = resolve_cluster(kubeconfig, context, env=env, fallback=fallback)
    return Config(
        lambda: resolve_catalog(catalog, ca_file=ca_file, registry_config=registry_config, env=env, cwd=cwd,
                                fallback=fallback),
        cluster, helm_binary=Path(helm) if helm else None, timeout=timeout, helm_fallback=fallback.helm,
        gateway=lambda: resolve_gateway(gateway, gateway_metrics, cluster=cluster, env=env, cwd=cwd,
                                        fallback=fallback),
        app_metrics=lambda: resolve_app_metrics(cluster=cluster, env=env, cwd=cwd, fallback=fallback))

