"""Values migrations: how an instance's own values move when it upgrades to a version that renamed or moved them.

A version declares them in its ``chartkit.yaml`` (``migrations:``, each for the earlier versions a SemVer range
matches): ``rename`` (old.path → new.path, the setting kept), ``set`` (a value, where the instance has none) and
``remove``. Only the instance's own values move (what it set), never the chart's defaults. Pure, apart from
reading the declarations out of a package file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from toolkit.catalog.artifact import read_package_file
from toolkit.catalog.declarations import DECLARATIONS_FILE, Migration, TypeDeclarations, load_declarations
from toolkit.catalog.ranges import Range

__all__ = ["MigrationStep", "Migrated", "declarations_of", "migrate_values"]

_ABSENT = object()


def declarations_of(package: Path) -> TypeDeclarations:
    """The declarations a chart package carries (its chartkit.yaml; the defaults when it has none)."""
    return load_declarations(read_package_file(package.read_bytes(), DECLARATIONS_FILE),
                             f"{package.name}:{DECLARATIONS_FILE}")


@dataclass(frozen=True)
class MigrationStep:
    action: str          # rename | set | remove
    path: str
    to: str = ""
    value: Any = None

    def line(self) -> str:
        if self.action == "rename":
            return f"renamed {self.path} -> {self.to} (kept {_short(self.value)})"
        if self.action == "set":
            return f"set {self.path} = {_short(self.value)}"
        return f"removed {self.path} (was {_short(self.value)})"

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "path": self.path, "to": self.to, "value": self.value}


@dataclass(frozen=True)
class Migrated:
    values: dict[str, Any]
    steps: tuple[MigrationStep, ...] = ()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pop(values: dict[str, Any], path: str) -> Any:
    parts = path.split(".")
    node: Any = values
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        return _ABSENT
    value = node.pop(parts[-1])
    _prune(values, parts[:-1])
    return value


def _prune(values: dict[str, Any], parents: list[str]) -> None:
    """Drop maps a move left empty (``a.b`` moved out of ``a`` leaves no ``a: {}`` behind)."""
    for depth in range(len(parents), 0, -1):
        node: Any = values
        for part in parents[:depth - 1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(parents[depth - 1]) == {}:
            del node[parents[depth - 1]]


def _get(values: Mapping[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _put(values: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = values
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _applies(migration: Migration, from_version: str) -> bool:
    rng = Range.try_parse(migration.from_versions)
    return rng is not None and rng.allows(from_version)


def migrate_values(values: Mapping[str, Any], from_version: str, declarations: TypeDeclarations) -> Migrated:
    """The instance's values after the target version's migrations for ``from_version``, in declared order."""
    out = copy.deepcopy(dict(values))
    steps: list[MigrationStep] = []
    for migration in declarations.migrations:
        if not _applies(migration, from_version):
            continue
        for old, new in migration.rename.items():
            value = _pop(out, old)
            if value is _ABSENT:
                continue
            if _get(out, new) is _ABSENT:
                _put(out, new, value)
            steps.append(MigrationStep("rename", old, new, value))
        for path, value in migration.set.items():
            if _get(out, path) is _ABSENT:
                _put(out, path, copy.deepcopy(value))
                steps.append(MigrationStep("set", path, value=value))
        for path in migration.remove:
            value = _pop(out, path)
            if value is not _ABSENT:
                steps.append(MigrationStep("remove", path, value=value))
    return Migrated(out, tuple(steps))
