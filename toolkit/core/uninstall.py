"""Remove an instance, and what chartkit made for it beside the release (a rollout's route)."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import Config
from toolkit.deploy.instance import Instance
from toolkit.deploy.release import get_instance
from toolkit.errors import KubeError

__all__ = ["UninstallOptions", "uninstall"]


@dataclass(frozen=True, kw_only=True)
class UninstallOptions:
    instance: str
    namespace: str = "default"
    timeout: str | None = None


def uninstall(config: Config, options: UninstallOptions) -> Instance:
    """Uninstall the release; a rollout's HTTPRoute and green namespace (chartkit's, not helm's) go with it."""
    from toolkit.deploy.strategies.plan import LABEL_ROLLOUT, ROUTE_API, green_namespace

    inst = get_instance(config, options.instance, options.namespace)
    config.helm(registry=False).uninstall(options.instance, namespace=options.namespace, wait=True,
                                          timeout=options.timeout)
    kube = config.kube()
    try:
        route = kube.get(ROUTE_API, "HTTPRoute", options.instance, options.namespace, missing_ok=True)
    except KubeError as exc:
        if exc.status != 404:  # 404: the cluster serves no Gateway API, so there is no route to remove
            raise
        route = None
    if route is not None and (route["metadata"].get("labels") or {}).get(LABEL_ROLLOUT) == options.instance:
        kube.delete(ROUTE_API, "HTTPRoute", options.instance, options.namespace)
    green = kube.get("v1", "Namespace", green_namespace(options.namespace, options.instance), missing_ok=True)
    if green is not None and (green["metadata"].get("labels") or {}).get(LABEL_ROLLOUT) == options.instance:
        kube.delete("v1", "Namespace", green["metadata"]["name"])
    return inst
