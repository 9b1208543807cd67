"""``chartkit policy set``: an instance's update policy (track, mode, ring), recorded as labels on its release."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import Config
from toolkit.deploy.policy import Mode, Policy
from toolkit.deploy.release import get_instance, refuse_pending, releases

__all__ = ["PolicyOptions", "set_policy"]


@dataclass(frozen=True, kw_only=True)
class PolicyOptions:
    """What to change; None keeps the instance's current setting."""

    instance: str
    namespace: str = "default"
    track: str | None = None              # stable | edge | ~1.4 | ^2 | 1.x | 1.4.2
    mode: Mode | str | None = None        # manual | automatic
    ring: str | None = None               # "" removes the instance from its ring


def set_policy(config: Config, options: PolicyOptions) -> Policy:
    """Write the policy onto the newest revision's release labels (no helm run, no new revision); the next
    upgrade carries them on like every other chartkit label."""
    inst = get_instance(config, options.instance, options.namespace)
    refuse_pending(inst)
    now = Policy.of_labels(inst.labels)
    policy = Policy(options.track if options.track is not None else now.track,
                    Mode(options.mode) if options.mode is not None else now.mode,
                    options.ring if options.ring is not None else now.ring)
    labels: dict[str, str | None] = dict(policy.labels())
    labels.setdefault("chartkit.io/ring", None)
    releases(config).set_labels(inst.name, inst.namespace, inst.revision, labels)
    return policy
