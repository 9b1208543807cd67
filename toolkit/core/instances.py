"""Every instance with its type, version, digest and status, from release metadata alone (one list request)."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import Config
from toolkit.deploy.instance import Instance, instances_from_records
from toolkit.deploy.origin import LABEL_TYPE
from toolkit.deploy.release import releases

__all__ = ["InstancesOptions", "instances"]


@dataclass(frozen=True, kw_only=True)
class InstancesOptions:
    namespace: str | None = None          # None: every namespace


def instances(config: Config, options: InstancesOptions = InstancesOptions()) -> list[Instance]:
    """Instances in a namespace (all when None): release Secrets' metadata only, never their payloads."""
    return instances_from_records(releases(config).records(namespace=options.namespace, selector=LABEL_TYPE))
