"""Kubernetes objects as plain data: their identity, and the one YAML 1.1 parser every manifest goes through.

YAML is parsed the way the Kubernetes API server parses it (YAML 1.1 via go-yaml v2: ``yes`` is a boolean,
``0755`` is octal), with two deliberate exceptions: timestamps stay strings (the API treats them as strings) and
a bare ``=`` is a string (CRD enums). Plain documents are built straight from libyaml's events (ruamel.yaml.clib);
anything unusual (anchors, merge keys, other tags, errors) goes through ruamel's full constructor. Objects are
plain dicts, never typed models, so fields this code does not know survive.

    load_documents(text, origin)   every document of a stream; aliases may not expand it beyond what go-yaml
                                   (the API server's and helm's parser) accepts, so a "billion laughs" is refused
    parse_manifest(text, origin)   the objects of a manifest (helm's rendered output, a release manifest),
                                   ``kind: List`` and typed ``*List`` wrappers unwrapped
    ObjectKey.of(obj)              one object's identity (kind, namespace, name, apiVersion)
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from toolkit.errors import InputError

__all__ = [
    "ObjectKey",
    "expanded_size",
    "identity_key",
    "is_list",
    "load_documents",
    "object_id",
    "parse_manifest",
]


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Which object: kind, namespace ("" when cluster-scoped or unset), name, and the apiVersion it was seen at."""

    kind: str
    namespace: str
    name: str
    api_version: str = ""

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if not self.namespace else f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any], namespace: str = "") -> ObjectKey:
        meta = obj.get("metadata") or {}
        return cls(str(obj.get("kind", "")), str(meta.get("namespace") or namespace), str(meta.get("name", "")),
                   str(obj.get("apiVersion", "")))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Two objects are the same object when group, kind, namespace and name match (versions may differ)."""
        return (self.group, self.kind, self.namespace, self.name)


def object_id(obj: dict[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped or namespace-less): one object's identity."""
    return str(ObjectKey.of(obj))


def identity_key(obj: dict[str, Any], default_namespace: str | None = None) -> tuple[str, str, str, str]:
    """Two objects are duplicates when group, kind, namespace and name match (the API version may differ)."""
    return ObjectKey.of(obj, default_namespace or "").identity


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


def _yaml(*, pure: bool = False) -> Any:
    """A fresh parser per stream (ruamel parsers keep per-stream state)."""
    from ruamel.yaml import YAML

    constructor, resolver, _table = _parser_classes()
    # libyaml's parser (ruamel.yaml.clib) when installed: 4x faster; ruamel falls back to pure Python otherwise
    y = YAML(typ="safe", pure=pure)
    y.version = (1, 1)
    y.Constructor = constructor
    y.Resolver = resolver
    return y


def load_documents(text: str, origin: str) -> list[Any]:
    """Parse a multi-document YAML stream; a syntax error names the file, document and line."""
    try:
        docs = _load_plain(text)
    except Exception:  # noqa: BLE001 - anything the fast path does not take, ruamel's constructor decides
        docs = _load_ruamel(text, origin)
    if _SURROGATE_ESCAPE.search(text):
        docs = [_join_surrogates(doc, origin, index) for index, doc in enumerate(docs)]
    return docs


#: a ``\uD800``-``\uDFFF`` escape: JSON writers (Python's json with ensure_ascii) escape an emoji as a pair of them
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _join_surrogates(node: Any, origin: str, index: int) -> Any:
    """Strings with escaped surrogate pairs joined into the characters they encode (YAML's parser keeps the two
    halves, which no file or API can hold); a lone half is refused, as Go's decoders refuse it."""
    if isinstance(node, str):
        try:
            return node.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise InputError(f'unable to parse "{origin}" (document {index}): a string holds half of a UTF-16 '
                             "surrogate pair (a \\uD800-\\uDFFF escape without its other half)",
                             hint="escape characters beyond U+FFFF as a pair, or write them as UTF-8") from None
    if isinstance(node, dict):
        return {_join_surrogates(k, origin, index): _join_surrogates(v, origin, index) for k, v in node.items()}
    if isinstance(node, list):
        return [_join_surrogates(v, origin, index) for v in node]
    return node


def _load_ruamel(text: str, origin: str) -> list[Any]:
    """ruamel's full constructor: anchors, merge keys and every tag, and errors with line and column.

    Each document is composed first (a node graph in which an alias is the anchored node itself, so its size is
    the text's) and its expanded size checked (``_check_aliases``) before anything is constructed from it.
    libyaml's scanner refuses a few plain scalars go-yaml (helm, the API server) takes, such as a URL in a flow
    sequence (``sources: [https://x]``): when it refuses, ruamel's own scanner decides (a document both refuse is
    reported in libyaml's words).
    """
    _check_depth(text, origin)
    from ruamel.yaml.error import YAMLError

    try:
        return _construct(_yaml(), text, origin)
    except YAMLError as exc:
        first = exc
    try:
        return _construct(_yaml(pure=True), text, origin)
    except YAMLError:
        raise _syntax_error(first, origin) from first  # libyaml's words, what the fast path always reported


def _construct(parser: Any, text: str, origin: str) -> list[Any]:
    docs: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ruamel warns about YAML 1.1 floats without a dot; go-yaml accepts them
        try:
            for node in parser.compose_all(io.StringIO(text)):
                _check_aliases(node, origin, len(docs))
                docs.append(parser.constructor.construct_document(node))
        except RecursionError as exc:
            raise InputError(f'unable to parse "{origin}" (document {len(docs)}): nested more than Python can '
                             "follow", hint="flatten the document") from exc
        except Exception as exc:  # noqa: BLE001 - the document index travels with the error
            exc.chartkit_document = len(docs)  # type: ignore[attr-defined]
            raise
    return docs


def _syntax_error(exc: Exception, origin: str) -> InputError:
    from ruamel.yaml.error import MarkedYAMLError

    document = getattr(exc, "chartkit_document", 0)
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        return InputError(f'unable to parse "{origin}" (document {document}{line}): {problem}',
                          hint="fix the YAML syntax")
    return InputError(f'unable to parse "{origin}" (document {document}): {exc}'.splitlines()[0],
                      hint="fix the YAML syntax")


#: how deeply maps and lists may nest: real manifests stay under 30; ruamel's C composer recurses per level and
#: crashes the interpreter (SIGSEGV) far below what a hostile file can nest
MAX_DEPTH = 500


def _check_depth(text: str, origin: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` before ruamel's recursive composer sees it (libyaml's event
    parser, used here, is iterative)."""
    try:
        from _ruamel_yaml import CParser
    except ImportError:  # pure-Python ruamel: its recursion ends in a RecursionError, which is caught
        return
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import (DocumentStartEvent, MappingEndEvent, MappingStartEvent, SequenceEndEvent,
                                    SequenceStartEvent, StreamEndEvent)

    next_event = CParser(text).get_event
    depth, document = 0, -1
    try:
        while (kind := type(next_event())) is not StreamEndEvent:
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError(f'unable to parse "{origin}" (document {document}): maps and lists nest more '
                                     f"than {MAX_DEPTH} levels deep", hint="flatten the document")
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                depth -= 1
            elif kind is DocumentStartEvent:
                document += 1
    except YAMLError:
        return  # a syntax error: ruamel's parser reports it with line and column


#: go-yaml's limits on alias expansion (yaml.v2 decode.go, also in sigs.k8s.io/yaml and so in the API server and
#: helm): up to 400,000 decoded nodes 99% may come from aliases, from 4,000,000 only 10%, linearly in between
_ALIAS_RANGE_LOW, _ALIAS_RANGE_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RANGE_LOW:
        return 0.99
    if decoded >= _ALIAS_RANGE_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RANGE_LOW) / (_ALIAS_RANGE_HIGH - _ALIAS_RANGE_LOW)


def expanded_size(root: Any) -> tuple[int, int]:
    """(nodes once every alias is expanded, distinct nodes) of a composed ruamel node graph, in linear time.

    Sizes are memoised per node, so a graph that expands to 10**9 nodes costs as much as its text; a node that
    contains itself (a recursive alias) expands without end and raises ``RecursionError``.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            value = node.value
            children = ([n for pair in value for n in pair] if isinstance(value, list) and value
                        and isinstance(value[0], tuple) else value if isinstance(value, list) else [])
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            active.discard(key)
            continue
        if key in sizes:
            continue
        if key in active:
            raise RecursionError("a recursive alias")
        active.add(key)
        stack.append((node, True))
        value = node.value
        if isinstance(value, list):
            for child in value:
                for sub in (child if isinstance(child, tuple) else (child,)):
                    if id(sub) in active:
                        raise RecursionError("a recursive alias")
                    if id(sub) not in sizes:
                        stack.append((sub, False))
    return sizes[id(root)], len(sizes)


def _check_aliases(node: Any, origin: str, index: int) -> None:
    """Refuse a document whose aliases expand it the way go-yaml refuses it ("excessive aliasing")."""
    try:
        decoded, distinct = expanded_size(node)
    except RecursionError:
        raise InputError(f'unable to parse "{origin}" (document {index}): an alias refers to a node that contains '
                         "it (a recursive alias)", hint="anchors may only be used after their node ends") from None
    aliased = decoded - distinct
    if aliased > 100 and decoded > 1000 and aliased / decoded > _allowed_alias_ratio(decoded):
        raise InputError(f'unable to parse "{origin}" (document {index}): its aliases expand it to {decoded:,} '
                         f"nodes from {distinct:,} written (excessive aliasing, refused as the API server and helm "
                         "refuse it)", hint="write the repeated parts out, or use fewer levels of aliases")


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

    def node(event: Any, depth: int) -> Any:
        kind = type(event)
        if kind is ScalarEvent:
            return scalar(event)
        if event.anchor is not None:  # an anchor, or an alias to one
            raise _NotPlain("anchor")
        if depth > MAX_DEPTH:
            raise _NotPlain("deep")  # ruamel's path refuses it with a message
        if kind is MappingStartEvent and event.tag in (None, "!", _TAG + "map"):
            mapping: dict[Any, Any] = {}
            while type(event := next_event()) is not MappingEndEvent:
                if type(event) is not ScalarEvent:
                    raise _NotPlain("complex key")
                key = scalar(event)
                if key in mapping:
                    raise _NotPlain("duplicate key")  # ruamel names both places
                mapping[key] = node(next_event(), depth + 1)
            return mapping
        if kind is SequenceStartEvent and event.tag in (None, "!", _TAG + "seq"):
            sequence: list[Any] = []
            while type(event := next_event()) is not SequenceEndEvent:
                sequence.append(node(event, depth + 1))
            return sequence
        raise _NotPlain(str(event))

    docs: list[Any] = []
    next_event()  # stream start
    while type(next_event()) is not StreamEndEvent:  # document start
        docs.append(node(next_event(), 1))
        next_event()  # document end
    return docs


def is_list(doc: Any) -> bool:
    """``kind: List`` or a typed list (``ConfigMapList``, ``RoleBindingList``...): a wrapper of ``items``."""
    return (isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List")
            and isinstance(doc.get("items"), list) and not doc.get("spec"))


def parse_manifest(text: str, origin: str = "manifest") -> list[dict[str, Any]]:
    """The objects of a multi-document manifest (helm's output): empty documents dropped, lists unwrapped."""
    objects: list[dict[str, Any]] = []
    for doc in load_documents(text, origin):
        if is_list(doc):
            objects += [item for item in doc["items"] if isinstance(item, dict)]
        elif isinstance(doc, dict) and doc.get("kind"):
            objects.append(doc)
    return objects
