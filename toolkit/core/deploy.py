"""Deploy: install the instance, or upgrade it to the asked version (newest when none) when it exists."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.config import Config
from toolkit.core.install import InstallOptions, install
from toolkit.core.upgrade import UpgradeOptions, upgrade
from toolkit.deploy.instance import instances_from_records
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.release import InstanceResult, Progress, releases
from toolkit.deploy.values import ValuesInput
from toolkit.errors import DeployError

__all__ = ["DeployOptions", "deploy"]


@dataclass(frozen=True, kw_only=True)
class DeployOptions:
    """``chartkit deploy INSTANCE TYPE[@VERSION]``: what pipelines run (`invoke deploy`)."""

    instance: str
    type_ref: str
    namespace: str = "default"
    values: ValuesInput = field(default_factory=ValuesInput)
    timeout: str | None = None
    force_conflicts: bool = False


def deploy(config: Config, options: DeployOptions, *, progress: Progress | None = None) -> InstanceResult:
    """Install or upgrade; an existing instance of another type is refused (upgrading it would ignore the type)."""
    type_name, version = parse_type_ref(options.type_ref)
    found = instances_from_records(releases(config).records(namespace=options.namespace, name=options.instance))
    if not found:
        return install(config, InstallOptions(instance=options.instance, type_ref=options.type_ref,
                                              namespace=options.namespace, values=options.values,
                                              timeout=options.timeout, force_conflicts=options.force_conflicts),
                       progress=progress)
    if found[0].type != type_name:
        raise DeployError(f'unable to deploy {type_name} as "{options.namespace}/{options.instance}": the instance '
                          f"is {found[0].type} {found[0].version}",
                          hint="choose another name, or `chartkit uninstall` it first")
    return upgrade(config, UpgradeOptions(instance=options.instance, namespace=options.namespace,
                                          version=version or "latest", values=options.values,
                                          timeout=options.timeout, force_conflicts=options.force_conflicts),
                   progress=progress)
