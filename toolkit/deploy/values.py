"""Instance values: ``--set`` parsing the way helm types it, merging, and validation against a type's schema.

chartkit merges ``-f`` files and ``--set`` items itself and hands helm one values document on stdin, so what is
validated here is exactly what helm receives. Validation runs before any cluster call and names the parameter
and the rule; a *locked* parameter (``const`` or ``readOnly`` in values.schema.json) is refused outright.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jsonschema

from toolkit.errors import InputError

__all__ = [
    "LockedParameter",
    "ValuesCheck",
    "ValuesInput",
    "coalesce",
    "load_values_file",
    "locked_parameters",
    "parse_set",
    "user_values",
    "validate_values",
]

_INT = re.compile(r"^[+-]?\d+$")
_INDEX = re.compile(r"^(?P<key>.*?)\[(?P<index>\d+)\]$")
_INT64 = 2**63


def _typed(text: str, *, as_string: bool) -> Any:
    """A --set scalar typed like helm's strvals: true/false/null, int64 unless it has a leading zero, else str."""
    if as_string:
        return text
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if text == "0":
        return 0
    if text and text[0] != "0" and _INT.match(text) and -_INT64 <= int(text) < _INT64:
        return int(text)
    return text


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside ``{...}`` lists, honouring backslash escapes (which are kept for later)."""
    parts, buf, depth, i = [], [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


#: helm's strvals limits (pkg/strvals/parser.go MaxIndex, MaxNestedNameLevel): an index of 10**8 would make a
#: list of that many nulls, which helm itself refuses at once
MAX_INDEX = 65536
MAX_NESTED_NAME_LEVEL = 30


def _key_path(key: str, where: str) -> list[str | int]:
    path: list[str | int] = []
    parts = _split(key, ".")
    if len(parts) > MAX_NESTED_NAME_LEVEL + 1:
        raise InputError(f"unable to parse {where}: the key nests {len(parts) - 1} levels, more than helm's maximum "
                         f"of {MAX_NESTED_NAME_LEVEL}")
    for raw in parts:
        part = raw
        indices: list[int] = []
        while (match := _INDEX.match(part)) is not None:
            index = int(match["index"])
            if index > MAX_INDEX:
                raise InputError(f"unable to parse {where}: index {index} is greater than helm's maximum of "
                                 f"{MAX_INDEX}", hint="lists in values are short; set the item by its position")
            indices.insert(0, index)
            part = match["key"]
        if not part and not path:
            raise InputError(f"unable to parse {where}: empty key")
        if part:
            path.append(_unescape(part))
        path.extend(indices)
    if not path:
        raise InputError(f"unable to parse {where}: empty key")
    return path


def _put(target: dict[str, Any], path: Sequence[str | int], value: Any, where: str) -> None:
    node: Any = target
    for here, nxt in zip(path, path[1:]):
        empty: Any = [] if isinstance(nxt, int) else {}
        node = _child(node, here, empty, where)
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list):
            raise InputError(f'unable to parse {where}: "{last}" indexes something that is not a list')
        node.extend([None] * (last + 1 - len(node)))
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise InputError(f'unable to parse {where}: "{last}" is set inside a non-map value')
        node[last] = value


def _child(node: Any, key: str | int, empty: Any, where: str) -> Any:
    if isinstance(key, int):
        if not isinstance(node, list):
            raise InputError(f"unable to parse {where}: index [{key}] on something that is not a list")
        node.extend([None] * (key + 1 - len(node)))
        if not isinstance(node[key], (dict, list)):
            node[key] = empty
        return node[key]
    if not isinstance(node, dict):
        raise InputError(f'unable to parse {where}: "{key}" is set inside a non-map value')
    if not isinstance(node.get(key), (dict, list)):
        node[key] = empty
    return node[key]


def parse_set(items: Iterable[str], *, as_string: bool = False, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse helm-style ``--set`` items (``a.b=1,c[0]=x,d={x,y}``, ``\\`` escapes) into a values dict.

    Errors name the key, never the value: a value may be a password, and a ``,`` inside one splits it.
    """
    flag = "--set-string" if as_string else "--set"
    values: dict[str, Any] = into if into is not None else {}
    for item in items:
        previous = None
        for pair in _split(item, ","):
            if not pair:
                continue
            key, sep, raw = pair.partition("=")
            if not sep:
                if previous is not None:
                    # the text after a comma inside a value: it may be the rest of a secret, so it is not shown
                    raise InputError(f'unable to parse {flag} "{previous}=…": a "," in its value starts a part '
                                     'without "="', hint='escape commas inside a value as "\\," or pass the '
                                                        "value in a values file (-f)")
                # helm's own wording: a key with no value is a user error, not an empty string
                raise InputError(f'unable to parse {flag} "{_unescape(key)}": key has no value',
                                 hint="write KEY=VALUE; use KEY=null to remove a default")
            previous = _unescape(key)
            where = f'{flag} "{previous}=…"'
            path = _key_path(key, where)
            if raw.startswith("{") and raw.endswith("}"):
                value: Any = [_typed(_unescape(v), as_string=as_string) for v in _split(raw[1:-1], ",") if v != ""]
            else:
                value = _typed(_unescape(raw), as_string=as_string)
            _put(values, path, value, where)
    return values


#: a values file larger than this is refused (chartify's limit for a manifest): values are kilobytes
MAX_VALUES_FILE_BYTES = 10 * 1024 * 1024


def load_values_file(path: Path) -> dict[str, Any]:
    """Read one ``-f`` values file (YAML or JSON) as plain data, through the one YAML parser (toolkit.objects):
    YAML 1.1 as helm reads it, alias expansion and nesting bounded, errors naming line and column, never content."""
    from toolkit.objects import load_documents

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_VALUES_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f'unable to read values file "{path}": {exc.strerror or exc}') from exc
    if len(data) > MAX_VALUES_FILE_BYTES:
        raise InputError(f'unable to read values file "{path}": larger than the '
                         f"{MAX_VALUES_FILE_BYTES / 1e6:.1f} MB limit", hint="values files are YAML or JSON text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f'unable to read values file "{path}": not UTF-8 text (byte {exc.start})',
                         hint="pass a YAML or JSON values file") from exc
    if "\x00" in text:
        raise InputError(f'unable to read values file "{path}": it holds NUL bytes (a binary file?)',
                         hint="pass a YAML or JSON values file")
    docs = [doc for doc in load_documents(text, f"values file {path}") if doc is not None]
    if not docs:
        return {}
    data = docs[0]
    if not isinstance(data, dict):
        raise InputError(f'unable to use values file "{path}": the top level must be a map, not {type(data).__name__}')
    # a JSON-shaped copy, as helm holds values: keys become strings, and aliased nodes stop being one shared
    # object (merges edit values in place)
    try:
        return json.loads(json.dumps(data, default=str, allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise InputError(f'unable to use values file "{path}": {exc}') from exc


def coalesce(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge like helm: maps merge, everything else replaces, ``null`` removes the key."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def user_values(files: Sequence[Path] = (), sets: Sequence[str] = (), set_strings: Sequence[str] = (),
                *, base: Mapping[str, Any] | None = None,
                documents: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The values an instance gets from the user: ``base`` (previous), then files, then ``documents`` (values
    already in memory, e.g. a form's), then --set, then --set-string."""
    values: dict[str, Any] = dict(base or {})
    for path in files:
        # nulls stay, as with --set and helm's own -f: helm applies them against the chart defaults (removing them)
        values = _merge_keep_nulls(values, load_values_file(path))
    for document in documents:
        values = _merge_keep_nulls(values, json.loads(json.dumps(document, default=str)))
    values = _merge_keep_nulls(values, parse_set(sets))
    return _merge_keep_nulls(values, parse_set(set_strings, as_string=True))


@dataclass(frozen=True)
class ValuesInput:
    """The values a user gives an operation: ``-f`` files, values documents already in memory (a front door's
    form or request body: no temp file), ``--set`` and ``--set-string`` items, in that order."""

    files: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()
    set_strings: tuple[str, ...] = ()
    documents: tuple[Mapping[str, Any], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files or self.sets or self.set_strings or any(self.documents))

    def merged(self, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``base`` (an instance's current values), then the files, the documents, --set, then --set-string."""
        return user_values(self.files, self.sets, self.set_strings, base=base, documents=self.documents)


def _merge_keep_nulls(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    # user-level merging keeps explicit nulls: helm applies them against the chart defaults later
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge_keep_nulls(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# -- schema ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LockedParameter:
    """A parameter the type owner fixed: ``const`` (helm enforces it) and/or ``readOnly`` (UIs grey it out)."""

    path: tuple[str, ...]
    value: Any = None
    has_value: bool = False

    @property
    def name(self) -> str:
        return ".".join(self.path)


def locked_parameters(schema: Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
                      _path: tuple[str, ...] = ()) -> list[LockedParameter]:
    """Every locked parameter of a values schema, with the value it is locked to (``const`` or the default)."""
    found: list[LockedParameter] = []
    if not isinstance(schema, Mapping):
        return found
    if "const" in schema or schema.get("readOnly") is True:
        if "const" in schema:
            return [LockedParameter(_path, schema["const"], True)]
        default = _lookup(defaults or {}, _path)
        return [LockedParameter(_path, default[1], default[0])]
    for key, sub in (schema.get("properties") or {}).items():
        found += locked_parameters(sub, defaults, (*_path, key))
    return found


def _lookup(data: Any, path: Sequence[str]) -> tuple[bool, Any]:
    node = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _within(given: Any, fixed: Any) -> bool:
    """True when the user's value only repeats what the lock fixes (a partial map counts)."""
    if isinstance(given, Mapping) and isinstance(fixed, Mapping):
        return all(k in fixed and _within(v, fixed[k]) for k, v in given.items())
    return given == fixed


def _first_difference(given: Any, fixed: Any, path: tuple[str, ...]) -> tuple[str, ...]:
    """The deepest path of the user's value that departs from the locked value (names the --set they wrote)."""
    if isinstance(given, Mapping) and isinstance(fixed, Mapping):
        for key, value in given.items():
            if key not in fixed:
                return (*path, key)
            if not _within(value, fixed[key]):
                return _first_difference(value, fixed[key], (*path, key))
    return path


@dataclass(frozen=True)
class ValuesCheck:
    """What to validate: the type's defaults and schema, and the values the user gives."""

    type_name: str
    version: str
    defaults: Mapping[str, Any]
    schema: Mapping[str, Any] | None
    values: Mapping[str, Any]


def _param(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validate_values(check: ValuesCheck) -> dict[str, Any]:
    """Validate the user's values against the type's schema; return the merged values helm will see.

    Raises InputError naming the parameter and the rule: locked parameters first (the owner's constraint),
    then every schema violation (all of them, one per line, so the user fixes everything in one go).
    """
    ref = f"{check.type_name}@{check.version}"
    merged = coalesce(check.defaults, check.values)
    if not check.schema:
        return merged
    for lock in locked_parameters(check.schema, check.defaults):
        given, value = _lookup(check.values, lock.path)
        if not given or (lock.has_value and _within(value, lock.value)):
            continue
        where = _first_difference(value, lock.value, lock.path) if lock.has_value else lock.path
        if where == lock.path:
            fixed = f" (fixed at {json.dumps(lock.value)})" if lock.has_value else ""
        else:
            fixed = f" ({lock.name} is fixed by the type owner)"
        name = ".".join(where)
        raise InputError(f'unable to use values for type "{ref}": parameter {name} is locked by the type '
                         f'owner{fixed}', hint=f"remove the {name} setting; ask the owner of {check.type_name} "
                                               "to publish a version that opens it")
    cls = jsonschema.validators.validator_for(check.schema, default=jsonschema.Draft7Validator)
    try:
        cls.check_schema(check.schema)
    except jsonschema.SchemaError as exc:
        raise InputError(f'unable to use the schema of type "{ref}": {exc.message}') from exc
    errors = sorted(cls(check.schema).iter_errors(merged), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        lines = [f"parameter {_param(e.absolute_path)}: {_short(e)} (rule: {e.validator}"
                 f"{'' if isinstance(e.validator_value, (dict, list)) else ' ' + json.dumps(e.validator_value)})"
                 for e in errors]
        raise InputError(f'unable to use values for type "{ref}": ' + "; ".join(lines),
                         hint=f"`helm show values` / the schema of {ref} lists the parameters and their rules")
    return merged


def _short(error: jsonschema.ValidationError) -> str:
    """jsonschema's message without the value it judged: a value may be a secret (a password of the wrong type)."""
    message, instance = error.message, error.instance
    shown = repr(instance)
    if shown in message:
        message = message.replace(shown, "the value")
    elif isinstance(instance, str) and instance and instance in message:
        message = message.replace(instance, "…")
    return message if len(message) <= 160 else message[:157] + "..."
