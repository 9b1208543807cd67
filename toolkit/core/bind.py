"""Bind: hand another app the credentials to reach an instance, as a servicebinding.io Secret in its namespace.

See ``toolkit.deploy.binding`` for the Secret's shape. Credential values go from one Secret to the other through
the Kubernetes API, still base64-encoded as the API returned them: never decoded, printed, logged, written to a
file or put in argv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolkit.config import Config
from toolkit.deploy.binding import (ANNOTATION_SOURCE, LABEL_NAMESPACE, LABEL_OF, Binding, binding_data, binding_of,
                                    pick_secret, pick_service)
from toolkit.deploy.release import get_instance, release_objects
from toolkit.errors import DeployError, InputError

__all__ = ["BindOptions", "BindingRef", "bind", "bindings", "unbind"]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
#: Secrets that are never credentials to hand over: helm's release records, service-account tokens
_NOT_CREDENTIALS = ("helm.sh/release.v1", "kubernetes.io/service-account-token")


@dataclass(frozen=True, kw_only=True)
class BindOptions:
    """``chartkit bind INSTANCE --consumer-namespace NS``: the CLI binds its flags onto these defaults."""

    instance: str
    namespace: str = "default"            # the instance's namespace
    consumer_namespace: str | None = None  # where the consuming app runs (the binding Secret goes there)
    name: str | None = None               # the binding Secret's name (default "<instance>-binding")
    secret: str | None = None             # the instance Secret to hand over (default: the one its release uses)
    service: str | None = None            # the instance Service (default: named like the instance, else the first)


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


def bind(config: Config, options: BindOptions) -> Binding:
    """Create (or refresh) the binding Secret of an instance in the consumer's namespace."""
    to = _consumer(options.consumer_namespace, "bind", options.instance)
    kube = config.kube()
    inst = get_instance(config, options.instance, options.namespace)
    objects = release_objects(config, options.instance, options.namespace)
    svc, port = pick_service(objects, options.instance, options.namespace, options.service)
    secret_name = pick_secret(objects, options.instance, options.namespace, options.secret)
    source = kube.get("v1", "Secret", secret_name, options.namespace, missing_ok=True)
    if source is None:
        raise DeployError(f'unable to bind "{options.namespace}/{options.instance}": its Secret "{secret_name}" '
                          "does not exist", hint="create it (the chart's existingSecret) or pass --secret NAME")
    if source.get("type") in _NOT_CREDENTIALS or secret_name.startswith("sh.helm.release."):
        raise InputError(f'unable to bind "{options.namespace}/{options.instance}" with Secret "{secret_name}": it '
                         f"is a {source.get('type') or 'helm release record'}, not the instance's credentials",
                         hint="pass --secret with the Secret the instance's pods use")
    name = options.name or f"{options.instance}-binding"
    if not _NAME.match(name) or len(name) > 253:
        raise InputError(f'unable to name a binding "{name}": not a valid Secret name')
    existing = kube.get("v1", "Secret", name, to, missing_ok=True)
    if existing is not None:
        labels = existing["metadata"].get("labels") or {}
        if (labels.get(LABEL_OF), labels.get(LABEL_NAMESPACE)) != (options.instance, options.namespace):
            raise DeployError(f'unable to bind "{options.namespace}/{options.instance}" as "{to}/{name}": a Secret '
                              "by that name exists and is not this instance's binding", hint="pass --name")
    host = f"{svc}.{options.namespace}.svc.cluster.local"
    data = binding_data(type_name=inst.type, host=host, port=port, credentials=source.get("data") or {})
    obj = {
        "apiVersion": "v1", "kind": "Secret", "type": f"servicebinding.io/{inst.type}",
        "metadata": {"name": name, "namespace": to,
                     "labels": {LABEL_OF: options.instance, LABEL_NAMESPACE: options.namespace,
                                "app.kubernetes.io/managed-by": "chartkit"},
                     "annotations": {ANNOTATION_SOURCE: f"{options.namespace}/{secret_name}"}},
        "data": data,
    }
    if existing is not None and existing.get("type") != obj["type"]:
        kube.delete("v1", "Secret", name, to, wait=True)  # a Secret's type is immutable
    kube.apply([obj], to, field_manager="chartkit-binding")
    return Binding(name, to, options.instance, options.namespace, inst.type, host, port, tuple(data),
                   f"{options.namespace}/{secret_name}")


def bindings(config: Config, ref: BindingRef) -> list[Binding]:
    """Every binding of an instance, in every namespace (one list request)."""
    found = config.kube().list("v1", "Secret", ref.consumer_namespace,
                               selector=f"{LABEL_OF}={ref.instance},{LABEL_NAMESPACE}={ref.namespace}")
    return sorted((binding_of(o) for o in found), key=lambda b: (b.namespace, b.name))


def unbind(config: Config, ref: BindingRef) -> Binding:
    """Remove an instance's binding from a consumer namespace; refuses Secrets that are not its binding."""
    to = _consumer(ref.consumer_namespace, "unbind", ref.instance)
    kube = config.kube()
    name = ref.name or f"{ref.instance}-binding"
    obj = kube.get("v1", "Secret", name, to, missing_ok=True)
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    if obj is None or (labels.get(LABEL_OF), labels.get(LABEL_NAMESPACE)) != (ref.instance, ref.namespace):
        raise DeployError(f'unable to unbind "{ref.namespace}/{ref.instance}" from "{to}": no binding "{to}/{name}" '
                          "of it", hint=f"`chartkit bindings {ref.instance} -n {ref.namespace}` lists them")
    binding = binding_of(obj)
    kube.delete("v1", "Secret", name, to, wait=True)
    return binding
