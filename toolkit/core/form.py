"""Deploy from a form: the form a type's schema makes (``toolkit.deploy.form``), and its submission checked and
carried out by the same operations as ``chartkit install`` / ``chartkit upgrade``.

A submission is checked in full before anything changes (``check``: the version fetched, the form's text typed
back, the plan's locks, the values against that version's schema and its locks, an install over an existing
release refused) so a front door can answer a bad form at once; ``submit`` then installs or upgrades. A form shows
the whole desired state, so an upgrade starts from the chart's defaults (``reset_values``) and the instance records
only what differs from them, as ``-f`` with those values would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from toolkit.catalog.declarations import Plan, TypeDeclarations, declarations_of_package
from toolkit.catalog.versions import SemVer
from toolkit.config import Config
from toolkit.core.install import InstallOptions, install
from toolkit.core.upgrade import UpgradeOptions, upgrade
from toolkit.deploy.fetch import Fetched, fetch
from toolkit.deploy.form import LABEL_PLAN, FormSpec, check_plan, form_spec, form_values, values_delta
from toolkit.deploy.instance import Instance, instances_from_records
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.release import InstanceResult, Progress, check_values, refuse_other_catalog, refuse_pending, \
    releases, serving_values
from toolkit.deploy.outdated import versions_for_types
from toolkit.deploy.values import ValuesInput, coalesce
from toolkit.errors import DeployError

__all__ = ["DeployForm", "FormOptions", "Submission", "SubmitOptions", "check", "deploy_form", "submit"]


@dataclass(frozen=True, kw_only=True)
class FormOptions:
    """The form for a type's version (newest when None) on a plan; with ``instance``, prefilled from its values."""

    type: str
    version: str | None = None
    plan: str | None = None               # None: the type's default plan (or the instance's)
    instance: str | None = None
    namespace: str = "default"


@dataclass(frozen=True)
class DeployForm:
    type: str
    version: str
    digest: str
    deprecated: bool
    plan: str
    plans: list[dict[str, Any]]
    spec: FormSpec
    instance: dict[str, Any] | None = None  # the instance the form upgrades, if any
    versions: list[dict[str, Any]] = field(default_factory=list)  # newest first: {version, deprecated}

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "version": self.version, "digest": self.digest, "deprecated": self.deprecated,
                "plan": self.plan, "plans": self.plans, "instance": self.instance, "versions": self.versions,
                **self.spec.to_json()}


def _declarations(fetched: Fetched) -> TypeDeclarations:
    return declarations_of_package(fetched.package.read_bytes(), f"{fetched.origin.type}@{fetched.origin.version}")


def _existing(config: Config, name: str, namespace: str) -> Instance | None:
    found = instances_from_records(releases(config).records(namespace=namespace, name=name))
    return found[0] if found else None


def _plan(declarations: TypeDeclarations, name: str | None, inst: Instance | None) -> Plan:
    if name is None and inst is not None and (inst.labels or {}).get(LABEL_PLAN):
        name = (inst.labels or {})[LABEL_PLAN]
        if name not in {p.name for p in declarations.plans}:
            name = None  # the plan the instance had is gone from this version: the default plan
    return declarations.plan(name)


def deploy_form(config: Config, options: FormOptions) -> DeployForm:
    """The form: the version's schema made renderable, prefilled with defaults, the plan's values and (for an
    upgrade) the instance's own values."""
    type_name, _ = parse_type_ref(options.type)
    fetched = fetch(config.catalog, type_name, options.version)
    declarations = _declarations(fetched)
    inst = _existing(config, options.instance, options.namespace) if options.instance else None
    plan = _plan(declarations, options.plan, inst)
    own = None
    if inst is not None:
        # the instance's own choices: its values less what its plan set, so a new plan's values take effect
        was = (inst.labels or {}).get(LABEL_PLAN)
        old_plan = next((p for p in declarations.plans if p.name == was), None)
        base = coalesce(fetched.defaults, old_plan.values) if old_plan else fetched.defaults
        own = values_delta(base, coalesce(fetched.defaults, serving_values(config, inst.name, inst.namespace)))
    spec = form_spec(fetched.schema, fetched.defaults, values=own, plan=plan)
    found, _ = versions_for_types(config.catalog, [type_name])
    versions = sorted(found.get(type_name, []), key=lambda v: SemVer.parse(v.version).key(), reverse=True)
    return DeployForm(type_name, fetched.origin.version, fetched.origin.digest, fetched.deprecated, plan.name,
                      [p.to_json() for p in declarations.plans], spec, inst.to_json() if inst else None,
                      [{"version": v.version, "deprecated": v.deprecated} for v in versions])


@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """A submitted form: where the instance goes, which version and plan, and the form's data."""

    instance: str
    namespace: str = "default"
    type: str
    version: str | None = None
    plan: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    timeout: str | None = None


@dataclass(frozen=True)
class Submission:
    """A checked submission: what will run, with which version and values (only what differs from defaults)."""

    options: SubmitOptions
    action: str                            # "install" or "upgrade"
    version: str
    plan: str
    values: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"instance": self.options.instance, "namespace": self.options.namespace, "type": self.options.type,
                "action": self.action, "version": self.version, "plan": self.plan, "values": self.values}


def check(config: Config, options: SubmitOptions) -> Submission:
    """Everything that can be refused is refused here, before the cluster changes (InputError for bad values)."""
    type_name, _ = parse_type_ref(options.type)
    inst = _existing(config, options.instance, options.namespace)
    if inst is not None:
        if inst.type != type_name:
            raise DeployError(f'unable to deploy {type_name} as "{options.namespace}/{options.instance}": the '
                              f"instance is {inst.type} {inst.version}",
                              hint="choose another name, or uninstall it first")
        refuse_pending(inst)
        refuse_other_catalog(inst, config.catalog.url)
    elif releases(config).records(namespace=options.namespace, name=options.instance):
        raise DeployError(f'unable to install "{options.namespace}/{options.instance}": a helm release by that name '
                          "exists there that was not installed by chartkit", hint="choose another name")
    fetched = fetch(config.catalog, type_name, options.version)
    declarations = _declarations(fetched)
    plan = _plan(declarations, options.plan, inst)
    typed = form_values(fetched.schema, options.data, fetched.defaults)
    check_plan(plan, typed, type_name)
    values = values_delta(fetched.defaults, typed)
    check_values(fetched, values)
    return Submission(options, "upgrade" if inst else "install", fetched.origin.version, plan.name, values)


def submit(config: Config, submission: Submission, *, progress: Progress | None = None) -> InstanceResult:
    """Install or upgrade as checked; the plan is recorded on the release (``chartkit.io/plan``)."""
    options = submission.options
    values = ValuesInput(documents=(submission.values,))
    labels = {LABEL_PLAN: submission.plan}
    if submission.action == "install":
        return install(config, InstallOptions(instance=options.instance, namespace=options.namespace,
                                              type_ref=f"{options.type}@{submission.version}", values=values,
                                              timeout=options.timeout, labels=labels), progress=progress)
    return upgrade(config, UpgradeOptions(instance=options.instance, namespace=options.namespace,
                                          version=submission.version, values=values, reset_values=True,
                                          timeout=options.timeout, labels=labels), progress=progress)
