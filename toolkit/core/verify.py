"""Verify a chart against its source: `helm lint --strict`, a render with defaults, an object-by-object check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.chartify import verify_against
from toolkit.chartify.apis import DEFAULT_KUBE_VERSION
from toolkit.chartify.read import ReadOptions
from toolkit.chartify.verify import VerifyResult
from toolkit.config import Config

__all__ = ["VerifyOptions", "VerifyResult", "verify"]


@dataclass(frozen=True, kw_only=True)
class VerifyOptions:
    chart: Path
    sources: tuple[str, ...]
    namespace: str | None = None          # the release namespace (default: the source's)
    read: ReadOptions = ReadOptions()
    kube_version: str = DEFAULT_KUBE_VERSION


def verify(config: Config, options: VerifyOptions, *, stdin: Any = None) -> VerifyResult:
    return verify_against(options.chart, options.sources, helm=config.helm(registry=False), read=options.read,
                          stdin=stdin, kube=config.kube, namespace=options.namespace,
                          kube_version=options.kube_version)
