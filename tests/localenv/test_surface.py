"""The exported surface of the traffic pieces the rollout gates, the service graph and the demo build on."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", [
    "toolkit.localenv", "toolkit.localenv.backends", "toolkit.localenv.load", "toolkit.adapters.metrics",
    "toolkit.deploy.traffic",
])
def test_each_module_exports_one_sorted_all(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__)
    assert all(hasattr(mod, name) for name in mod.__all__)


def test_the_metrics_adapter_imports_nothing_above_it() -> None:
    import ast
    from pathlib import Path

    import toolkit.adapters.metrics as adapter

    tree = ast.parse(Path(adapter.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {name for name in imported if name.startswith("toolkit")} == {"toolkit.errors"}
