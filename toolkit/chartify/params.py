"""Group objects into components and parameterize each with conventional values keys, by a table of kind rules.

``KIND_RULES`` holds one ``KindRule`` per kind chartify parameterizes: how an object of the kind finds its component
(``Join``), the values key it gets there, and the function that turns its fields into parameters. A kind without a
rule is carried verbatim (cleaned) in a shared template. To teach chartify a kind: one entry in ``KIND_RULES`` (and
its function, written against ``Fields``), and one test in tests/chartify/test_params.py.

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
from enum import Enum
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from toolkit.chartify import schema as schemas
from toolkit.chartify.model import Emit, Expr, Model, Param, Ref, TemplateFile, copy_tree
from toolkit.chartify.read import SourceObject
from toolkit.objects import object_id
from toolkit.errors import InputError

__all__ = ["KIND_RULES", "WORKLOAD_KINDS", "Fields", "Join", "KindRule", "build_model", "camel", "image_parts",
           "pod_spec_path"]

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


# -- objects and components ------------------------------------------------------------------------------------

class Item:
    """One object on its way into the chart, and what chartify decided about it (identity, not value, equality)."""

    __slots__ = ("obj", "id", "kind", "namespace", "name", "component", "filename", "condition")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj  # the tree the template is made of: parameterized fields become Expr nodes
        self.id = object_id(obj)  # taken before any field (even metadata.name) becomes an expression
        self.kind: str = obj["kind"]
        self.namespace = _ns(obj)
        self.name = _name(obj)
        self.component: str | None = None  # the values key of the component it joined; None: shared, verbatim
        self.filename = ""  # its template file
        self.condition: Expr | None = None  # the template renders only when this is true

    def __repr__(self) -> str:
        return f"Item({self.id}, component={self.component!r})"


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


def _ingress_backends(obj: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    yield "Service", _get(obj, ("spec", "defaultBackend", "service", "name"))
    for rule in _get(obj, ("spec", "rules")) or ():
        for p in _get(rule, ("http", "paths")) or ():
            yield "Service", _get(p, ("backend", "service", "name"))


def _scale_target(obj: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    ref = _get(obj, ("spec", "scaleTargetRef")) or {}
    yield ref.get("kind"), ref.get("name")


class Join(Enum):
    """How an object finds its component; components form in this order, objects in source order within each."""

    LEADS = "leads a component of its own"  # a workload
    USED_BY_PODS = "joins the workload whose pods use it"  # else it leads a component of its own
    SELECTS_PODS = "joins the workload whose pod labels its selector matches"  # else its own
    TARGETS = "joins the component of the object it names"  # else its own


Rule = Callable[["Fields", tuple[str, ...]], "Expr | None"]


class KindRule(NamedTuple):
    """What chartify does with one kind: the component it joins, the values key it gets, its parameters."""

    kind: str
    join: Join
    params: Rule  # binds fields to values under the slot; returns the condition the template renders under
    slot: str | None = None  # its key in the component; None: the component's top level (a workload)
    plural: str | None = None  # the key when the component has several, each below it by name; None: same key
    selector: Path = ()  # Join.SELECTS_PODS: where its label selector is
    targets: Callable[[dict[str, Any]], Iterable[tuple[str, Any]]] = lambda _obj: ()  # Join.TARGETS: (kind, name)s
    first: bool = False  # parameterized before every other kind (Secrets: pods refer to their names)


def _components(items: Sequence[Item], rules: dict[str, KindRule], warnings: list[str]) -> dict[str, list[Item]]:
    """Put each item with a rule into a component (``Item.component``); the rest stay shared."""
    components: dict[str, list[Item]] = {}
    by_ref = {(i.kind, i.namespace, i.name): i for i in items}

    def join(item: Item, key: str) -> None:
        if item.component is None:
            item.component = key
            components[key].append(item)

    def own(item: Item) -> None:
        key = camel(item.name)
        components.setdefault(key, [])  # same name, same app: an orphan joins the component of its name
        join(item, key)

    workloads = [i for i in items if i.kind in rules and rules[i.kind].join is Join.LEADS]
    for item in workloads:
        key = camel(item.name)
        if key in components:
            suffix = 2
            while f"{key}{suffix}" in components:
                suffix += 1
            warnings.append(f"values key collision: {item.id} maps to {key!r}, already taken by "
                            f"{components[key][0].id}; it gets {key}{suffix!s} instead "
                            "(rename it with an overrides file)")
            key = f"{key}{suffix}"
        components[key] = []
        join(item, key)
    for item in workloads:
        for kind, name in _pod_refs(_get(item.obj, _POD_SPEC[item.kind])):
            used = by_ref.get((kind, item.namespace, name))
            if used is not None and kind in rules and rules[kind].join is Join.USED_BY_PODS:
                join(used, item.component)
    # workloads by (namespace, one pod label): a selector only checks the workloads sharing its first pair
    by_label: dict[tuple[str, str, str], list[Item]] = {}
    for item in workloads:
        for k, v in _pod_labels(item.obj).items():
            by_label.setdefault((item.namespace, k, str(v)), []).append(item)
    for join_kind in (Join.SELECTS_PODS, Join.TARGETS):
        for item in items:
            rule = rules.get(item.kind)
            if rule is None or rule.join is not join_kind:
                continue
            if join_kind is Join.SELECTS_PODS:
                found = _selected(item, rule, by_label)
            else:
                named = (by_ref.get((kind, item.namespace, name)) for kind, name in rule.targets(item.obj))
                found = next((target.component for target in named if target and target.component), None)
            if found:
                join(item, found)
            else:
                own(item)
    for item in items:
        if item.component is None and item.kind in rules and rules[item.kind].join is Join.USED_BY_PODS:
            own(item)
    return {key: members for key, members in components.items() if members}


def _selected(item: Item, rule: KindRule, by_label: dict[tuple[str, str, str], list[Item]]) -> str | None:
    selector = _get(item.obj, rule.selector)
    if not isinstance(selector, dict) or not selector:
        return None
    first_key, first_value = next(iter(selector.items()))
    for workload in by_label.get((item.namespace, first_key, str(first_value)), ()):
        labels = _pod_labels(workload.obj)
        if all(labels.get(k) == v for k, v in selector.items()):
            return workload.component
    return None


# -- parameters -----------------------------------------------------------------------------------------------

class _Builder:
    """The chart model being built, and what crosses objects (Secret names that pods refer to)."""

    def __init__(self, model: Model, items: Sequence[Item] = ()) -> None:
        self.model = model
        self.secrets: dict[tuple[str, str], tuple[str, ...]] = {}  # (namespace, name) → its existingSecret path
        self.items = {(i.kind, i.namespace, i.name): i for i in items}  # (kind, namespace, name) → its item


class Fields(NamedTuple):
    """One object's fields as the rules see them: bind a field to a value, offer an unset one, or rewrite it."""

    builder: _Builder
    item: Item
    alone: bool = True  # the only object of its kind in its component

    @property
    def model(self) -> Model:
        return self.builder.model

    @property
    def obj(self) -> dict[str, Any]:
        return self.item.obj

    # values ------------------------------------------------------------------------------------------------

    def param(self, path: tuple[str, ...], default: Any, description: str, schema: dict[str, Any] | None = None,
              *, share: bool = False) -> tuple[str, ...]:
        """Register a parameter; a clash with a different value is reported and resolved with a suffix."""
        params = self.model.params
        existing = params.get(path)
        if existing is not None:
            if share and existing.default == default:
                return path
            base, n = path, 2
            while path in params or self._prefix_taken(path):
                path = base[:-1] + (f"{base[-1]}{n}",)
                n += 1
            self.model.warnings.append(
                f"values key collision: {'.'.join(base)} already feeds {', '.join(existing.feeds) or 'another object'}; "
                f"{self.item.id} gets {'.'.join(path)} instead (rename it with an overrides file)")
        elif self._prefix_taken(path):
            raise InputError(f"unable to parameterize {self.item.id}: values key {'.'.join(path)} is inside "
                             "another parameter")
        params[path] = Param(path, copy_tree(default), description,
                             schema if schema is not None else schemas.infer(default))
        return path

    def _prefix_taken(self, path: tuple[str, ...]) -> bool:
        return any(path[:i] in self.model.params for i in range(1, len(path)))

    def feed(self, path: tuple[str, ...], field: Path) -> None:
        feeds = self.model.params[path].feeds
        if not feeds or feeds[-1] != self.item.id:
            feeds.append(self.item.id)

    # templates ---------------------------------------------------------------------------------------------

    def bind(self, field: Path, path: tuple[str, ...], description: str, schema: dict[str, Any] | None = None,
             *, emit: Emit | None = None, share: bool = False) -> tuple[str, ...] | None:
        """Expose the object's field at ``field`` as the value at ``path``; returns the final path or None."""
        obj = self.obj
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
        if _has(self.obj, field):
            return self.bind(field, path, description, schema)
        parent = _get(self.obj, field[:-1])
        if not isinstance(parent, dict) or path in self.model.params or self._prefix_taken(path):
            return None
        path = self.param(path, empty, description + " (unset in the source)", schema)
        parent[field[-1]] = Expr("{0}", (Ref(path),), Emit.OPTIONAL, original=None)
        self.feed(path, field)
        return path

    def _set(self, field: Path, node: Any) -> None:
        parent = _get(self.obj, field[:-1])
        parent[field[-1]] = node

    def expr(self, field: Path, text: str, refs: tuple[Ref, ...] = (), emit: Emit = Emit.JSON) -> None:
        self._set(field, Expr(text, refs, emit, original=_get(self.obj, field)))


# -- per-kind rules -------------------------------------------------------------------------------------------

def _container_rules(f: Fields, comp: str, prefix: tuple[str, ...], field: Path, ctr: dict[str, Any],
                     cname: str) -> None:
    image = ctr.get("image")
    where = f"{f.item.id} field {field_name(field + ('image',))}"
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
    ipath = f.param(prefix + ("image",), parts,
                    f"Image of container {cname}: registry/repository:tag@digest", schemas.image(parts))
    f.expr(field + ("image",), f'include "{f.model.name}.image" {{0}} | toJson', (Ref(ipath),))
    f.feed(ipath, field + ("image",))
    if "pullPolicy" in parts:
        f.expr(field + ("imagePullPolicy",), 'index {0} "pullPolicy" | toJson', (Ref(ipath),))
        f.feed(ipath, field + ("imagePullPolicy",))
    f.offer(field + ("resources",), prefix + ("resources",), f"Resource requests and limits of container {cname}",
            {}, schemas.resources(ctr.get("resources")))
    f.offer(field + ("securityContext",), prefix + ("securityContext",), f"Security context of container {cname}",
            {})
    env = ctr.get("env")
    if isinstance(env, list):
        plain = {e["name"]: e["value"] for e in env
                 if isinstance(e, dict) and isinstance(e.get("name"), str) and "value" in e and "valueFrom" not in e}
        names = Counter(e.get("name") for e in env if isinstance(e, dict))
        plain = {k: v for k, v in plain.items() if names[k] == 1}
        if plain:
            epath = f.param(prefix + ("env",), plain, f"Environment variables of container {cname} (name: value)",
                            schemas.env(plain))
            for i, e in enumerate(env):
                if isinstance(e, dict) and e.get("name") in plain and not isinstance(e.get("value"), Expr):
                    f.expr(field + ("env", i, "value"), f'index {{0}} {schemas.go_string(e["name"])} | toJson',
                           (Ref(epath),))
                    f.feed(epath, field + ("env", i, "value"))


def _workload(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    """A workload leads its component: its parameters sit at the component's top (replicaCount, image...)."""
    obj, kind, comp = f.obj, f.item.kind, slot[0]
    spec_path = _POD_SPEC[kind]
    if kind in ("Deployment", "StatefulSet"):
        f.bind(("spec", "replicas"), (comp, "replicaCount"), "Number of pod replicas", schemas.REPLICAS)
    pod = _get(obj, spec_path)
    if not isinstance(pod, dict):
        raise InputError(f"unable to parameterize {f.item.id}: field {field_name(spec_path)} is missing")
    tmeta = spec_path[:-1] + ("metadata",)
    f.offer(tmeta + ("annotations",), (comp, "podAnnotations"), "Annotations on the pods", {})
    f.offer(spec_path + ("securityContext",), (comp, "podSecurityContext"), "Security context of the pods", {})
    for key, desc, empty in (("nodeSelector", "Node labels the pods must match", {}),
                             ("tolerations", "Pod tolerations", []), ("affinity", "Pod affinity rules", {})):
        f.offer(spec_path + (key,), (comp, key), desc, empty)
    f.bind(spec_path + ("priorityClassName",), (comp, "priorityClassName"), "Priority class of the pods")
    f.offer(spec_path + ("imagePullSecrets",), (comp, "imagePullSecrets"), "Secrets for pulling images", [])
    if isinstance(pod.get("serviceAccountName"), str):
        f.model.groups.setdefault((comp, "serviceAccount"), "ServiceAccount of the pods")
        f.bind(spec_path + ("serviceAccountName",), (comp, "serviceAccount", "name"),
               "ServiceAccount the pods run as", {"type": "string"}, share=True)
    containers = pod.get("containers") or []
    if not isinstance(containers, list) or not containers:
        raise InputError(f"unable to parameterize {f.item.id}: field {field_name(spec_path + ('containers',))} "
                         "must list at least one container")
    for group in ("containers", "initContainers"):
        for i, ctr in enumerate(pod.get(group) or ()):
            if not isinstance(ctr, dict):
                raise InputError(f"unable to parameterize {f.item.id}: field "
                                 f"{field_name(spec_path + (group, i))} must be a mapping")
            cname = str(ctr.get("name") or i)
            if group == "containers" and i == 0:
                prefix: tuple[str, ...] = (comp,)
            else:
                prefix = (comp, "sidecars" if group == "containers" else "initContainers", camel(cname))
                f.model.groups.setdefault(prefix[:2], "Sidecar containers, by name" if group == "containers"
                                          else "Init containers, by name")
                f.model.groups[prefix] = f"Container {cname}"
            _container_rules(f, comp, prefix, spec_path + (group, i), ctr, cname)
    claims = _get(obj, ("spec", "volumeClaimTemplates")) or []
    for i, claim in enumerate(claims):
        slot = (comp, "persistence") if len(claims) == 1 else (comp, "persistence", camel(_name(claim)))
        base = ("spec", "volumeClaimTemplates", i, "spec")
        f.bind(base + ("resources", "requests", "storage"), slot + ("size",), "Size of the volume",
               schemas.QUANTITY)
        f.bind(base + ("storageClassName",), slot + ("storageClass",), "StorageClass of the volume",
               schemas.nullable_string(_get(claim, ("spec", "storageClassName"))))
    return None


def _service(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    f.model.groups[slot] = f"Service {f.item.name}"
    f.bind(("spec", "type"), slot + ("type",), "Service type", schemas.SERVICE_TYPE)
    f.bind(("spec", "ports"), slot + ("ports",), "Service ports", schemas.service_ports())
    f.bind(("metadata", "annotations"), slot + ("annotations",), "Annotations on the Service")
    f.bind(("spec", "loadBalancerIP"), slot + ("loadBalancerIP",), "Load balancer IP")
    return None


def _ingress(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    f.model.groups[slot] = f"Ingress {f.item.name}"
    f.param(slot + ("enabled",), True, "Create the Ingress", {"type": "boolean"})
    f.bind(("spec", "ingressClassName"), slot + ("className",), "IngressClass name",
           schemas.nullable_string(_get(f.obj, ("spec", "ingressClassName"))))
    f.bind(("metadata", "annotations"), slot + ("annotations",), "Annotations on the Ingress")
    f.bind(("spec", "rules"), slot + ("rules",), "Ingress rules: hosts and their paths")
    f.bind(("spec", "tls"), slot + ("tls",), "TLS hosts and their certificate Secrets")
    return Expr("{0}", (Ref(slot + ("enabled",)),))


def _autoscaler(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    f.model.groups[slot] = f"HorizontalPodAutoscaler {f.item.name}"
    enabled = f.param(slot + ("enabled",), True, "Create the HorizontalPodAutoscaler", {"type": "boolean"})
    _leave_replicas_to(f, enabled)
    f.bind(("spec", "minReplicas"), slot + ("minReplicas",), "Minimum replicas", schemas.REPLICAS)
    f.bind(("spec", "maxReplicas"), slot + ("maxReplicas",), "Maximum replicas", schemas.REPLICAS)
    f.bind(("spec", "metrics"), slot + ("metrics",), "Metrics the autoscaler follows")
    f.bind(("spec", "behavior"), slot + ("behavior",), "Scaling behavior")
    return Expr("{0}", (Ref(slot + ("enabled",)),))


def _leave_replicas_to(f: Fields, enabled: tuple[str, ...]) -> None:
    """While the HPA is enabled its workload renders no ``spec.replicas``: the HPA owns that field (it writes it
    through the scale subresource as kube-controller-manager), and a chart that also sets it fights the HPA and
    makes every server-side-apply upgrade conflict once the HPA has scaled. Adoption keeps the live count: a field
    nobody applies is left as it is."""
    kind, name = next(iter(_scale_target(f.obj)), (None, None))
    target = f.builder.items.get((kind, f.item.namespace, name))
    if target is None or target.component != f.item.component:
        return
    replicas = _get(target.obj, ("spec", "replicas"))
    if isinstance(replicas, Expr) and replicas.emit is Emit.JSON and len(replicas.refs) == 1:
        target.obj["spec"]["replicas"] = Expr(replicas.text, (*replicas.refs, Ref(enabled)), Emit.UNLESS,
                                              original=replicas.original)
        param = f.model.params[replicas.refs[0].path]
        param.description += f" (used while {'.'.join(enabled)} is false)"


def _volume_claim(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    f.model.groups[slot] = f"PersistentVolumeClaim {f.item.name}"
    f.bind(("spec", "resources", "requests", "storage"), slot + ("size",), "Size of the volume", schemas.QUANTITY)
    f.bind(("spec", "storageClassName"), slot + ("storageClass",), "StorageClass of the volume",
           schemas.nullable_string(_get(f.obj, ("spec", "storageClassName"))))
    f.bind(("spec", "accessModes"), slot + ("accessModes",), "Access modes of the volume")
    return None


def _config_map(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    f.bind(("data",), slot, f"Data of ConfigMap {f.item.name} (key: file content)")
    return None


def _service_account(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    """Only a component's one ServiceAccount is parameterized: with several, which one `create` means is unclear."""
    f.model.groups[slot] = f"ServiceAccount {f.item.name}"
    if not f.alone:
        return None
    f.param(slot + ("create",), True, "Create the ServiceAccount", {"type": "boolean"})
    f.bind(("metadata", "name"), slot + ("name",), "ServiceAccount the pods run as", {"type": "string"}, share=True)
    f.bind(("metadata", "annotations"), slot + ("annotations",), "Annotations on the ServiceAccount")
    return Expr("{0}", (Ref(slot + ("create",)),))


# -- secrets --------------------------------------------------------------------------------------------------

def _secret(f: Fields, slot: tuple[str, ...]) -> Expr | None:
    """Secret data becomes required values; the object renders only when existingSecret is empty."""
    obj, name = f.obj, f.item.name
    f.model.groups[slot] = f"Secret {name}: the chart carries no secret data"
    existing = f.param(slot + ("existingSecret",), name,
                       f"Name of an existing Secret to use instead of creating {name}; empty creates it from "
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
            obj[section][key] = Expr(text, (Ref(values_path),), original="<secret>")
    f.param(values_path, keys, f"Data of Secret {name} when existingSecret is empty "
            "(plain text; never commit real values)", schemas.secret_values(keys))
    f.feed(values_path, ("data",))
    f.builder.secrets[(f.item.namespace, name)] = existing
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


#: one entry per kind chartify parameterizes (see the module docstring); any other kind is carried verbatim
KIND_RULES: tuple[KindRule, ...] = (
    *(KindRule(kind, Join.LEADS, _workload) for kind in WORKLOAD_KINDS),
    KindRule("Secret", Join.USED_BY_PODS, _secret, "secret", "secrets", first=True),
    KindRule("ConfigMap", Join.USED_BY_PODS, _config_map, "config", "configs"),
    KindRule("PersistentVolumeClaim", Join.USED_BY_PODS, _volume_claim, "persistence", "volumes"),
    KindRule("ServiceAccount", Join.USED_BY_PODS, _service_account, "serviceAccount"),
    KindRule("Service", Join.SELECTS_PODS, _service, "service", "services", selector=("spec", "selector")),
    KindRule("HorizontalPodAutoscaler", Join.TARGETS, _autoscaler, "autoscaling", "autoscalers",
             targets=_scale_target),
    KindRule("Ingress", Join.TARGETS, _ingress, "ingress", "ingresses", targets=_ingress_backends),
)


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


def _slot(rule: KindRule, item: Item, peers: Sequence[Item]) -> tuple[str, ...]:
    """Where an object's values go: the component, then the rule's key (by name when the component has several)."""
    if rule.slot is None:
        return (item.component,)
    if len(peers) == 1 or rule.plural is None:
        return (item.component, rule.slot)
    return (item.component, rule.plural, camel(item.name))


def build_model(objects: Sequence[SourceObject], *, name: str, version: str, app_version: str | None,
                standard_labels: bool = True, rules: Sequence[KindRule] = KIND_RULES) -> Model:
    """Build the chart model: components, parameters with the source's values as defaults, object templates.

    ``rules`` are the kind rules to apply (``KIND_RULES``); a kind without one is carried verbatim.
    """
    by_kind = {rule.kind: rule for rule in rules}
    items = [Item(copy_tree(o.obj)) for o in objects]
    plain = [i.obj for i in items]
    namespace = main_namespace(plain)
    warnings: list[str] = []
    components = _components(items, by_kind, warnings)
    # one template file per component (all its objects), one per shared object
    used: set[str] = set()
    for members in components.values():
        filename = _filename(members[0].name, used)
        for item in members:
            item.filename = filename
    for item in items:
        if item.component is None:
            item.filename = _filename(f"{item.kind}-{item.name}", used)
    if app_version is None:
        app_version = _guess_app_version(plain)
    model = Model(name=name, version=version, app_version=app_version, namespace=namespace, warnings=warnings)
    builder = _Builder(model, items)

    def parameterize(first: bool) -> None:
        for key, members in components.items():
            if not first:
                model.components[key] = [i.id for i in members]
                model.groups[(key,)] = "Component " + ", ".join(i.id for i in members)
            for item in members:
                rule = by_kind[item.kind]
                if rule.first is first:
                    peers = [i for i in members if i.kind == item.kind]
                    fields = Fields(builder, item, alone=len(peers) == 1)
                    item.condition = rule.params(fields, _slot(rule, item, peers))

    # Secrets first: their names become expressions inside pod specs before pod fields are parameterized
    parameterize(first=True)
    for item in items:
        fields = Fields(builder, item)
        for path, secret_name in list(_secret_ref_fields(item.obj)):
            existing = builder.secrets.get((item.namespace, secret_name))
            if existing:
                fields.expr(path, f"{{0}} | default {schemas.go_string(secret_name)} | toJson", (Ref(existing),))
                fields.feed(existing, path)
    parameterize(first=False)

    for item in items:
        fields = Fields(builder, item)
        _namespace_exprs(fields, namespace)
        if standard_labels:
            _add_labels(item.obj, model)
        model.templates.append(TemplateFile(item.filename, item.obj, item.id, item.condition))
    files = [members[0].filename for members in components.values()]
    files += [i.filename for i in items if i.component is None]
    order = {filename: i for i, filename in enumerate(files)}
    model.templates.sort(key=lambda tf: order[tf.filename])  # stable: source order within a file
    shared = [i.id for i in items if i.component is None]
    if shared:
        log.info("carried verbatim (no parameters): %s", ", ".join(shared))
    return model


def _namespace_exprs(f: Fields, namespace: str | None) -> None:
    if namespace and f.item.namespace == namespace:
        f.expr(("metadata", "namespace"), ".Release.Namespace | toJson")
    if f.item.kind in ("RoleBinding", "ClusterRoleBinding"):
        for i, subject in enumerate(f.obj.get("subjects") or ()):
            if isinstance(subject, dict) and subject.get("namespace") == namespace and namespace:
                f.expr(("subjects", i, "namespace"), ".Release.Namespace | toJson")


def _add_labels(obj: dict[str, Any], model: Model) -> None:
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


