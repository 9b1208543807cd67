"""The marketplace: other vendors' Open Service Brokers, registered once, bought from like the org's own types.

``add`` registers a broker (its URL, basic-auth credentials and CA are kept in a Secret in the state namespace,
never in a file of the repo); ``listing`` shows its services and plans beside the catalog's own; provisioning
with ``ProvisionOptions(marketplace=NAME)`` and binding such an instance go through the OSB client
(``toolkit.adapters.osb``) with the same records, operations and holders as an in-cluster instance — and the
binding Secret has the same servicebinding.io shape, so an app cannot tell a bought instance from its own.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from toolkit.config import Config
from toolkit.deploy.brokers import MarketplaceBroker, broker_secret, registered, secret_name, timeout_seconds
from toolkit.deploy.brokers import client as broker_client
from toolkit.deploy.records import STATE_NAMESPACE, Accepted, Kind, Operation, RecordStore, ServiceInstance, Stale, now
from toolkit.errors import BrokerError, BusyError, ConflictError, InputError, NotFoundError

if TYPE_CHECKING:
    from toolkit.adapters.osb import BrokerClient

__all__ = ["MarketplaceAddOptions", "MarketplaceBroker", "accept_remote_provision", "accept_remote_update", "add",
           "brokers", "client", "listing", "remove", "run_remote"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_IDS = uuid.UUID("0d6c1f55-3b1e-4f7b-8a59-1f3e0c2b7d44")


@dataclass(frozen=True, kw_only=True)
class MarketplaceAddOptions:
    """``chartkit marketplace add NAME URL --username U --password-file F [--ca-file CA]``."""

    name: str
    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    state_namespace: str = STATE_NAMESPACE


def add(config: Config, options: MarketplaceAddOptions) -> tuple[MarketplaceBroker, int]:
    """Register a broker after reading its catalog with the credentials given; returns it and its service count."""
    from toolkit.adapters.osb import BrokerClient, BrokerEndpoint

    if not _NAME.match(options.name) or len(options.name) > 40:
        raise InputError(f'unable to add broker "{options.name}": use lowercase letters, digits and dashes')
    if not re.match(r"^https?://", options.url):
        raise InputError(f'unable to add broker "{options.name}": "{options.url}" is not an http(s) URL')
    ca = options.ca_file.read_text() if options.ca_file else ""
    endpoint = BrokerEndpoint(options.url, options.username, options.password, options.ca_file)
    with BrokerClient(endpoint) as osb:
        services = osb.catalog()
    RecordStore(config.kube(), options.state_namespace).ensure_namespace()
    secret = broker_secret(options.name, options.url, options.username, options.password, ca,
                           options.state_namespace)
    config.kube().apply([secret], options.state_namespace, field_manager="chartkit-marketplace")
    return MarketplaceBroker(options.name, options.url, options.username, bool(ca)), len(services)


def brokers(config: Config, *, state_namespace: str = STATE_NAMESPACE) -> list[MarketplaceBroker]:
    return registered(config.kube(), state_namespace)


def remove(config: Config, name: str, *, state_namespace: str = STATE_NAMESPACE) -> None:
    if not config.kube().delete("v1", "Secret", secret_name(name), state_namespace):
        raise NotFoundError(f'unable to remove broker "{name}": no such marketplace broker',
                            hint="`chartkit marketplace list` shows them")


def client(config: Config, name: str, *, state_namespace: str = STATE_NAMESPACE,
           identity: str | None = None) -> BrokerClient:
    return broker_client(config.kube(), name, namespace=state_namespace, identity=identity)


def listing(config: Config, *, own: bool = True, state_namespace: str = STATE_NAMESPACE) -> list[dict[str, Any]]:
    """One row per plan: the catalog's own types (source ``catalog``) and each registered broker's services."""
    rows: list[dict[str, Any]] = []
    if own:
        from toolkit.core.offerings import offerings

        for offering in offerings(config):
            for plan in offering.plans:
                rows.append({"source": "catalog", "service": offering.type, "plan": plan.plan.name,
                             "version": offering.version, "free": plan.plan.free, "bindable": plan.bindable,
                             "description": plan.plan.description or offering.description})
    for broker in brokers(config, state_namespace=state_namespace):
        try:
            with client(config, broker.name, state_namespace=state_namespace) as osb:
                services = osb.catalog()
        except BrokerError as exc:
            rows.append({"source": broker.name, "service": "-", "plan": "-", "version": "", "free": True,
                         "bindable": False, "description": f"unreachable: {exc.message}"})
            continue
        for service in services:
            for plan in service.get("plans") or []:
                rows.append({"source": broker.name, "service": service.get("name", ""), "plan": plan.get("name", ""),
                             "version": (plan.get("maintenance_info") or {}).get("version", ""),
                             "free": plan.get("free", True), "bindable": plan.get("bindable", service.get("bindable")),
                             "description": plan.get("description", "")})
    return rows


# -- provisioning and binding through a broker (called by toolkit.core.provision and toolkit.core.bind) ----------

def _remote_plan(services: list[dict[str, Any]], service: str, plan: str | None) -> tuple[dict, dict]:
    found = next((s for s in services if service in (s.get("id"), s.get("name"))), None)
    if found is None:
        raise InputError(f'unable to find service "{service}" at the marketplace broker')
    plans = found.get("plans") or []
    chosen = plans[0] if plan is None and plans else next((p for p in plans if plan in (p.get("id"), p.get("name"))),
                                                           None)
    if chosen is None:
        raise InputError(f'unable to use plan "{plan}" of service "{service}": the broker offers '
                         f"{', '.join(p.get('name', '') for p in plans)}")
    return found, chosen


def accept_remote_provision(config: Config, options: Any, *, holder: str) -> Accepted:
    """Accept a provision of a bought service (``options`` are ``toolkit.core.provision.ProvisionOptions``)."""
    assert options.marketplace is not None
    if not (options.name and options.namespace):
        raise InputError("unable to provision from the marketplace: give the instance a name and a namespace")
    with client(config, options.marketplace, state_namespace=options.state_namespace) as osb:
        service, plan = _remote_plan(osb.catalog(), options.service, options.plan)
    instance_id = options.instance_id or f"{options.namespace}.{options.name}"
    store = RecordStore(config.kube(), options.state_namespace)
    existing = store.instance(instance_id)
    if existing is not None and not existing.deprovisioned:
        raise ConflictError(f'unable to provision "{instance_id}": it exists ({existing.type} plan {existing.plan})')
    market = {"broker": options.marketplace, "serviceId": service["id"], "planId": plan["id"],
              "instanceId": str(uuid.uuid5(_IDS, instance_id))}
    record = ServiceInstance(id=instance_id, service_id=service["id"], plan_id=plan["id"], type=service["name"],
                             plan=plan["name"], release=options.name, namespace=options.namespace,
                             version=(plan.get("maintenance_info") or {}).get("version", ""),
                             parameters=dict(options.parameters), context=dict(options.context),
                             identity=options.identity, marketplace=market, created=now())
    op = Operation.new(Kind.PROVISION, {"plan": plan["name"], "planId": plan["id"]}, holder)
    try:
        saved = store.create(record.with_operation(op)) if existing is None else store.save(
            replace(record, resource_version=existing.resource_version).with_operation(op))
    except Stale:
        raise BusyError(f'unable to provision "{instance_id}": another request claimed it just now') from None
    return Accepted(saved, op, started=True)


def accept_remote_update(config: Config, rec: ServiceInstance, options: Any, *, holder: str) -> Accepted:
    with client(config, rec.marketplace["broker"], state_namespace=options.ref.state_namespace) as osb:
        _, plan = _remote_plan(osb.catalog(), rec.marketplace["serviceId"], options.plan or rec.plan_id)
    op = rec.operation
    if op is not None and op.state.value == "in progress":
        raise BusyError(f'unable to update "{rec.id}": a {op.kind.value} is in progress')
    parameters = dict(rec.parameters if options.parameters is None else options.parameters)
    if (plan["id"], parameters) == (rec.plan_id, dict(rec.parameters)):
        return Accepted(rec, None)
    new = Operation.new(Kind.UPDATE, {"plan": plan["name"], "planId": plan["id"], "parameters": parameters}, holder)
    try:
        saved = RecordStore(config.kube(), options.ref.state_namespace).save(rec.with_operation(new))
    except Stale:
        raise BusyError(f'unable to update "{rec.id}": another request changed it just now') from None
    return Accepted(saved, new, started=True)


def _poll(osb: BrokerClient, rec: ServiceInstance, operation: str | None, deadline: float, say: Callable) -> dict:
    remote = rec.marketplace["instanceId"]
    while True:
        status, body = osb.last_operation(remote, operation=operation, service_id=rec.marketplace["serviceId"],
                                          plan_id=rec.marketplace["planId"])
        if status == 410:
            return {"state": "succeeded", "description": "gone"}
        if body.get("state") in ("succeeded", "failed"):
            return body
        if time.monotonic() > deadline:
            raise BrokerError(f'unable to finish the operation on "{rec.id}" at its broker: still in progress',
                              hint="poll again later: `chartkit provisioned`")
        say(f"broker: {body.get('description') or body.get('state')}")
        time.sleep(0.5)


def run_remote(config: Config, rec: ServiceInstance, op: Operation, say: Callable, *,
               state_namespace: str = STATE_NAMESPACE) -> dict[str, Any]:
    """Carry out a provision, update or deprovision at the instance's broker, polling it to the end."""
    market = rec.marketplace
    deadline = time.monotonic() + timeout_seconds(config.timeout)
    if op.kind is Kind.DEPROVISION:  # the bindings first, as for an instance of the catalog's own
        from toolkit.core.bind import remove_service_binding

        store = RecordStore(config.kube(), state_namespace)
        for binding in store.bindings_of(rec.id):
            remove_service_binding(config, rec, binding, store)
    with client(config, market["broker"], state_namespace=state_namespace, identity=rec.identity or None) as osb:
        if op.kind is Kind.PROVISION:
            body = {"service_id": market["serviceId"], "plan_id": market["planId"],
                    "parameters": dict(rec.parameters), "organization_guid": "chartkit", "space_guid": rec.namespace,
                    "context": {"platform": "chartkit", "instance_name": rec.release, "namespace": rec.namespace}}
            status, answer = osb.provision(market["instanceId"], body)
        elif op.kind is Kind.UPDATE:
            body = {"service_id": market["serviceId"], "plan_id": op.target["planId"],
                    "parameters": dict(op.target.get("parameters") or {}),
                    "previous_values": {"plan_id": rec.plan_id}}
            status, answer = osb.update(market["instanceId"], body)
        else:
            status, answer = osb.deprovision(market["instanceId"], service_id=market["serviceId"],
                                             plan_id=rec.plan_id)
        result = _poll(osb, rec, answer.get("operation"), deadline, say) if status == 202 else {"state": "succeeded"}
    if result.get("state") != "succeeded":
        raise BrokerError(f'unable to {op.kind.value} "{rec.id}" at broker "{market["broker"]}": '
                          f'{result.get("description") or "failed"}')
    if op.kind is Kind.UPDATE:
        return {"plan": op.target["plan"], "plan_id": op.target["planId"],
                "parameters": dict(op.target.get("parameters") or {}),
                "marketplace": {**market, "planId": op.target["planId"]},
                "description": f"updated at broker {market['broker']} to plan {op.target['plan']}"}
    if op.kind is Kind.DEPROVISION:
        return {"deprovisioned": True, "description": f"deprovisioned at broker {market['broker']}"}
    return {"description": f"provisioned {rec.type} plan {rec.plan} at broker {market['broker']}"}
