"""Where instances come from and go to: the catalog and the cluster, resolved once per command.

The catalog, first found wins:

1. ``--catalog oci://HOST/NAMESPACE``
2. ``CHARTKIT_CATALOG``
3. the project config file: ``.chartkit.yaml`` in the working directory or a parent
4. the user config file: ``$XDG_CONFIG_HOME/chartkit/config.yaml`` (``~/.config/chartkit/config.yaml``)
5. the local registry (``invoke up``), namespace ``charts`` (the catalog area's default), started on demand

A config file is YAML: ``catalog: oci://HOST/NAMESPACE`` with optional ``caFile`` and ``registryConfig``
(relative paths are relative to the file). TLS CA and credentials otherwise come from ``CHARTKIT_REGISTRY_CA``
and helm's registry config (``HELM_REGISTRY_CONFIG``), and from the local registry when the host is its.

The cluster: ``--kubeconfig``/``--kube-context``, else ``KUBECONFIG``, else the local cluster when it runs,
else ``~/.kube/config``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping

from toolkit.errors import InputError

__all__ = [
    "CatalogConfig",
    "PROJECT_FILE",
    "Settings",
    "resolve_catalog",
    "resolve_settings",
    "user_config_file",
]

PROJECT_FILE = ".chartkit.yaml"


@dataclass(frozen=True)
class CatalogConfig:
    """A catalog URL with the TLS CA and registry credentials to reach it, and where the URL came from."""

    url: str
    source: str
    ca_file: Path | None = None
    registry_config: Path | None = None


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
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe", pure=True).load(path.read_text())
    except Exception as exc:  # ruamel raises several unrelated classes for bad YAML
        raise InputError(f'unable to read chartkit config "{path}": {str(exc).splitlines()[0]}') from exc
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


def resolve_catalog(explicit: str | None = None, *, env: Mapping[str, str] | None = None,
                    cwd: Path | None = None, local: bool = True) -> CatalogConfig:
    """The catalog a command uses (see the module docstring for the order)."""
    found = _resolve_catalog(explicit, env=env, cwd=cwd, local=local)
    if found.ca_file and found.registry_config:
        return found
    from toolkit import localenv
    from toolkit.catalog.oci import CatalogURL

    running = localenv.status().get("registry") or {}
    if running.get("host") == CatalogURL.parse(found.url).host:
        return CatalogConfig(found.url, found.source, found.ca_file or Path(running["ca_file"]),
                             found.registry_config or Path(running["registry_config"]))
    return found


def _resolve_catalog(explicit: str | None, *, env: Mapping[str, str] | None, cwd: Path | None,
                     local: bool) -> CatalogConfig:
    from toolkit.catalog.oci import CatalogURL  # validates the URL's shape

    env = os.environ if env is None else env
    ca, reg = _env_path(env, "CHARTKIT_REGISTRY_CA"), _env_path(env, "HELM_REGISTRY_CONFIG")
    if explicit:
        return CatalogConfig(str(CatalogURL.parse(explicit)), "--catalog", ca, reg)
    if env.get("CHARTKIT_CATALOG"):
        return CatalogConfig(str(CatalogURL.parse(env["CHARTKIT_CATALOG"])), "CHARTKIT_CATALOG", ca, reg)
    for path in (_project_file(cwd or Path.cwd()), user_config_file(env)):
        if path is None or not path.is_file():
            continue
        data = _read_config(path)
        if data.get("catalog"):
            try:
                url = str(CatalogURL.parse(str(data["catalog"])))
            except InputError as exc:
                raise InputError(f'unable to use "catalog" in "{path}": {exc.message}') from exc
            return CatalogConfig(url, str(path), _path(data.get("caFile"), path.parent) or ca,
                                 _path(data.get("registryConfig"), path.parent) or reg)
    if not local:
        raise InputError("unable to find a catalog: no --catalog, CHARTKIT_CATALOG or config file",
                         hint=f"pass --catalog oci://HOST/NAMESPACE or write catalog: ... into {PROJECT_FILE}")
    from toolkit import localenv
    from toolkit.catalog.settings import DEFAULT_NAMESPACE

    info = localenv.start_registry()
    return CatalogConfig(f"{info.url}/{DEFAULT_NAMESPACE}", "local registry", info.ca_file, info.registry_config)


@dataclass(frozen=True)
class Settings:
    """Everything an instance command needs to reach the catalog and the cluster.

    ``catalog_source`` may be a function: the catalog is then resolved on first use of ``catalog``, so commands
    that only talk to the cluster (uninstall, history, rollback, bindings) never start or ask for a registry.
    """

    catalog_source: CatalogConfig | Callable[[], CatalogConfig]
    kubeconfig: Path | None = None
    context: str | None = None
    timeout: str = "5m"

    @cached_property
    def catalog(self) -> CatalogConfig:
        source = self.catalog_source
        return source if isinstance(source, CatalogConfig) else source()

    def helm(self, *, registry: bool = True) -> Any:
        """helm for this cluster; ``registry=False`` for cluster-only commands (no catalog credentials needed)."""
        from toolkit.deploy.helm import Helm, HelmConfig

        cat = self.catalog if registry else None
        registry_config = cat.registry_config if cat else None
        if cat and os.environ.get("CHARTKIT_REGISTRY_USERNAME") and os.environ.get("CHARTKIT_REGISTRY_PASSWORD"):
            # chartkit's own registry client takes these first; helm only reads a registry config file
            registry_config = _env_registry_config(cat.url, os.environ["CHARTKIT_REGISTRY_USERNAME"],
                                                   os.environ["CHARTKIT_REGISTRY_PASSWORD"])
        return Helm(HelmConfig(kubeconfig=self.kubeconfig, kube_context=self.context,
                               registry_config=registry_config,
                               ca_file=cat.ca_file if cat else None, timeout=self.timeout))

    def kube(self) -> Any:
        from toolkit.deploy.kube import Kube

        return Kube(kubeconfig=self.kubeconfig, context=self.context)


def _env_registry_config(catalog_url: str, username: str, password: str) -> Path:
    """A private registry config (docker config.json format) for helm, removed when the process exits."""
    import atexit
    import base64
    import json
    import shutil
    import tempfile

    host = catalog_url.removeprefix("oci://").split("/", 1)[0]
    folder = Path(tempfile.mkdtemp(prefix="chartkit-registry-"))  # 0700: only this user can read it
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "config.json"
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"auths": {host: {"auth": auth}}}, out)
    return path


def resolve_settings(*, catalog: str | None = None, kubeconfig: str | None = None, context: str | None = None,
                     timeout: str = "5m", env: Mapping[str, str] | None = None, cwd: Path | None = None,
                     catalog_config: CatalogConfig | None = None, ca_file: Path | None = None,
                     registry_config: Path | None = None) -> Settings:
    """Catalog and cluster for one command; ``ca_file``/``registry_config`` (flags) win over the config files'."""
    env = os.environ if env is None else env

    def resolved() -> CatalogConfig:
        found = resolve_catalog(catalog, env=env, cwd=cwd)
        return replace(found, ca_file=ca_file or found.ca_file,
                       registry_config=registry_config or found.registry_config)

    cat = catalog_config or resolved
    if kubeconfig:
        return Settings(cat, Path(kubeconfig), context, timeout)
    if env.get("KUBECONFIG"):
        # a list (a:b) is merged by helm and the kubernetes client themselves; one path would drop the rest
        return Settings(cat, None, context, timeout)
    from toolkit import localenv

    running = (localenv.status() or {}).get("cluster")
    if running:
        return Settings(cat, Path(running["kubeconfig"]), context or running.get("context"), timeout)
    return Settings(cat, None, context, timeout)
