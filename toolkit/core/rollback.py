"""Roll an instance back (to the previous revision by default); its labels follow the target revision.

A revision that sets a field a controller owns now (``spec.replicas`` after an HPA scaled) is restored with
``--force-conflicts`` and the result says which fields were taken back (``toolkit.deploy.controllers``).
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import Config
from toolkit.deploy.controllers import taken_back_by
from toolkit.deploy.release import InstanceResult, get_instance, releases
from toolkit.objects import parse_manifest

__all__ = ["RollbackOptions", "rollback", "rollback_to"]


@dataclass(frozen=True, kw_only=True)
class RollbackOptions:
    instance: str
    namespace: str = "default"
    revision: int | None = None           # None: the previous revision
    timeout: str | None = None
    force_conflicts: bool = False


def rollback_to(config: Config, name: str, namespace: str, revision: int | None, *, timeout: str | None,
                force_conflicts: bool) -> list[str]:
    """`helm rollback`; returns the controller-owned fields it took back (forcing only when there are some)."""
    store = releases(config)
    records = store.records(namespace=namespace, name=name)
    target = revision if revision is not None else (records[-1].revision - 1 if records else None)
    taken: list[str] = []
    if target:
        objects = parse_manifest(store.manifest(name, namespace, target), f"release {namespace}/{name} v{target}")
        taken = taken_back_by(config.kube(), objects, namespace)
    config.helm(registry=False).rollback(name, revision, namespace=namespace, wait=True, timeout=timeout,
                                         force_conflicts=force_conflicts or bool(taken))
    return taken


def rollback(config: Config, options: RollbackOptions) -> InstanceResult:
    get_instance(config, options.instance, options.namespace)
    taken = rollback_to(config, options.instance, options.namespace, options.revision, timeout=options.timeout,
                        force_conflicts=options.force_conflicts)
    inst = get_instance(config, options.instance, options.namespace)
    note = f"to revision {options.revision}" if options.revision else "to the previous revision"
    if taken:
        fields = ", ".join(f"{f.partition('=')[2]} of {f.partition('=')[0]}" for f in taken)
        note += f"; took {fields} back from its controller (an HPA rescales it within its bounds)"
    return InstanceResult(inst.name, inst.namespace, inst.revision, inst.status, inst.type, inst.version,
                          inst.digest, "rollback", note)
