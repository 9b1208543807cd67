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

import enum
import hashlib
import json
import logging
import re
import shutil
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
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
