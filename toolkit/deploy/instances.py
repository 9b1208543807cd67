"""Instances: Helm releases made from catalog types — install, upgrade, rollback, uninstall, recover, observe.

Where an instance came from is recorded on the release itself with Helm's ``--labels`` (helm copies them onto
the release Secret of every revision and carries them through rollbacks), so tracking never guesses by chart
name. Release labels are Kubernetes label values (≤ 63 characters of ``[-_.A-Za-z0-9]``), which shapes them:

    chartkit.io/type         the type (chart) name
    chartkit.io/version      the version, ``+`` written ``_`` (as in OCI tags)
    chartkit.io/digest       first 32 hex digits of the sha256 manifest digest  } together the full digest,
    chartkit.io/digest-tail  last 32 hex digits                                   } split to fit 63 characters
    chartkit.io/catalog      first 16 hex digits of sha256(catalog URL): identifies the catalog without a ``/``

The full reference (``oci://HOST/NS/TYPE:TAG@sha256:...``) is also written to the revision's description.

Each operation validates everything it can before it touches the cluster: the values are checked against the
schema of the exact version that will be installed (pulled once, installed from that same file).
"""

from __future__ import annotations

import base64
import enum
import gzip
import hashlib
import json
import logging
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from toolkit.catalog.versions import SemVer, version_to_tag
from toolkit.deploy.values import ValuesCheck, user_values, validate_values
from toolkit.errors import ChartkitError, DeployError, HelmError, InputError

__all__ = [
    "CatalogVersion",
    "Fetched",
    "Instance",
    "InstanceOptions",
    "Origin",
    "OutdatedRow",
    "RecoveryAction",
    "RecoveryPlan",
    "UpgradeOutcome",
    "catalog_id",
    "compute_outdated",
    "deploy",
    "instances_from_release_records",
    "newest_version",
    "parse_type_ref",
    "plan_recovery",
]

log = logging.getLogger(__name__)

LABEL_TYPE = "chartkit.io/type"
LABEL_VERSION = "chartkit.io/version"
LABEL_DIGEST = "chartkit.io/digest"
LABEL_DIGEST_TAIL = "chartkit.io/digest-tail"
LABEL_CATALOG = "chartkit.io/catalog"

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?)?$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_TYPE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
_CONFLICT = "conflict occurred while applying"
_NOT_READY = re.compile(r"not ready|context deadline exceeded|timed out waiting")


# -- where an instance came from ------------------------------------------------------------------------------

def catalog_id(url: str) -> str:
    """A label-safe id of a catalog URL (the URL itself has ``/`` and ``:``)."""
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def _label_value(key: str, value: str) -> str:
    if not _LABEL_VALUE.match(value) or len(value) > 63:
        raise InputError(f'unable to record {key}="{value}" on the release: not a valid Kubernetes label value '
                         "(≤ 63 characters of letters, digits, '-', '_', '.')")
    return value


@dataclass(frozen=True)
class Origin:
    """The catalog type, version and digest an instance runs."""

    catalog: str
    type: str
    version: str
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.catalog.rstrip('/')}/{self.type}:{version_to_tag(self.version)}@{self.digest}"

    @property
    def description(self) -> str:
        return f"chartkit: {self.type} {self.version} from {self.ref}"

    def labels(self) -> dict[str, str]:
        match = _DIGEST.match(self.digest)
        if not match:
            raise DeployError(f'unable to record digest "{self.digest}" of {self.type} {self.version}: '
                              "chartkit expects a sha256 manifest digest")
        hexdigits = match.group(1)
        return {
            LABEL_TYPE: _label_value(LABEL_TYPE, self.type),
            LABEL_VERSION: _label_value(LABEL_VERSION, version_to_tag(self.version)),
            LABEL_DIGEST: hexdigits[:32],
            LABEL_DIGEST_TAIL: hexdigits[32:],
            LABEL_CATALOG: catalog_id(self.catalog),
        }


def origin_from_labels(labels: Mapping[str, str]) -> tuple[str, str, str, str] | None:
    """(type, version, digest, catalog id) from release labels, or None when chartkit did not make the release."""
    if LABEL_TYPE not in labels:
        return None
    head, tail = labels.get(LABEL_DIGEST, ""), labels.get(LABEL_DIGEST_TAIL, "")
    digest = f"sha256:{head}{tail}" if len(head + tail) == 64 else ""
    return labels[LABEL_TYPE], labels.get(LABEL_VERSION, "").replace("_", "+"), digest, labels.get(LABEL_CATALOG, "")


def parse_type_ref(text: str) -> tuple[str, str | None]:
    """``TYPE[@VERSION]`` → (type, version or None for the newest); ``latest`` means None."""
    name, _, version = text.partition("@")
    if not _TYPE_NAME.match(name):
        raise InputError(f'unable to parse type "{text}": expected TYPE[@VERSION], TYPE a lowercase chart name')
    if version in ("", "latest"):
        return name, None
    if SemVer.try_parse(version) is None:
        raise InputError(f'unable to parse type "{text}": version "{version}" is not SemVer (e.g. chat@1.2.0)')
    return name, version


# -- instances as recorded on the release Secrets ---------------------------------------------------------------

@dataclass(frozen=True)
class Instance:
    """One instance: the newest revision of a Helm release made from a catalog type."""

    name: str
    namespace: str
    revision: int
    status: str
    updated: str
    type: str
    version: str
    digest: str
    catalog_id: str

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "revision": self.revision, "status": self.status,
                "updated": self.updated, "type": self.type, "version": self.version, "digest": self.digest,
                "catalog": self.catalog_id}


def instances_from_release_records(records: Iterable[Mapping[str, Any]]) -> list[Instance]:
    """Instances from release Secrets' metadata (helm's storage labels + ours); the newest revision wins."""
    newest: dict[tuple[str, str], tuple[int, Mapping[str, Any]]] = {}
    for record in records:
        meta = record.get("metadata", record)
        labels = meta.get("labels") or {}
        if labels.get("owner") != "helm" or LABEL_TYPE not in labels:
            continue
        key = (meta.get("namespace", ""), labels.get("name", ""))
        revision = int(labels.get("version", "0"))
        if key not in newest or revision > newest[key][0]:
            newest[key] = (revision, meta)
    found = []
    for (namespace, name), (revision, meta) in newest.items():
        labels = meta.get("labels") or {}
        origin = origin_from_labels(labels)
        assert origin is not None
        type_name, version, digest, cat = origin
        found.append(Instance(name=name, namespace=namespace, revision=revision, status=labels.get("status", ""),
                              updated=_updated(labels, meta), type=type_name, version=version, digest=digest,
                              catalog_id=cat))
    return sorted(found, key=lambda i: (i.namespace, i.name))


def _updated(labels: Mapping[str, str], meta: Mapping[str, Any]) -> str:
    stamp = labels.get("modifiedAt") or labels.get("createdAt")
    if stamp and stamp.isdigit():
        import datetime as _dt

        return _dt.datetime.fromtimestamp(int(stamp), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(meta.get("creationTimestamp", ""))


# -- outdated ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CatalogVersion:
    """One version of a type as the catalog holds it."""

    version: str
    digest: str = ""
    deprecated: bool = False


def newest_version(versions: Iterable[CatalogVersion]) -> CatalogVersion | None:
    """The newest version an instance should run: not a prerelease, not deprecated."""
    usable = [(parsed, v) for v in versions if not v.deprecated
              and (parsed := SemVer.try_parse(v.version)) is not None and not parsed.prerelease]
    return max(usable, key=lambda pair: pair[0].key())[1] if usable else None


@dataclass(frozen=True)
class OutdatedRow:
    instance: Instance
    latest: str | None
    outdated: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.instance.to_json(), "latest": self.latest, "outdated": self.outdated, "note": self.note}


def compute_outdated(instances: Sequence[Instance], latest: Mapping[str, CatalogVersion | None],
                     *, catalog: str) -> list[OutdatedRow]:
    """Compare each instance's version with the newest usable version of its type in ``catalog``."""
    rows = []
    here = catalog_id(catalog)
    for inst in instances:
        newest = latest.get(inst.type)
        if inst.catalog_id and inst.catalog_id != here:
            rows.append(OutdatedRow(inst, None, False, "installed from another catalog"))
        elif newest is None:
            rows.append(OutdatedRow(inst, None, False, "type has no released version in the catalog"))
        else:
            current = SemVer.try_parse(inst.version)
            behind = current is None or current.key() < SemVer.parse(newest.version).key()
            rows.append(OutdatedRow(inst, newest.version, behind, ""))
    return rows


# -- pending releases -------------------------------------------------------------------------------------------

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


def plan_recovery(history: Sequence[Mapping[str, Any]]) -> RecoveryPlan:
    """What to do with a release whose newest revision is stuck in pending-*.

    Roll back to the newest revision that was deployed (or superseded — it once served), else uninstall: a
    pending-install with nothing before it has never served anything.
    """
    if not history:
        return RecoveryPlan(RecoveryAction.NONE, None, "no history")
    ordered = sorted(history, key=lambda r: int(r["revision"]))
    current = ordered[-1]
    status = str(current.get("status", ""))
    if status not in PENDING:
        return RecoveryPlan(RecoveryAction.NONE, None, f"revision {current['revision']} is {status}, not pending")
    for rev in reversed(ordered[:-1]):
        if rev.get("status") in ("deployed", "superseded"):
            return RecoveryPlan(RecoveryAction.ROLLBACK, int(rev["revision"]),
                                f"revision {current['revision']} is stuck in {status}; revision {rev['revision']} "
                                "is the last one that was deployed")
    return RecoveryPlan(RecoveryAction.UNINSTALL, None,
                        f"revision {current['revision']} is stuck in {status} and no revision was ever deployed")


# -- operations (helm and the cluster through their adapters) ---------------------------------------------------

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class InstanceOptions:
    """Options shared by install and upgrade (the CLI binds its flags onto these defaults)."""

    namespace: str = "default"
    values_files: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()
    set_strings: tuple[str, ...] = ()
    timeout: str | None = None
    wait: bool = True
    reset_values: bool = False    # upgrade: start from the chart defaults instead of the instance's values
    take_ownership: bool = False  # adopt objects that exist already (e.g. the app chartify read)
    force_conflicts: bool = False  # take back fields someone changed behind the chart's back (see drift)


@dataclass(frozen=True)
class Fetched:
    """One version of a type pulled from the catalog: the package file helm installs, its defaults and schema."""

    origin: Origin
    package: Path
    defaults: Mapping[str, Any]
    schema: Mapping[str, Any] | None
    deprecated: bool = False


@dataclass(frozen=True)
class Result:
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


def read_package(package: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """values.yaml and values.schema.json of a chart package."""
    from ruamel.yaml import YAML

    from toolkit.catalog.artifact import read_package_file

    data = package.read_bytes()
    raw_values = read_package_file(data, "values.yaml")
    raw_schema = read_package_file(data, "values.schema.json")
    defaults = YAML(typ="safe", pure=True).load(raw_values) if raw_values else {}
    try:
        schema = json.loads(raw_schema) if raw_schema else None
    except ValueError as exc:
        raise DeployError(f'unable to read the schema of "{package.name}": values.schema.json is not JSON: {exc}') from exc
    return json.loads(json.dumps(defaults or {}, default=str)), schema


def fetch(settings: Any, helm: Any, type_name: str, version: str | None, destination: Path) -> Fetched:
    """Resolve a version in the catalog (newest release when None) and pull exactly that package."""
    from toolkit.catalog.index import resolve

    cat = settings.catalog
    found = resolve(cat.url, type_name, version, ca_file=cat.ca_file, registry_config=cat.registry_config)
    # pull by the digest just resolved, so the digest recorded on the release is the artifact installed even if
    # someone overwrites the tag in between (plain `helm push` can; chartkit refuses to)
    package = (helm.pull(f"{found.ref}@{found.digest}", destination) if found.digest
               else helm.pull(found.ref, destination, version=found.version))
    defaults, schema = read_package(package)
    origin = Origin(catalog=cat.url, type=type_name, version=found.version, digest=found.digest)
    if found.deprecated:
        log.warning("%s %s is deprecated in the catalog", type_name, found.version)
    return Fetched(origin, package, defaults, schema, found.deprecated)


def _check(fetched: Fetched, values: Mapping[str, Any]) -> None:
    validate_values(ValuesCheck(type_name=fetched.origin.type, version=fetched.origin.version,
                                defaults=fetched.defaults, schema=fetched.schema, values=values))


def release_records(kube: Any, *, namespace: str | None, name: str | None = None) -> list[dict[str, Any]]:
    """Helm's release Secrets made by chartkit (one list request; labels only are used)."""
    selector = f"owner=helm,{LABEL_TYPE}" + (f",name={name}" if name else "")
    # metadata only: the Secrets' payloads (the whole release, gzipped) are never downloaded
    return kube.list("v1", "Secret", namespace, selector=selector, metadata_only=True)


def _refuse_existing(kube: Any, name: str, namespace: str) -> None:
    """Refuse to install over any release of that name, chartkit's or not: `helm upgrade --install` would take it."""
    records = kube.list("v1", "Secret", namespace, selector=f"owner=helm,name={name}")
    if not records:
        return
    existing = instances_from_release_records(records)
    if existing:
        raise DeployError(f'unable to install "{namespace}/{name}": the instance exists '
                          f"({existing[0].type} {existing[0].version})", hint="use `chartkit upgrade`")
    raise DeployError(f'unable to install "{namespace}/{name}": a helm release "{name}" exists there that was '
                      "not installed by chartkit", hint="choose another name, or remove that release with helm")


def get_instance(settings: Any, name: str, namespace: str, *, kube: Any = None) -> Instance:
    found = instances_from_release_records(release_records(kube or settings.kube(), namespace=namespace, name=name))
    if not found:
        raise DeployError(f'unable to find instance "{namespace}/{name}": no chartkit release by that name',
                          hint="`chartkit instances -A` lists the instances")
    return found[0]


def serving_revision(history: Sequence[Mapping[str, Any]]) -> int | None:
    """The revision whose values an upgrade builds on: the deployed one, not a failed attempt after it."""
    ordered = sorted(history, key=lambda r: int(r["revision"]), reverse=True)
    for wanted in ("deployed", "superseded"):
        found = next((int(r["revision"]) for r in ordered if r.get("status") == wanted), None)
        if found is not None:
            return found
    return None


def serving_values(helm: Any, name: str, namespace: str) -> dict[str, Any]:
    """The user-supplied values of the revision that serves (helm's `get values` would take the newest attempt)."""
    revision = serving_revision(helm.history(name, namespace=namespace))
    return helm.get_values(name, namespace=namespace, revision=revision)


def decode_release(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """Helm's release record from its storage Secret (base64 of gzipped JSON), or None when unreadable."""
    raw = (record.get("data") or {}).get("release")
    if not raw:
        return None
    try:
        data = base64.b64decode(base64.b64decode(raw))
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return json.loads(data)
    except (ValueError, OSError):
        return None


def recorded_values(records: Iterable[Mapping[str, Any]], inst: Instance) -> dict[str, Any] | None:
    """The user-supplied values of the instance's serving revision, read from already listed release Secrets."""
    revisions = {}
    for record in records:
        meta = record.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("namespace") == inst.namespace and labels.get("name") == inst.name:
            revisions[int(labels.get("version", 0))] = (labels.get("status", ""), record)
    serving = serving_revision([{"revision": r, "status": st} for r, (st, _rec) in revisions.items()])
    release = decode_release(revisions[serving][1]) if serving in revisions else None
    if release is None:
        return None
    return dict(release.get("config") or {})


def _refuse_other_catalog(inst: Instance, catalog_url: str) -> None:
    if inst.catalog_id and inst.catalog_id != catalog_id(catalog_url):
        raise DeployError(f'unable to change instance "{inst.namespace}/{inst.name}" from catalog "{catalog_url}": '
                          "it was installed from another catalog",
                          hint=f"pass that catalog's --catalog; `chartkit history {inst.name} -n {inst.namespace}` "
                               "shows where each revision came from")


def _refuse_pending(inst: Instance) -> None:
    if inst.pending:
        raise DeployError(f'unable to change instance "{inst.namespace}/{inst.name}": revision {inst.revision} is '
                          f"stuck in {inst.status}", hint=f"`chartkit recover {inst.name} -n {inst.namespace}` "
                                                          "shows and applies the fix")


def _deploy(helm: Any, name: str, fetched: Fetched, values: Mapping[str, Any], options: InstanceOptions,
            action: str) -> Result:
    origin = fetched.origin
    try:
        record = helm.install_or_upgrade(
            name, fetched.package, namespace=options.namespace, values=values, labels=origin.labels(),
            wait=options.wait, rollback_on_failure=True, take_ownership=options.take_ownership,
            timeout=options.timeout, description=origin.description, force_conflicts=options.force_conflicts)
    except HelmError as exc:
        raise _failed(helm, name, options.namespace, origin, action, exc) from exc
    info = record.get("info") or {}
    return Result(name, options.namespace, int(record.get("version", 0)), str(info.get("status", "")),
                  origin.type, origin.version, origin.digest, action)


def _failed(helm: Any, name: str, namespace: str, origin: Origin, action: str, exc: HelmError) -> DeployError:
    """Say what a failed install/upgrade left serving: helm rolled it back (or removed a failed install)."""
    try:
        history = helm.history(name, namespace=namespace)
    except HelmError:
        history = []
    newest = max(history, key=lambda r: int(r["revision"]), default=None)
    if newest and str(newest.get("description", "")).startswith("Rollback to"):
        state = (f"rolled back: revision {newest['revision']} ({newest['description'].lower()}) is "
                 f"{newest.get('status')}")
    elif not history:
        state = "nothing was left installed"
    else:
        state = f"revision {newest['revision']} is {newest.get('status')}" if newest else "state unknown"
    hint = exc.hint
    if _NOT_READY.search(exc.stderr):
        hint = ("the new pods did not become ready within --timeout, so helm rolled back; look at the pods' events "
                "and raise --timeout if they are only slow")
    if _CONFLICT in exc.stderr:
        hint = (f"fields the chart sets were changed outside it (`chartkit drift {name} -n {namespace}` shows "
                "who and what); re-run with --force-conflicts to take them back")
    return DeployError(f'unable to {action} "{namespace}/{name}" with {origin.type} {origin.version}: '
                       f"{exc.message}; {state}", hint=hint)


def install(settings: Any, name: str, type_ref: str, options: InstanceOptions = InstanceOptions(), *,
            helm: Any = None, progress: Progress | None = None) -> Result:
    """Install an instance of a catalog type; values are validated against its schema before any cluster call."""
    helm = helm or settings.helm()
    type_name, version = parse_type_ref(type_ref)
    values = user_values(options.values_files, options.sets, options.set_strings)
    scratch = Path(tempfile.mkdtemp(prefix="chartkit-install-"))
    try:
        fetched = fetch(settings, helm, type_name, version, scratch)
        _check(fetched, values)
        if progress:
            progress(f"validated values against {type_name} {fetched.origin.version}")
        _refuse_existing(settings.kube(), name, options.namespace)
        return _deploy(helm, name, fetched, values, options, "install")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def upgrade(settings: Any, name: str, options: InstanceOptions = InstanceOptions(), *, to: str | None = None,
            helm: Any = None, kube: Any = None, progress: Progress | None = None) -> Result:
    """Upgrade an instance: new values (``--set``/``-f``), a new version (``to``), or both.

    Without ``to`` the instance keeps its version; ``to="latest"`` picks the newest release in the catalog.
    The instance's own values are kept and the new ones layered on top unless ``reset_values``.
    """
    helm = helm or settings.helm()
    inst = get_instance(settings, name, options.namespace, kube=kube)
    _refuse_pending(inst)
    _refuse_other_catalog(inst, settings.catalog.url)
    version = inst.version if to is None else parse_type_ref(f"{inst.type}@{to}")[1]
    base = {} if options.reset_values else serving_values(helm, name, options.namespace)
    values = user_values(options.values_files, options.sets, options.set_strings, base=base)
    return _upgrade(settings, helm, inst, version, values, options)


def deploy(settings: Any, name: str, type_ref: str, options: InstanceOptions = InstanceOptions(), *,
           helm: Any = None, kube: Any = None, progress: Progress | None = None) -> Result:
    """Install the instance, or upgrade it to the asked version (newest when none) when it exists.

    An existing instance of another type is refused: upgrading it would silently ignore the asked type.
    """
    type_name, version = parse_type_ref(type_ref)
    kube = kube or settings.kube()
    found = instances_from_release_records(release_records(kube, namespace=options.namespace, name=name))
    if not found:
        return install(settings, name, type_ref, options, helm=helm, progress=progress)
    if found[0].type != type_name:
        raise DeployError(f'unable to deploy {type_name} as "{options.namespace}/{name}": the instance is '
                          f"{found[0].type} {found[0].version}",
                          hint="choose another name, or `chartkit uninstall` it first")
    return upgrade(settings, name, options, to=version or "latest", helm=helm, kube=kube, progress=progress)


def _upgrade(settings: Any, helm: Any, inst: Instance, version: str | None, values: Mapping[str, Any],
             options: InstanceOptions) -> Result:
    """Fetch the version, check the values against its schema, and upgrade the instance to it."""
    scratch = Path(tempfile.mkdtemp(prefix="chartkit-upgrade-"))
    try:
        fetched = fetch(settings, helm, inst.type, version, scratch)
        _check(fetched, values)
        result = _deploy(helm, inst.name, fetched, values, options, "upgrade")
        return replace(result, note=f"from {inst.version}" if inst.version != result.version else "values")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class UpgradeOutcome:
    name: str
    namespace: str
    from_version: str
    ok: bool
    result: Result | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "from": self.from_version, "ok": self.ok,
                "result": self.result.to_json() if self.result else None, "error": self.error}


def upgrade_all_of(settings: Any, type_name: str, *, to: str | None = "latest", namespace: str | None = None,
                   concurrency: int = 4, timeout: str | None = None, force_conflicts: bool = False, helm: Any = None,
                   progress: Callable[[UpgradeOutcome], None] | None = None,
                   on_start: Callable[[list[Instance]], None] | None = None) -> list[UpgradeOutcome]:
    """Upgrade every instance of a type to one version with bounded concurrency; failures are collected."""
    helm = helm or settings.helm()
    kube = settings.kube()
    records = release_records(kube, namespace=namespace)
    targets = [i for i in instances_from_release_records(records) if i.type == type_name]
    if on_start:
        on_start(targets)
    if not targets:
        return []
    version = parse_type_ref(f"{type_name}@{to or 'latest'}")[1]
    scratch = Path(tempfile.mkdtemp(prefix="chartkit-upgrade-all-"))
    try:
        fetched = fetch(settings, helm, type_name, version, scratch)  # one pull for all instances

        def one(inst: Instance) -> UpgradeOutcome:
            opts = InstanceOptions(namespace=inst.namespace, timeout=timeout, force_conflicts=force_conflicts)
            try:
                _refuse_pending(inst)
                _refuse_other_catalog(inst, settings.catalog.url)
                # the records listed above hold each revision's values: no helm run per instance to read them
                values = recorded_values(records, inst)
                if values is None:
                    values = serving_values(helm, inst.name, inst.namespace)
                _check(fetched, values)
                result = _deploy(helm, inst.name, fetched, values, opts, "upgrade")
                outcome = UpgradeOutcome(inst.name, inst.namespace, inst.version, True, result)
            except ChartkitError as exc:
                outcome = UpgradeOutcome(inst.name, inst.namespace, inst.version, False, error=str(exc))
            if progress:
                progress(outcome)
            return outcome

        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            futures = [pool.submit(one, inst) for inst in targets]
            outcomes = [f.result() for f in as_completed(futures)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(outcomes, key=lambda o: (o.namespace, o.name))


def rollback(settings: Any, name: str, revision: int | None = None, *, namespace: str = "default",
             timeout: str | None = None, force_conflicts: bool = False, helm: Any = None) -> Result:
    """Roll an instance back (to the previous revision by default); its labels follow the target revision."""
    helm = helm or settings.helm(registry=False)
    kube = settings.kube()
    get_instance(settings, name, namespace, kube=kube)
    _roll_back(helm, name, revision, namespace=namespace, timeout=timeout, force_conflicts=force_conflicts)
    inst = get_instance(settings, name, namespace, kube=kube)
    return Result(name, namespace, inst.revision, inst.status, inst.type, inst.version, inst.digest, "rollback",
                  f"to revision {revision}" if revision else "to the previous revision")


def _roll_back(helm: Any, name: str, revision: int | None, *, namespace: str, timeout: str | None,
               force_conflicts: bool) -> None:
    if force_conflicts:
        helm.rollback_forcing(name, revision, namespace=namespace, wait=True, timeout=timeout)
    else:
        helm.rollback(name, revision, namespace=namespace, wait=True, timeout=timeout)


def uninstall(settings: Any, name: str, *, namespace: str = "default", timeout: str | None = None,
              helm: Any = None) -> Instance:
    helm = helm or settings.helm(registry=False)
    inst = get_instance(settings, name, namespace)
    helm.uninstall(name, namespace=namespace, wait=True, timeout=timeout)
    return inst


def recover(settings: Any, name: str, *, namespace: str = "default", apply: bool = False,
            timeout: str | None = None, force_conflicts: bool = False, helm: Any = None) -> RecoveryPlan:
    """Plan (and with ``apply`` carry out) the recovery of an instance stuck in pending-*."""
    helm = helm or settings.helm(registry=False)
    plan = plan_recovery(helm.history(name, namespace=namespace))
    if apply and plan.action is RecoveryAction.ROLLBACK:
        _roll_back(helm, name, plan.revision, namespace=namespace, timeout=timeout, force_conflicts=force_conflicts)
    elif apply and plan.action is RecoveryAction.UNINSTALL:
        helm.uninstall(name, namespace=namespace, wait=True, timeout=timeout)
    return plan


def list_instances(settings: Any, *, namespace: str | None = None, kube: Any = None) -> list[Instance]:
    """Every instance in a namespace (all namespaces when None): one list request, no helm run."""
    return instances_from_release_records(release_records(kube or settings.kube(), namespace=namespace))


def history(settings: Any, name: str, *, namespace: str = "default", helm: Any = None,
            kube: Any = None) -> list[dict[str, Any]]:
    """Every revision with what it ran: helm's history joined with each revision's labels."""
    helm = helm or settings.helm(registry=False)
    rows = helm.history(name, namespace=namespace)
    records = (kube or settings.kube()).list("v1", "Secret", namespace, selector=f"owner=helm,name={name}")
    by_revision = {int(r["metadata"]["labels"].get("version", 0)): r["metadata"]["labels"] for r in records}
    out = []
    for row in sorted(rows, key=lambda r: int(r["revision"])):
        origin = origin_from_labels(by_revision.get(int(row["revision"]), {}))
        type_name, version, digest, _cat = origin or ("", "", "", "")
        out.append({"revision": int(row["revision"]), "updated": row.get("updated", ""),
                    "status": row.get("status", ""), "type": type_name, "version": version, "digest": digest,
                    "chart": row.get("chart", ""), "description": row.get("description", "")})
    return out


def latest_for_types(catalog: Any, types: Iterable[str]) -> tuple[dict[str, CatalogVersion | None], int]:
    """Newest usable version of each type: one tag-list request per type. Returns (versions, requests)."""
    from toolkit.catalog.index import open_registry
    from toolkit.catalog.versions import DEPRECATED_SUFFIX, tag_to_version

    url, reg = open_registry(catalog.url, ca_file=catalog.ca_file, registry_config=catalog.registry_config)
    wanted = sorted(set(types))
    with reg:
        def newest(type_name: str) -> CatalogVersion | None:
            tags = reg.tags(url.repository(type_name))
            deprecated = {t[: -len(DEPRECATED_SUFFIX)] for t in tags if t.endswith(DEPRECATED_SUFFIX)}
            return newest_version(CatalogVersion(v, deprecated=t in deprecated)
                                  for t in tags if (v := tag_to_version(t)))

        # the first lookup alone: it answers the auth challenge once, the rest reuse the credentials
        latest = {name: newest(name) for name in wanted[:1]}
        with ThreadPoolExecutor(8) as pool:
            latest.update(zip(wanted[1:], pool.map(newest, wanted[1:])))
        return latest, reg.requests


def outdated(settings: Any, *, namespace: str | None = None, kube: Any = None) -> tuple[list[OutdatedRow], int]:
    """Each instance against the newest release of its type; registry work is one request per type."""
    found = list_instances(settings, namespace=namespace, kube=kube)
    here = catalog_id(settings.catalog.url)
    latest, requests = latest_for_types(settings.catalog, (i.type for i in found if i.catalog_id in ("", here)))
    return compute_outdated(found, latest, catalog=settings.catalog.url), requests


def install_with_values(settings: Any, name: str, type_name: str, version: str, values: Mapping[str, Any],
                        options: InstanceOptions = InstanceOptions(), *, helm: Any = None) -> Result:
    """Install an instance from values already merged by the caller (a rollout's green copies blue's values)."""
    helm = helm or settings.helm()
    scratch = Path(tempfile.mkdtemp(prefix="chartkit-install-"))
    try:
        fetched = fetch(settings, helm, type_name, version, scratch)
        _check(fetched, values)
        if options.wait:
            return _deploy(helm, name, fetched, values, options, "install")
        # not waiting: the caller checks readiness itself (helm's --rollback-on-failure would imply --wait)
        origin = fetched.origin
        record = helm.install_or_upgrade(
            name, fetched.package, namespace=options.namespace, values=values, labels=origin.labels(), wait=False,
            rollback_on_failure=False, timeout=options.timeout, description=origin.description)
        info = record.get("info") or {}
        return Result(name, options.namespace, int(record.get("version", 0)), str(info.get("status", "")),
                      origin.type, origin.version, origin.digest, "install")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def upgrade_with_values(settings: Any, name: str, version: str, values: Mapping[str, Any],
                        options: InstanceOptions = InstanceOptions(), *, helm: Any = None, kube: Any = None) -> Result:
    """Upgrade an instance to a version with exactly these values (a rollout promotes green's values)."""
    helm = helm or settings.helm()
    inst = get_instance(settings, name, options.namespace, kube=kube)
    _refuse_pending(inst)
    _refuse_other_catalog(inst, settings.catalog.url)
    return _upgrade(settings, helm, inst, version, values, options)
