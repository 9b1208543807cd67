"""A small YAML emitter for chart files: values.yaml with a comment per key, and object templates.

Why not ruamel's dumper: Helm reads values.yaml with go-yaml, which follows YAML 1.1 (``yes``/``on`` are booleans,
``0755`` is octal), and templates must mix Helm expressions into the YAML text. Emitting strings as JSON (always
valid YAML double-quoted scalars) unless they are unambiguous plain words keeps every type exactly as parsed.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, Callable, Mapping

from toolkit.chartify.model import Emit, Expr, Ref

__all__ = ["scalar", "yaml_lines"]

_PLAIN = re.compile(r"^[A-Za-z/][A-Za-z0-9_./-]*$")
_BLOCK_SAFE = re.compile(r"^[^\s][^\r\t\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff]*$", re.S)
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
_UNSAFE_CHARS = re.compile("[\u007f-\u009f\u2028\u2029\ufeff]")


def _quote(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return _UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


def scalar(value: Any, *, template: bool = False) -> str:
    """One scalar as YAML text that go-yaml and ruamel (YAML 1.1) both read back to the same value."""
    if type(value) is str:
        return _string(value, template)
    if value is None:
        text = "null"
    elif value is True:
        text = "true"
    elif value is False:
        text = "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if math.isnan(value):
            text = ".nan"
        elif math.isinf(value):
            text = ".inf" if value > 0 else "-.inf"
        else:
            text = repr(value)
            if "e" in text and "." not in text.split("e")[0]:
                text = text.replace("e", ".0e", 1)  # YAML 1.1 floats need a dot in the mantissa
    else:
        text = str(value)
        if not (_PLAIN.match(text) and text.lower() not in _YAML11_WORDS):
            text = _quote(text)
    if template and "{{" in text:
        text = text.replace("{{", '{{ "{{" }}')  # literal braces in data render back unchanged
    return text


@functools.lru_cache(maxsize=8192)
def _string(text: str, template: bool) -> str:
    """Strings repeat a lot (keys, label values): quoted once."""
    if not (_PLAIN.match(text) and text.lower() not in _YAML11_WORDS):
        text = _quote(text)
    if template and "{{" in text:
        text = text.replace("{{", '{{ "{{" }}')
    return text


def yaml_lines(node: Any, *, indent: int = 0, template: bool = False, resolve: Callable[[Ref], str] | None = None,
               comments: Mapping[tuple[Any, ...], str] | None = None, path: tuple[Any, ...] = ()) -> list[str]:
    """Block-style YAML lines for a mapping or list (``Expr`` nodes become Helm actions)."""
    if not isinstance(node, (dict, list)):
        raise TypeError(f"expected a mapping or a list, got {type(node).__name__}")
    out: list[str] = []
    # every level appends to this one list, rather than returning a list its parent copies (10% of emit time)
    _node(node, indent, out, template, resolve, comments or None, path)
    return out


def _node(node: Any, indent: int, out: list[str], template: bool, resolve: Any, comments: Any,
          path: tuple[Any, ...]) -> None:
    pad = " " * indent
    if isinstance(node, dict):
        for key, value in node.items():
            if comments is not None:
                sub = path + (key,)
                if sub in comments:
                    out.extend(f"{pad}# {line}" for line in comments[sub].splitlines())
            else:
                sub = path
            head = f"{pad}{_string(key, template) if type(key) is str else scalar(key, template=template)}:"
            if isinstance(value, Expr) and value.emit is Emit.OPTIONAL:
                # `with` renders the key only for a non-empty value, so defaults add nothing to the object
                out += [f"{pad}{{{{- with {value.render(resolve)} }}}}",
                        f"{head} {{{{- toYaml . | nindent {indent + 2} }}}}", f"{pad}{{{{- end }}}}"]
                continue
            if isinstance(value, Expr) and value.emit is Emit.UNLESS:
                out += [f"{pad}{{{{- if not {resolve(value.refs[-1])} }}}}", f"{head} {{{{ {value.render(resolve)} }}}}",
                        f"{pad}{{{{- end }}}}"]
                continue
            _entry(head, value, indent, out, template, resolve, comments, sub, False)
    else:
        head = f"{pad}-"
        for i, value in enumerate(node):
            _entry(head, value, indent, out, template, resolve, comments,
                   path + (i,) if comments is not None else path, True)


def _entry(head: str, value: Any, indent: int, out: list[str], template: bool, resolve: Any, comments: Any,
           path: tuple[Any, ...], in_list: bool) -> None:
    kind = type(value)
    if kind is str and "\n" not in value:  # the common case first: one plain or quoted string
        out.append(f"{head} {_string(value, template)}")
        return
    child = indent + 2
    if isinstance(value, dict):
        if not value:
            out.append(f"{head} {{}}")
        elif in_list:  # "- key: v" keeps the first entry on the dash line
            start = len(out)
            _node(value, child, out, template, resolve, comments, path)
            first = next(i for i in range(start, len(out)) if not out[i].lstrip().startswith("#"))
            out[first] = f"{head} {out[first][child:]}"
        else:
            out.append(head)
            _node(value, child, out, template, resolve, comments, path)
        return
    if isinstance(value, list):
        if not value:
            out.append(f"{head} []")
        elif in_list:
            start = len(out)
            _node(value, child, out, template, resolve, comments, path)
            out[start] = f"{head} {out[start][child:]}"
        else:
            out.append(head)
            _node(value, indent, out, template, resolve, comments, path)
        return
    if isinstance(value, Expr):
        text = value.render(resolve)
        if value.emit is Emit.BLOCK:
            out.append(f"{head} {{{{- toYaml {text} | nindent {child} }}}}")
        else:
            out.append(f"{head} {{{{ {text} }}}}")
        return
    if isinstance(value, str) and "\n" in value and _block_ok(value):
        style = "|" if value.endswith("\n") else "|-"
        body = value[:-1] if value.endswith("\n") else value
        pad = " " * child
        out.append(f"{head} {style}")
        lines = (f"{pad}{line}" if line else "" for line in body.split("\n"))
        if template:
            lines = (ln.replace("{{", '{{ "{{" }}') for ln in lines)
        out.extend(lines)
        return
    out.append(f"{head} {scalar(value, template=template)}")


def _block_ok(text: str) -> bool:
    """A literal block (|) reads back exactly: no trailing spaces, no leading blank/space, one final newline."""
    if not _BLOCK_SAFE.match(text) or text.endswith("\n\n") or text.startswith("\n"):
        return False
    return all(line == line.rstrip() for line in text.split("\n"))
