"""Make a type: read an app (files, stdin, kustomize, a live namespace), write a parameterized chart, verify it.

helm (for the verification) and the cluster (for ``cluster:`` sources) come from the one configuration, so a
``cluster:`` source is read from the same cluster, in the same order, as every instance command uses.
"""

from __future__ import annotations

import gc
from typing import Any, Sequence

from toolkit.adapters.kustomize import kustomization_file
from toolkit.chartify import ChartifyOptions, ChartifyResult, Progress
from toolkit.chartify import chartify as build_chart
from toolkit.chartify.apis import DEFAULT_KUBE_VERSION
from toolkit.chartify.read import ReadOptions
from toolkit.config import Config

__all__ = ["DEFAULT_KUBE_VERSION", "ChartifyOptions", "ChartifyResult", "ReadOptions", "chartify",
           "kustomization_file"]


def chartify(config: Config, sources: Sequence[str], options: ChartifyOptions, *, stdin: Any = None,
             progress: Progress | None = None) -> ChartifyResult:
    """Generate the chart for ``sources`` into ``options.output`` (atomically), verified unless told not to."""
    # a chart build allocates hundreds of thousands of dicts and lists that live until the end; the cyclic
    # collector's full passes over them cost 8% of a 1,000-object run and find a few hundred objects at most
    enabled = gc.isenabled()
    gc.disable()
    try:
        return build_chart(sources, options, helm=lambda: config.helm(registry=False), stdin=stdin,
                           kube=config.kube, progress=progress)
    finally:
        if enabled:
            gc.enable()
