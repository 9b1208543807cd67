"""The chart model: values parameters, and object trees whose parameterized fields are Helm expressions.

A template is the cleaned object itself with some nodes replaced by ``Expr``; an ``Expr`` refers to values by
parameter path (``Ref``), so renaming a parameter (overrides) rewrites every template that reads it, and dropping
one puts the original literal back.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, NamedTuple

__all__ = ["Emit", "Expr", "Model", "Param", "Ref", "TemplateFile", "copy_tree", "join_key", "split_key",
           "values_ref"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Emit(Enum):
    """How an expression lands in YAML: a JSON scalar/flow value on the key's line, or a YAML block below it."""

    JSON = "json"
    BLOCK = "block"
    OPTIONAL = "optional"  # a key the source lacks: rendered only when the value is non-empty
    #: rendered unless the last ref is true: a workload's replicas while its HorizontalPodAutoscaler is enabled
    #: (``{{- if not .Values.c.autoscaling.enabled }}``, as helm create and Bitnami charts do)
    UNLESS = "unless"


def copy_tree(node: Any) -> Any:
    """A deep copy of parsed YAML (dicts, lists, scalars); 5x faster than copy.deepcopy, which keeps a memo."""
    if type(node) is dict:
        return {k: copy_tree(v) for k, v in node.items()}
    if type(node) is list:
        return [copy_tree(v) for v in node]
    return node


def split_key(key: str) -> tuple[str, ...]:
    r"""``a.b\.c`` → ``("a", "b.c")``: dots separate values keys; ``\.`` is a literal dot."""
    parts, current, escaped = [], "", False
    for ch in key:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ".":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return tuple(parts)


def join_key(path: tuple[str, ...]) -> str:
    return ".".join(p.replace(".", "\\.") for p in path)


def values_ref(path: tuple[str, ...]) -> str:
    """The Go template expression reading values at ``path``."""
    if all(_IDENT.match(p) for p in path):
        return ".Values." + ".".join(path)
    return "(index .Values " + " ".join(_go_str(p) for p in path) + ")"


def _go_str(text: str) -> str:
    import json

    return json.dumps(text)


class Ref(NamedTuple):
    """A values path read by an expression."""

    path: tuple[str, ...]


class _Record:
    """repr and equality from ``__slots__``. The model's records are plain classes rather than dataclasses:
    defining a dataclass costs 3.5M instructions (6 generated methods, each compiled at import), about 1 ms, and
    every millisecond of import is paid on each run of a CLI that chartifies a small app in 0.1 s."""

    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment] - mutable: compared by value, never hashed


class Expr(_Record):
    """A Helm expression replacing one node of an object; ``{0}``, ``{1}``… in ``text`` are ``refs``."""

    __slots__ = ("text", "refs", "emit", "original")

    def __init__(self, text: str, refs: tuple[Ref, ...] = (), emit: Emit = Emit.JSON, original: Any = None) -> None:
        self.text = text
        self.refs = refs
        self.emit = emit
        self.original = original  # the literal it replaced, restored when every ref is dropped

    def render(self, resolve: Any) -> str:
        return self.text.format(*(resolve(r) for r in self.refs))


class Param(_Record):
    """One exposed value: path in values.yaml, default, JSON Schema, one-line description."""

    __slots__ = ("path", "default", "description", "schema", "locked", "feeds")

    def __init__(self, path: tuple[str, ...], default: Any, description: str, schema: dict[str, Any],
                 locked: bool = False, feeds: list[str] | None = None) -> None:
        self.path = path
        self.default = default
        self.description = description
        self.schema = schema
        self.locked = locked
        self.feeds = feeds if feeds is not None else []  # "Kind/ns/name" of the objects it feeds (collisions)


class TemplateFile(_Record):
    """One object's template: the object tree (with Expr nodes) and an optional condition wrapping it."""

    __slots__ = ("filename", "obj", "source_id", "condition")

    def __init__(self, filename: str, obj: dict[str, Any], source_id: str, condition: Expr | None = None) -> None:
        self.filename = filename
        self.obj = obj
        self.source_id = source_id
        self.condition = condition


class Model(_Record):
    """Everything the writer needs to produce a chart directory."""

    __slots__ = ("name", "version", "app_version", "namespace", "params", "groups", "templates", "warnings",
                 "components")

    def __init__(self, name: str, version: str, app_version: str | None, namespace: str | None,
                 warnings: list[str] | None = None) -> None:
        self.name = name
        self.version = version
        self.app_version = app_version
        self.namespace = namespace
        self.params: dict[tuple[str, ...], Param] = {}
        self.groups: dict[tuple[str, ...], str] = {}  # descriptions of intermediate keys
        self.templates: list[TemplateFile] = []
        self.warnings: list[str] = warnings if warnings is not None else []
        self.components: dict[str, list[str]] = {}  # values key → object ids
