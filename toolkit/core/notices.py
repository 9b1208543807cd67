"""Notices: one pass of the watcher — check the catalog and the cluster, raise each new fact once, resolve the
facts that went away, deliver what is pending. ``chartkit watch`` runs it on an interval (``--once`` for cron).

Facts per instance: a security release, a deprecated version in use, an update (or a new major) available under
its policy, drift, a compliance violation (a locked parameter's field changed), a rollout stuck in pending-* or
failed, an automatic upgrade that failed; per *binding* of an out-of-date instance, the consumer is told too.

State lives in the cluster, so nothing is lost when a watcher dies and any replica can take over:

- the record: a ConfigMap ``chartkit-notices-<instance>`` in the instance's namespace (label
  ``chartkit.io/notices``), one entry per fact id — active or resolved, whether its Event exists, and an outbox of
  webhook deliveries still owed (with attempts and the next try). It is written with the resourceVersion as read,
  so two writers cannot both add a fact;
- a Kubernetes Event per raised and resolved notice (``kubectl get events``), on the record — for a consumer, on
  its binding Secret — named after the fact, created only if absent (a repeat is a no-op);
- a CloudEvent per raised and resolved notice to the webhook, its id the notice's own (stable across retries).

Automatic-mode instances with an update inside their policy are upgraded first (the type's update strategy:
rolling is an in-place upgrade, the others a rollout); manual-mode instances are never upgraded here.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from toolkit.config import Config

if TYPE_CHECKING:
    from toolkit.adapters.kube import Kube
    from toolkit.adapters.webhook import Notification, Webhook
from toolkit.core.instances import InstancesOptions, instances
from toolkit.deploy.binding import LABEL_NAMESPACE, LABEL_OF
from toolkit.deploy.instance import Instance
from toolkit.deploy.origin import catalog_id
from toolkit.deploy.outdated import newest_version, versions_for_types
from toolkit.deploy.policy import Mode, Policy, PolicyStatus, Status, VersionInfo, status_of
from toolkit.errors import ChartkitError, DeliveryError, KubeError

__all__ = ["Fact", "FactKind", "NoticeOptions", "PassResult", "RECORD_LABEL", "check", "list_notices", "record_name"]

log = logging.getLogger(__name__)

RECORD_LABEL = "chartkit.io/notices"
INSTANCE_LABEL = "chartkit.io/instance"
RECORD_KEY = "notices.json"
SOURCE = "chartkit-watch"
EVENT_TYPE = "dev.chartkit.notice"


class FactKind(str, enum.Enum):
    SECURITY = "security update"
    DEPRECATED = "deprecated version"
    UPDATE = "update available"
    MAJOR = "major available"
    DRIFT = "drift"
    COMPLIANCE = "compliance violation"
    STUCK = "rollout stuck"
    FAILED = "rollout failed"
    UPGRADE_FAILED = "automatic upgrade failed"
    BOUND_OUTDATED = "bound instance out of date"

    @property
    def reason(self) -> str:
        """The Event's reason (CamelCase, as Kubernetes writes them)."""
        return "".join(word.capitalize() for word in self.value.split())

    @property
    def warning(self) -> bool:
        return self not in (FactKind.UPDATE, FactKind.MAJOR)


@dataclass(frozen=True)
class Fact:
    """Something true now about an instance; ``id`` names it (a new version, another drifted field: a new fact)."""

    id: str
    kind: FactKind
    instance: str
    namespace: str
    message: str
    consumer: str = ""          # "namespace/secret" of a binding, for a bound consumer's notice
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class NoticeOptions:
    namespace: str | None = None            # None: every namespace
    webhook: str | None = None
    webhook_format: str = "cloudevents"     # or "slack"
    check_drift: bool = True
    upgrade: bool = True                    # upgrade automatic-mode instances inside their policy
    stuck_after: float = 600.0              # seconds a pending-* revision may take before it is "stuck"
    delivery_attempts: int = 3              # tries per pass for one webhook delivery (then: the outbox)
    delivery_backoff: float = 0.5


@dataclass
class PassResult:
    raised: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0
    pending: int = 0                        # webhook deliveries left in the outbox
    upgraded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    receiver_down: bool = False             # a delivery failed this pass: the rest wait in the outbox

    def to_json(self) -> dict[str, Any]:
        return {"raised": self.raised, "resolved": self.resolved, "delivered": self.delivered,
                "pending": self.pending, "upgraded": self.upgraded, "errors": self.errors}

    def line(self) -> str:
        return (f"{len(self.raised)} raised, {len(self.resolved)} resolved, {self.delivered} delivered, "
                f"{self.pending} pending, {len(self.upgraded)} upgraded"
                + (f", {len(self.errors)} errors" if self.errors else ""))


def record_name(instance: str) -> str:
    return f"chartkit-notices-{instance}"[:253]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


# -- facts ----------------------------------------------------------------------------------------------------

def _status_facts(inst: Instance, status: PolicyStatus) -> list[Fact]:
    ref = f"{inst.type} {inst.version}"
    s = status.status
    if s is Status.SECURITY:
        return [Fact(f"security:{status.target}", FactKind.SECURITY, inst.name, inst.namespace,
                     f"{inst.namespace}/{inst.name} runs {ref}: security update to {status.target} "
                     f"({status.reason})", data={"target": status.target})]
    if s is Status.DEPRECATED:
        return [Fact(f"deprecated:{inst.version}", FactKind.DEPRECATED, inst.name, inst.namespace,
                     f"{inst.namespace}/{inst.name} runs {ref}, deprecated in the catalog"
                     + (f"; upgrade to {status.target}" if status.target else ""), data={"target": status.target})]
    if s in (Status.UPDATE_AVAILABLE, Status.MAJOR_AVAILABLE):
        kind = FactKind.UPDATE if s is Status.UPDATE_AVAILABLE else FactKind.MAJOR
        return [Fact(f"{kind.name.lower()}:{status.newest}", kind, inst.name, inst.namespace,
                     f"{inst.namespace}/{inst.name} runs {ref}: {kind.value} ({status.newest}"
                     + (f"; within its policy: {status.target})" if status.target else ", outside its policy)"),
                     data={"target": status.target, "newest": status.newest})]
    return []


def _rollout_facts(inst: Instance, stuck_after: float) -> list[Fact]:
    if inst.status == "failed":
        return [Fact(f"failed:{inst.revision}", FactKind.FAILED, inst.name, inst.namespace,
                     f"{inst.namespace}/{inst.name} revision {inst.revision} failed "
                     f"(`chartkit recover {inst.name} -n {inst.namespace}`)")]
    if inst.pending:
        try:
            since = dt.datetime.strptime(inst.updated, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            return []
        age = (dt.datetime.now(dt.timezone.utc) - since).total_seconds()
        if age >= stuck_after:
            return [Fact(f"stuck:{inst.revision}", FactKind.STUCK, inst.name, inst.namespace,
                         f"{inst.namespace}/{inst.name} revision {inst.revision} is {inst.status} for {age:.0f}s "
                         f"(`chartkit recover {inst.name} -n {inst.namespace}`)")]
    return []


def _drift_facts(config: Config, inst: Instance) -> list[Fact]:
    from toolkit.core.drift import instance_drift

    report = instance_drift(config, inst)
    if not report.changes:
        return []
    violations = [c for c in report.changes if c.violation]
    shown = violations or list(report.changes)
    fields = sorted({f"{c.object}:{c.field}" for c in shown})
    kind = FactKind.COMPLIANCE if violations else FactKind.DRIFT
    first = shown[0]
    more = f" and {len(shown) - 1} more" if len(shown) > 1 else ""
    return [Fact(f"{kind.name.lower()}:{_short_hash(fields)}", kind, inst.name, inst.namespace,
                 f"{inst.namespace}/{inst.name}: {kind.value}: {first.line()}{more}",
                 data={"changes": [c.to_json() for c in shown]})]


def _binding_facts(config: Config, inst: Instance, status: PolicyStatus) -> list[Fact]:
    if status.status is Status.UP_TO_DATE:
        return []
    secrets = config.kube().list("v1", "Secret", None, selector=f"{LABEL_OF}={inst.name}", metadata_only=True)
    facts = []
    for secret in secrets:
        meta = secret.get("metadata") or {}
        if (meta.get("labels") or {}).get(LABEL_NAMESPACE) != inst.namespace:
            continue
        consumer = f"{meta.get('namespace')}/{meta.get('name')}"
        facts.append(Fact(f"bound:{consumer}:{status.newest or status.target}", FactKind.BOUND_OUTDATED, inst.name,
                          inst.namespace, f"binding {consumer} uses {inst.namespace}/{inst.name}, which runs "
                                          f"{inst.type} {inst.version}: {status.status.value} "
                                          f"({status.target or status.newest})", consumer=consumer,
                          data={"status": status.status.value, "target": status.target}))
    return facts


# -- the record -------------------------------------------------------------------------------------------------

def _read(kube: Kube, inst_name: str, namespace: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    cm = kube.get("v1", "ConfigMap", record_name(inst_name), namespace, missing_ok=True)
    if cm is None:
        return None, {}
    try:
        notices = json.loads((cm.get("data") or {}).get(RECORD_KEY) or "{}")
    except ValueError:
        notices = {}
    return cm, notices if isinstance(notices, dict) else {}


def _write(kube: Kube, inst: Instance, cm: dict[str, Any] | None, notices: dict[str, Any]) -> dict[str, Any]:
    """Create the record, or replace it guarded by the resourceVersion read (409 when someone wrote since)."""
    data = {RECORD_KEY: json.dumps(notices, sort_keys=True)}
    if cm is None:
        return kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": record_name(inst.name), "namespace": inst.namespace,
            "labels": {RECORD_LABEL: "true", INSTANCE_LABEL: inst.name}}, "data": data}, field_manager=SOURCE)
    return kube.replace({**cm, "data": data}, field_manager=SOURCE)


def _merge(notices: dict[str, Any], facts: list[Fact], now: str) -> tuple[list[dict], list[dict]]:
    """Raise facts the record does not hold active; resolve active notices whose fact is gone."""
    raised, resolved = [], []
    current = {f.id: f for f in facts}
    for fact in facts:
        held = notices.get(fact.id)
        if held and held.get("state") == "active":
            continue
        generation = int(held.get("generation", 0)) + 1 if held else 1
        note = {"id": fact.id, "kind": fact.kind.value, "reason": fact.kind.reason,
                "severity": "Warning" if fact.kind.warning else "Normal", "instance": fact.instance,
                "namespace": fact.namespace, "consumer": fact.consumer, "message": fact.message, "data": fact.data,
                "state": "active", "since": now, "resolvedAt": None, "generation": generation,
                "events": ["raised"], "outbox": ["raised"]}
        notices[fact.id] = note
        raised.append(note)
    for fact_id, note in notices.items():
        if note.get("state") == "active" and fact_id not in current:
            note.update(state="resolved", resolvedAt=now)
            note["events"] = [*note.get("events", []), "resolved"]
            note["outbox"] = [*note.get("outbox", []), "resolved"]
            resolved.append(note)
    return raised, resolved


def _event(note: dict[str, Any], transition: str, involved: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    name = f"{involved['name']}.{_short_hash(note['id'], note['generation'], transition)}"
    resolved = transition == "resolved"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name[:253], "namespace": involved["namespace"],
                     "labels": {RECORD_LABEL: "true", INSTANCE_LABEL: note["instance"]}},
        "involvedObject": involved,
        "reason": "Resolved" if resolved else note["reason"],
        "message": (f"resolved: {note['message']}" if resolved else note["message"])[:1024],
        "type": "Normal" if resolved else note["severity"],
        "source": {"component": SOURCE}, "reportingComponent": SOURCE, "reportingInstance": SOURCE,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


def _involved(note: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    if note.get("consumer"):
        ns, _, name = note["consumer"].partition("/")
        return {"apiVersion": "v1", "kind": "Secret", "namespace": ns, "name": name}
    meta = record["metadata"]
    return {"apiVersion": "v1", "kind": "ConfigMap", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta.get("uid", "")}


def _notification(note: dict[str, Any], transition: str) -> Notification:
    from toolkit.adapters.webhook import Notification

    subject = note["consumer"] or f"{note['namespace']}/{note['instance']}"
    text = f"chartkit: {'resolved: ' if transition == 'resolved' else ''}{note['message']}"
    return Notification(id=f"{note['namespace']}/{note['instance']}/{note['id']}/{note['generation']}/{transition}",
                        type=f"{EVENT_TYPE}.{transition}", source=f"/{SOURCE}/{note['namespace']}/{note['instance']}",
                        subject=subject, time=note["resolvedAt"] if transition == "resolved" else note["since"],
                        text=text, data={k: note[k] for k in ("id", "kind", "severity", "instance", "namespace",
                                                              "consumer", "message", "state", "since", "resolvedAt",
                                                              "data")})


# -- one pass -------------------------------------------------------------------------------------------------

def _auto_upgrade(config: Config, inst: Instance, status: PolicyStatus) -> str:
    """Upgrade an automatic-mode instance to its target with the type's update strategy; returns the version."""
    from toolkit.core.rollout import RolloutOptions, rollout
    from toolkit.core.upgrade import upgrade_to
    from toolkit.deploy.fetch import fetch
    from toolkit.deploy.migrate import declarations_of
    from toolkit.deploy.release import ReleaseOptions, serving_values
    from toolkit.deploy.strategies.plan import Strategy, options_from_data

    target = status.target
    assert target is not None
    strategy = options_from_data(declarations_of(fetch(config.catalog, inst.type, target).package).update_strategy)
    if strategy.kind is Strategy.ROLLING:
        upgrade_to(config, inst, target, serving_values(config, inst.name, inst.namespace),
                   ReleaseOptions(namespace=inst.namespace))
    else:
        rollout(config, RolloutOptions(instance=inst.name, version=target, namespace=inst.namespace,
                                       strategy=strategy))
    return target


def check(config: Config, options: NoticeOptions = NoticeOptions(), *,
          progress: Callable[[str], None] | None = None,
          leading: Callable[[], bool] = lambda: True) -> PassResult:
    """One pass over the instances: upgrade what the policy lets the watcher upgrade, then raise, resolve and
    deliver notices. Errors on one instance are collected, the others go on. ``leading`` is asked before each
    instance: a watcher that lost its Lease mid-pass stops there."""
    result = PassResult()
    here = catalog_id(config.catalog.url)
    found = [i for i in instances(config, InstancesOptions(namespace=options.namespace)) if i.catalog_id in ("", here)]
    versions, _ = versions_for_types(config.catalog, (i.type for i in found))

    def status(inst: Instance) -> PolicyStatus | None:
        known = versions.get(inst.type) or []
        if newest_version(known) is None:
            return None
        return status_of(inst.version, [VersionInfo(v.version, v.deprecated, v.security) for v in known],
                         Policy.of_labels(inst.labels))

    if options.upgrade:
        for inst in found:
            st, policy = status(inst), Policy.of_labels(inst.labels)
            if (policy.mode is Mode.AUTOMATIC and st and st.target and policy.allows(st.target)
                    and not inst.pending):
                try:
                    result.upgraded.append(f"{inst.namespace}/{inst.name} {inst.version} -> "
                                           f"{_auto_upgrade(config, inst, st)}")
                    if progress:
                        progress(f"upgraded {result.upgraded[-1]}")
                except ChartkitError as exc:
                    result.errors.append(f"{inst.namespace}/{inst.name}: {exc}")
        if result.upgraded:
            found = [i for i in instances(config, InstancesOptions(namespace=options.namespace))
                     if i.catalog_id in ("", here)]
    failed_upgrades = {e.split(":", 1)[0] for e in result.errors}
    kube = config.kube()
    webhook: Webhook | None = None
    if options.webhook:
        from toolkit.adapters.webhook import Format, Webhook

        webhook = Webhook(options.webhook, format=Format(options.webhook_format),
                          attempts=options.delivery_attempts, backoff=options.delivery_backoff)
    try:
        for inst in found:
            if not leading():
                result.errors.append("lost the lease: the pass stopped")
                break
            try:
                st = status(inst)
                facts = _rollout_facts(inst, options.stuck_after)
                if st is not None:
                    facts += _status_facts(inst, st) + _binding_facts(config, inst, st)
                if f"{inst.namespace}/{inst.name}" in failed_upgrades and st is not None:
                    facts.append(Fact(f"upgrade-failed:{st.target}", FactKind.UPGRADE_FAILED, inst.name,
                                      inst.namespace, f"{inst.namespace}/{inst.name}: the automatic upgrade to "
                                                      f"{st.target} failed"))
                if options.check_drift and not inst.pending and inst.digest:
                    facts += _drift_facts(config, inst)
                _apply(kube, inst, facts, webhook, result, progress)
            except ChartkitError as exc:
                log.warning("notices for %s/%s: %s", inst.namespace, inst.name, exc)
                result.errors.append(f"{inst.namespace}/{inst.name}: {exc}")
    finally:
        if webhook is not None:
            webhook.close()
    return result


def _apply(kube: Kube, inst: Instance, facts: list[Fact], webhook: Webhook | None, result: PassResult,
           progress: Callable[[str], None] | None) -> None:
    """Merge the facts into the instance's record (guarded write, retried on conflict), then do what it owes."""
    for _ in range(5):
        cm, notices = _read(kube, inst.name, inst.namespace)
        raised, resolved = _merge(notices, facts, _now())
        if cm is not None and not raised and not resolved:
            break
        if cm is None and not notices and not raised:
            return  # nothing ever happened to this instance: no record
        try:
            cm = _write(kube, inst, cm, notices)
        except KubeError as exc:
            if exc.status == 409:
                continue  # another writer was first: read again and merge again
            raise
        result.raised += raised
        result.resolved += resolved
        for note in raised + resolved:
            if progress:
                progress(f"{'raised' if note['state'] == 'active' else 'resolved'} {note['message']}")
        break
    else:
        raise KubeError(f'unable to write notices of "{inst.namespace}/{inst.name}": the record kept changing')
    _deliver(kube, inst, cm, notices, webhook, result)


def _deliver(kube: Kube, inst: Instance, cm: dict[str, Any], notices: dict[str, Any], webhook: Webhook | None,
             result: PassResult) -> None:
    """Create the Events the record owes (create-only: a repeat is a no-op) and send its outbox."""
    changed = False
    now = time.time()
    for note in notices.values():
        for transition in list(note.get("events") or []):
            try:
                kube.create(_event(note, transition, _involved(note, cm)), field_manager=SOURCE)
            except KubeError as exc:
                if exc.status != 409:
                    log.warning("event for %s: %s", note["id"], exc)
                    continue
            note["events"].remove(transition)
            changed = True
        if webhook is None:
            continue
        for transition in list(note.get("outbox") or []):
            if float(note.get("retryAt") or 0) > now or result.receiver_down:
                result.pending += 1
                continue
            try:
                webhook.send(_notification(note, transition))
            except DeliveryError as exc:
                attempts = int(note.get("attempts") or 0) + 1
                note.update(attempts=attempts, lastError=exc.message, retryAt=now + min(2 ** attempts, 300))
                result.pending += 1
                result.receiver_down = True  # one receiver: the other deliveries of this pass would fail alike
                changed = True
                break
            note["outbox"].remove(transition)
            note.update(attempts=0, retryAt=None, lastError=None)
            result.delivered += 1
            changed = True
    if changed:
        try:
            _write(kube, inst, cm, notices)
        except KubeError as exc:
            # someone wrote the record meanwhile: the Events exist (create-only) and the outbox is redone next pass
            if exc.status != 409:
                raise


def list_notices(config: Config, *, namespace: str | None = None, resolved: bool = False) -> list[dict[str, Any]]:
    """Every notice the records hold (active ones unless ``resolved``), newest first."""
    found = []
    for cm in config.kube().list("v1", "ConfigMap", namespace, selector=f"{RECORD_LABEL}=true"):
        try:
            notices = json.loads((cm.get("data") or {}).get(RECORD_KEY) or "{}")
        except ValueError:
            continue
        found += [n for n in notices.values() if resolved or n.get("state") == "active"]
    return sorted(found, key=lambda n: (n.get("resolvedAt") or n.get("since") or ""), reverse=True)
