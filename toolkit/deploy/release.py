"""The steps instance operations share: find an instance, guard it, and run helm on a fetched version.

Each operation (``toolkit.core.install``, ``upgrade``, ``deploy``, ``rollout``...) validates everything it can
before it touches the cluster: the values are checked against the schema of the exact version that will be
installed, and the package helm installs is that same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from toolkit.adapters.releases import ReleaseStore
from toolkit.config import Config
from toolkit.deploy.instance import Instance, instances_from_records, serving_revision
from toolkit.deploy.origin import catalog_id
from toolkit.errors import DeployError, HelmError, Interrupted
from toolkit.objects import parse_manifest

if TYPE_CHECKING:  # these cost 0.1-0.2 s of imports; commands that only read release records never need them
    from toolkit.adapters.helm import Helm
    from toolkit.deploy.fetch import Fetched

__all__ = [
    "InstanceResult",
    "Progress",
    "ReleaseOptions",
    "check_values",
    "get_instance",
    "refuse_existing",
    "refuse_other_catalog",
    "refuse_pending",
    "release_objects",
    "run_release",
    "serving_values",
]

Progress = Callable[[str], None]

_CONFLICT = "conflict occurred while applying"
_NOT_READY = re.compile(r"not ready|context deadline exceeded|timed out waiting")


@dataclass(frozen=True)
class InstanceResult:
    """What an install/upgrade/rollback left behind."""

    name: str
    namespace: str
    revision: int
    status: str
    type: str
    version: str
    digest: str
    action: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "revision": self.revision, "status": self.status,
                "type": self.type, "version": self.version, "digest": self.digest, "action": self.action,
                "note": self.note}

    def line(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return (f"{self.action} {self.namespace}/{self.name}: {self.type} {self.version} revision {self.revision} "
                f"{self.status}{note}")


@dataclass(frozen=True, kw_only=True)
class ReleaseOptions:
    """How helm runs one install or upgrade."""

    namespace: str = "default"
    timeout: str | None = None
    wait: bool = True
    take_ownership: bool = False    # adopt objects that exist already (e.g. the app chartify read)
    force_conflicts: bool = False   # take back fields someone changed behind the chart's back (see drift)
    labels: Mapping[str, str] | None = None  # more release labels (policy, plan...) beside the origin's
    #: fields a controller owns on the live objects, left out of what helm applies (toolkit.deploy.controllers)
    leave_fields: tuple[str, ...] = ()


def releases(config: Config) -> ReleaseStore:
    return ReleaseStore(config.kube())


def get_instance(config: Config, name: str, namespace: str) -> Instance:
    found = instances_from_records(releases(config).records(namespace=namespace, name=name))
    if not found:
        raise DeployError(f'unable to find instance "{namespace}/{name}": no chartkit release by that name',
                          hint="`chartkit instances -A` lists the instances")
    return found[0]


def refuse_existing(config: Config, name: str, namespace: str) -> None:
    """Refuse to install over any release of that name, chartkit's or not: `helm upgrade --install` would take it."""
    records = releases(config).records(namespace=namespace, name=name)
    if not records:
        return
    existing = instances_from_records(records)
    if existing:
        raise DeployError(f'unable to install "{namespace}/{name}": the instance exists '
                          f"({existing[0].type} {existing[0].version})", hint="use `chartkit upgrade`")
    raise DeployError(f'unable to install "{namespace}/{name}": a helm release "{name}" exists there that was '
                      "not installed by chartkit", hint="choose another name, or remove that release with helm")


def refuse_other_catalog(inst: Instance, catalog: object) -> None:
    if inst.catalog_id and inst.catalog_id != catalog_id(catalog):
        raise DeployError(f'unable to change instance "{inst.namespace}/{inst.name}" from catalog "{catalog}": '
                          "it was installed from another catalog",
                          hint=f"pass that catalog's --catalog; `chartkit history {inst.name} -n {inst.namespace}` "
                               "shows where each revision came from")


def refuse_pending(inst: Instance) -> None:
    if inst.pending:
        raise DeployError(f'unable to change instance "{inst.namespace}/{inst.name}": revision {inst.revision} is '
                          f"stuck in {inst.status}", hint=f"`chartkit recover {inst.name} -n {inst.namespace}` "
                                                          "shows and applies the fix")


def serving_values(config: Config, name: str, namespace: str) -> dict[str, Any]:
    """The user-supplied values of the revision that serves (not a failed attempt after it), from its record."""
    store = releases(config)
    revision = serving_revision(store.records(namespace=namespace, name=name))
    return store.values(name, namespace, revision) if revision is not None else {}


def release_objects(config: Config, name: str, namespace: str) -> list[dict[str, Any]]:
    """The objects the newest revision of a release rendered (its manifest), from helm's record."""
    store = releases(config)
    records = store.records(namespace=namespace, name=name)
    if not records:
        raise DeployError(f'unable to read release "{namespace}/{name}": no such release')
    return parse_manifest(store.manifest(name, namespace, records[-1].revision), f"release {namespace}/{name}")


def check_values(fetched: Fetched, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate values against the fetched version's schema (locks first); returns what helm will merge."""
    from toolkit.deploy.values import ValuesCheck, validate_values

    return validate_values(ValuesCheck(type_name=fetched.origin.type, version=fetched.origin.version,
                                       defaults=fetched.defaults, schema=fetched.schema, values=values))


def run_release(helm: Helm, name: str, fetched: Fetched, values: Mapping[str, Any], options: ReleaseOptions,
                action: str) -> InstanceResult:
    """`helm upgrade --install` the fetched package with the origin's labels; a failure says what is left."""
    origin = fetched.origin
    labels = {**(options.labels or {}), **origin.labels()}
    try:
        record = helm.install_or_upgrade(
            name, fetched.package, namespace=options.namespace, values=values, labels=labels,
            wait=options.wait, rollback_on_failure=options.wait, take_ownership=options.take_ownership,
            timeout=options.timeout, description=origin.description, force_conflicts=options.force_conflicts,
            leave_fields=options.leave_fields)
    except HelmError as exc:
        raise _failed(helm, name, options.namespace, fetched, action, exc) from exc
    except Interrupted as exc:  # helm was stopped gracefully: say what it left
        raise exc.leaving(f"{action} of {options.namespace}/{name} to {origin.type} {origin.version} stopped; "
                          f"{_left(helm, name, options.namespace)}") from exc
    info = record.get("info") or {}
    return InstanceResult(name, options.namespace, int(record.get("version", 0)), str(info.get("status", "")),
                          origin.type, origin.version, origin.digest, action)


def _left(helm: Helm, name: str, namespace: str) -> str:
    """What a failed or stopped helm run left, from the release's history."""
    try:
        history = helm.history(name, namespace=namespace)
    except HelmError:
        history = []
    newest = max(history, key=lambda r: int(r["revision"]), default=None)
    if newest and str(newest.get("description", "")).startswith("Rollback to"):
        return (f"rolled back: revision {newest['revision']} ({newest['description'].lower()}) is "
                f"{newest.get('status')}")
    if not history:
        return "nothing was left installed"
    if newest and str(newest.get("status", "")).startswith("pending-"):
        return (f"revision {newest['revision']} is {newest.get('status')}: "
                f"`chartkit recover {name} -n {namespace}` fixes it")
    return f"revision {newest['revision']} is {newest.get('status')}" if newest else "state unknown"


def _failed(helm: Helm, name: str, namespace: str, fetched: Fetched, action: str, exc: HelmError) -> DeployError:
    """Say what a failed install/upgrade left serving: helm rolled it back (or removed a failed install)."""
    origin = fetched.origin
    state = _left(helm, name, namespace)
    hint = exc.hint
    if _NOT_READY.search(exc.stderr):
        hint = ("the new pods did not become ready within --timeout, so helm rolled back; look at the pods' events "
                "and raise --timeout if they are only slow")
    if _CONFLICT in exc.stderr:
        hint = (f"fields the chart sets were changed outside it (`chartkit drift {name} -n {namespace}` shows "
                "who and what); re-run with --force-conflicts to take them back")
    return DeployError(f'unable to {action} "{namespace}/{name}" with {origin.type} {origin.version}: '
                       f"{exc.message}; {state}", hint=hint)

