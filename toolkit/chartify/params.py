"""Group objects into components and parameterize each with conventional values keys (rules per kind).

Keys follow `helm create` / Bitnami per component: ``<component>.image.{registry,repository,tag,digest,pullPolicy}``,
``replicaCount``, ``resources``, ``env``, ``service.{type,ports}``, ``ingress.{enabled,className,...}``,
``autoscaling``, ``persistence``, ``serviceAccount``, ``podSecurityContext``, ``securityContext``,
``nodeSelector``, ``tolerations``, ``affinity``. Components are always nested under their own key so adding a
component later never renames another's keys. Every default is the source's own value, so rendering with
defaults reproduces the source; the fidelity check (verify.py) proves it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from toolkit.chartify import schema as schemas
from toolkit.chartify.model import Emit, Expr, Model, Param, Ref, TemplateFile, copy_tree
from toolkit.chartify.read import SourceObject
from toolkit.objects import object_id
from toolkit.errors import InputError

__all__ = ["WORKLOAD_KINDS", "build_model", "camel", "image_parts", "pod_spec_path"]

log = logging.getLogger(__name__)

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
_POD_SPEC = {"Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
             "DaemonSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec"),
             "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
STANDARD_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
                   "app.kubernetes.io/name", "app.kubernetes.io/version")

Path = tuple[Any, ...]
#: top-level values keys Helm gives a meaning of its own
_RESERVED_KEYS = {"global", "enabled"}


def pod_spec_path(kind: str) -> Path | None:
    return _POD_SPEC.get(kind)


def camel(name: str) -> str:
    """``redis-leader`` → ``redisLeader``: a values key from an object name."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]
    if not words:
        return "x"
    key = words[0][0].lower() + words[0][1:] + "".join(w[0].upper() + w[1:] for w in words[1:])
    key = key if key[0].isalpha() else "c" + key
    return key + "App" if key in _RESERVED_KEYS else key


# -- images ---------------------------------------------------------------------------------------------------

_DIGEST = re.compile(schemas.DIGEST_PATTERN)


def image_parts(ref: str) -> dict[str, str]:
    """Split an image reference into registry, repository, tag, digest; they reassemble to exactly ``ref``."""
    rest, digest = (ref.split("@", 1) + [""])[:2] if "@" in ref else (ref, "")
    registry = ""
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    repository, tag = rest, ""
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        repository, tag = rest[:colon], rest[colon + 1:]
    parts = {"registry": registry, "repository": repository, "tag": tag, "digest": digest}
    if image_ref(parts) != ref:  # never guess: an odd reference stays whole in repository
        parts = {"registry": "", "repository": ref, "tag": "", "digest": ""}
    return parts


def image_ref(parts: dict[str, str]) -> str:
    """The inverse of image_parts (mirrors the ``<chart>.image`` helper in _helpers.tpl)."""
    ref = parts["repository"]
    if parts["registry"]:
        ref = f"{parts['registry']}/{ref}"
    if parts["tag"]:
        ref = f"{ref}:{parts['tag']}"
    if parts["digest"]:
        ref = f"{ref}@{parts['digest']}"
    return ref


# -- tree access ----------------------------------------------------------------------------------------------

def _get(node: Any, path: Path) -> Any:
    for key in path:
        if isinstance(node, dict) and isinstance(key, str):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def _has(node: Any, path: Path) -> bool:
    parent = _get(node, path[:-1])
    key = path[-1]
    if isinstance(parent, dict):
        return key in parent
    return isinstance(parent, list) and isinstance(key, int) and 0 <= key < len(parent)


def _contains_expr(node: Any) -> bool:
    if isinstance(node, Expr):
        return True
    if isinstance(node, dict):
        return any(_contains_expr(v) for v in node.values())
    if isinstance(node, list):
        return any(_contains_expr(v) for v in node)
    return False


def field_name(path: Path) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (("." if out else "") + key)
    return out


_FIELD_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([A-Za-z0-9_-]+)=([^\]]*)\]")


def parse_field(obj: dict[str, Any], text: str) -> Path:
    """``spec.template.spec.containers[name=web].ports[0].containerPort`` → a path into ``obj``."""
    path: list[Any] = []
    pos = 0
    while pos < len(text):
        if text[pos] == ".":
            pos += 1
            continue
        match = _FIELD_PART.match(text, pos)
        if not match:
            raise InputError(f'unable to parse field "{text}" at character {pos}',
                             hint="use a.b[0].c or a.b[name=x].c")
        if match.group(1) is not None:
            path.append(match.group(1))
        elif match.group(2) is not None:
            path.append(int(match.group(2)))
        else:
            items = _get(obj, tuple(path))
            found = [i for i, it in enumerate(items or []) if isinstance(it, dict)
                     and str(it.get(match.group(3))) == match.group(4)]
            if not found:
                raise InputError(f'unable to find field "{text}": no item with {match.group(3)}={match.group(4)}')
            path.append(found[0])
        pos = match.end()
    return tuple(path)


# -- components -----------------------------------------------------------------------------------------------

@dataclass
class _Component:
    key: str
    objects: list[dict[str, Any]]


def _pod_labels(obj: dict[str, Any]) -> dict[str, Any]:
    spec_path = _POD_SPEC.get(obj.get("kind", ""))
    if not spec_path:
        return {}
    return _get(obj, spec_path[:-1] + ("metadata", "labels")) or {}


def _ns(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""


def _name(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"]


def _pod_refs(pod: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(kind, name) of ConfigMaps, Secrets, PVCs and the ServiceAccount a pod spec uses."""
    if not isinstance(pod, dict):
        return
    if pod.get("serviceAccountName"):
        yield "ServiceAccount", pod["serviceAccountName"]
    for ips in pod.get("imagePullSecrets") or ():
        if isinstance(ips, dict) and ips.get("name"):
            yield "Secret", ips["name"]
    for vol in pod.get("volumes") or ():
        if not isinstance(vol, dict):
            continue
        if isinstance(vol.get("configMap"), dict):
            yield "ConfigMap", vol["configMap"].get("name")
        if isinstance(vol.get("secret"), dict):
            yield "Secret", vol["secret"].get("secretName")
        if isinstance(vol.get("persistentVolumeClaim"), dict):
            yield "PersistentVolumeClaim", vol["persistentVolumeClaim"].get("claimName")
        for src in (vol.get("projected") or {}).get("sources") or ():
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if isinstance(src, dict) and isinstance(src.get(key), dict):
                    yield kind, src[key].get("name")
    for group in ("initContainers", "containers"):
        for ctr in pod.get(group) or ():
            if not isinstance(ctr, dict):
                continue
            for ef in ctr.get("envFrom") or ():
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if isinstance(ef, dict) and isinstance(ef.get(key), dict):
                        yield kind, ef[key].get("name")
            for env in ctr.get("env") or ():
                vf = env.get("valueFrom") if isinstance(env, dict) else None
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if isinstance(vf, dict) and isinstance(vf.get(key), dict):
                        yield kind, vf[key].get("name")


def group_components(objects: Sequence[dict[str, Any]],
                     warnings: list[str] | None = None) -> tuple[list[_Component], list[dict[str, Any]]]:
    """Workloads lead components; Services, HPAs, Ingresses and what pods use join them; the rest stays shared."""
    warnings = warnings if warnings is not None else []
    components: dict[str, _Component] = {}
    owner: dict[int, str] = {}
    by_ref: dict[tuple[str, str, str], dict[str, Any]] = {(o["kind"], _ns(o), _name(o)): o for o in objects}

    def new_component(obj: dict[str, Any]) -> str:
        key = camel(_name(obj))
        if key in components:
            return key  # same name, same app: an orphan joins the workload of its name
        components[key] = _Component(key, [])
        return key

    def join(obj: dict[str, Any], key: str) -> None:
        if id(obj) not in owner:
            owner[id(obj)] = key
            components[key].objects.append(obj)

    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    for wl in workloads:
        key = camel(_name(wl))
        if key in components:
            suffix = 2
            while f"{key}{suffix}" in components:
                suffix += 1
            warnings.append(f"values key collision: {object_id(wl)} maps to {key!r}, already taken by "
                            f"{object_id(components[key].objects[0])}; it gets {key}{suffix!s} instead "
                            "(rename it with an overrides file)")
            key = f"{key}{suffix}"
        components[key] = _Component(key, [])
        join(wl, key)
    for wl in workloads:
        key = owner[id(wl)]
        pod = _get(wl, _POD_SPEC[wl["kind"]])
        for kind, name in _pod_refs(pod):
            ref = by_ref.get((kind, _ns(wl), name))
            if ref is not None:
                join(ref, key)
    services = [o for o in objects if o["kind"] == "Service"]
    # workloads by (namespace, one pod label): a Service only checks the workloads sharing its first selector pair
    by_label: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for wl in workloads:
        for k, v in _pod_labels(wl).items():
            by_label.setdefault((_ns(wl), k, str(v)), []).append(wl)
    for svc in services:
        selector = _get(svc, ("spec", "selector"))
        target = None
        if isinstance(selector, dict) and selector:
            first_key, first_value = next(iter(selector.items()))
            for wl in by_label.get((_ns(svc), first_key, str(first_value)), ()):
                labels = _pod_labels(wl)
                if all(labels.get(k) == v for k, v in selector.items()):
                    target = owner[id(wl)]
                    break
        join(svc, target or new_component(svc))
    svc_owner = {(_ns(s), _name(s)): owner[id(s)] for s in services}
    for obj in objects:
        kind = obj["kind"]
        if kind == "HorizontalPodAutoscaler":
            ref = _get(obj, ("spec", "scaleTargetRef")) or {}
            target = by_ref.get((ref.get("kind"), _ns(obj), ref.get("name")))
            join(obj, owner[id(target)] if target is not None and id(target) in owner else new_component(obj))
        elif kind == "Ingress":
            names = [_get(obj, ("spec", "defaultBackend", "service", "name"))]
            for rule in _get(obj, ("spec", "rules")) or ():
                for p in _get(rule, ("http", "paths")) or ():
                    names.append(_get(p, ("backend", "service", "name")))
            target = next((svc_owner[(_ns(obj), n)] for n in names if (_ns(obj), n) in svc_owner), None)
            join(obj, target or new_component(obj))
    for obj in objects:
        if id(obj) not in owner and obj["kind"] in ("ConfigMap", "Secret", "PersistentVolumeClaim",
                                                    "ServiceAccount"):
            join(obj, new_component(obj))
    shared = [o for o in objects if id(o) not in owner]
    return [c for c in components.values() if c.objects], shared


# -- the builder ----------------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, model: Model, namespace: str | None) -> None:
        self.model = model
        self.namespace = namespace
        self.current: dict[str, Any] = {}
        self.current_id = ""

    # values ------------------------------------------------------------------------------------------------

    def param(self, path: tuple[str, ...], default: Any, description: str, schema: dict[str, Any] | None = None,
              *, share: bool = False) -> tuple[str, ...]:
        """Register a parameter; a clash with a different value is reported and resolved with a suffix."""
        existing = self.model.params.get(path)
        if existing is not None:
            if share and existing.default == default:
                return path
            base, n = path, 2
            while path in self.model.params or self._prefix_taken(path):
                path = base[:-1] + (f"{base[-1]}{n}",)
                n += 1
            self.model.warnings.append(
                f"values key collision: {'.'.join(base)} already feeds {', '.join(existing.feeds) or 'another object'}; "
                f"{self.current_id} gets {'.'.join(path)} instead (rename it with an overrides file)")
        elif self._prefix_taken(path):
            raise InputError(f"unable to parameterize {self.current_id}: values key {'.'.join(path)} is inside "
                             "another parameter")
        self.model.params[path] = Param(path, copy_tree(default), description,
                                        schema if schema is not None else schemas.infer(default))
        return path

    def _prefix_taken(self, path: tuple[str, ...]) -> bool:
        return any(path[:i] in self.model.params for i in range(1, len(path)))

    def feed(self, path: tuple[str, ...], field: Path) -> None:
        feeds = self.model.params[path].feeds
        if not feeds or feeds[-1] != self.current_id:
            feeds.append(self.current_id)

    # templates ---------------------------------------------------------------------------------------------

    def bind(self, field: Path, path: tuple[str, ...], description: str, schema: dict[str, Any] | None = None,
             *, emit: Emit | None = None, share: bool = False) -> tuple[str, ...] | None:
        """Expose the object's field at ``field`` as the value at ``path``; returns the final path or None."""
        obj = self.current
        if not _has(obj, field):
            return None
        value = _get(obj, field)
        if _contains_expr(value):
            return None  # a nested field is already an expression (a Secret name, the namespace)
        structured = isinstance(value, (dict, list))
        if emit is None:
            emit = Emit.BLOCK if structured and not schemas.has_big_numbers(value) else Emit.JSON
        path = self.param(path, value, description, schema, share=share)
        text = "{0} | toJson" if emit is Emit.JSON else "{0}"
        self._set(field, Expr(text, (Ref(path),), emit, original=value))
        self.feed(path, field)
        return path

    def offer(self, field: Path, path: tuple[str, ...], description: str, empty: Any,
              schema: dict[str, Any] | None = None) -> tuple[str, ...] | None:
        """Bind the field if the source sets it; otherwise expose an empty value that adds it when set."""
        if _has(self.current, field):
            return self.bind(field, path, description, schema)
        parent = _get(self.current, field[:-1])
        if not isinstance(parent, dict) or path in self.model.params or self._prefix_taken(path):
            return None
        path = self.param(path, empty, description + " (unset in the source)", schema)
        parent[field[-1]] = Expr("{0}", (Ref(path),), Emit.OPTIONAL, original=None)
        self.feed(path, field)
        return path

    def _set(self, field: Path, node: Any) -> None:
        parent = _get(self.current, field[:-1])
        parent[field[-1]] = node

    def expr(self, field: Path, text: str, refs: tuple[Ref, ...] = (), emit: Emit = Emit.JSON) -> None:
        self._set(field, Expr(text, refs, emit, original=_get(self.current, field)))


# -- per-kind rules -------------------------------------------------------------------------------------------

def _slot(kind_objects: list[dict[str, Any]], obj: dict[str, Any], single: str, multi: str) -> tuple[str, ...]:
    return (single,) if len(kind_objects) == 1 else (multi, camel(_name(obj)))


def _container_rules(b: _Builder, comp: str, prefix: tuple[str, ...], field: Path, ctr: dict[str, Any],
                     cname: str) -> None:
    image = ctr.get("image")
    where = f"{b.current_id} field {field_name(field + ('image',))}"
    if not isinstance(image, str) or not image or any(ch.isspace() for ch in image):
        raise InputError(f"unable to parameterize {where}: the image must be a non-empty reference without spaces,"
                         f" got {image!r}", hint="set a valid image such as registry.example.com/app:1.0")
    parts = image_parts(image)
    if parts["digest"] and not _DIGEST.match(parts["digest"]):
        # caught here so the message names the object and field, not a schema pattern at lint time
        raise InputError(f"unable to parameterize {where}: {parts['digest']!r} is not a digest "
                         "(algorithm:hex, e.g. sha256: and 64 hex digits)",
                         hint="fix the image reference, or drop the @digest part")
    if isinstance(ctr.get("imagePullPolicy"), str):
        parts = {**parts, "pullPolicy": ctr["imagePullPolicy"]}
    ipath = b.param(prefix + ("image",), parts,
                    f"Image of container {cname}: registry/repository:tag@digest", schemas.image(parts))
    b.expr(field + ("image",), f'include "{b.model.name}.image" {{0}} | toJson', (Ref(ipath),))
    b.feed(ipath, field + ("image",))
    if "pullPolicy" in parts:
        b.expr(field + ("imagePullPolicy",), 'index {0} "pullPolicy" | toJson', (Ref(ipath),))
        b.feed(ipath, field + ("imagePullPolicy",))
    b.offer(field + ("resources",), prefix + ("resources",), f"Resource requests and limits of container {cname}",
            {}, schemas.resources(ctr.get("resources")))
    b.offer(field + ("securityContext",), prefix + ("securityContext",), f"Security context of container {cname}",
            {})
    env = ctr.get("env")
    if isinstance(env, list):
        plain = {e["name"]: e["value"] for e in env
                 if isinstance(e, dict) and isinstance(e.get("name"), str) and "value" in e and "valueFrom" not in e}
        names = Counter(e.get("name") for e in env if isinstance(e, dict))
        plain = {k: v for k, v in plain.items() if names[k] == 1}
        if plain:
            epath = b.param(prefix + ("env",), plain, f"Environment variables of container {cname} (name: value)",
                            schemas.env(plain))
            for i, e in enumerate(env):
                if isinstance(e, dict) and e.get("name") in plain and not isinstance(e.get("value"), Expr):
                    b.expr(field + ("env", i, "value"), f'index {{0}} {schemas.go_string(e["name"])} | toJson',
                           (Ref(epath),))
                    b.feed(epath, field + ("env", i, "value"))


def _workload_rules(b: _Builder, comp: str, obj: dict[str, Any]) -> None:
    kind = obj["kind"]
    spec_path = _POD_SPEC[kind]
    if kind in ("Deployment", "StatefulSet"):
        b.bind(("spec", "replicas"), (comp, "replicaCount"), "Number of pod replicas", schemas.REPLICAS)
    pod = _get(obj, spec_path)
    if not isinstance(pod, dict):
        raise InputError(f"unable to parameterize {b.current_id}: field {field_name(spec_path)} is missing")
    tmeta = spec_path[:-1] + ("metadata",)
    b.offer(tmeta + ("annotations",), (comp, "podAnnotations"), "Annotations on the pods", {})
    b.offer(spec_path + ("securityContext",), (comp, "podSecurityContext"), "Security context of the pods", {})
    for key, desc, empty in (("nodeSelector", "Node labels the pods must match", {}),
                             ("tolerations", "Pod tolerations", []), ("affinity", "Pod affinity rules", {})):
        b.offer(spec_path + (key,), (comp, key), desc, empty)
    b.bind(spec_path + ("priorityClassName",), (comp, "priorityClassName"), "Priority class of the pods")
    b.offer(spec_path + ("imagePullSecrets",), (comp, "imagePullSecrets"), "Secrets for pulling images", [])
    if isinstance(pod.get("serviceAccountName"), str):
        b.model.groups.setdefault((comp, "serviceAccount"), "ServiceAccount of the pods")
        b.bind(spec_path + ("serviceAccountName",), (comp, "serviceAccount", "name"),
               "ServiceAccount the pods run as", {"type": "string"}, share=True)
    containers = pod.get("containers") or []
    if not isinstance(containers, list) or not containers:
        raise InputError(f"unable to parameterize {b.current_id}: field {field_name(spec_path + ('containers',))} "
                         "must list at least one container")
    for group in ("containers", "initContainers"):
        for i, ctr in enumerate(pod.get(group) or ()):
            if not isinstance(ctr, dict):
                raise InputError(f"unable to parameterize {b.current_id}: field "
                                 f"{field_name(spec_path + (group, i))} must be a mapping")
            cname = str(ctr.get("name") or i)
            if group == "containers" and i == 0:
                prefix: tuple[str, ...] = (comp,)
            else:
                prefix = (comp, "sidecars" if group == "containers" else "initContainers", camel(cname))
                b.model.groups.setdefault(prefix[:2], "Sidecar containers, by name" if group == "containers"
                                          else "Init containers, by name")
                b.model.groups[prefix] = f"Container {cname}"
            _container_rules(b, comp, prefix, spec_path + (group, i), ctr, cname)
    claims = _get(obj, ("spec", "volumeClaimTemplates")) or []
    for i, claim in enumerate(claims):
        slot = (comp, "persistence") if len(claims) == 1 else (comp, "persistence", camel(_name(claim)))
        base = ("spec", "volumeClaimTemplates", i, "spec")
        b.bind(base + ("resources", "requests", "storage"), slot + ("size",), "Size of the volume",
               schemas.QUANTITY)
        b.bind(base + ("storageClassName",), slot + ("storageClass",), "StorageClass of the volume",
               schemas.nullable_string(_get(claim, ("spec", "storageClassName"))))


def _service_rules(b: _Builder, slot: tuple[str, ...], obj: dict[str, Any]) -> None:
    b.model.groups[slot] = f"Service {_name(obj)}"
    b.bind(("spec", "type"), slot + ("type",), "Service type", schemas.SERVICE_TYPE)
    b.bind(("spec", "ports"), slot + ("ports",), "Service ports", schemas.service_ports())
    b.bind(("metadata", "annotations"), slot + ("annotations",), "Annotations on the Service")
    b.bind(("spec", "loadBalancerIP"), slot + ("loadBalancerIP",), "Load balancer IP")


def _ingress_rules(b: _Builder, slot: tuple[str, ...], obj: dict[str, Any]) -> TemplateFile | None:
    b.model.groups[slot] = f"Ingress {_name(obj)}"
    b.param(slot + ("enabled",), True, "Create the Ingress", {"type": "boolean"})
    b.bind(("spec", "ingressClassName"), slot + ("className",), "IngressClass name",
           schemas.nullable_string(_get(obj, ("spec", "ingressClassName"))))
    b.bind(("metadata", "annotations"), slot + ("annotations",), "Annotations on the Ingress")
    b.bind(("spec", "rules"), slot + ("rules",), "Ingress rules: hosts and their paths")
    b.bind(("spec", "tls"), slot + ("tls",), "TLS hosts and their certificate Secrets")
    return None


def _hpa_rules(b: _Builder, slot: tuple[str, ...], obj: dict[str, Any]) -> None:
    b.model.groups[slot] = f"HorizontalPodAutoscaler {_name(obj)}"
    b.param(slot + ("enabled",), True, "Create the HorizontalPodAutoscaler", {"type": "boolean"})
    b.bind(("spec", "minReplicas"), slot + ("minReplicas",), "Minimum replicas", schemas.REPLICAS)
    b.bind(("spec", "maxReplicas"), slot + ("maxReplicas",), "Maximum replicas", schemas.REPLICAS)
    b.bind(("spec", "metrics"), slot + ("metrics",), "Metrics the autoscaler follows")
    b.bind(("spec", "behavior"), slot + ("behavior",), "Scaling behavior")


def _pvc_rules(b: _Builder, slot: tuple[str, ...], obj: dict[str, Any]) -> None:
    b.model.groups[slot] = f"PersistentVolumeClaim {_name(obj)}"
    b.bind(("spec", "resources", "requests", "storage"), slot + ("size",), "Size of the volume", schemas.QUANTITY)
    b.bind(("spec", "storageClassName"), slot + ("storageClass",), "StorageClass of the volume",
           schemas.nullable_string(_get(obj, ("spec", "storageClassName"))))
    b.bind(("spec", "accessModes"), slot + ("accessModes",), "Access modes of the volume")


# -- secrets --------------------------------------------------------------------------------------------------

@dataclass
class _SecretSlot:
    name: str
    namespace: str
    existing: tuple[str, ...]


def _secret_template(b: _Builder, slot: tuple[str, ...], obj: dict[str, Any]) -> Expr:
    """Secret data becomes required values; the object renders only when existingSecret is empty."""
    b.model.groups[slot] = f"Secret {_name(obj)}: the chart carries no secret data"
    existing = b.param(slot + ("existingSecret",), _name(obj),
                       f"Name of an existing Secret to use instead of creating {_name(obj)}; empty creates it from "
                       f"{'.'.join(slot)}.values", {"type": "string"})
    values_path = slot + ("values",)
    keys: dict[str, Any] = {}
    for section in ("data", "stringData"):
        data = obj.get(section)
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            keys[key] = None
            is_b64 = section == "data"
            plain = True
            if is_b64:
                try:
                    base64.b64decode(str(value), validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    plain = False
            msg = f"set {'.'.join(values_path)}.{key}" + (" (base64)" if not plain else "") + \
                  f" or {'.'.join(existing)}"
            ref = "(index {0} " + schemas.go_string(key) + ")"
            text = f"required {schemas.go_string(msg)} {ref}" + (" | b64enc" if is_b64 and plain else "") + \
                   " | toJson"
            b.current[section][key] = Expr(text, (Ref(values_path),), original="<secret>")
    b.param(values_path, keys, f"Data of Secret {_name(obj)} when existingSecret is empty "
            "(plain text; never commit real values)", schemas.secret_values(keys))
    b.feed(values_path, ("data",))
    return Expr("not {0}", (Ref(existing),))


def _secret_ref_fields(obj: dict[str, Any]) -> Iterable[tuple[Path, str]]:
    """(path, secret name) of every Secret reference in a workload or Ingress object."""
    spec_path = _POD_SPEC.get(obj["kind"])
    if spec_path:
        pod = _get(obj, spec_path) or {}
        for i, ips in enumerate(pod.get("imagePullSecrets") or ()):
            if isinstance(ips, dict) and ips.get("name"):
                yield spec_path + ("imagePullSecrets", i, "name"), ips["name"]
        for i, vol in enumerate(pod.get("volumes") or ()):
            if isinstance(vol, dict) and isinstance(vol.get("secret"), dict) and vol["secret"].get("secretName"):
                yield spec_path + ("volumes", i, "secret", "secretName"), vol["secret"]["secretName"]
            for j, src in enumerate(((vol or {}).get("projected") or {}).get("sources") or ()):
                if isinstance(src, dict) and isinstance(src.get("secret"), dict) and src["secret"].get("name"):
                    yield (spec_path + ("volumes", i, "projected", "sources", j, "secret", "name"),
                           src["secret"]["name"])
        for group in ("initContainers", "containers"):
            for c, ctr in enumerate(pod.get(group) or ()):
                for k, ef in enumerate((ctr or {}).get("envFrom") or ()):
                    if isinstance(ef, dict) and isinstance(ef.get("secretRef"), dict) and ef["secretRef"].get("name"):
                        yield spec_path + (group, c, "envFrom", k, "secretRef", "name"), ef["secretRef"]["name"]
                for k, env in enumerate((ctr or {}).get("env") or ()):
                    ref = _get(env, ("valueFrom", "secretKeyRef"))
                    if isinstance(ref, dict) and ref.get("name"):
                        yield spec_path + (group, c, "env", k, "valueFrom", "secretKeyRef", "name"), ref["name"]


# -- entry point ----------------------------------------------------------------------------------------------

def main_namespace(objects: Sequence[dict[str, Any]]) -> str | None:
    counts = Counter(_ns(o) for o in objects if _ns(o))
    return counts.most_common(1)[0][0] if counts else None


def _filename(base: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9.-]+", "-", base.lower()).strip("-.") or "object"
    name, n = base, 2
    while name in used:
        name = f"{base}-{n}"
        n += 1
    used.add(name)
    return name + ".yaml"


def build_model(objects: Sequence[SourceObject], *, name: str, version: str, app_version: str | None,
                standard_labels: bool = True) -> Model:
    """Build the chart model: components, parameters with the source's values as defaults, object templates."""
    plain = [copy_tree(o.obj) for o in objects]
    namespace = main_namespace(plain)
    warnings: list[str] = []
    components, shared = group_components(plain, warnings)
    # one template file per component (all its objects), one per shared object; names and ids are taken
    # before parameterization turns fields (even metadata.name) into expressions
    used: set[str] = set()
    names: dict[int, tuple[str, str]] = {}
    for comp in components:
        filename = _filename(_name(comp.objects[0]), used)
        names.update({id(o): (filename, object_id(o)) for o in comp.objects})
    for obj in shared:
        names[id(obj)] = (_filename(f"{obj['kind']}-{_name(obj)}", used), object_id(obj))
    if app_version is None:
        app_version = _guess_app_version(plain)
    model = Model(name=name, version=version, app_version=app_version, namespace=namespace, warnings=warnings)
    b = _Builder(model, namespace)
    conditions: dict[int, Expr] = {}
    secrets: dict[tuple[str, str], _SecretSlot] = {}

    # Secrets first: their names become expressions inside pod specs before pod fields are parameterized.
    for comp in components:
        comp_secrets = [o for o in comp.objects if o["kind"] == "Secret"]
        for obj in comp_secrets:
            b.current, b.current_id = obj, names[id(obj)][1]
            slot = (comp.key,) + _slot(comp_secrets, obj, "secret", "secrets")
            conditions[id(obj)] = _secret_template(b, slot, obj)
            secrets[(_ns(obj), _name(obj))] = _SecretSlot(_name(obj), _ns(obj), slot + ("existingSecret",))
    for obj in plain:
        b.current, b.current_id = obj, names[id(obj)][1]
        for field, secret_name in list(_secret_ref_fields(obj)):
            found = secrets.get((_ns(obj), secret_name))
            if found:
                b.expr(field, f"{{0}} | default {schemas.go_string(secret_name)} | toJson", (Ref(found.existing),))
                b.feed(found.existing, field)

    for comp in components:
        model.components[comp.key] = [names[id(o)][1] for o in comp.objects]
        model.groups[(comp.key,)] = "Component " + ", ".join(names[id(o)][1] for o in comp.objects)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for obj in comp.objects:
            by_kind.setdefault(obj["kind"], []).append(obj)
        for obj in comp.objects:
            b.current, b.current_id = obj, names[id(obj)][1]
            kind = obj["kind"]
            peers = by_kind[kind]
            if kind in WORKLOAD_KINDS:
                _workload_rules(b, comp.key, obj)
            elif kind == "Service":
                _service_rules(b, (comp.key,) + _slot(peers, obj, "service", "services"), obj)
            elif kind == "Ingress":
                slot = (comp.key,) + _slot(peers, obj, "ingress", "ingresses")
                _ingress_rules(b, slot, obj)
                conditions[id(obj)] = Expr("{0}", (Ref(slot + ("enabled",)),))
            elif kind == "HorizontalPodAutoscaler":
                slot = (comp.key,) + _slot(peers, obj, "autoscaling", "autoscalers")
                _hpa_rules(b, slot, obj)
                conditions[id(obj)] = Expr("{0}", (Ref(slot + ("enabled",)),))
            elif kind == "ConfigMap":
                slot = (comp.key,) + _slot(peers, obj, "config", "configs")
                b.bind(("data",), slot, f"Data of ConfigMap {_name(obj)} (key: file content)")
            elif kind == "PersistentVolumeClaim":
                _pvc_rules(b, (comp.key,) + _slot(peers, obj, "persistence", "volumes"), obj)
            elif kind == "ServiceAccount":
                slot = (comp.key, "serviceAccount")
                b.model.groups[slot] = f"ServiceAccount {_name(obj)}"
                if len(peers) == 1:
                    b.param(slot + ("create",), True, "Create the ServiceAccount", {"type": "boolean"})
                    conditions[id(obj)] = Expr("{0}", (Ref(slot + ("create",)),))
                    b.bind(("metadata", "name"), slot + ("name",), "ServiceAccount the pods run as",
                           {"type": "string"}, share=True)
                    b.bind(("metadata", "annotations"), slot + ("annotations",), "Annotations on the ServiceAccount")

    for obj in plain:
        filename, oid = names[id(obj)]
        b.current, b.current_id = obj, oid
        _namespace_exprs(b, obj, namespace)
        if standard_labels:
            _add_labels(b, obj, model)
        model.templates.append(TemplateFile(filename, obj, oid, conditions.get(id(obj))))
    order = {name: i for i, name in enumerate(dict.fromkeys(n for n, _ in names.values()))}
    model.templates.sort(key=lambda tf: order[tf.filename])  # stable: source order within a file
    if shared:
        log.info("carried verbatim (no parameters): %s", ", ".join(names[id(o)][1] for o in shared))
    return model


def _namespace_exprs(b: _Builder, obj: dict[str, Any], namespace: str | None) -> None:
    if namespace and _ns(obj) == namespace:
        b.expr(("metadata", "namespace"), ".Release.Namespace | toJson")
    if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
        for i, subject in enumerate(obj.get("subjects") or ()):
            if isinstance(subject, dict) and subject.get("namespace") == namespace and namespace:
                b.expr(("subjects", i, "namespace"), ".Release.Namespace | toJson")


def _add_labels(b: _Builder, obj: dict[str, Any], model: Model) -> None:
    meta = obj["metadata"]
    labels = meta.get("labels")
    if labels is None:
        labels = meta["labels"] = {}
    exprs = {
        "helm.sh/chart": f'include "{model.name}.chart" . | toJson',
        "app.kubernetes.io/managed-by": ".Release.Service | toJson",
        "app.kubernetes.io/instance": ".Release.Name | toJson",
        "app.kubernetes.io/name": f'include "{model.name}.name" . | toJson',
        "app.kubernetes.io/version": ".Chart.AppVersion | toJson",
    }
    for key in STANDARD_LABELS:
        if key not in labels and not (key == "app.kubernetes.io/version" and not model.app_version):
            labels[key] = Expr(exprs[key], (), original=None)


def _guess_app_version(objects: Sequence[dict[str, Any]]) -> str | None:
    for obj in objects:
        spec_path = _POD_SPEC.get(obj["kind"])
        if spec_path:
            for ctr in (_get(obj, spec_path) or {}).get("containers") or ():
                tag = image_parts(str((ctr or {}).get("image", ""))).get("tag")
                if tag:
                    return tag
    return None


ResolveFn = Callable[[Ref], str]
