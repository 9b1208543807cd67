"""Kubernetes objects as plain data: their identity, and the one YAML 1.1 parser every manifest goes through.

YAML is parsed the way the Kubernetes API server parses it (YAML 1.1 via go-yaml v2: ``yes`` is a boolean,
``0755`` is octal), with two deliberate exceptions: timestamps stay strings (the API treats them as strings) and
a bare ``=`` is a string (CRD enums). Plain documents are built straight from libyaml's events (ruamel.yaml.clib);
anything unusual (anchors, merge keys, other tags, errors) goes through ruamel's full constructor. Objects are
plain dicts, never typed models, so fields this code does not know survive.

    load_documents(text, origin)   every document of a stream
    parse_manifest(text, origin)   the objects of a manifest (helm's rendered output, a release manifest),
                                   ``kind: List`` and typed ``*List`` wrappers unwrapped
    ObjectKey.of(obj)              one object's identity (kind, namespace, name, apiVersion)
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from toolkit.errors import InputError

__all__ = [
    "ObjectKey",
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
