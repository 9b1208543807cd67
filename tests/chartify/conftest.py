"""chartify fixtures: a real helm, and helpers that chartify into tmp_path and render with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def helm(helm_bin: Path):
    """The helm adapter on the real helm binary (no registry, no cluster)."""
    from toolkit.adapters.helm import Helm, HelmConfig

    return Helm(HelmConfig(executable=helm_bin))


@pytest.fixture
def render(helm):
    """Render a chart with helm template and parse the objects (ruamel, like the source)."""
    from toolkit.objects import parse_manifest

    def _render(chart: Path, *, namespace: str = "default", values: dict[str, Any] | None = None,
                set_values: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        text = helm.template(chart, release=chart.name, namespace=namespace, values=values, set_values=set_values)
        return parse_manifest(text, str(chart))

    return _render
