"""The house's layering, read from the code: arrows only point down, and nothing goes around the adapters.

    base          toolkit, toolkit.errors, toolkit.objects
    adapters      toolkit.adapters.*            helm CLI, Kubernetes API, OCI registry, GnuPG
    config        toolkit.config                the one configuration
    domain        toolkit.catalog.*, toolkit.chartify.*, toolkit.deploy.*
    core          toolkit.core.*                one operation per module
    localenv      toolkit.localenv.*            the local environment (only front doors may import it)
    front doors   toolkit.cli.*, toolkit.scenario, toolkit.broker.*, toolkit.console.*, toolkit.serve.*
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "toolkit"

LAYERS = [
    ("base", ("toolkit", "toolkit.errors", "toolkit.objects")),
    ("adapters", ("toolkit.adapters",)),
    ("config", ("toolkit.config",)),
    ("domain", ("toolkit.catalog", "toolkit.chartify", "toolkit.deploy")),
    ("core", ("toolkit.core",)),
    ("localenv", ("toolkit.localenv",)),
    ("front", ("toolkit.cli", "toolkit.scenario", "toolkit.broker", "toolkit.console", "toolkit.serve",
               "toolkit.watch")),
]
#: what only the adapters may import: the libraries that spawn helm/gpg or speak HTTP to the API server/registry
ADAPTER_ONLY = ("subprocess", "pyhelm3", "kubernetes", "requests", "urllib3", "http.client")
#: the local environment spawns and talks to what it runs; front doors serve HTTP themselves
MAY_SPAWN = ("toolkit.adapters", "toolkit.localenv")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names; relative imports resolved), lazy imports included."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            out.add(base)
            out |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    return out


def _layer(module: str) -> int:
    best = (-1, -1)
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), rank))
    return best[1]


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}
INTERNAL = {name: {m for m in imps if m in MODULES and m != name and not name.startswith(m + ".")}
            for name, imps in IMPORTS.items()}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) < 0] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = _layer(module)
    up = sorted(m for m in INTERNAL[module] if _layer(m) > mine)
    assert up == [], f"{module} ({LAYERS[mine][0]}) imports from higher layers: {up}"


def test_only_front_doors_import_the_local_environment():
    users = sorted(m for m, deps in INTERNAL.items() if any(d.startswith("toolkit.localenv") for d in deps)
                   and _layer(m) not in (5, 6))
    assert users == []


def test_adapters_import_nothing_above_config_and_nothing_of_each_other_but_pure_helpers():
    for module in (m for m in MODULES if m.startswith("toolkit.adapters")):
        assert all(_layer(d) <= 1 for d in INTERNAL[module]), (module, INTERNAL[module])


@pytest.mark.parametrize("library", ADAPTER_ONLY)
def test_only_adapters_talk_to_helm_the_cluster_and_the_registry(library):
    users = sorted(m for m, imps in IMPORTS.items() if any(i == library or i.startswith(library + ".") for i in imps)
                   and not m.startswith(MAY_SPAWN))
    assert users == [], f"{library} imported outside the adapters: {users}"


def test_no_circles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in INTERNAL[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert circles == []


def test_front_doors_reach_the_product_only_through_core_and_config():
    """The CLI, the demo, and the servers call operations; the adapters and domain rules stay behind them."""
    allowed = ("toolkit.core", "toolkit.config", "toolkit.errors", "toolkit.objects", "toolkit.localenv", "toolkit.cli",
               "toolkit.scenario", "toolkit.broker", "toolkit.console", "toolkit.serve", "toolkit.watch")
    for module in (m for m in MODULES if _layer(m) == 6):
        outside = sorted(d for d in INTERNAL[module] if not d.startswith(allowed) and d != "toolkit")
        assert outside == [], f"{module} reaches around the core: {outside}"


def test_cli_files_stay_small():
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items() if m.startswith("toolkit.cli")}
    assert max(sizes.values()) <= 400, sizes
