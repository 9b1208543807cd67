"""Where an instance came from, recorded on its release with Helm's ``--labels``.

helm copies ``--labels`` onto the release Secret of every revision and carries them through rollbacks, so
tracking never guesses by chart name. Release labels are Kubernetes label values (≤ 63 characters of
``[-_.A-Za-z0-9]``), which shapes them:

    chartkit.io/type         the type (chart) name
    chartkit.io/version      the version, ``+`` written ``_`` (as in OCI tags)
    chartkit.io/digest       first 32 hex digits of the sha256 manifest digest  } together the full digest,
    chartkit.io/digest-tail  last 32 hex digits                                   } split to fit 63 characters
    chartkit.io/catalog      first 16 hex digits of sha256(catalog URL): identifies the catalog without a ``/``

The full reference (``oci://HOST/PATH/TYPE:TAG@sha256:...``) is also written to the revision's description.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Mapping

from toolkit.catalog.versions import SemVer, version_to_tag
from toolkit.errors import DeployError, InputError

__all__ = [
    "LABEL_CATALOG",
    "LABEL_DIGEST",
    "LABEL_DIGEST_TAIL",
    "LABEL_PLAN",
    "LABEL_TYPE",
    "LABEL_VERSION",
    "ORIGIN_LABELS",
    "Origin",
    "catalog_id",
    "origin_from_labels",
    "parse_type_ref",
]

LABEL_TYPE = "chartkit.io/type"
LABEL_VERSION = "chartkit.io/version"
LABEL_DIGEST = "chartkit.io/digest"
LABEL_DIGEST_TAIL = "chartkit.io/digest-tail"
LABEL_CATALOG = "chartkit.io/catalog"
#: the plan (a named value preset the type declares) an instance was deployed with
LABEL_PLAN = "chartkit.io/plan"
ORIGIN_LABELS = frozenset({LABEL_TYPE, LABEL_VERSION, LABEL_DIGEST, LABEL_DIGEST_TAIL, LABEL_CATALOG})

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?)?$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_TYPE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def catalog_id(url: object) -> str:
    """A label-safe id of a catalog URL (the URL itself has ``/`` and ``:``)."""
    return hashlib.sha256(str(url).rstrip("/").encode()).hexdigest()[:16]


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
    """``TYPE[@VERSION]`` → (type, version or None for the newest); ``TYPE@latest`` means the newest.

    ``TYPE@`` with nothing after the ``@`` is refused: it is usually a script's empty variable, not a wish for
    the newest version.
    """
    name, at, version = text.partition("@")
    if not _TYPE_NAME.match(name):
        raise InputError(f'unable to parse type "{text}": expected TYPE[@VERSION], TYPE a lowercase chart name')
    if at and not version:
        raise InputError(f'unable to parse type "{text}": nothing after "@"',
                         hint=f"write {name}@VERSION, {name}@latest, or {name} for the newest release")
    if version in ("", "latest"):
        return name, None
    if SemVer.try_parse(version) is None:
        raise InputError(f'unable to parse type "{text}": version "{version}" is not SemVer (e.g. chat@1.2.0)')
    return name, version
