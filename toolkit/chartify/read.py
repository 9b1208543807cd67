"""Read Kubernetes objects from files, directories, kustomizations, stdin or a live namespace, as plain dicts.

Every source yields the same thing, a list of ``SourceObject`` (the object plus where it came from), so the live
cluster is a second reader of the same objects, not a second pipeline. A directory holding a kustomization
(``kustomization.yaml``, ``kustomization.yml`` or ``Kustomization``) is built with kustomize, as ``kubectl apply
-k`` would; any other directory is read file by file. List documents (``kind: List`` and typed lists such as
``ConfigMapList``) are unwrapped. YAML goes through the one YAML 1.1 parser (``toolkit.objects``), as the API
server reads it.
"""

from __future__ import annotations

import io
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple, Sequence

from toolkit.errors import InputError
from toolkit.objects import identity_key, load_documents, object_id

if TYPE_CHECKING:
    from toolkit.adapters.kube import Kube

__all__ = [
    "CLUSTER_PREFIX",
    "MAX_FILE_BYTES",
    "ReadOptions",
    "ReadResult",
    "SourceObject",
    "read_app",
    "read_sources",
]

log = logging.getLogger(__name__)

CLUSTER_PREFIX = "cluster:"
#: a manifest file larger than this is refused: real app manifests are kilobytes, and a huge file is usually a
#: mistake (a dump, a binary) that would make the chart unreadable.
MAX_FILE_BYTES = 10 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml", ".json")
#: files that look like manifests but configure tools; they hold no object
TOOL_KINDS = {"Kustomization", "Component"}
TOOL_GROUPS = ("kustomize.config.k8s.io/", "config.kubernetes.io/")


@dataclass(frozen=True)
class ReadOptions:
    """How sources are read."""

    max_file_bytes: int = MAX_FILE_BYTES
    #: the namespace objects without one are assumed to live in (the release namespace when rendering)
    default_namespace: str | None = None
    #: the kustomize binary for kustomization directories (default: CHARTKIT_KUSTOMIZE, PATH, kubectl kustomize)
    kustomize: Path | None = None
    #: the kustomize to use when none of those exists (the CLI passes the build ``chartkit up`` caches)
    kustomize_fallback: Path | None = None


class SourceObject(NamedTuple):
    """One Kubernetes object and where it was read: ``origin`` is a path, ``-`` or ``cluster:NS``."""

    obj: dict[str, Any]
    origin: str
    index: int  # document index within origin (0-based); for List items, the document's index

    @property
    def where(self) -> str:
        return f"{self.origin} (document {self.index})"

    @property
    def id(self) -> str:
        return object_id(self.obj)


@dataclass(frozen=True)
class ReadResult:
    """The objects read, and how each source was read (source → e.g. ``built with kustomize v5.8.2 (...)``)."""

    objects: list[SourceObject]
    how: dict[str, str]


def _expand_paths(source: str) -> list[Path]:
    path = Path(source)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in YAML_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not found:
            raise InputError(f'unable to read "{source}": the directory holds no .yaml, .yml or .json file')
        return found
    if not path.exists():
        raise InputError(f'unable to read "{source}": no such file or directory')
    return [path]


def _read_text(path: Path, options: ReadOptions) -> str:
    try:
        size = path.stat().st_size
        if size > options.max_file_bytes:
            raise InputError(
                f'unable to read "{path}": {size / 1e6:.1f} MB exceeds the {options.max_file_bytes / 1e6:.1f} MB '
                "limit per manifest file", hint="split it, or drop what is not part of the app (dumps, binaries)")
        data = path.read_bytes()
    except PermissionError as exc:
        raise InputError(f'unable to read "{path}": permission denied', hint="check the file mode") from exc
    except IsADirectoryError as exc:  # pragma: no cover - _expand_paths handles directories
        raise InputError(f'unable to read "{path}": is a directory') from exc
    except OSError as exc:
        raise InputError(f'unable to read "{path}": {exc.strerror or exc}') from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f'unable to read "{path}": not UTF-8 text (byte {exc.start})',
                         hint="pass Kubernetes manifests as YAML or JSON") from exc


def _read_stdin(stdin: Any, options: ReadOptions) -> str:
    """Read ``-`` as bytes where we can, so bad encodings get the same one-line error as files."""
    stream = stdin or sys.stdin
    raw = getattr(stream, "buffer", None)
    try:
        data = raw.read() if raw is not None else stream.read()
    except UnicodeDecodeError as exc:  # a text stream that decodes for us
        raise InputError(f'unable to read "-": not UTF-8 text (byte {exc.start})',
                         hint="pass Kubernetes manifests as YAML or JSON") from exc
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogateescape")
    if len(data) > options.max_file_bytes:
        raise InputError(f'unable to read "-": stdin exceeds the {options.max_file_bytes / 1e6:.1f} MB limit')
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f'unable to read "-": not UTF-8 text (byte {exc.start})',
                         hint="pass Kubernetes manifests as YAML or JSON") from exc


def _check_object(doc: Any, origin: str, index: int, item: int | None = None, list_kind: str = "List") -> None:
    where = f'"{origin}" (document {index}' + (f", {list_kind} item {item})" if item is not None else ")")
    if not isinstance(doc, dict):
        raise InputError(f"unable to use {where}: expected a Kubernetes object (a mapping), got "
                         f"{type(doc).__name__}", hint="each YAML document must be one object")
    missing = [f for f in ("apiVersion", "kind") if not isinstance(doc.get(f), str) or not doc.get(f)]
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    label = f'{doc.get("kind") or "object"} "{name or "?"}"'
    if missing:
        raise InputError(f"unable to use {where}: {label} has no {missing[0]}",
                         hint="is this a Kubernetes manifest? every object needs apiVersion, kind and metadata.name")
    if not isinstance(meta, dict):
        raise InputError(f"unable to use {where}: {label} has no metadata",
                         hint="every object needs metadata.name")
    if not isinstance(name, str) or not name:
        if meta.get("generateName"):
            raise InputError(f"unable to use {where}: {label} has metadata.generateName but no metadata.name",
                             hint="a chart must name its objects; set metadata.name")
        raise InputError(f"unable to use {where}: {label} has no metadata.name", hint="set metadata.name")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not isinstance(value, dict):
            raise InputError(f"unable to use {where}: {label} field metadata.{field} must be a mapping")
    _check_shapes(doc, where, label)


_POD_SPECS = {"Deployment": "spec.template", "StatefulSet": "spec.template", "DaemonSet": "spec.template",
              "ReplicaSet": "spec.template", "Job": "spec.template", "CronJob": "spec.jobTemplate.spec.template"}
_CONTAINERS = ("containers", "initContainers", "ephemeralContainers")
#: the shapes of the fields chartify reads, as the API server requires them: (kinds or None for all, path, type);
#: "*" is every value of a map or item of a list
_SHAPES: list[tuple[frozenset[str] | None, str, type]] = [
    (None, "metadata.namespace", str), (None, "metadata.labels.*", str), (None, "metadata.annotations.*", str),
    (None, "spec", dict),
    # (data values are compared as they are: verify reports a number where the chart has a string)
    (frozenset({"ConfigMap", "Secret"}), "data", dict), (frozenset({"Secret"}), "stringData", dict),
    (frozenset({"Service"}), "spec.ports", list), (frozenset({"Service"}), "spec.ports.*", dict),
    (frozenset({"Service"}), "spec.selector", dict), (frozenset({"Service"}), "spec.selector.*", str),
    (frozenset({"HorizontalPodAutoscaler"}), "spec.scaleTargetRef", dict),
    (frozenset({"Ingress"}), "spec.rules", list), (frozenset({"Ingress"}), "spec.rules.*", dict),
    (frozenset({"Ingress"}), "spec.rules.*.http", dict), (frozenset({"Ingress"}), "spec.rules.*.http.paths", list),
    (frozenset({"Ingress"}), "spec.rules.*.http.paths.*", dict),
    (frozenset({"Ingress"}), "spec.rules.*.http.paths.*.backend", dict),
    (frozenset({"Ingress"}), "spec.rules.*.http.paths.*.backend.service", dict),
    (frozenset({"Ingress"}), "spec.defaultBackend", dict), (frozenset({"Ingress"}), "spec.defaultBackend.service", dict),
    (frozenset({"Deployment", "StatefulSet"}), "spec.replicas", int),
    (frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}), "spec.selector", dict),
    (frozenset({"StatefulSet"}), "spec.volumeClaimTemplates", list),
    (frozenset({"StatefulSet"}), "spec.volumeClaimTemplates.*", dict),
    (frozenset({"StatefulSet"}), "spec.volumeClaimTemplates.*.metadata", dict),
    (frozenset({"StatefulSet"}), "spec.volumeClaimTemplates.*.spec", dict),
    (frozenset({"CronJob"}), "spec.jobTemplate", dict), (frozenset({"CronJob"}), "spec.jobTemplate.spec", dict),
]
_POD_SHAPES: list[tuple[str, type]] = [
    ("", dict), (".metadata", dict), (".metadata.labels", dict), (".metadata.labels.*", str),
    (".metadata.annotations", dict), (".metadata.annotations.*", str), (".spec", dict),
    *((f".spec.{group}", list) for group in _CONTAINERS), *((f".spec.{group}.*", dict) for group in _CONTAINERS),
    *((f".spec.{group}.*.name", str) for group in _CONTAINERS),
    *((f".spec.{group}.*.{field}", list) for group in _CONTAINERS
      for field in ("env", "envFrom", "ports", "volumeMounts", "command", "args")),
    *((f".spec.{group}.*.{field}.*", dict) for group in _CONTAINERS for field in ("env", "envFrom", "ports")),
    *((f".spec.{group}.*.env.*.name", str) for group in _CONTAINERS),
    *((f".spec.{group}.*.{field}", dict) for group in _CONTAINERS for field in ("resources", "securityContext")),
    (".spec.volumes", list), (".spec.volumes.*", dict), (".spec.imagePullSecrets", list),
    (".spec.imagePullSecrets.*", dict), (".spec.nodeSelector", dict), (".spec.tolerations", list),
    (".spec.affinity", dict), (".spec.securityContext", dict), (".spec.serviceAccountName", str),
]
_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", int: "an integer"}


def _at(node: Any, parts: Sequence[str], path: str) -> Iterator[tuple[str, Any]]:
    """(field path, value) of every node a dotted pattern names (``*``: each map value or list item)."""
    if not parts:
        yield path, node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            yield from _at(value, rest, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
    elif isinstance(node, dict) and head in node:
        yield from _at(node[head], rest, f"{path}.{head}" if path else head)


def _check_shapes(doc: dict[str, Any], where: str, label: str) -> None:
    """Fields chartify reads must have the shape the API server requires (else a field of the wrong type would
    reach the chart's code as a crash, not as a message naming it)."""
    kind = doc.get("kind")
    rules = [(pattern, expected) for kinds, pattern, expected in _SHAPES if kinds is None or kind in kinds]
    if kind in _POD_SPECS:
        rules += [(_POD_SPECS[kind] + suffix, expected) for suffix, expected in _POD_SHAPES]
    for pattern, expected in rules:
        for path, value in _at(doc, pattern.split("."), ""):
            if value is None:
                continue  # null is "unset" for the API server
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise InputError(f"unable to use {where}: {label} field {path} must be {_TYPE_NAMES[expected]}, "
                                 f"not {type(value).__name__}", hint="fix the manifest; the API server refuses it too")


def _list_items(doc: dict[str, Any]) -> list[Any] | None:
    """The items of a list document (``kind: List`` or a typed ``ConfigMapList``, ``RoleBindingList``...), or None.

    Like the API server and kubectl (apimachinery's unstructured list decoding), an item of a typed list that
    has neither ``kind`` nor ``apiVersion`` is of the list's kind without ``List``, in the list's API version: the
    API server itself returns typed lists that way.
    """
    kind = doc.get("kind")
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
        return None
    items = doc["items"]
    if items is None:  # `items: null`, as kubectl prints an empty list
        return []
    if not isinstance(items, list):
        return None
    if kind != "List":
        item_kind, api_version = kind[: -len("List")], doc.get("apiVersion")
        items = [{"apiVersion": api_version, "kind": item_kind, **item}
                 if isinstance(item, dict) and "kind" not in item and "apiVersion" not in item else item
                 for item in items]
    return items


def _objects_from_docs(docs: Iterable[Any], origin: str) -> Iterator[SourceObject]:
    for index, doc in enumerate(docs):
        if doc is None:
            continue  # empty documents (a trailing ---) are normal
        if isinstance(doc, dict) and isinstance(doc.get("kind"), str) and (
                doc["kind"] in TOOL_KINDS or str(doc.get("apiVersion", "")).startswith(TOOL_GROUPS)):
            log.info("skipping %s (document %d): a %s configures a tool, it is not an object",
                     origin, index, doc.get("kind"))
            continue
        items = _list_items(doc) if isinstance(doc, dict) else None
        if items is not None:
            for item_no, item in enumerate(items):
                _check_object(item, origin, index, item_no, doc["kind"])
                yield SourceObject(item, origin, index)
            continue
        _check_object(doc, origin, index)
        yield SourceObject(doc, origin, index)


def _read_cluster(source: str, kube: Callable[[], Kube] | None) -> list[SourceObject]:
    spec = source[len(CLUSTER_PREFIX):]
    namespace, _, selector = spec.partition("?")
    if not namespace:
        raise InputError(f'unable to read "{source}": no namespace', hint="use cluster:NAMESPACE[?selector]")
    if kube is None:
        raise InputError(f'unable to read "{source}": no cluster to read it from')
    items = kube().list_namespace_objects(namespace, selector or None)
    return list(_objects_from_docs([{"kind": "List", "items": list(items)}], source))


def _read_kustomization(source: str, options: ReadOptions, kustomize: Any) -> tuple[list[SourceObject], str]:
    """``kustomize build`` the directory; the objects it prints, and which kustomize built them."""
    if kustomize is None:
        from toolkit.adapters.kustomize import find_kustomize

        kustomize = find_kustomize(options.kustomize, fallback=options.kustomize_fallback)
    text = kustomize.build(Path(source))
    origin = f"kustomize build {source}"
    if len(text.encode()) > options.max_file_bytes:
        raise InputError(f'unable to read "{origin}": its output exceeds the {options.max_file_bytes / 1e6:.1f} MB '
                         "limit per manifest", hint="chartify the parts of the app separately")
    return list(_objects_from_docs(load_documents(text, origin), origin)), f"built with {kustomize.label()}"


def read_app(sources: Sequence[str], *, options: ReadOptions = ReadOptions(),
             stdin: io.TextIOBase | None = None, kube: Callable[[], Kube] | None = None,
             kustomize: Any = None) -> ReadResult:
    """Read every object from ``sources`` (files, directories, ``-``, ``cluster:NS[?selector]``), in order.

    Raises ``InputError`` for anything that is not a readable, well-formed object, for duplicates, and for input
    holding no object at all. ``kube`` gives the Kubernetes adapter for ``cluster:`` sources (made on first use:
    files never need a cluster); ``kustomize`` a ``toolkit.adapters.kustomize.Kustomize`` for kustomization
    directories (default: found from ``options``).
    """
    if not sources:
        raise InputError("unable to read the app: no source given", hint="pass files, directories, - or cluster:NS")
    objects: list[SourceObject] = []
    how: dict[str, str] = {}
    for source in sources:
        if source.startswith(CLUSTER_PREFIX):
            objects.extend(_read_cluster(source, kube))
            how[source] = "read from the cluster"
            continue
        if source == "-":
            text = _read_stdin(stdin, options)
            objects.extend(_objects_from_docs(load_documents(text, "-"), "-"))
            how[source] = "read from stdin"
            continue
        if Path(source).is_dir():
            from toolkit.adapters.kustomize import kustomization_file

            if kustomization_file(Path(source)) is not None:
                built, how[source] = _read_kustomization(source, options, kustomize)
                objects.extend(built)
                continue
        paths = _expand_paths(source)
        for path in paths:
            text = _read_text(path, options)
            objects.extend(_objects_from_docs(load_documents(text, str(path)), str(path)))
        how[source] = (f"read file by file ({len(paths)} file{'s' if len(paths) != 1 else ''}, no kustomization)"
                       if Path(source).is_dir() else "read")
    if not objects:
        raise InputError(f"unable to read the app from {', '.join(sources)}: no Kubernetes object found",
                         hint="the input is empty or holds only comments and tool configuration")
    seen: dict[tuple[str, str, str, str], SourceObject] = {}
    for item in objects:
        key = identity_key(item.obj, options.default_namespace)
        if key in seen:
            first = seen[key]
            raise InputError(f'unable to use "{item.origin}" (document {item.index}): {item.id} duplicates the '
                             f"object at {first.where}", hint="pass each object once")
        seen[key] = item
    log.debug("read %d objects from %d sources", len(objects), len(sources))
    return ReadResult(objects, how)


def read_sources(sources: Sequence[str], *, options: ReadOptions = ReadOptions(),
                 stdin: io.TextIOBase | None = None, kube: Any = None, kustomize: Any = None) -> list[SourceObject]:
    """The objects of ``read_app`` alone."""
    return read_app(sources, options=options, stdin=stdin, kube=kube, kustomize=kustomize).objects
