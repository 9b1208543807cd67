"""Provision, update, deprovision a service instance by plan; fetch it; poll its last operation.

A *service instance* is an instance made through a plan: the type's plan values under the user's parameters,
recorded in the cluster (``toolkit.deploy.records``) with the operation that makes, changes or removes it. Each
operation is accepted first — everything that can be refused is refused before anything changes: the service,
the plan, the version (``maintenance_info``), the parameters against the plan's locks and the version's
values schema — and then *executed*, by the caller (the CLI, inline) or in the background (the broker). The
record names the holder that runs it; if that process dies, any other takes the operation over
(``orphans`` / ``take_over``), repairs the release it left pending and carries the operation to its end.

    provision(config, ProvisionOptions(...), holder=...)  -> Accepted      (a new operation, or what exists)
    update(config, UpdateOptions(...), holder=...)        -> Accepted      plan, parameters, version
    deprovision(config, InstanceRef(...), holder=...)     -> Accepted
    execute(config, instance_id, operation_id, holder)    -> ServiceInstance   carry an accepted operation out
    fetch(config, InstanceRef(...))                       -> ServiceInstance
    last_operation(config, InstanceRef(...))              -> LastOperation
    orphans(config, ...) / take_over(config, ...)         operations whose holder died

A plan change moves exactly the plan's values: the instance's values are always the new plan's values under the
user's parameters. A version change runs the type's declared update strategy (``updateStrategy`` in
chartkit.yaml: rolling, blue-green, cutover, split) through ``toolkit.core.rollout``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from toolkit.config import Config
from toolkit.core.offerings import Offering, OfferingsCache, find_offering, offering_of_type
from toolkit.deploy.records import (STATE_NAMESPACE, Accepted, Holder, Kind, LeaseTiming, Operation, RecordStore,
                                    ServiceInstance, Stale, State, digest, holder_alive, now)
from toolkit.errors import (BusyError, ChartkitError, ConflictError, DeployError, InputError, NotFoundError)

__all__ = ["Accepted", "Holder", "InstanceRef", "LABEL_PLAN", "LastOperation", "LeaseTiming", "ProvisionOptions",
           "STATE_NAMESPACE", "ServiceInstance", "State", "UpdateOptions", "deprovision", "execute", "fetch",
           "forget_deprovisioned", "rotate_binding",
           "last_operation", "orphans", "provision", "provisioned", "take_over", "update"]

log = logging.getLogger(__name__)

LABEL_PLAN = "chartkit.io/plan"
LABEL_SERVICE_INSTANCE = "chartkit.io/service-instance"
LABEL_REQUESTED_BY = "chartkit.io/requested-by"
MAX_ATTEMPTS = 3
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ProvisionOptions:
    """``chartkit provision NAME TYPE --plan P`` / ``PUT /v2/service_instances/:id``."""

    service: str                                  # a type name or a service id
    plan: str | None = None                       # a plan name or id; None: the type's default plan
    instance_id: str | None = None                # the OSB instance id; default "<namespace>.<name>"
    name: str | None = None                       # the release; default context.instance_name, else si-<hash>
    namespace: str | None = None                  # default context.namespace (kubernetes), else si-<hash>
    parameters: Mapping[str, Any] = field(default_factory=dict)
    version: str | None = None                    # maintenance_info.version, or TYPE@VERSION: must be offered
    context: Mapping[str, Any] = field(default_factory=dict)
    identity: str = ""                            # X-Broker-API-Originating-Identity
    marketplace: str | None = None                # buy it from this registered broker instead
    state_namespace: str = STATE_NAMESPACE


@dataclass(frozen=True, kw_only=True)
class InstanceRef:
    """A service instance by id, or by its release (``name`` + ``namespace``)."""

    instance_id: str | None = None
    name: str | None = None
    namespace: str = "default"
    operation: str | None = None                  # last_operation: which one (default: the newest)
    state_namespace: str = STATE_NAMESPACE


@dataclass(frozen=True, kw_only=True)
class UpdateOptions:
    """``chartkit update NAME --plan P --set ... --version V`` / ``PATCH /v2/service_instances/:id``."""

    ref: InstanceRef
    service: str | None = None                    # when given, it must be the instance's
    plan: str | None = None                       # None: keep the plan
    parameters: Mapping[str, Any] | None = None   # None: keep the parameters; else they replace them
    version: str | None = None                    # maintenance_info.version ("latest" from the CLI)
    context: Mapping[str, Any] = field(default_factory=dict)
    identity: str = ""
    rotate_credentials: bool = False              # new random values at the type's declared ``binding.rotate``


@dataclass(frozen=True)
class LastOperation:
    operation: Operation
    orphaned: bool = False         # its holder stopped renewing: another process should take it over

    def to_osb(self) -> dict[str, Any]:
        op = self.operation
        out: dict[str, Any] = {"state": op.state.value}
        if op.description:
            out["description"] = op.description
        if op.state is State.FAILED and op.kind in (Kind.UPDATE, Kind.DEPROVISION) and op.instance_usable is not None:
            out["instance_usable"] = op.instance_usable
        if op.state is State.FAILED and op.kind is Kind.UPDATE and op.update_repeatable is not None:
            out["update_repeatable"] = op.update_repeatable
        return out


def _store(config: Config, state_namespace: str) -> RecordStore:
    return RecordStore(config.kube(), state_namespace)


def _offering(config: Config, service: str, version: str | None, cache: OfferingsCache | None) -> Offering:
    if cache is not None:
        found = find_offering(cache.get(), service)
        if version is None or version == found.version:
            return found
        found = find_offering(cache.get(fresh=True), service)
        found.check_version(version)  # a platform's maintenance_info must be what the catalog offers now
        return found
    offering = offering_of_type(config, service, version)
    return offering


def _identity_label(identity: str) -> str:
    """A label-safe who from ``X-Broker-API-Originating-Identity: PLATFORM BASE64(JSON)``; never a secret."""
    platform, _, value = identity.strip().partition(" ")
    who = ""
    try:
        data = json.loads(base64.b64decode(value)) if value else {}
        who = str(data.get("username") or data.get("user_id") or data.get("user") or "")
    except (ValueError, TypeError, AttributeError):
        who = ""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{platform}.{who}" if who else platform).strip("_.-")[:63]
    return text.strip("_.-")


def _merged(plan_values: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    from toolkit.deploy.values import coalesce

    return coalesce(plan_values, parameters)


def _check(config: Config, offering: Offering, plan_ref: str | None, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The instance's values for a plan and parameters, refused before anything changes when they break a rule."""
    from toolkit.deploy.release import check_values

    offered = offering.plan(plan_ref)
    plan = offered.plan
    for locked in plan.locked:
        node: Any = parameters
        for key in locked.split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        fixed: Any = plan.values
        for key in locked.split("."):
            fixed = fixed.get(key) if isinstance(fixed, Mapping) else None
        if node is not None and node != fixed:
            raise InputError(f'unable to use parameters for plan "{plan.name}" of "{offering.type}": parameter '
                             f"{locked} is locked by the plan (fixed at {json.dumps(fixed)})",
                             hint="leave it out, or choose a plan that opens it")
    values = _merged(plan.values, parameters)
    check_values(_fetched(config, offering.type, offering.version, offering.digest), values)
    return values


def _fetched(config: Config, type_name: str, version: str, digest: str | None) -> Any:
    """A version's package: by its known digest from the local cache (no registry request), else resolved."""
    from toolkit.deploy.fetch import fetch as fetch_version, fetch_digest

    if digest:
        return fetch_digest(config.catalog, type_name, version, digest)
    return fetch_version(config.catalog, type_name, version)


def _placement(options: ProvisionOptions, instance_id: str) -> tuple[str, str, bool]:
    """(release name, namespace, whether the namespace is the instance's own)."""
    ctx = options.context or {}
    short = f"si-{digest(instance_id, 10)}"
    name = options.name or str(ctx.get("instance_name") or "").lower() or short
    if not _NAME.match(name) or len(name) > 53:
        name = short
    namespace = options.namespace
    if namespace is None and ctx.get("platform") == "kubernetes" and ctx.get("namespace"):
        namespace = str(ctx["namespace"])
    if namespace is None:
        return name, short, True
    if not _NAME.match(namespace) or len(namespace) > 63:
        raise InputError(f'unable to provision into namespace "{namespace}": not a valid namespace name')
    return name, namespace, False


def _same_request(rec: ServiceInstance, service_id: str, plan_id: str, parameters: Mapping[str, Any]) -> bool:
    return (rec.service_id, rec.plan_id, dict(rec.parameters)) == (service_id, plan_id, dict(parameters))


def provision(config: Config, options: ProvisionOptions, *, holder: str,
              offerings: OfferingsCache | None = None, dry_run: bool = False) -> Accepted:
    """Accept a provision: validate, then claim the id in the cluster with a provision operation held by
    ``holder``. An identical request for an existing instance returns it (its operation, or none when done)."""
    if options.marketplace:
        from toolkit.core.marketplace import accept_remote_provision

        return accept_remote_provision(config, options, holder=holder)
    offering = _offering(config, options.service, options.version, offerings)
    offering.check_version(options.version)
    offered = offering.plan(options.plan)
    values = _check(config, offering, options.plan, options.parameters)
    store = _store(config, options.state_namespace)
    if options.instance_id:
        instance_id = options.instance_id
    elif options.name and options.namespace:
        instance_id = f"{options.namespace}.{options.name}"  # unreserved characters: a broker can serve it too
    else:
        raise InputError("unable to provision: give an instance id, or a name and a namespace")
    name, namespace, owned = _placement(options, instance_id)
    target = {"plan": offered.plan.name, "planId": offered.id, "version": offering.version, "values": values,
              "digest": offering.digest, "requestedBy": _identity_label(options.identity)}
    record = ServiceInstance(id=instance_id, service_id=offering.id, plan_id=offered.id, type=offering.type,
                             plan=offered.plan.name, release=name, namespace=namespace, version=offering.version,
                             namespace_owned=owned, parameters=dict(options.parameters),
                             context=dict(options.context), identity=options.identity, created=now())
    for _ in range(5):
        existing = store.instance(instance_id)
        if existing is not None and not existing.deprovisioned:
            return _existing_provision(existing, offering.id, offered.id, options.parameters)
        other = store.instance_of_release(name, namespace)
        if other is not None and other.id != instance_id and not other.deprovisioned:
            raise ConflictError(f'unable to provision "{instance_id}" as "{namespace}/{name}": service instance '
                                f'"{other.id}" is there', hint="give another instance_name or namespace")
        _refuse_foreign_release(config, name, namespace)
        if dry_run:
            return Accepted(record, None, needs_operation=True)
        op = Operation.new(Kind.PROVISION, target, holder)
        try:
            if existing is None:
                saved = store.create(record.with_operation(op))
            else:  # the id is reused after a deprovision: the tombstone makes way
                saved = store.save(replace(record, resource_version=existing.resource_version,
                                           history=existing.history).with_operation(op))
        except Stale:
            continue  # another process claimed it first: look again
        return Accepted(saved, op, started=True)
    raise BusyError(f'unable to provision "{instance_id}": its record keeps changing', hint="retry")


def _existing_provision(existing: ServiceInstance, service_id: str, plan_id: str,
                        parameters: Mapping[str, Any]) -> Accepted:
    op = existing.operation
    same = _same_request(existing, service_id, plan_id, parameters)
    if op is not None and op.kind is Kind.PROVISION and same:
        if op.state is State.SUCCEEDED:
            return Accepted(existing, None, existed=True)
        if op.state is State.IN_PROGRESS:
            return Accepted(existing, op)
    if op is not None and op.state is State.IN_PROGRESS and op.kind is not Kind.PROVISION:
        raise BusyError(f'unable to provision "{existing.id}": a {op.kind.value} is in progress')
    if same and existing.provisioned:
        return Accepted(existing, None, existed=True)
    raise ConflictError(f'unable to provision "{existing.id}": it exists with other attributes '
                        f"({existing.type} plan {existing.plan} in {existing.namespace}/{existing.release})",
                        hint="use another instance id, or update the instance")


def _refuse_foreign_release(config: Config, name: str, namespace: str) -> None:
    from toolkit.deploy.release import releases

    records = releases(config).records(namespace=namespace, name=name)
    if records:
        raise ConflictError(f'unable to provision "{namespace}/{name}": a release by that name exists there',
                            hint="choose another instance name or namespace")


def find(config: Config, ref: InstanceRef) -> ServiceInstance:
    store = _store(config, ref.state_namespace)
    rec = store.instance(ref.instance_id) if ref.instance_id else (
        store.instance_of_release(ref.name or "", ref.namespace) if ref.name else None)
    what = ref.instance_id or f"{ref.namespace}/{ref.name}"
    if rec is None:
        raise NotFoundError(f'unable to find service instance "{what}"',
                            hint="`chartkit provisioned -A` lists the service instances")
    return rec


def _live(config: Config, ref: InstanceRef, action: str) -> ServiceInstance:
    rec = find(config, ref)
    if rec.deprovisioned:
        raise NotFoundError(f'unable to {action} service instance "{rec.id}": it was deprovisioned', gone=True)
    return rec


def update(config: Config, options: UpdateOptions, *, holder: str,
           offerings: OfferingsCache | None = None, dry_run: bool = False) -> Accepted:
    """Accept an update (plan, parameters, version); nothing to change → nothing started."""
    rec = _live(config, options.ref, "update")
    if rec.marketplace:
        from toolkit.core.marketplace import accept_remote_update

        return accept_remote_update(config, rec, options, holder=holder)
    op = rec.operation
    if options.service and options.service not in (rec.service_id, rec.type):
        raise InputError(f'unable to update "{rec.id}": it is a {rec.type}, not "{options.service}"')
    version = options.version
    if version == "latest":
        version = None
        offering = _offering(config, rec.type, None, None)
    else:
        offering = _offering(config, rec.type, version, offerings)
        offering.check_version(version)
    target_version = offering.version if options.version else rec.version
    if target_version != offering.version:  # staying on the version it runs: read that version's plans
        offering = offering_of_type(config, rec.type, target_version)
    offered = offering.plan(options.plan or rec.plan)
    parameters = dict(rec.parameters if options.parameters is None else options.parameters)
    if options.rotate_credentials:
        parameters = _rotated(offering, parameters)
    values = _check(config, offering, offered.plan.name, parameters)
    target = {"plan": offered.plan.name, "planId": offered.id, "version": target_version, "values": values,
              "parameters": parameters, "requestedBy": _identity_label(options.identity)}
    if op is not None and op.state is State.IN_PROGRESS:
        if op.kind is Kind.UPDATE and {k: v for k, v in op.target.items() if k != "resume"} == target:
            return Accepted(rec, op)
        raise BusyError(f'unable to update "{rec.id}": a {op.kind.value} is in progress',
                        hint="wait until its last operation has finished")
    if not rec.provisioned:
        raise BusyError(f'unable to update "{rec.id}": it was never provisioned successfully',
                        hint="deprovision it and provision again")
    if (offered.plan.name, parameters, target_version) == (rec.plan, dict(rec.parameters), rec.version):
        return Accepted(rec, None)
    if dry_run:
        return Accepted(rec, None, needs_operation=True)
    new = Operation.new(Kind.UPDATE, target, holder)
    try:
        saved = _store(config, options.ref.state_namespace).save(rec.with_operation(new))
    except Stale:
        raise BusyError(f'unable to update "{rec.id}": another request changed it just now', hint="retry") from None
    return Accepted(saved, new, started=True)


def _rotated(offering: Offering, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters with a new random secret at each path the type declares for rotation."""
    import copy
    import secrets

    decl = offering.declarations
    if not decl.rotatable:
        raise InputError(f'unable to rotate the credentials of a {offering.type}: the type declares no rotation',
                         hint="the owner declares binding.rotation and binding.rotate in chartkit.yaml")
    out = copy.deepcopy(dict(parameters))
    for path in decl.rotate:
        node = out
        *parents, last = path.split(".")
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[last] = secrets.token_urlsafe(24)
    return out


def rotate_binding(config: Config, options: Any, predecessor: str, *, holder: str,
                   offerings: OfferingsCache | None = None) -> Any:
    """OSB binding rotation (``predecessor_binding_id``): new credentials for the instance (an update that rewrites
    every binding, the predecessor's too, so both stay valid), then a new binding with the predecessor's
    parameters. ``options`` are ``toolkit.core.bind.ServiceBindOptions``; returns the new ``ServiceBinding``."""
    from toolkit.core.bind import bind_service, service_binding

    try:
        before = service_binding(config, options.instance_id, predecessor, state_namespace=options.state_namespace)
    except NotFoundError as exc:
        raise InputError(f'unable to rotate binding "{predecessor}": {exc.message}') from exc
    ref = InstanceRef(instance_id=options.instance_id, state_namespace=options.state_namespace)
    accepted = update(config, UpdateOptions(ref=ref, rotate_credentials=True), holder=holder, offerings=offerings)
    if accepted.operation is not None and accepted.started:
        done = execute(config, options.instance_id, accepted.operation.id, holder=holder,
                       state_namespace=options.state_namespace)
        op = done.operation if done else None
        if op is None or op.state is not State.SUCCEEDED:
            raise DeployError(f'unable to rotate the credentials of "{options.instance_id}": '
                              f"{op.description if op else 'the update was taken over'}")
    parameters = {k: v for k, v in before.parameters.items() if k != "name"}  # a Secret of its own
    parameters.update(options.parameters)
    return bind_service(config, replace(options, parameters=parameters))


def deprovision(config: Config, ref: InstanceRef, *, holder: str, dry_run: bool = False) -> Accepted:
    """Accept a deprovision (the instance, its bindings and the namespace it got are removed)."""
    rec = _live(config, ref, "deprovision")
    op = rec.operation
    if op is not None and op.state is State.IN_PROGRESS:
        if op.kind is Kind.DEPROVISION:
            return Accepted(rec, op)
        raise BusyError(f'unable to deprovision "{rec.id}": a {op.kind.value} is in progress',
                        hint="wait until its last operation has finished")
    if dry_run:
        return Accepted(rec, None, needs_operation=True)
    new = Operation.new(Kind.DEPROVISION, {}, holder)
    try:
        saved = _store(config, ref.state_namespace).save(rec.with_operation(new))
    except Stale:
        raise BusyError(f'unable to deprovision "{rec.id}": another request changed it just now') from None
    return Accepted(saved, new, started=True)


def fetch(config: Config, ref: InstanceRef) -> ServiceInstance:
    """A provisioned instance (not while it is being provisioned; not while an update runs: BusyError)."""
    rec = _live(config, ref, "fetch")
    op = rec.operation
    if not rec.provisioned:
        state = f" ({op.kind.value} {op.state.value})" if op else ""
        raise NotFoundError(f'unable to fetch service instance "{rec.id}": it is not provisioned{state}')
    if op is not None and op.state is State.IN_PROGRESS and op.kind is Kind.UPDATE:
        raise BusyError(f'unable to fetch service instance "{rec.id}": an update is in progress')
    return rec


def provisioned(config: Config, *, namespace: str | None = None,
                state_namespace: str = STATE_NAMESPACE) -> list[ServiceInstance]:
    """Every service instance on record (in one instance namespace, or all), deprovisioned ones left out."""
    found = [r for r in _store(config, state_namespace).instances() if not r.deprovisioned]
    return sorted((r for r in found if namespace is None or r.namespace == namespace),
                  key=lambda r: (r.namespace, r.release))


def last_operation(config: Config, ref: InstanceRef) -> LastOperation:
    """The newest operation (or the one named); a finished deprovision answers ``NotFoundError(gone=True)``."""
    rec = find(config, ref)
    op = rec.find_operation(ref.operation) if ref.operation else rec.operation
    if op is None:
        if ref.operation:
            raise InputError(f'unable to find operation "{ref.operation}" of service instance "{rec.id}"',
                             hint="poll with the operation the provision, update or deprovision answered")
        raise NotFoundError(f'unable to find an operation of service instance "{rec.id}"')
    if op.kind is Kind.DEPROVISION and op.state is State.SUCCEEDED:
        raise NotFoundError(f'service instance "{rec.id}" was deprovisioned', gone=True)
    orphaned = op.state is State.IN_PROGRESS and not holder_alive(config.kube(), op.holder, ref.state_namespace)
    return LastOperation(op, orphaned)


# -- carrying operations out --------------------------------------------------------------------------------------

def orphans(config: Config, *, state_namespace: str = STATE_NAMESPACE) -> list[ServiceInstance]:
    """Service instances whose operation in progress has lost its holder (the process died)."""
    kube = config.kube()
    alive: dict[str, bool] = {}
    found = []
    for rec in _store(config, state_namespace).instances(in_progress=True):
        op = rec.operation
        if op is None or op.state is not State.IN_PROGRESS:
            continue
        if op.holder not in alive:
            alive[op.holder] = holder_alive(kube, op.holder, state_namespace)
        if not alive[op.holder]:
            found.append(rec)
    return found


def forget_deprovisioned(config: Config, *, older_than: float = 3600.0,
                         state_namespace: str = STATE_NAMESPACE) -> int:
    """Remove the records of instances deprovisioned more than ``older_than`` seconds ago (the spec asks brokers to
    remember a finished operation for a while, not forever); returns how many went."""
    import datetime as dt

    store = _store(config, state_namespace)
    gone = 0
    now_ts = dt.datetime.now(dt.timezone.utc).timestamp()
    for rec in store.instances():
        op = rec.operation
        if not rec.deprovisioned or op is None:
            continue
        try:
            ended = dt.datetime.strptime(op.updated, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
        if now_ts - ended.timestamp() > older_than:
            try:
                store.delete(rec.record_name, rec.resource_version)
                gone += 1
            except Stale:
                continue  # reused meanwhile
    return gone


def take_over(config: Config, instance_id: str, *, holder: str,
              state_namespace: str = STATE_NAMESPACE) -> Operation | None:
    """Become the holder of an orphaned operation (compare-and-swap); None when it is not orphaned or another
    process won the race."""
    store = _store(config, state_namespace)
    rec = store.instance(instance_id)
    op = rec.operation if rec else None
    if rec is None or op is None or op.state is not State.IN_PROGRESS or op.holder == holder:
        return None
    if holder_alive(config.kube(), op.holder, state_namespace):
        return None
    taken = replace(op, holder=holder, updated=now(), target={**op.target, "resume": True},
                    description=f"{op.kind.value} taken over by {holder}: {op.holder} stopped")
    try:
        store.save(rec.with_operation(taken))
    except Stale:
        return None
    log.warning("took over %s of %s from %s", op.kind.value, instance_id, op.holder)
    return taken


def execute(config: Config, instance_id: str, operation_id: str, *, holder: str,
            state_namespace: str = STATE_NAMESPACE, progress: Progress | None = None) -> ServiceInstance | None:
    """Carry out an accepted operation this holder holds; the record ends ``succeeded`` or ``failed``.

    Returns the final record (None after nothing was done because the operation is not ours any more).
    """
    store = _store(config, state_namespace)
    rec = store.instance(instance_id)
    op = rec.operation if rec else None
    if rec is None or op is None or op.id != operation_id or op.state is not State.IN_PROGRESS or op.holder != holder:
        return None
    if op.attempts >= MAX_ATTEMPTS:
        return _finish(store, rec, op, State.FAILED, f"{op.kind.value} gave up after {op.attempts} attempts "
                       "(its runners stopped each time)", {})
    op = replace(op, attempts=op.attempts + 1, updated=now(),
                 description=f"{op.kind.value} running (attempt {op.attempts + 1})")
    try:
        rec = store.save(rec.with_operation(op))
    except Stale:
        return None
    say = progress or (lambda _m: None)
    try:
        if rec.marketplace:
            from toolkit.core.marketplace import run_remote

            changes = run_remote(config, rec, op, say, state_namespace=state_namespace)
        elif op.kind is Kind.PROVISION:
            changes = _run_provision(config, rec, op, say)
        elif op.kind is Kind.UPDATE:
            changes = _run_update(config, rec, op, store, say)
        else:
            changes = _run_deprovision(config, rec, op, store, say)
    except ChartkitError as exc:
        log.warning("%s of %s failed: %s", op.kind.value, instance_id, exc)
        flags = {"instance_usable": True, "update_repeatable": True} if op.kind is not Kind.PROVISION else {}
        return _finish(store, rec, op, State.FAILED, f"{op.kind.value} failed: {exc.message}", {}, **flags)
    except Exception as exc:  # noqa: BLE001 - an operation must end failed, never stay in progress forever
        log.exception("%s of %s failed unexpectedly", op.kind.value, instance_id)
        return _finish(store, rec, op, State.FAILED, f"{op.kind.value} failed: {type(exc).__name__}: {exc}", {})
    description = changes.pop("description", f"{op.kind.value} succeeded")
    if op.attempts > 1:
        description += f" (attempt {op.attempts}: taken over after the process running it stopped)"
    return _finish(store, rec, op, State.SUCCEEDED, description, changes)


def _finish(store: RecordStore, rec: ServiceInstance, op: Operation, state: State, description: str,
            changes: Mapping[str, Any], **flags: Any) -> ServiceInstance | None:
    """Record the end of ``op`` (compare-and-swap, re-read on a lost race while it is still ours)."""
    for _ in range(10):
        current = store.instance(rec.id)
        if current is None or current.operation is None or current.operation.id != op.id \
                or current.operation.holder != op.holder:
            log.warning("%s of %s ended here but is not ours any more", op.kind.value, rec.id)
            return None
        done = current.operation.finished(state, description, **flags)
        try:
            return store.save(replace(current, **changes).with_operation(done))
        except Stale:
            continue
    raise DeployError(f'unable to record the end of {op.kind.value} of "{rec.id}": its record keeps changing')


def _labels(rec: ServiceInstance, target: Mapping[str, Any]) -> dict[str, str]:
    labels = {LABEL_PLAN: str(target.get("plan") or rec.plan), LABEL_SERVICE_INSTANCE: digest(rec.id, 32)}
    if target.get("requestedBy"):
        labels[LABEL_REQUESTED_BY] = str(target["requestedBy"])
    return labels


def _repair(config: Config, rec: ServiceInstance, say: Progress) -> None:
    """What a dead holder left: a release stuck in pending-* is rolled back (or removed), a rollout aborted."""
    from toolkit.core.recover import RecoverOptions, RecoveryAction, plan as recovery_plan, recover
    from toolkit.deploy.release import releases

    if not releases(config).records(namespace=rec.namespace, name=rec.release):
        return
    try:
        from toolkit.core.rollout import RolloutTarget, abort, status

        state = status(config, RolloutTarget(instance=rec.release, namespace=rec.namespace))
        if state and state.get("phase") in ("progressing", "split"):
            say(f"aborting the rollout {rec.namespace}/{rec.release} the stopped holder left")
            abort(config, RolloutTarget(instance=rec.release, namespace=rec.namespace))
    except ChartkitError as exc:
        log.info("no rollout to abort for %s/%s: %s", rec.namespace, rec.release, exc)
    options = RecoverOptions(instance=rec.release, namespace=rec.namespace)
    found = recovery_plan(config, options)
    if found.action is not RecoveryAction.NONE:
        say(f"recover: {found.describe(rec.release, rec.namespace)}")
        recover(config, options, found)


def _run_provision(config: Config, rec: ServiceInstance, op: Operation, say: Progress) -> dict[str, Any]:
    from toolkit.deploy.instance import instances_from_records
    from toolkit.deploy.release import ReleaseOptions, check_values, releases, run_release

    target = op.target
    if target.get("resume"):
        _repair(config, rec, say)
    fetched = _fetched(config, rec.type, str(target["version"]), target.get("digest"))
    values = dict(target["values"])
    check_values(fetched, values)
    release = ReleaseOptions(namespace=rec.namespace, timeout=config.timeout, labels=_labels(rec, target))
    existing = instances_from_records(releases(config).records(namespace=rec.namespace, name=rec.release))
    if existing and (existing[0].labels or {}).get(LABEL_SERVICE_INSTANCE) == digest(rec.id, 32):
        from toolkit.core.upgrade import upgrade_to

        say(f"the release {rec.namespace}/{rec.release} exists (an earlier attempt): upgrading it to the plan")
        result = upgrade_to(config, existing[0], fetched.origin.version, values, release)
    else:
        say(f"installing {rec.type} {fetched.origin.version} plan {target['plan']} as {rec.namespace}/{rec.release}")
        result = run_release(config.helm(registry=False), rec.release, fetched, values, release, "install")
    return {"version": result.version,
            "description": f"provisioned {rec.type} {result.version} plan {target['plan']}: {result.line()}"}


def _run_update(config: Config, rec: ServiceInstance, op: Operation, store: RecordStore,
                say: Progress) -> dict[str, Any]:
    from toolkit.core.upgrade import upgrade_to
    from toolkit.deploy.release import ReleaseOptions, get_instance, serving_values

    target = op.target
    if target.get("resume"):
        _repair(config, rec, say)
    inst = get_instance(config, rec.release, rec.namespace)
    values = dict(target["values"])
    version = str(target["version"])
    release = ReleaseOptions(namespace=rec.namespace, timeout=config.timeout, labels=_labels(rec, target))
    notes = []
    if version == inst.version:
        result = upgrade_to(config, inst, inst.version, values, release)
        notes.append(result.line())
    else:
        if values != serving_values(config, rec.release, rec.namespace):
            # the plan and parameters first, on the version it runs; then the version through the strategy
            notes.append(upgrade_to(config, inst, inst.version, values, release).line())
            inst = get_instance(config, rec.release, rec.namespace)
        notes.append(_upgrade_version(config, rec, inst, version, values, release, say))
    from toolkit.core.bind import refresh_service_binding

    for binding in store.bindings_of(rec.id):
        # new values may mean new credentials: every binding hands out what the instance now has
        refresh_service_binding(config, rec, binding)
    changes = {"plan": target["plan"], "plan_id": target["planId"], "version": version,
               "parameters": dict(target.get("parameters") or {})}
    return {**changes, "description": f"updated to {rec.type} {version} plan {target['plan']}: " + "; ".join(notes)}


def _upgrade_version(config: Config, rec: ServiceInstance, inst: Any, version: str, values: Mapping[str, Any],
                     release: Any, say: Progress) -> str:
    """A version change through the type's declared update strategy (the target version's chartkit.yaml)."""
    from toolkit.core.rollout import RolloutOptions, rollout
    from toolkit.core.upgrade import upgrade_to
    from toolkit.deploy.strategies.plan import Strategy, options_from_data

    strategy = options_from_data(offering_of_type(config, rec.type, version).declarations.update_strategy)
    say(f"upgrading {rec.namespace}/{rec.release} {inst.version} -> {version} ({strategy.kind.value})")
    if strategy.kind is Strategy.ROLLING:
        return upgrade_to(config, inst, version, values, release).line() + " (rolling)"
    result = rollout(config, RolloutOptions(instance=rec.release, namespace=rec.namespace, version=version,
                                            strategy=strategy, timeout=config.timeout))
    return result.line()


def _run_deprovision(config: Config, rec: ServiceInstance, op: Operation, store: RecordStore,
                     say: Progress) -> dict[str, Any]:
    from toolkit.core.bind import remove_service_binding
    from toolkit.core.uninstall import UninstallOptions, uninstall
    from toolkit.deploy.release import releases

    for binding in store.bindings_of(rec.id):
        say(f"removing binding {binding.id}")
        remove_service_binding(config, rec, binding, store)
    if releases(config).records(namespace=rec.namespace, name=rec.release):
        say(f"uninstalling {rec.namespace}/{rec.release}")
        uninstall(config, UninstallOptions(instance=rec.release, namespace=rec.namespace, timeout=config.timeout))
    if rec.namespace_owned:
        config.kube().delete("v1", "Namespace", rec.namespace)
    return {"deprovisioned": True, "description": f"deprovisioned {rec.namespace}/{rec.release}"}
