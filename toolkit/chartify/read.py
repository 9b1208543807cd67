"""Read Kubernetes objects from files, directories, kustomizations, stdin or a live namespace, as plain dicts.

Every source yields the same thing, a list of ``SourceObject`` (the object plus where it came from), so the live
cluster is a second reader of the same objects, not a second pipeline. A directory holding a kustomization
(``kustomization.yaml``, ``kustomization.yml`` or ``Kustomization``) is built with kustomize, as ``kubectl apply
-k`` would; any other directory is read file by file. List documents (``kind: List`` and typed lists such as
``ConfigMapList``) are unwrapped. YAML is parsed the way the Kubernetes API
server parses it (YAML 1.1 via go-yaml v2: ``yes`` is a boolean, ``0755`` is octal), with two deliberate
exceptions: timestamps stay strings (the API treats them as strings) and a bare ``=`` is a string (CRD enums).
"""

from __future__ import annotations

import io
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from toolkit.errors import InputError

__all__ = [
    "CLUSTER_PREFIX",
    "MAX_FILE_BYTES",
    "ReadOptions",
    "ReadResult",
    "SourceObject",
    "load_documents",
    "object_id",
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
    #: where ``cluster:`` sources are read (default: $KUBECONFIG or ~/.kube/config, its current context)
    kubeconfig: Path | None = None
    context: str | None = None
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


def object_id(obj: dict[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped or namespace-less): one object's identity."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns}/{meta.get('name')}" if ns else f"{obj.get('kind')}/{meta.get('name')}"


def _api_group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def identity_key(obj: dict[str, Any], default_namespace: str | None = None) -> tuple[str, str, str, str]:
    """Two objects are duplicates when group, kind, namespace and name match (the API version may differ)."""
    meta = obj.get("metadata") or {}
    return (_api_group(str(obj.get("apiVersion", ""))), str(obj.get("kind")),
            str(meta.get("namespace") or default_namespace or ""), str(meta.get("name")))


_PARSER_CLASSES: tuple[Any, Any, Any] | None = None


def _parser_classes() -> tuple[Any, Any, Any]:
    """A constructor, a resolver and its table with go-yaml v2 semantics (what the API server sees), built once.

    YAML 1.1 always (a ``%YAML 1.2`` directive does not change it, as it does not for the API server);
    timestamps and a bare ``=`` stay strings. The resolver's 1.1 table is computed once: ruamel otherwise
    recomputes it for every scalar, a third of the parse time.
    """
    global _PARSER_CLASSES
    if _PARSER_CLASSES is None:
        from ruamel.yaml.constructor import SafeConstructor
        from ruamel.yaml.resolver import VersionedResolver

        class _Constructor(SafeConstructor):
            pass

        _Constructor.add_constructor("tag:yaml.org,2002:timestamp", lambda c, n: c.construct_scalar(n))
        _Constructor.add_constructor("tag:yaml.org,2002:value", lambda c, n: c.construct_scalar(n))
        table = VersionedResolver(version=(1, 1)).versioned_resolver

        class _Resolver(VersionedResolver):
            @property
            def versioned_resolver(self) -> Any:
                return table

        _PARSER_CLASSES = (_Constructor, _Resolver, table)
    return _PARSER_CLASSES


def _yaml() -> Any:
    """A fresh parser per stream (ruamel parsers keep per-stream state)."""
    from ruamel.yaml import YAML

    constructor, resolver, _table = _parser_classes()
    # libyaml's parser (ruamel.yaml.clib) when installed: 4x faster; ruamel falls back to pure Python otherwise
    y = YAML(typ="safe", pure=False)
    y.version = (1, 1)
    y.Constructor = constructor
    y.Resolver = resolver
    return y


def load_documents(text: str, origin: str) -> list[Any]:
    """Parse a multi-document YAML stream; a syntax error names the file, document and line."""
    try:
        return _load_plain(text)
    except Exception:  # noqa: BLE001 - anything the fast path does not take, ruamel's constructor decides
        pass
    return _load_ruamel(text, origin)


def _load_ruamel(text: str, origin: str) -> list[Any]:
    """ruamel's full constructor: anchors, merge keys and every tag, and errors with line and column."""
    parser = _yaml()
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    docs: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ruamel warns about YAML 1.1 floats without a dot; go-yaml accepts them
        try:
            for doc in parser.load_all(io.StringIO(text)):
                docs.append(doc)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = (exc.problem or exc.context or "invalid YAML").strip()
            raise InputError(f'unable to parse "{origin}" (document {len(docs)}{line}): {problem}',
                             hint="fix the YAML syntax") from exc
        except YAMLError as exc:
            raise InputError(f'unable to parse "{origin}" (document {len(docs)}): {exc}'.splitlines()[0],
                             hint="fix the YAML syntax") from exc
    return docs


class _NotPlain(Exception):
    """Something the fast path leaves to ruamel's constructor: anchors, merge keys, complex keys, other tags."""


_TAG = "tag:yaml.org,2002:"


def _int(text: str) -> int:
    """ruamel's SafeConstructor.construct_yaml_int for YAML 1.1 (``0755`` is octal, ``1:30`` sexagesimal)."""
    text = text.replace("_", "")
    sign = -1 if text[0] == "-" else 1
    if text[0] in "+-":
        text = text[1:]
    if text == "0":
        return 0
    if text.startswith("0b"):
        return sign * int(text[2:], 2)
    if text.startswith("0x"):
        return sign * int(text[2:], 16)
    if text.startswith("0o"):
        return sign * int(text[2:], 8)
    if text[0] == "0":
        return sign * int(text, 8)
    if ":" in text:
        value = 0
        for base, digit in enumerate(reversed(text.split(":"))):
            value += int(digit) * 60 ** base
        return sign * value
    return sign * int(text)


def _float(text: str) -> float:
    """ruamel's SafeConstructor.construct_yaml_float for YAML 1.1 (``.inf``, ``1e3``, ``1:30.5``)."""
    from ruamel.yaml.constructor import SafeConstructor

    text = text.replace("_", "").lower()
    sign = -1 if text[0] == "-" else 1
    if text[0] in "+-":
        text = text[1:]
    if text == ".inf":
        return sign * SafeConstructor.inf_value
    if text == ".nan":
        return SafeConstructor.nan_value
    if ":" in text:
        value = 0.0
        for base, digit in enumerate(reversed(text.split(":"))):
            value += float(digit) * 60 ** base
        return sign * value
    return sign * float(text)


def _bool(text: str) -> bool:
    from ruamel.yaml.constructor import SafeConstructor

    return SafeConstructor.bool_values[text.lower()]


#: how each scalar tag becomes a value; timestamps and ``=`` stay strings (see the module docstring)
_SCALARS = {_TAG + "str": str, _TAG + "null": lambda _text: None, _TAG + "bool": _bool, _TAG + "int": _int,
            _TAG + "float": _float, _TAG + "timestamp": str, _TAG + "value": str}


def _load_plain(text: str) -> list[Any]:
    """Every document as plain dicts, lists and scalars, built straight from libyaml's events.

    Same parser (ruamel.yaml.clib's libyaml), same YAML 1.1 resolver table and the same scalar construction as
    ``_yaml()``, without ruamel's node tree and generic constructor: half the time. Raises on
    anything else (anchors, merge keys, duplicate or complex keys, other tags, syntax errors), and the caller
    then uses ruamel's full constructor, which gives the value or the error message (also when
    ruamel.yaml.clib is missing).
    """
    from _ruamel_yaml import CParser
    from ruamel.yaml.events import (MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent,
                                    SequenceStartEvent, StreamEndEvent)

    # the resolver table's patterns are lazily compiled wrappers: take their match methods once, not per scalar
    table = {first: [(tag, regexp.match) for tag, regexp in entries]
             for first, entries in _parser_classes()[2].items()}
    next_event = CParser(text).get_event

    def scalar(event: Any) -> Any:
        if event.anchor is not None:
            raise _NotPlain("anchor")
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            if not event.implicit[0]:  # quoted, or tagged "!": a string
                return value
            for tag, match in table.get(value[:1], ()):  # noqa: B007 - the matching tag is used below
                if match(value):
                    break
            else:
                return value
        if tag == _TAG + "str":
            return value
        if tag not in _SCALARS:
            raise _NotPlain(tag)
        return _SCALARS[tag](value)

    def node(event: Any) -> Any:
        kind = type(event)
        if kind is ScalarEvent:
            return scalar(event)
        if event.anchor is not None:  # an anchor, or an alias to one
            raise _NotPlain("anchor")
        if kind is MappingStartEvent and event.tag in (None, "!", _TAG + "map"):
            mapping: dict[Any, Any] = {}
            while type(event := next_event()) is not MappingEndEvent:
                if type(event) is not ScalarEvent:
                    raise _NotPlain("complex key")
                key = scalar(event)
                if key in mapping:
                    raise _NotPlain("duplicate key")  # ruamel names both places
                mapping[key] = node(next_event())
            return mapping
        if kind is SequenceStartEvent and event.tag in (None, "!", _TAG + "seq"):
            sequence: list[Any] = []
            while type(event := next_event()) is not SequenceEndEvent:
                sequence.append(node(event))
            return sequence
        raise _NotPlain(str(event))

    docs: list[Any] = []
    next_event()  # stream start
    while type(next_event()) is not StreamEndEvent:  # document start
        docs.append(node(next_event()))
        next_event()  # document end
    return docs


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
        if isinstance(doc, dict) and (doc.get("kind") in TOOL_KINDS
                                      or str(doc.get("apiVersion", "")).startswith(TOOL_GROUPS)):
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


def _read_cluster(source: str, options: ReadOptions, client: Any) -> list[SourceObject]:
    spec = source[len(CLUSTER_PREFIX):]
    namespace, _, selector = spec.partition("?")
    if not namespace:
        raise InputError(f'unable to read "{source}": no namespace', hint="use cluster:NAMESPACE[?selector]")
    if client is None:
        from toolkit.deploy.kube import Kube  # lazy: the kubernetes client is slow to import

        client = Kube(options.kubeconfig, options.context)
    items = client.list_namespace_objects(namespace, selector or None)
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
             stdin: io.TextIOBase | None = None, kube: Any = None, kustomize: Any = None) -> ReadResult:
    """Read every object from ``sources`` (files, directories, ``-``, ``cluster:NS[?selector]``), in order.

    Raises ``InputError`` for anything that is not a readable, well-formed object, for duplicates, and for input
    holding no object at all. ``kube`` is a ``toolkit.deploy.kube.Kube`` for ``cluster:`` sources (default: one
    made from ``options.kubeconfig``/``options.context``); ``kustomize`` a ``toolkit.adapters.kustomize.Kustomize``
    for kustomization directories (default: found from ``options``).
    """
    if not sources:
        raise InputError("unable to read the app: no source given", hint="pass files, directories, - or cluster:NS")
    objects: list[SourceObject] = []
    how: dict[str, str] = {}
    for source in sources:
        if source.startswith(CLUSTER_PREFIX):
            objects.extend(_read_cluster(source, options, kube))
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
