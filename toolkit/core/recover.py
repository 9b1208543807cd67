"""Recover an instance stuck in ``pending-*`` (or left ``failed`` by a failed rollback): plan, then carry out."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import Config
from toolkit.core.rollback import rollback_to
from toolkit.deploy.recovery import RecoveryAction, RecoveryPlan, plan_recovery

__all__ = ["RecoverOptions", "RecoveryAction", "RecoveryPlan", "plan", "recover"]


@dataclass(frozen=True, kw_only=True)
class RecoverOptions:
    instance: str
    namespace: str = "default"
    timeout: str | None = None
    force_conflicts: bool = False


def plan(config: Config, options: RecoverOptions) -> RecoveryPlan:
    """What ``recover`` would do now (nothing changes)."""
    return plan_recovery(config.helm(registry=False).history(options.instance, namespace=options.namespace))


def recover(config: Config, options: RecoverOptions, recovery: RecoveryPlan | None = None) -> RecoveryPlan:
    """Carry out ``recovery`` (default: the plan made now) and return it."""
    recovery = recovery or plan(config, options)
    helm = config.helm(registry=False)
    if recovery.action is RecoveryAction.ROLLBACK:
        rollback_to(config, options.instance, options.namespace, recovery.revision, timeout=options.timeout,
                    force_conflicts=options.force_conflicts)
    elif recovery.action is RecoveryAction.UNINSTALL:
        helm.uninstall(options.instance, namespace=options.namespace, wait=True, timeout=options.timeout)
    return recovery
