"""Upgrade every instance of a type to one version, with bounded concurrency; failures are collected."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable

from toolkit.config import Config
from toolkit.deploy.fetch import fetch
from toolkit.deploy.instance import Instance, instances_from_records, serving_revision
from toolkit.deploy.migrate import declarations_of, migrate_values
from toolkit.deploy.origin import LABEL_TYPE, parse_type_ref
from toolkit.deploy.release import (InstanceResult, ReleaseOptions, check_values, refuse_other_catalog,
                                    refuse_pending, releases, run_release)
from toolkit.errors import ChartkitError, InputError

__all__ = ["UpgradeAllOptions", "UpgradeOutcome", "refuse_per_instance_settings", "upgrade_all"]


@dataclass(frozen=True, kw_only=True)
class UpgradeAllOptions:
    """``chartkit upgrade --all-of TYPE``: each instance keeps its own values."""

    type: str
    version: str = "latest"
    namespace: str | None = None          # None: every namespace
    concurrency: int = 4
    timeout: str | None = None
    force_conflicts: bool = False


def refuse_per_instance_settings(*, instance: str | None, values: bool, reset_values: bool,
                                 take_ownership: bool = False) -> None:
    """An upgrade of every instance keeps each one's values and objects: settings that only make sense for one
    instance would be silently ignored, so they are refused."""
    if instance or values:
        raise InputError("unable to upgrade: --all-of TYPE takes no instance name and no values",
                         hint="change values per instance: chartkit upgrade NAME --set ...")
    ignored = [flag for flag, on in (("--reset-values", reset_values), ("--take-ownership", take_ownership)) if on]
    if ignored:
        raise InputError(f"unable to upgrade: --all-of TYPE does not take {' or '.join(ignored)}",
                         hint="use them per instance: chartkit upgrade NAME ...")


@dataclass(frozen=True)
class UpgradeOutcome:
    name: str
    namespace: str
    from_version: str
    ok: bool
    result: InstanceResult | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "from": self.from_version, "ok": self.ok,
                "result": self.result.to_json() if self.result else None, "error": self.error}


def upgrade_all(config: Config, options: UpgradeAllOptions, *,
                on_start: Callable[[list[Instance]], None] | None = None,
                progress: Callable[[UpgradeOutcome], None] | None = None) -> list[UpgradeOutcome]:
    """Upgrade every instance of ``options.type``; one fetch serves them all."""
    store = releases(config)
    records = store.records(namespace=options.namespace, selector=LABEL_TYPE)
    targets = [i for i in instances_from_records(records) if i.type == options.type]
    if on_start:
        on_start(targets)
    if not targets:
        return []
    version = parse_type_ref(f"{options.type}@{options.version or 'latest'}")[1]
    fetched = fetch(config.catalog, options.type, version)
    declarations = declarations_of(fetched.package)
    helm = config.helm(registry=False)

    def one(inst: Instance) -> UpgradeOutcome:
        release = ReleaseOptions(namespace=inst.namespace, timeout=options.timeout,
                                 force_conflicts=options.force_conflicts, labels=inst.carried_labels)
        try:
            refuse_pending(inst)
            refuse_other_catalog(inst, config.catalog.url)
            mine = [r for r in records if (r.namespace, r.name) == (inst.namespace, inst.name)]
            serving = serving_revision(mine)
            values = store.values(inst.name, inst.namespace, serving) if serving is not None else {}
            if inst.version != fetched.origin.version:  # the target version's values migrations, as `upgrade`
                values = migrate_values(values, inst.version, declarations).values
            check_values(fetched, values)
            result = run_release(helm, inst.name, fetched, values, release, "upgrade")
            outcome = UpgradeOutcome(inst.name, inst.namespace, inst.version, True, result)
        except ChartkitError as exc:
            outcome = UpgradeOutcome(inst.name, inst.namespace, inst.version, False, error=str(exc))
        if progress:
            progress(outcome)
        return outcome

    with ThreadPoolExecutor(max(1, options.concurrency)) as pool:
        outcomes = [f.result() for f in as_completed([pool.submit(one, inst) for inst in targets])]
    return sorted(outcomes, key=lambda o: (o.namespace, o.name))
