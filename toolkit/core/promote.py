"""Rings: ``chartkit promote TYPE VERSION --rings dev,staging,prod`` — one ring at a time, stop at the first failure.

Each instance of the type belongs to at most one ring (its policy's ``ring`` label). Ring by ring, in the order
given: an instance already on the version is left alone; one whose policy does not allow the version is skipped
(said so); a manual-mode instance gets a plan to approve (``chartkit approve``); an automatic-mode one is upgraded
(values migrations and preflight included) and its Deployments must become available. The first ring with a
failure stops the promotion: later rings are not touched, and the report says where and why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable

from toolkit.config import Config
from toolkit.core.instances import InstancesOptions, instances
from toolkit.core.plan import PlanOptions, make_plan
from toolkit.core.upgrade import upgrade_to
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.policy import Mode, Policy
from toolkit.deploy.release import ReleaseOptions, release_objects, serving_values
from toolkit.errors import ChartkitError, InputError

__all__ = ["Action", "PromoteOptions", "PromoteResult", "RingOutcome", "promote"]


class Action(str, enum.Enum):
    UPGRADED = "upgraded"
    PLANNED = "planned"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class PromoteOptions:
    type: str
    version: str
    rings: tuple[str, ...] = ("dev", "staging", "prod")
    namespace: str | None = None          # None: every namespace
    timeout: str | None = None            # helm's, per upgrade
    health_timeout: float = 120.0         # seconds each upgraded instance's Deployments get to become available


@dataclass(frozen=True)
class InstanceOutcome:
    name: str
    namespace: str
    action: Action
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "action": self.action.value, "detail": self.detail}


@dataclass(frozen=True)
class RingOutcome:
    ring: str
    instances: tuple[InstanceOutcome, ...] = ()
    started: bool = True

    @property
    def ok(self) -> bool:
        return self.started and all(o.action is not Action.FAILED for o in self.instances)

    def to_json(self) -> dict[str, Any]:
        return {"ring": self.ring, "started": self.started, "ok": self.ok,
                "instances": [o.to_json() for o in self.instances]}


@dataclass(frozen=True)
class PromoteResult:
    type: str
    version: str
    rings: tuple[RingOutcome, ...] = field(default=())

    @property
    def stopped_at(self) -> str | None:
        return next((r.ring for r in self.rings if r.started and not r.ok), None)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "version": self.version, "stoppedAt": self.stopped_at,
                "rings": [r.to_json() for r in self.rings]}


def _healthy(config: Config, name: str, namespace: str, timeout: float) -> None:
    kube = config.kube()
    for obj in release_objects(config, name, namespace):
        if obj.get("kind") == "Deployment":
            kube.wait_deployment_available(obj["metadata"]["name"], obj["metadata"].get("namespace") or namespace,
                                           timeout=timeout)


def promote(config: Config, options: PromoteOptions, *,
            progress: Callable[[RingOutcome], None] | None = None) -> PromoteResult:
    """Promote ring by ring; returns every ring's outcome (rings after a failing one: not started)."""
    if not options.rings:
        raise InputError("unable to promote: no rings given", hint="--rings dev,staging,prod")
    version = parse_type_ref(f"{options.type}@{options.version}")[1]
    if version is None:
        raise InputError(f"unable to promote {options.type}: give a version, not latest")
    found = [i for i in instances(config, InstancesOptions(namespace=options.namespace)) if i.type == options.type]
    outcomes: list[RingOutcome] = []
    failed = False
    for ring in options.rings:
        if failed:
            outcomes.append(RingOutcome(ring, started=False))
            continue
        done: list[InstanceOutcome] = []
        for inst in (i for i in found if Policy.of_labels(i.labels).ring == ring):
            policy = Policy.of_labels(inst.labels)
            if inst.version == version:
                done.append(InstanceOutcome(inst.name, inst.namespace, Action.SKIPPED, f"already on {version}"))
            elif not policy.allows(version):
                done.append(InstanceOutcome(inst.name, inst.namespace, Action.SKIPPED,
                                            f"{version} is outside its policy {policy.track}"))
            elif policy.mode is Mode.MANUAL:
                try:
                    plan = make_plan(config, PlanOptions(instance=inst.name, namespace=inst.namespace,
                                                         version=version))
                    done.append(InstanceOutcome(inst.name, inst.namespace, Action.PLANNED,
                                                f"manual: `chartkit approve {plan.id} -n {inst.namespace}`"))
                except ChartkitError as exc:
                    done.append(InstanceOutcome(inst.name, inst.namespace, Action.FAILED, str(exc)))
            else:
                try:
                    values = serving_values(config, inst.name, inst.namespace)
                    result = upgrade_to(config, inst, version, values,
                                        ReleaseOptions(namespace=inst.namespace, timeout=options.timeout))
                    _healthy(config, inst.name, inst.namespace, options.health_timeout)
                    done.append(InstanceOutcome(inst.name, inst.namespace, Action.UPGRADED,
                                                f"revision {result.revision}"))
                except ChartkitError as exc:
                    done.append(InstanceOutcome(inst.name, inst.namespace, Action.FAILED, str(exc)))
        outcome = RingOutcome(ring, tuple(done))
        outcomes.append(outcome)
        if progress:
            progress(outcome)
        failed = not outcome.ok
    return PromoteResult(options.type, version, tuple(outcomes))
