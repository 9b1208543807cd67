"""Install an instance of a catalog type: the version resolved and fetched, values checked, then helm."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from toolkit.config import Config
from toolkit.deploy.fetch import fetch
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.release import (InstanceResult, Progress, ReleaseOptions, check_values, refuse_existing,
                                    run_release)
from toolkit.deploy.values import ValuesInput

__all__ = ["InstallOptions", "ValuesInput", "install"]


@dataclass(frozen=True, kw_only=True)
class InstallOptions:
    """``chartkit install INSTANCE TYPE[@VERSION]``: the CLI binds its flags onto these defaults."""

    instance: str
    type_ref: str                         # TYPE (newest release) or TYPE@VERSION
    namespace: str = "default"
    values: ValuesInput = field(default_factory=ValuesInput)
    timeout: str | None = None
    wait: bool = True
    take_ownership: bool = False          # adopt objects that exist already (e.g. the app chartify read)
    force_conflicts: bool = False
    labels: Mapping[str, str] | None = None  # more release labels (e.g. the plan), beside the origin's


def install(config: Config, options: InstallOptions, *, progress: Progress | None = None) -> InstanceResult:
    """Install; everything that can be refused (type, version, values, locks, an existing release) is refused
    before the cluster changes."""
    type_name, version = parse_type_ref(options.type_ref)
    values = options.values.merged()
    fetched = fetch(config.catalog, type_name, version)
    check_values(fetched, values)
    if progress:
        progress(f"validated values against {type_name} {fetched.origin.version}")
    refuse_existing(config, options.instance, options.namespace)
    release = ReleaseOptions(namespace=options.namespace, timeout=options.timeout, wait=options.wait,
                             take_ownership=options.take_ownership, force_conflicts=options.force_conflicts,
                             labels=options.labels)
    result = run_release(config.helm(registry=False), options.instance, fetched, values, release, "install")
    from toolkit.core.guard import GuardMode, GuardOptions, guard, guard_default

    mode = guard_default(fetched.package)
    if mode is not GuardMode.OFF:  # the type asks for its locked fields to be guarded by the API server
        guard(config, GuardOptions(instance=options.instance, namespace=options.namespace, mode=mode))
        if progress:
            progress(f"guard {mode.value}: locked fields of {options.namespace}/{options.instance} are protected")
    return result
