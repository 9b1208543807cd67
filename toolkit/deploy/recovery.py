"""What to do with a release stuck in ``pending-*`` (or left ``failed`` by a failed rollback): pure planning."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from toolkit.deploy.instance import PENDING

__all__ = ["RecoveryAction", "RecoveryPlan", "plan_recovery"]


class RecoveryAction(str, enum.Enum):
    NONE = "none"
    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"


@dataclass(frozen=True)
class RecoveryPlan:
    action: RecoveryAction
    revision: int | None
    reason: str

    def describe(self, name: str, namespace: str) -> str:
        if self.action is RecoveryAction.ROLLBACK:
            return f"roll back {namespace}/{name} to revision {self.revision} ({self.reason})"
        if self.action is RecoveryAction.UNINSTALL:
            return f"uninstall {namespace}/{name} ({self.reason})"
        return f"nothing to do for {namespace}/{name} ({self.reason})"

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.value, "revision": self.revision, "reason": self.reason}


def plan_recovery(history: Sequence[Mapping[str, Any]]) -> RecoveryPlan:
    """What to do with a release whose newest revision is stuck in pending-*, or ``failed`` with nothing serving.

    Roll back to the newest revision that was deployed (or superseded — it once served), else uninstall: a
    pending-install with nothing before it has never served anything. A newest revision that is ``failed``
    while an older one is still ``deployed`` needs nothing: the deployed one serves and upgrades build on it —
    unless it is a failed rollback (its description says so), after which part of two revisions may be applied.
    """
    if not history:
        return RecoveryPlan(RecoveryAction.NONE, None, "no history")
    ordered = sorted(history, key=lambda r: int(r["revision"]))
    current = ordered[-1]
    status = str(current.get("status", ""))
    failed_rollback = status == "failed" and str(current.get("description", "")).startswith("Rollback")
    if status == "failed" and not failed_rollback and any(r.get("status") == "deployed" for r in ordered[:-1]):
        return RecoveryPlan(RecoveryAction.NONE, None, f"revision {current['revision']} failed, but an earlier "
                                                       "revision is deployed and serving")
    if failed_rollback:
        # helm 4 leaves the older revision "deployed" while the failed upgrade and the failed rollback may each
        # have applied part of their objects: roll back to it so what runs is that revision again
        candidates = ([r for r in ordered[:-1] if r.get("status") == "deployed"]
                      or [r for r in ordered[:-1] if r.get("status") == "superseded"])
        if candidates:
            rev = candidates[-1]
            return RecoveryPlan(RecoveryAction.ROLLBACK, int(rev["revision"]),
                                f"revision {current['revision']} is a failed rollback; revision {rev['revision']} "
                                "is the last one that was deployed")
    if status not in (*PENDING, "failed"):
        return RecoveryPlan(RecoveryAction.NONE, None, f"revision {current['revision']} is {status}, not pending")
    for rev in reversed(ordered[:-1]):
        if rev.get("status") in ("deployed", "superseded"):
            return RecoveryPlan(RecoveryAction.ROLLBACK, int(rev["revision"]),
                                f"revision {current['revision']} is {_stuck(status)}; revision {rev['revision']} "
                                "is the last one that was deployed")
    if status == "failed":
        return RecoveryPlan(RecoveryAction.NONE, None, f"revision {current['revision']} failed and no revision "
                                                       "was ever deployed; uninstall it to start over")
    return RecoveryPlan(RecoveryAction.UNINSTALL, None,
                        f"revision {current['revision']} is stuck in {status} and no revision was ever deployed")


def _stuck(status: str) -> str:
    return "failed with nothing deployed" if status == "failed" else f"stuck in {status}"
