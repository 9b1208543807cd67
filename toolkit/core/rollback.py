"""Roll an instance back (to the previous revision by default); its labels follow the target revision."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import Config
from toolkit.deploy.release import InstanceResult, get_instance

__all__ = ["RollbackOptions", "rollback"]


@dataclass(frozen=True, kw_only=True)
class RollbackOptions:
    instance: str
    namespace: str = "default"
    revision: int | None = None           # None: the previous revision
    timeout: str | None = None
    force_conflicts: bool = False


def rollback(config: Config, options: RollbackOptions) -> InstanceResult:
    get_instance(config, options.instance, options.namespace)
    config.helm(registry=False).rollback(options.instance, options.revision, namespace=options.namespace,
                                         wait=True, timeout=options.timeout, force_conflicts=options.force_conflicts)
    inst = get_instance(config, options.instance, options.namespace)
    return InstanceResult(inst.name, inst.namespace, inst.revision, inst.status, inst.type, inst.version,
                          inst.digest, "rollback",
                          f"to revision {options.revision}" if options.revision else "to the previous revision")
