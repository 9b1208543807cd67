"""Upgrade an instance: new values (``--set``/``-f``), a new version, or both; its own values are kept.

Moving to another version applies that version's values migrations to the instance's values first (shown through
``progress``), then checks the result against the new schema (preflight): values the new version refuses stop
the upgrade before the cluster changes, with every reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from toolkit.config import Config
from toolkit.deploy.controllers import controller_fields
from toolkit.deploy.fetch import fetch, fetch_digest
from toolkit.deploy.instance import Instance
from toolkit.deploy.migrate import declarations_of, migrate_values
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.release import (InstanceResult, Progress, ReleaseOptions, check_values, get_instance,
                                    refuse_other_catalog, refuse_pending, release_objects, run_release,
                                    serving_values)
from toolkit.deploy.values import ValuesInput
from toolkit.errors import DeployError, InputError

__all__ = ["UpgradeOptions", "upgrade", "upgrade_to"]


@dataclass(frozen=True, kw_only=True)
class UpgradeOptions:
    """``chartkit upgrade INSTANCE [--version V|latest]``: the CLI binds its flags onto these defaults."""

    instance: str
    namespace: str = "default"
    version: str | None = None            # None: keep the instance's version; "latest": the newest release
    values: ValuesInput = field(default_factory=ValuesInput)
    reset_values: bool = False            # start from the chart defaults instead of the instance's values
    timeout: str | None = None
    wait: bool = True
    force_conflicts: bool = False
    labels: Mapping[str, str] | None = None  # release labels to set or change (e.g. the plan); others are kept


def upgrade(config: Config, options: UpgradeOptions, *, progress: Progress | None = None) -> InstanceResult:
    """Upgrade; the values are layered on the serving revision's own (unless ``reset_values``) and checked
    against the target version's schema before the cluster changes."""
    inst = get_instance(config, options.instance, options.namespace)
    refuse_pending(inst)
    refuse_other_catalog(inst, config.catalog.url)
    version = inst.version if options.version is None else parse_type_ref(f"{inst.type}@{options.version}")[1]
    base = {} if options.reset_values else serving_values(config, inst.name, inst.namespace)
    values = options.values.merged(base)
    return upgrade_to(config, inst, version, values, release_options(options), progress=progress)


def release_options(options: UpgradeOptions) -> ReleaseOptions:
    return ReleaseOptions(namespace=options.namespace, timeout=options.timeout, wait=options.wait,
                          force_conflicts=options.force_conflicts, labels=options.labels)


def upgrade_to(config: Config, inst: Instance, version: str | None, values: Mapping[str, Any],
               release: ReleaseOptions, *, progress: Progress | None = None) -> InstanceResult:
    """Fetch ``version`` (None: newest), check ``values`` against it, and upgrade the instance to it.

    Staying on the version the instance runs needs no catalog lookup: its digest is on the release.
    """
    if version == inst.version and inst.digest:
        fetched = fetch_digest(config.catalog, inst.type, inst.version, inst.digest)
    else:
        fetched = fetch(config.catalog, inst.type, version)
    migrated = ()
    if fetched.origin.version != inst.version:
        moved = migrate_values(values, inst.version, declarations_of(fetched.package))
        values, migrated = moved.values, moved.steps
        for step in migrated:
            if progress:
                progress(f"values migration to {inst.type} {fetched.origin.version}: {step.line()}")
        try:
            check_values(fetched, values)
        except InputError as exc:
            raise DeployError(f'unable to upgrade "{inst.namespace}/{inst.name}" from {inst.type} {inst.version} to '
                              f"{fetched.origin.version}: its values fail the new version's schema (preflight): "
                              f"{exc.message.split(': ', 1)[-1]}", hint=exc.hint) from exc
    else:
        check_values(fetched, values)
    if progress:
        progress(f"validated values against {inst.type} {fetched.origin.version}")
    release = replace(release, labels={**inst.carried_labels, **(release.labels or {})},
                      leave_fields=controller_fields(config.kube(), release_objects(config, inst.name, inst.namespace),
                                                     inst.namespace))
    result = run_release(config.helm(registry=False), inst.name, fetched, values, release, "upgrade")
    note = f"from {inst.version}" if inst.version != result.version else "values"
    if migrated:
        note += "; migrated " + ", ".join(step.line() for step in migrated)
    return replace(result, note=note)
