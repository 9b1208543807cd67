"""The Kubernetes API versions a target cluster no longer serves (or has deprecated), and how to move off them.

A source written for an older cluster (``rbac.authorization.k8s.io/v1beta1`` Roles, ``extensions/v1beta1``
Deployments...) makes a chart that today's clusters refuse. chartify checks every object against ``APIS``, one
row per group/version/kind, for the Kubernetes version it targets (``--kube-version``, default
``DEFAULT_KUBE_VERSION``, the local cluster's), Pluto/kubent style:

- *pure* migrations change ``apiVersion`` only (the schemas are the same): chartify applies them and warns once
  per object; the chart, and the fidelity check, use the migrated object;
- migrations that *need a human* (fields renamed or removed, defaults that change behaviour, no replacement at
  all) are refused, naming the object, the API and what to do. A pure row may still name a ``blocker``: the
  cases in which the same change would alter the object's meaning (an ``apps/v1`` Deployment requires
  ``spec.selector``; an empty PodDisruptionBudget selector selects every pod in ``policy/v1``).

An API deprecated but still served at the target is migrated too when the change is pure and the replacement is
served there (helm lint --strict fails on deprecated APIs); otherwise it stays, with a warning.

Sources: which versions stop being served when, their replacements and the notable changes follow the upstream
"Deprecated API Migration Guide" (https://kubernetes.io/docs/reference/using-api/deprecation-guide/, page
source kubernetes/website content/en/docs/reference/using-api/deprecation-guide.md, sections v1.16 to v1.32).
The version each was deprecated in, and the rows deprecated but not yet removed at 1.35, come from the generated
``APILifecycleDeprecated``/``APILifecycleRemoved`` of k8s.io/api v0.35.4 (``*/zz_generated.prerelease-lifecycle.go``),
the data helm lint's deprecation check uses; k8s.io/api no longer carries PodSecurityPolicy, so those two rows
take theirs from the Kubernetes 1.11 and 1.21 release notes. Each row has a test (tests/chartify/test_apis.py), and the rows
removed by 1.35 are checked against the local v1.35 API server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, NamedTuple, Sequence

from toolkit.chartify.read import SourceObject
from toolkit.errors import InputError

__all__ = ["APIS", "DEFAULT_KUBE_VERSION", "ApiRow", "KubeVersion", "Migration", "Migrated", "migrate_apis"]

#: the Kubernetes version charts target unless told otherwise: the local cluster's (toolkit/localenv)
DEFAULT_KUBE_VERSION = "1.35"
GUIDE = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"


class KubeVersion(NamedTuple):
    """A Kubernetes minor version (``1.35``); patch levels do not change which APIs are served."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> KubeVersion:
        match = re.fullmatch(r"v?(\d+)\.(\d+)(\.\d+)?([-+][0-9A-Za-z.+-]*)?", text.strip())
        if not match:
            raise InputError(f'unable to use Kubernetes version "{text}": not a version like 1.35 or v1.35.4')
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def _v(text: str) -> KubeVersion:
    return KubeVersion.parse(text)


class Migration(Enum):
    """What moving an object to the replacement API takes."""

    PURE = "pure"  # apiVersion changes, nothing else
    HUMAN = "needs a human"  # fields or behaviour change: someone must decide


Blocker = Callable[[dict[str, Any]], "str | None"]


class ApiRow(NamedTuple):
    """One group/version/kind: when it was deprecated and removed, what replaces it, what moving takes."""

    api_version: str
    kind: str
    deprecated: KubeVersion
    removed: KubeVersion | None  # None: still served (deprecated only); the row exists for helm lint's sake
    replacement: str | None  # the apiVersion to use instead; None: nothing replaces it
    available: KubeVersion | None  # the first version serving the replacement
    migration: Migration
    todo: str  # what to do (HUMAN), or what else changes (PURE: defaults, said in the warning)
    blocker: Blocker | None = None  # PURE rows: a reason this object needs a human after all, else None

    @property
    def id(self) -> str:
        return f"{self.api_version}/{self.kind}"


# -- blockers: the cases in which a pure row is not pure for one object -----------------------------------------

def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _needs_selector(obj: dict[str, Any]) -> str | None:
    if _get(obj, "spec", "selector"):
        return None
    labels = _get(obj, "spec", "template", "metadata", "labels")
    shown = ", ".join(f"{k}: {v}" for k, v in labels.items()) if isinstance(labels, dict) and labels else "..."
    return (f"apps/v1 requires spec.selector (the old API defaulted it from the pod labels): set "
            f"spec.selector.matchLabels to the pod template's labels ({shown})")


def _removed_fields(*fields: str) -> Blocker:
    def check(obj: dict[str, Any]) -> str | None:
        present = [f for f in fields if _get(obj, *f.split(".")) is not None]
        return f"{', '.join(present)} no longer exist(s) in the replacement: drop them" if present else None
    return check


def _update_strategy(old_default: str) -> Blocker:
    def check(obj: dict[str, Any]) -> str | None:
        if _get(obj, "spec", "updateStrategy", "type"):
            return None
        return (f"spec.updateStrategy.type defaults to RollingUpdate in apps/v1 ({old_default} before), so upgrades "
                f"would replace pods the source never replaced: set it to {old_default} to keep the behaviour, or "
                "to RollingUpdate to take the new one")
    return check


def _all(*checks: Blocker) -> Blocker:
    def check(obj: dict[str, Any]) -> str | None:
        reasons = [r for r in (c(obj) for c in checks) if r]
        return "; ".join(reasons) or None
    return check


def _webhooks(obj: dict[str, Any]) -> str | None:
    """admissionregistration v1 has no default for sideEffects/admissionReviewVersions and other defaults."""
    problems: list[str] = []
    names = [w.get("name") for w in obj.get("webhooks") or () if isinstance(w, dict)]
    if len(set(names)) != len(names):
        problems.append("webhooks[*].name must be unique")
    for i, hook in enumerate(obj.get("webhooks") or ()):
        if not isinstance(hook, dict):
            continue
        if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            problems.append(f"webhooks[{i}].sideEffects must be None or NoneOnDryRun")
        missing = [f for f in ("admissionReviewVersions", "failurePolicy", "matchPolicy", "timeoutSeconds")
                   if hook.get(f) is None]
        if missing:
            problems.append(f"webhooks[{i}] must set {', '.join(missing)} (v1 requires or defaults them "
                            "differently: failurePolicy Fail, matchPolicy Equivalent, timeoutSeconds 10)")
    return "; ".join(problems) or None


def _empty_pdb_selector(obj: dict[str, Any]) -> str | None:
    if _get(obj, "spec", "selector") == {}:
        return ("an empty spec.selector selects every pod of the namespace in policy/v1 (none in policy/v1beta1): "
                "set the labels of the pods it protects, or drop the selector")
    return None


def _csr(obj: dict[str, Any]) -> str | None:
    signer, usages = _get(obj, "spec", "signerName"), _get(obj, "spec", "usages")
    if not signer or signer == "kubernetes.io/legacy-unknown" or not usages:
        return "certificates.k8s.io/v1 requires spec.signerName (not kubernetes.io/legacy-unknown) and spec.usages"
    return None


def _endpoint_topology(obj: dict[str, Any]) -> str | None:
    if any(isinstance(e, dict) and "topology" in e for e in obj.get("endpoints") or ()):
        return ("endpoints[*].topology is not writable in discovery.k8s.io/v1: use nodeName and zone instead")
    return None


def _zero_shares(obj: dict[str, Any]) -> str | None:
    if _get(obj, "spec", "limited", "nominalConcurrencyShares") == 0:
        return ("an explicit spec.limited.nominalConcurrencyShares of 0 means 0 in flowcontrol v1 (30 before): "
                "set the value you mean")
    return None


_PURE = Migration.PURE
_HUMAN = Migration.HUMAN
_DEPLOYMENT_DEFAULTS = ("apps/v1 defaults apply where the source sets none: spec.progressDeadlineSeconds 600, "
                        "spec.revisionHistoryLimit 10, spec.strategy.rollingUpdate maxSurge/maxUnavailable 25%")
_INGRESS = ("networking.k8s.io/v1 renames fields: spec.backend becomes spec.defaultBackend, serviceName/servicePort "
            "become service.name and service.port.number (or .name), and every path needs a pathType "
            "(ImplementationSpecific matches v1beta1)")
_PSP = ("PodSecurityPolicy has no replacement: enforce pod security with Pod Security Admission (namespace labels "
        "pod-security.kubernetes.io/enforce) or an admission webhook, and drop this object")
_PLC = ("spec.limited.assuredConcurrencyShares is renamed spec.limited.nominalConcurrencyShares in "
        "flowcontrol.apiserver.k8s.io/v1, where 0 stays 0")


def _row(api_version: str, kind: str, deprecated: str, removed: str | None, replacement: str | None,
         available: str | None, migration: Migration, todo: str = "", blocker: Blocker | None = None) -> ApiRow:
    return ApiRow(api_version, kind, _v(deprecated), _v(removed) if removed else None, replacement,
                  _v(available) if available else None, migration, todo, blocker)


#: one row per group/version/kind; to add one: a row here and a case in tests/chartify/test_apis.py
APIS: tuple[ApiRow, ...] = (
    # -- removed in 1.16 -----------------------------------------------------------------------------------------
    _row("extensions/v1beta1", "NetworkPolicy", "1.9", "1.16", "networking.k8s.io/v1", "1.8", _PURE),
    _row("extensions/v1beta1", "PodSecurityPolicy", "1.11", "1.16", None, None, _HUMAN, _PSP),
    _row("extensions/v1beta1", "DaemonSet", "1.8", "1.16", "apps/v1", "1.9", _PURE,
         blocker=_all(_needs_selector, _removed_fields("spec.templateGeneration"), _update_strategy("OnDelete"))),
    _row("apps/v1beta2", "DaemonSet", "1.9", "1.16", "apps/v1", "1.9", _PURE, blocker=_needs_selector),
    _row("extensions/v1beta1", "Deployment", "1.8", "1.16", "apps/v1", "1.9", _PURE, _DEPLOYMENT_DEFAULTS,
         _all(_needs_selector, _removed_fields("spec.rollbackTo"))),
    _row("apps/v1beta1", "Deployment", "1.8", "1.16", "apps/v1", "1.9", _PURE, _DEPLOYMENT_DEFAULTS,
         _all(_needs_selector, _removed_fields("spec.rollbackTo"))),
    _row("apps/v1beta2", "Deployment", "1.9", "1.16", "apps/v1", "1.9", _PURE, blocker=_needs_selector),
    _row("apps/v1beta1", "StatefulSet", "1.8", "1.16", "apps/v1", "1.9", _PURE,
         blocker=_all(_needs_selector, _update_strategy("OnDelete"))),
    _row("apps/v1beta2", "StatefulSet", "1.9", "1.16", "apps/v1", "1.9", _PURE, blocker=_needs_selector),
    _row("extensions/v1beta1", "ReplicaSet", "1.8", "1.16", "apps/v1", "1.9", _PURE, blocker=_needs_selector),
    _row("apps/v1beta1", "ReplicaSet", "1.8", "1.16", "apps/v1", "1.9", _PURE, blocker=_needs_selector),
    _row("apps/v1beta2", "ReplicaSet", "1.9", "1.16", "apps/v1", "1.9", _PURE, blocker=_needs_selector),
    # -- removed in 1.22 -----------------------------------------------------------------------------------------
    _row("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration", "1.16", "1.22",
         "admissionregistration.k8s.io/v1", "1.16", _PURE, blocker=_webhooks),
    _row("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration", "1.16", "1.22",
         "admissionregistration.k8s.io/v1", "1.16", _PURE, blocker=_webhooks),
    _row("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.16", "1.22", "apiextensions.k8s.io/v1",
         "1.16", _HUMAN, "apiextensions.k8s.io/v1 needs a structural schema per version (spec.versions[*].schema."
         "openAPIV3Schema), an explicit spec.scope, and moves validation, subresources and printer columns into "
         "spec.versions[*]: use the CRD from a current release of its operator"),
    _row("apiregistration.k8s.io/v1beta1", "APIService", "1.19", "1.22", "apiregistration.k8s.io/v1", "1.10",
         _PURE),
    _row("authentication.k8s.io/v1beta1", "TokenReview", "1.19", "1.22", "authentication.k8s.io/v1", "1.6", _PURE),
    *(_row("authorization.k8s.io/v1beta1", kind, "1.19", "1.22", "authorization.k8s.io/v1", "1.6", _PURE,
           blocker=_removed_fields("spec.group"))
      for kind in ("LocalSubjectAccessReview", "SelfSubjectAccessReview", "SubjectAccessReview",
                   "SelfSubjectRulesReview")),
    _row("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.19", "1.22", "certificates.k8s.io/v1",
         "1.19", _PURE, blocker=_csr),
    _row("coordination.k8s.io/v1beta1", "Lease", "1.19", "1.22", "coordination.k8s.io/v1", "1.14", _PURE),
    _row("extensions/v1beta1", "Ingress", "1.14", "1.22", "networking.k8s.io/v1", "1.19", _HUMAN, _INGRESS),
    _row("networking.k8s.io/v1beta1", "Ingress", "1.19", "1.22", "networking.k8s.io/v1", "1.19", _HUMAN, _INGRESS),
    _row("networking.k8s.io/v1beta1", "IngressClass", "1.19", "1.22", "networking.k8s.io/v1", "1.19", _PURE),
    *(_row("rbac.authorization.k8s.io/v1beta1", kind, "1.17", "1.22", "rbac.authorization.k8s.io/v1", "1.8", _PURE)
      for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")),
    _row("scheduling.k8s.io/v1beta1", "PriorityClass", "1.14", "1.22", "scheduling.k8s.io/v1", "1.14", _PURE),
    _row("storage.k8s.io/v1beta1", "CSIDriver", "1.19", "1.22", "storage.k8s.io/v1", "1.19", _PURE),
    _row("storage.k8s.io/v1beta1", "CSINode", "1.17", "1.22", "storage.k8s.io/v1", "1.17", _PURE),
    _row("storage.k8s.io/v1beta1", "StorageClass", "1.19", "1.22", "storage.k8s.io/v1", "1.6", _PURE),
    _row("storage.k8s.io/v1beta1", "VolumeAttachment", "1.19", "1.22", "storage.k8s.io/v1", "1.13", _PURE),
    # -- removed in 1.25 -----------------------------------------------------------------------------------------
    _row("batch/v1beta1", "CronJob", "1.21", "1.25", "batch/v1", "1.21", _PURE),
    _row("discovery.k8s.io/v1beta1", "EndpointSlice", "1.21", "1.25", "discovery.k8s.io/v1", "1.21", _PURE,
         blocker=_endpoint_topology),
    _row("events.k8s.io/v1beta1", "Event", "1.22", "1.25", "events.k8s.io/v1", "1.19", _HUMAN,
         "Events are records the cluster writes, not part of an app: drop them from the source"),
    _row("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.22", "1.25", "autoscaling/v2", "1.23", _HUMAN,
         "autoscaling/v2 replaces each metric's targetAverageUtilization/targetAverageValue/targetValue with "
         "target: {type: Utilization|AverageValue|Value, ...}: rewrite spec.metrics"),
    _row("policy/v1beta1", "PodDisruptionBudget", "1.21", "1.25", "policy/v1", "1.21", _PURE,
         blocker=_empty_pdb_selector),
    _row("policy/v1beta1", "PodSecurityPolicy", "1.21", "1.25", None, None, _HUMAN, _PSP),
    _row("node.k8s.io/v1beta1", "RuntimeClass", "1.22", "1.25", "node.k8s.io/v1", "1.20", _PURE),
    # -- removed in 1.26, 1.27, 1.29, 1.32 -----------------------------------------------------------------------
    _row("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.23", "1.26", "autoscaling/v2", "1.23", _PURE),
    _row("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", "1.23", "1.26", "flowcontrol.apiserver.k8s.io/v1",
         "1.29", _PURE),
    _row("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration", "1.23", "1.26",
         "flowcontrol.apiserver.k8s.io/v1", "1.29", _HUMAN, _PLC),
    _row("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.24", "1.27", "storage.k8s.io/v1", "1.24", _PURE),
    _row("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "1.26", "1.29", "flowcontrol.apiserver.k8s.io/v1",
         "1.29", _PURE),
    _row("flowcontrol.apiserver.k8s.io/v1beta2", "PriorityLevelConfiguration", "1.26", "1.29",
         "flowcontrol.apiserver.k8s.io/v1", "1.29", _HUMAN, _PLC),
    _row("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.29", "1.32", "flowcontrol.apiserver.k8s.io/v1",
         "1.29", _PURE),
    _row("flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration", "1.29", "1.32",
         "flowcontrol.apiserver.k8s.io/v1", "1.29", _PURE, blocker=_zero_shares),
    # -- deprecated, still served at 1.35 (k8s.io/api v0.35.4) ---------------------------------------------------
    _row("storage.k8s.io/v1beta1", "VolumeAttributesClass", "1.34", None, "storage.k8s.io/v1", "1.34", _PURE),
    _row("networking.k8s.io/v1beta1", "IPAddress", "1.34", None, "networking.k8s.io/v1", "1.33", _PURE),
    _row("networking.k8s.io/v1beta1", "ServiceCIDR", "1.34", None, "networking.k8s.io/v1", "1.33", _PURE),
    *(_row("resource.k8s.io/v1beta1", kind, "1.35", None, "resource.k8s.io/v1", "1.34", _HUMAN,
           "resource.k8s.io/v1 moves each device request's fields under exactly: rewrite the requests")
      for kind in ("DeviceClass", "ResourceClaim", "ResourceClaimTemplate")),
)

_BY_API: dict[tuple[str, str], ApiRow] = {(row.api_version, row.kind): row for row in APIS}


@dataclass(frozen=True)
class Migrated:
    """The objects as the target cluster serves them, and one warning per object migrated or left deprecated."""

    objects: list[SourceObject]
    warnings: list[str]


def migrate_apis(objects: Sequence[SourceObject], kube_version: str = DEFAULT_KUBE_VERSION) -> Migrated:
    """Move every object off API versions ``kube_version`` no longer serves; refuse those that need a human."""
    target = KubeVersion.parse(kube_version)
    kept: list[SourceObject] = []
    warnings: list[str] = []
    refused: list[str] = []
    for item in objects:
        row = _BY_API.get((str(item.obj.get("apiVersion")), str(item.obj.get("kind"))))
        if row is None or target < row.deprecated:
            kept.append(item)
            continue
        gone = row.removed is not None and target >= row.removed
        served = row.replacement is not None and row.available is not None and target >= row.available
        reason = row.todo if row.migration is Migration.HUMAN else (row.blocker(item.obj) if row.blocker else None)
        if not served and not reason:
            reason = (f"its replacement {row.replacement} is served from Kubernetes {row.available} on"
                      if row.replacement else "nothing replaces it")
        status = (f"is not served since Kubernetes {row.removed}" if gone
                  else f"is deprecated since Kubernetes {row.deprecated}"
                       + (f" and goes in {row.removed}" if row.removed else ""))
        if reason is None:
            moved = {**item.obj, "apiVersion": row.replacement}  # same key order: only the value changes
            kept.append(item._replace(obj=moved))
            extra = f"; {row.todo}" if row.todo else ""
            warnings.append(f"{item.id} ({item.where}): {row.api_version} {row.kind} {status} (target "
                            f"{target}); migrated to {row.replacement}, only the apiVersion changes{extra}")
        elif gone:
            refused.append(f"{item.id} ({item.where}) uses {row.api_version} {row.kind}, which {status}; moving it "
                           f"to {row.replacement or 'another API'} needs a human: {reason}")
        else:
            kept.append(item)
            warnings.append(f"{item.id} ({item.where}): {row.api_version} {row.kind} {status} (target {target}); "
                            f"kept, as moving it needs a human: {reason}")
    if refused:
        raise InputError(f"unable to chartify {len(refused)} object{'s' if len(refused) > 1 else ''} for Kubernetes "
                         f"{target}: " + " | ".join(refused),
                         hint=f"migrate them in the source (see {GUIDE}), or target the cluster that runs them "
                              "with --kube-version")
    return Migrated(kept, warnings)

