"""Bind: hand another app the credentials to reach an instance, as a servicebinding.io Secret in its namespace,
optionally projected into its workload; the same for a service binding the broker makes by id.

What a binding hands out is the type's declared binding outputs (``chartkit.yaml``: host and port from a
Service, keys of a Secret, values, templates built from those); a type without declared outputs hands out its
Service's host and port and every key of its Secret (``toolkit.deploy.binding``). Credential values go from one
Secret to the other through the Kubernetes API, still base64-encoded: never printed, logged, written to a file
or put in argv. A template output is put together in memory.

Projection (``workload=KIND/NAME``): the consumer's pod template gets the Secret as a volume at
``$SERVICE_BINDING_ROOT/<binding>`` and ``SERVICE_BINDING_ROOT`` in its environment, applied server-side by a
field manager of the binding's own, with a checksum of the credentials on the pod template, so new credentials
roll the pods; unbind gives those fields back and the workload is as it was.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping

from toolkit.config import Config
from toolkit.deploy.binding import (ANNOTATION_PROJECTED, ANNOTATION_SOURCE, LABEL_NAMESPACE, LABEL_OF, PROJECTABLE,
                                    Binding, binding_data, binding_of, pick_secret, pick_service, pod_template,
                                    projection, render_template)
from toolkit.deploy.records import STATE_NAMESPACE
from toolkit.deploy.release import get_instance, release_objects
from toolkit.errors import BrokerError, ConflictError, DeployError, InputError, KubeError, NotFoundError

if TYPE_CHECKING:
    from toolkit.catalog.declarations import TypeDeclarations
    from toolkit.deploy.instance import Instance
    from toolkit.deploy.records import BindingRecord, RecordStore, ServiceInstance

__all__ = ["BindOptions", "BindingRef", "ServiceBindOptions", "ServiceBinding", "bind", "bind_service", "bindings",
           "credentials_of", "refresh_service_binding", "remove_service_binding", "service_binding", "unbind",
           "unbind_service", "write_binding"]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
#: Secrets that are never credentials to hand over: helm's release records, service-account tokens
_NOT_CREDENTIALS = ("helm.sh/release.v1", "kubernetes.io/service-account-token")


@dataclass(frozen=True, kw_only=True)
class BindOptions:
    """``chartkit bind INSTANCE --consumer-namespace NS [--workload KIND/NAME]``."""

    instance: str
    namespace: str = "default"            # the instance's namespace
    consumer_namespace: str | None = None  # where the consuming app runs (the binding Secret goes there)
    name: str | None = None               # the binding Secret's name (default "<instance>-binding")
    secret: str | None = None             # the instance Secret to hand over (default: the one its release uses)
    service: str | None = None            # the instance Service (default: named like the instance, else the first)
    workload: str | None = None           # KIND/NAME in the consumer namespace to project the binding into
    state_namespace: str = STATE_NAMESPACE  # where bought instances are recorded (toolkit.core.provision)


@dataclass(frozen=True, kw_only=True)
class BindingRef:
    """One binding of an instance (unbind) or all of them (bindings, ``consumer_namespace`` None)."""

    instance: str
    namespace: str = "default"
    consumer_namespace: str | None = None
    name: str | None = None


def _consumer(namespace: str | None, action: str, instance: str) -> str:
    if not namespace:
        raise InputError(f'unable to {action} "{instance}": no consumer namespace given',
                         hint="pass --consumer-namespace NAMESPACE (where the consuming app runs)")
    return namespace


def _workload(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    kind, _, name = text.partition("/")
    if kind not in PROJECTABLE or not _NAME.match(name):
        raise InputError(f'unable to project into "{text}": expected KIND/NAME with KIND one of '
                         f"{', '.join(PROJECTABLE)}")
    return kind, name


def _declarations(config: Config, inst: Instance) -> TypeDeclarations:
    """The declarations of the version an instance runs (its package, by digest: usually the local cache); an
    instance whose package cannot be had (no catalog configured, registry down) binds as a type without them."""
    import logging

    from toolkit.catalog.declarations import TypeDeclarations, declarations_of_package
    from toolkit.deploy.fetch import fetch_digest
    from toolkit.errors import ChartkitError

    try:
        fetched = fetch_digest(config.catalog, inst.type, inst.version, inst.digest)
    except ChartkitError as exc:
        logging.getLogger(__name__).info("binding %s/%s without its declarations: %s", inst.namespace, inst.name, exc)
        return TypeDeclarations()
    return declarations_of_package(fetched.package.read_bytes(), f"{inst.type}@{inst.version}")


def _instance_values(config: Config, inst: Instance) -> dict[str, Any]:
    from toolkit.deploy.release import releases
    from toolkit.deploy.values import coalesce

    record = releases(config).release(inst.name, inst.namespace, inst.revision)
    return coalesce((record.get("chart") or {}).get("values") or {}, record.get("config") or {})


def _declared_data(config: Config, inst: Instance, decl: TypeDeclarations,
                   objects: list[dict[str, Any]]) -> tuple[dict[str, str], str, int, str]:
    """The binding's data from the type's declared outputs (base64 values), its host, port and sources."""
    kube = config.kube()
    ns, release = inst.namespace, inst.name
    data: dict[str, str] = {}
    host, port = "", 0
    values: dict[str, Any] | None = None
    sources: list[str] = []
    for out in decl.outputs:
        if out.service is not None:
            name = out.service.replace("{release}", release)
            svc = next((o for o in objects if o.get("kind") == "Service" and o["metadata"]["name"] == name), None)
            if svc is None:
                raise DeployError(f'unable to bind "{ns}/{release}": output "{out.key}" names Service "{name}", '
                                  "which its release does not render")
            if out.port is None:
                text = host = f"{name}.{ns}.svc.cluster.local"
            else:
                ports = (svc.get("spec") or {}).get("ports") or []
                match = next((p for p in ports if out.port in (p.get("name"), p.get("port"), str(p.get("port")))),
                             None)
                if match is None:
                    raise DeployError(f'unable to bind "{ns}/{release}": Service "{name}" has no port "{out.port}"')
                port = int(match["port"])
                text = str(port)
            data[out.key] = base64.b64encode(text.encode()).decode()
        elif out.secret is not None:
            name = out.secret.replace("{release}", release)
            secret = kube.get("v1", "Secret", name, ns, missing_ok=True)
            value = ((secret or {}).get("data") or {}).get(out.secret_key)
            if value is None:
                raise DeployError(f'unable to bind "{ns}/{release}": output "{out.key}" needs key "{out.secret_key}" of '
                                  f'Secret "{name}", which ' + ("has no such key" if secret else "does not exist"),
                                  hint="the instance's Secret must exist (set its existingSecret or its values)")
            data[out.key] = value
            if f"{ns}/{name}" not in sources:
                sources.append(f"{ns}/{name}")
        elif out.value is not None:
            if values is None:
                values = _instance_values(config, inst)
            node: Any = values
            for key in out.value.split("."):
                node = node.get(key) if isinstance(node, Mapping) else None
            text = node if isinstance(node, str) else ("" if node is None else json.dumps(node))
            data[out.key] = base64.b64encode(text.encode()).decode()
    for out in decl.outputs:
        if out.template is not None:
            data[out.key] = render_template(out.template, data, out.key)
    return data, host, port, ",".join(sources) or f"{ns}/{release}"


def _legacy_data(config: Config, inst: Instance, options: BindOptions,
                 objects: list[dict[str, Any]]) -> tuple[dict[str, str], str, int, str]:
    """Without declared outputs: the Service's host and port and every key of the instance's Secret."""
    svc, port = pick_service(objects, options.instance, options.namespace, options.service)
    secret_name = pick_secret(objects, options.instance, options.namespace, options.secret)
    source = config.kube().get("v1", "Secret", secret_name, options.namespace, missing_ok=True)
    if source is None:
        raise DeployError(f'unable to bind "{options.namespace}/{options.instance}": its Secret "{secret_name}" '
                          "does not exist", hint="create it (the chart's existingSecret) or pass --secret NAME")
    if source.get("type") in _NOT_CREDENTIALS or secret_name.startswith("sh.helm.release."):
        raise InputError(f'unable to bind "{options.namespace}/{options.instance}" with Secret "{secret_name}": it '
                         f"is a {source.get('type') or 'helm release record'}, not the instance's credentials",
                         hint="pass --secret with the Secret the instance's pods use")
    host = f"{svc}.{options.namespace}.svc.cluster.local"
    return source.get("data") or {}, host, port, f"{options.namespace}/{secret_name}"


def bind(config: Config, options: BindOptions) -> Binding:
    """Create (or refresh) the binding Secret of an instance in the consumer's namespace; project it into
    ``workload`` when given."""
    to = _consumer(options.consumer_namespace, "bind", options.instance)
    workload = _workload(options.workload)
    try:
        inst = get_instance(config, options.instance, options.namespace)
    except DeployError:
        bought = _bind_bought(config, options, to)
        if bought is None:
            raise
        return bought
    objects = release_objects(config, options.instance, options.namespace)
    decl = _declarations(config, inst)
    plan = (inst.labels or {}).get("chartkit.io/plan")  # set by provision (toolkit.core.provision.LABEL_PLAN)
    declared = next((p for p in decl.plans if p.name == plan), None)
    if not (decl.plan_bindable(declared) if declared else decl.bindable):
        on = f" on plan {plan}" if declared else ""
        raise InputError(f'unable to bind "{options.namespace}/{options.instance}": type {inst.type}{on} is declared '
                         "not bindable")
    if decl.outputs and not (options.secret or options.service):
        credentials, host, port, source = _declared_data(config, inst, decl, objects)
    else:
        credentials, host, port, source = _legacy_data(config, inst, options, objects)
    name = options.name or f"{options.instance}-binding"
    if not _NAME.match(name) or len(name) > 253:
        raise InputError(f'unable to name a binding "{name}": not a valid Secret name')
    data = binding_data(type_name=inst.type, host=host, port=port, credentials=credentials)
    if not host:  # declared outputs without a Service: no host/port keys to make up
        data = {k: v for k, v in data.items() if k not in ("host", "port") or k in credentials}
    return write_binding(config, name=name, namespace=to, instance=options.instance,
                         instance_namespace=options.namespace, type_name=inst.type, data=data, source=source,
                         host=host, port=port, workload=workload)


def _bind_bought(config: Config, options: BindOptions, to: str) -> Binding | None:
    """``chartkit bind`` on an instance bought from a marketplace broker: bind there, same Secret shape here."""
    from toolkit.deploy.records import RecordStore

    rec = RecordStore(config.kube(), options.state_namespace).instance_of_release(options.instance, options.namespace)
    if rec is None or not rec.marketplace or rec.deprovisioned:
        return None
    name = options.name or f"{options.instance}-binding"
    params = {"name": name, "namespace": to, **({"workload": options.workload} if options.workload else {})}
    made = bind_service(config, ServiceBindOptions(instance_id=rec.id, binding_id=name, parameters=params,
                                                   state_namespace=options.state_namespace))
    if made.binding is not None:
        return made.binding
    return binding_of(config.kube().get("v1", "Secret", name, to))


def write_binding(config: Config, *, name: str, namespace: str, instance: str, instance_namespace: str,
                  type_name: str, data: Mapping[str, str], source: str, host: str, port: int,
                  workload: tuple[str, str] | None) -> Binding:
    """Write a servicebinding.io Secret (the one shape for in-cluster and bought instances) and project it."""
    kube = config.kube()
    existing = kube.get("v1", "Secret", name, namespace, missing_ok=True)
    if existing is not None:
        labels = existing["metadata"].get("labels") or {}
        if (labels.get(LABEL_OF), labels.get(LABEL_NAMESPACE)) != (instance, instance_namespace):
            raise ConflictError(f'unable to bind "{instance_namespace}/{instance}" as "{namespace}/{name}": a Secret '
                                "by that name exists and is not this instance's binding", hint="pass --name")
    annotations = {ANNOTATION_SOURCE: source}
    if workload:
        annotations[ANNOTATION_PROJECTED] = f"{workload[0]}/{workload[1]}"
    obj = {
        "apiVersion": "v1", "kind": "Secret", "type": f"servicebinding.io/{type_name}",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {LABEL_OF: instance, LABEL_NAMESPACE: instance_namespace,
                                "app.kubernetes.io/managed-by": "chartkit"},
                     "annotations": annotations},
        "data": dict(data),
    }
    if existing is not None and existing.get("type") != obj["type"]:
        kube.delete("v1", "Secret", name, namespace, wait=True)  # a Secret's type is immutable
    kube.apply([obj], namespace, field_manager="chartkit-binding")
    old = (existing or {}).get("metadata", {}).get("annotations", {}).get(ANNOTATION_PROJECTED)
    if old and old != annotations.get(ANNOTATION_PROJECTED):
        _unproject(config, old, namespace, name)
    if workload:
        _project(config, workload, namespace, name, data)
    return Binding(name, namespace, instance, instance_namespace, type_name, host, port, tuple(sorted(data)), source,
                   annotations.get(ANNOTATION_PROJECTED, ""))


def _manager(binding: str) -> str:
    return f"chartkit-binding-{binding}"[:128]


def _project(config: Config, workload: tuple[str, str], namespace: str, binding: str, data: Mapping[str, str]) -> None:
    kind, name = workload
    kube = config.kube()
    live = kube.get(PROJECTABLE[kind][0], kind, name, namespace, missing_ok=True)
    if live is None:
        raise DeployError(f'unable to project binding "{binding}" into {kind} "{namespace}/{name}": no such workload')
    containers = [c["name"] for c in (pod_template(live).get("spec") or {}).get("containers") or []]
    checksum = hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(data.items())).encode()).hexdigest()[:16]
    kube.apply([projection(kind, name, namespace, binding, containers=containers, checksum=checksum)], namespace,
               field_manager=_manager(binding))


def _unproject(config: Config, workload: str, namespace: str, binding: str) -> None:
    kind, _, name = workload.partition("/")
    kube = config.kube()
    if kind not in PROJECTABLE or kube.get(PROJECTABLE[kind][0], kind, name, namespace, missing_ok=True) is None:
        return
    kube.apply([projection(kind, name, namespace, binding)], namespace, field_manager=_manager(binding))


def bindings(config: Config, ref: BindingRef) -> list[Binding]:
    """Every binding of an instance, in every namespace (one list request)."""
    found = config.kube().list("v1", "Secret", ref.consumer_namespace,
                               selector=f"{LABEL_OF}={ref.instance},{LABEL_NAMESPACE}={ref.namespace}")
    return sorted((binding_of(o) for o in found), key=lambda b: (b.namespace, b.name))


def unbind(config: Config, ref: BindingRef) -> Binding:
    """Remove an instance's binding from a consumer namespace (and its projection); refuses Secrets that are not
    its binding."""
    to = _consumer(ref.consumer_namespace, "unbind", ref.instance)
    kube = config.kube()
    name = ref.name or f"{ref.instance}-binding"
    obj = kube.get("v1", "Secret", name, to, missing_ok=True)
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    if obj is None or (labels.get(LABEL_OF), labels.get(LABEL_NAMESPACE)) != (ref.instance, ref.namespace):
        raise DeployError(f'unable to unbind "{ref.namespace}/{ref.instance}" from "{to}": no binding "{to}/{name}" '
                          "of it", hint=f"`chartkit bindings {ref.instance} -n {ref.namespace}` lists them")
    binding = binding_of(obj)
    if binding.workload:
        _unproject(config, binding.workload, to, name)
    kube.delete("v1", "Secret", name, to, wait=True)
    return binding


def credentials_of(config: Config, name: str, namespace: str) -> dict[str, Any]:
    """The plain credentials of a binding Secret — for the broker's bind answer only, never shown elsewhere."""
    secret = config.kube().get("v1", "Secret", name, namespace, missing_ok=True)
    out: dict[str, Any] = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        text = base64.b64decode(value).decode(errors="replace")
        out[key] = int(text) if key == "port" and text.isdigit() else text
    return out


# -- service bindings: by id, through the broker (or `chartkit bind` on a provisioned instance) -------------------

@dataclass(frozen=True, kw_only=True)
class ServiceBindOptions:
    """``PUT /v2/service_instances/:id/service_bindings/:binding_id``."""

    instance_id: str
    binding_id: str
    service_id: str | None = None
    plan_id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)   # name, namespace, workload (BIND_PARAMETERS)
    bind_resource: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    state_namespace: str = STATE_NAMESPACE


@dataclass(frozen=True)
class ServiceBinding:
    record: BindingRecord
    binding: Binding | None
    created: bool


def _bindable_instance(config: Config, options: ServiceBindOptions, store: RecordStore) -> ServiceInstance:
    from toolkit.deploy.records import Kind, State

    rec = store.instance(options.instance_id)
    if rec is None or rec.deprovisioned:
        raise NotFoundError(f'unable to bind service instance "{options.instance_id}": no such instance')
    op = rec.operation
    if not rec.provisioned or (op is not None and op.state is State.IN_PROGRESS and op.kind is Kind.DEPROVISION):
        from toolkit.errors import BusyError

        state = f" ({op.kind.value} {op.state.value})" if op else ""
        raise BusyError(f'unable to bind service instance "{rec.id}": it is not provisioned{state}')
    if options.service_id and options.service_id != rec.service_id:
        raise InputError(f'unable to bind service instance "{rec.id}": service_id "{options.service_id}" is not its '
                         "service")
    return rec


def bind_service(config: Config, options: ServiceBindOptions) -> ServiceBinding:
    """Bind by id: a record claims the binding id, then the servicebinding.io Secret is written (and
    projected); the identical request again returns the existing binding, another one with that id conflicts."""
    from toolkit.deploy.records import BindingRecord, RecordStore, Stale, digest, now

    store = RecordStore(config.kube(), options.state_namespace)
    rec = _bindable_instance(config, options, store)
    params = dict(options.parameters)
    unknown = sorted(set(params) - {"name", "namespace", "workload"})
    if unknown:
        raise InputError(f'unable to bind service instance "{rec.id}": unknown binding parameter(s) '
                         f"{', '.join(unknown)}", hint="binding parameters: name, namespace, workload")
    ctx = options.context or {}
    namespace = str(params.get("namespace") or (ctx.get("namespace") if ctx.get("platform") == "kubernetes" else "")
                    or rec.namespace)
    name = str(params.get("name") or f"{rec.release}-{digest(options.binding_id, 8)}")
    record = BindingRecord(id=options.binding_id, instance_id=rec.id, service_id=rec.service_id,
                           plan_id=rec.plan_id, secret_name=name, secret_namespace=namespace, parameters=params,
                           bind_resource=dict(options.bind_resource), workload=str(params.get("workload") or ""),
                           created=now())
    existing = store.binding(rec.id, options.binding_id)
    if existing is not None:
        if (dict(existing.parameters), dict(existing.bind_resource)) == (params, dict(options.bind_resource)):
            # binding again hands out the instance's current credentials (rotated ones included)
            return ServiceBinding(existing, refresh_service_binding(config, rec, existing), created=False)
        raise ConflictError(f'unable to bind "{options.binding_id}" to "{rec.id}": that binding exists with other '
                            "parameters")
    try:
        saved = store.create_binding(record)
    except Stale:
        return bind_service(config, options)  # another process claimed it: answer as for a repeated request
    try:
        if rec.marketplace:
            binding = _bind_remote(config, rec, saved, store)
        else:
            binding = bind(config, BindOptions(instance=rec.release, namespace=rec.namespace,
                                               consumer_namespace=namespace, name=name,
                                               workload=saved.workload or None))
    except BaseException:
        store.delete(saved.record_name)
        raise
    return ServiceBinding(saved, binding, created=True)


def refresh_service_binding(config: Config, rec: ServiceInstance, binding: BindingRecord) -> Binding | None:
    """Write a binding's Secret again from the instance's current outputs (after new credentials); the pods of
    a workload it is projected into roll when the credentials changed. Bought bindings stay as their broker made
    them."""
    if rec.marketplace:
        return None
    return bind(config, BindOptions(instance=rec.release, namespace=rec.namespace,
                                    consumer_namespace=binding.secret_namespace, name=binding.secret_name,
                                    workload=binding.workload or None))


def service_binding(config: Config, instance_id: str, binding_id: str, *,
                    state_namespace: str = STATE_NAMESPACE) -> BindingRecord:
    from toolkit.deploy.records import RecordStore

    found = RecordStore(config.kube(), state_namespace).binding(instance_id, binding_id)
    if found is None:
        raise NotFoundError(f'unable to find binding "{binding_id}" of service instance "{instance_id}"')
    return found


def remove_service_binding(config: Config, rec: ServiceInstance, binding: BindingRecord, store: RecordStore) -> None:
    """Unproject and delete a binding's Secret (and the bought binding at its broker), then its record."""
    if rec.marketplace and binding.marketplace_binding:
        _unbind_remote(config, rec, binding, store.namespace)
    try:
        unbind(config, BindingRef(instance=rec.release, namespace=rec.namespace,
                                  consumer_namespace=binding.secret_namespace, name=binding.secret_name))
    except DeployError:
        pass  # its Secret is gone already
    except KubeError as exc:
        if exc.status != 404:
            raise
    store.delete(binding.record_name)


def unbind_service(config: Config, instance_id: str, binding_id: str, *,
                   state_namespace: str = STATE_NAMESPACE) -> BindingRecord:
    """Unbind by id; an unknown binding answers ``NotFoundError(gone=True)`` (OSB 410)."""
    from toolkit.deploy.records import RecordStore

    store = RecordStore(config.kube(), state_namespace)
    found = store.binding(instance_id, binding_id)
    rec = store.instance(instance_id)
    if found is None or rec is None:
        raise NotFoundError(f'unable to unbind "{binding_id}" of service instance "{instance_id}": no such binding',
                            gone=True)
    remove_service_binding(config, rec, found, store)
    return found


# -- bought instances: the same bindings through the OSB client -------------------------------------------------

def _bind_remote(config: Config, rec: ServiceInstance, record: BindingRecord, store: RecordStore) -> Binding:
    """Bind at the instance's broker and write what it returns as the same servicebinding.io Secret."""
    from toolkit.deploy.brokers import client

    market = rec.marketplace
    with client(config.kube(), market["broker"], namespace=store.namespace, identity=rec.identity or None) as osb:
        status, answer = osb.bind(market["instanceId"], record.id,
                                  {"service_id": market["serviceId"], "plan_id": market["planId"],
                                   "bind_resource": {"app_guid": record.secret_namespace}})
        if status == 202:
            from toolkit.deploy.brokers import timeout_seconds

            deadline = time.monotonic() + timeout_seconds(config.timeout)
            while osb.binding_last_operation(market["instanceId"], record.id,
                                             operation=answer.get("operation"))[1].get("state") == "in progress":
                if time.monotonic() > deadline:
                    raise BrokerError(f'unable to bind "{rec.id}" at its broker: still in progress')
                time.sleep(0.5)
            answer = osb.binding(market["instanceId"], record.id)
    credentials = answer.get("credentials") or {}
    data = {str(k): base64.b64encode(str(v).encode()).decode() for k, v in credentials.items()
            if re.match(r"^[-._a-zA-Z0-9]+$", str(k))}
    data.setdefault("type", base64.b64encode(rec.type.encode()).decode())
    data.setdefault("provider", base64.b64encode(market["broker"].encode()).decode())
    port = str(credentials.get("port", ""))
    store.save_binding(replace(record, marketplace_binding=record.id))
    return write_binding(config, name=record.secret_name, namespace=record.secret_namespace, instance=rec.release,
                         instance_namespace=rec.namespace, type_name=rec.type, data=dict(sorted(data.items())),
                         source=f"marketplace {market['broker']}", host=str(credentials.get("host", "")),
                         port=int(port) if port.isdigit() else 0, workload=_workload(record.workload or None))


def _unbind_remote(config: Config, rec: ServiceInstance, record: BindingRecord, namespace: str) -> None:
    from toolkit.deploy.brokers import client

    market = rec.marketplace
    with client(config.kube(), market["broker"], namespace=namespace) as osb:
        osb.unbind(market["instanceId"], record.id, service_id=market["serviceId"], plan_id=market["planId"])
