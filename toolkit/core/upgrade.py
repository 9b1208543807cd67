"""Upgrade an instance: new values (``--set``/``-f``), a new version, or both; its own values are kept."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from toolkit.config import Config
from toolkit.deploy.controllers import controller_fields
from toolkit.deploy.fetch import fetch, fetch_digest
from toolkit.deploy.instance import Instance
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.release import (InstanceResult, Progress, ReleaseOptions, check_values, get_instance,
                                    refuse_other_catalog, refuse_pending, release_objects, run_release,
                                    serving_values)
from toolkit.deploy.values import ValuesInput

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
                          force_conflicts=options.force_conflicts)


def upgrade_to(config: Config, inst: Instance, version: str | None, values: Mapping[str, Any],
               release: ReleaseOptions, *, progress: Progress | None = None) -> InstanceResult:
    """Fetch ``version`` (None: newest), check ``values`` against it, and upgrade the instance to it.

    Staying on the version the instance runs needs no catalog lookup: its digest is on the release.
    """
    if version == inst.version and inst.digest:
        fetched = fetch_digest(config.catalog, inst.type, inst.version, inst.digest)
    else:
        fetched = fetch(config.catalog, inst.type, version)
    check_values(fetched, values)
    if progress:
        progress(f"validated values against {inst.type} {fetched.origin.version}")
    release = replace(release, labels={**inst.carried_labels, **(release.labels or {})},
                      leave_fields=controller_fields(config.kube(), release_objects(config, inst.name, inst.namespace),
                                                     inst.namespace))
    result = run_release(config.helm(registry=False), inst.name, fetched, values, release, "upgrade")
    return replace(result, note=f"from {inst.version}" if inst.version != result.version else "values")
