"""Bindings: hand another app the credentials to reach an instance, in the servicebinding.io layout.

``bind`` writes, in the consumer's namespace, a Secret of type ``servicebinding.io/<type>`` with the keys the
Service Binding specification names — ``type``, ``provider``, ``host``, ``port`` — plus every key of the
instance's own Secret and the well-known aliases ``username``/``password``/``uri`` derived from them. The
credential values go from one Secret to the other through the Kubernetes API, still base64-encoded as the API
returned them: chartkit never decodes, prints, logs or writes them to a file, and they never appear in argv.
Binding Secrets are labelled with their instance, so ``bindings`` lists them across namespaces.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Mapping

from toolkit.catalog.declarations import WELL_KNOWN_ALIASES, well_known_alias
from toolkit.deploy.strategies.plan import pod_references
from toolkit.errors import DeployError, InputError

__all__ = ["ANNOTATION_PROJECTED", "ANNOTATION_SOURCE", "Binding", "LABEL_NAMESPACE", "LABEL_OF", "PROJECTABLE",
           "SERVICE_BINDING_ROOT", "binding_data", "binding_of", "pick_secret", "pick_service", "pod_template",
           "projection",
           "render_template", "well_known_alias"]

LABEL_OF = "chartkit.io/binding-of"
LABEL_NAMESPACE = "chartkit.io/binding-namespace"
ANNOTATION_SOURCE = "chartkit.io/binding-source"
ANNOTATION_PROJECTED = "chartkit.io/projected-into"   # on the binding Secret: KIND/NAME of the consumer workload
SERVICE_BINDING_ROOT = "/bindings"
#: consumer kinds a binding can be projected into, and where each keeps its pod template
PROJECTABLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "Deployment": ("apps/v1", ("spec", "template")),
    "StatefulSet": ("apps/v1", ("spec", "template")),
    "CronJob": ("batch/v1", ("spec", "jobTemplate", "spec", "template")),
}
PROVIDER = "chartkit"

_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class Binding:
    name: str
    namespace: str
    instance: str
    instance_namespace: str
    type: str
    host: str
    port: int
    keys: tuple[str, ...]
    source: str
    workload: str = ""  # KIND/NAME it is projected into, in its namespace

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "instance": self.instance,
                "instanceNamespace": self.instance_namespace, "type": self.type, "host": self.host,
                "port": self.port, "keys": list(self.keys), "source": self.source, "workload": self.workload}

    def line(self) -> str:
        into = f"; projected into {self.workload} at {SERVICE_BINDING_ROOT}/{self.name}" if self.workload else ""
        return (f"binding {self.namespace}/{self.name} → {self.instance_namespace}/{self.instance} "
                f"({self.type} at {self.host}:{self.port}; keys {', '.join(self.keys)}{into})")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def binding_data(*, type_name: str, host: str, port: int, credentials: Mapping[str, str]) -> dict[str, str]:
    """The binding Secret's ``data`` (base64): spec keys, the instance Secret's keys (still encoded), aliases."""
    data = {k: v for k, v in credentials.items() if _KEY.match(k)}
    for alias, pattern in WELL_KNOWN_ALIASES:
        if alias not in data:
            match = next((k for k in sorted(credentials) if pattern.search(k)), None)
            if match:
                data[alias] = credentials[match]
    # the specification's own keys win over same-named credential keys
    data.update(type=_b64(type_name), provider=_b64(PROVIDER), host=_b64(host), port=_b64(str(port)))
    return dict(sorted(data.items()))


def pick_service(objects: list[dict[str, Any]], instance: str, namespace: str, wanted: str | None) -> tuple[str, int]:
    services = [o for o in objects if o.get("kind") == "Service" and (o.get("spec") or {}).get("ports")]
    if wanted:
        services = [s for s in services if s["metadata"]["name"] == wanted]
    if not services:
        raise DeployError(f'unable to bind "{namespace}/{instance}": its release renders no Service'
                          + (f' named "{wanted}"' if wanted else " with a port"),
                          hint="an app binds to an instance through its Service; pass --service NAME")
    svc = next((s for s in services if s["metadata"]["name"] == instance), services[0])
    return svc["metadata"]["name"], int(svc["spec"]["ports"][0]["port"])


def pick_secret(objects: list[dict[str, Any]], instance: str, namespace: str, wanted: str | None) -> str:
    if wanted:
        return wanted
    rendered = sorted(o["metadata"]["name"] for o in objects if o.get("kind") == "Secret")
    candidates = rendered or sorted(n for k, n in pod_references(objects) if k == "Secret")
    if len(candidates) != 1:
        found = ", ".join(candidates) or "none"
        raise DeployError(f'unable to choose the Secret of "{namespace}/{instance}" to bind: found {found}',
                          hint="pass --secret NAME")
    return candidates[0]


def binding_of(obj: Mapping[str, Any]) -> Binding:
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    data = obj.get("data") or {}

    def plain(key: str) -> str:  # only the non-secret spec keys are decoded
        return base64.b64decode(data.get(key, "")).decode(errors="replace")

    port = plain("port")
    annotations = meta.get("annotations") or {}
    return Binding(meta["name"], meta["namespace"], labels.get(LABEL_OF, ""), labels.get(LABEL_NAMESPACE, ""),
                   plain("type"), plain("host"), int(port) if port.isdigit() else 0, tuple(sorted(data)),
                   annotations.get(ANNOTATION_SOURCE, ""), annotations.get(ANNOTATION_PROJECTED, ""))


_TEMPLATE_KEY = re.compile(r"\{([-._a-zA-Z0-9]+)\}")


def render_template(template: str, data: Mapping[str, str], where: str) -> str:
    """A template output (``amqp://{username}:{password}@{host}:{port}/``) from other outputs (base64 in,
    base64 out); the plain text lives only in memory."""
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in data:
            raise DeployError(f'unable to build binding output "{where}": it uses "{{{key}}}", which is no output')
        return base64.b64decode(data[key]).decode(errors="replace")

    return _b64(_TEMPLATE_KEY.sub(one, template))


def projection(kind: str, name: str, namespace: str, binding: str, *, containers: list[str] | None = None,
               checksum: str = "") -> dict[str, Any]:
    """What a binding adds to a consumer workload, for server-side apply by the binding's own field manager: a
    Secret volume mounted at ``$SERVICE_BINDING_ROOT/<binding>`` in every container, ``SERVICE_BINDING_ROOT`` in
    their environment, and the credentials' checksum on the pod template (new credentials roll the pods).
    ``containers`` None: only the object's identity, which makes that manager give every field back (unbind)."""
    if kind not in PROJECTABLE:
        raise InputError(f'unable to project binding "{binding}" into {kind}/{name}: a binding goes into a '
                         f"{', '.join(PROJECTABLE)}")
    api_version, path = PROJECTABLE[kind]
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}
    if containers is None:
        return obj
    volume = f"binding-{binding}"[:63]
    template: dict[str, Any] = {
        "metadata": {"annotations": {f"binding.chartkit.io/{binding}"[:253]: checksum}},
        "spec": {
            "volumes": [{"name": volume, "secret": {"secretName": binding}}],
            "containers": [{"name": c,
                            "volumeMounts": [{"name": volume, "mountPath": f"{SERVICE_BINDING_ROOT}/{binding}",
                                              "readOnly": True}],
                            "env": [{"name": "SERVICE_BINDING_ROOT", "value": SERVICE_BINDING_ROOT}]}
                           for c in containers],
        },
    }
    node: dict[str, Any] = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = template
    return obj


def pod_template(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template of a projectable workload (live object)."""
    node: Any = obj
    for key in PROJECTABLE.get(str(obj.get("kind")), ("", ()))[1]:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}
