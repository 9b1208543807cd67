"""``chartkit chartify|verify``: make a type from an app, and prove a chart reproduces its source."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from toolkit.cli.options import add_cluster, add_json, config_of
from toolkit.cli.render import err, print_json, progress, warn

__all__ = ["register"]

_SOURCES = ("files, directories (a kustomization is built with kustomize, any other directory is read recursively), "
            "- for stdin, or cluster:NAMESPACE[?selector]")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chartify", help="turn an app's manifests or live objects into a parameterized chart")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help=_SOURCES)
    p.add_argument("--name", required=True, help="chart name (lowercase, digits, dashes)")
    p.add_argument("--version", dest="chart_version", default="0.1.0", help="chart version (default 0.1.0)")
    p.add_argument("--app-version", default=None, help="appVersion (default: the first workload's image tag)")
    p.add_argument("-o", "--output", default=None, help="chart directory (default ./NAME); replaced atomically")
    p.add_argument("--overrides", default=None,
                   help="owner's choices (locks, renames, add/drop, descriptions); default OUTPUT/.chartify-overrides.yaml")
    p.add_argument("--no-verify", action="store_true", help="skip helm lint and the render-and-compare check")
    add_json(p)
    _tools(p)
    p.set_defaults(handler=_chartify)
    v = sub.add_parser("verify", help="check a chart rendered with defaults reproduces its source, object by object")
    v.add_argument("chart", metavar="CHART", type=Path, help="chart directory")
    v.add_argument("--against", nargs="+", required=True, metavar="SOURCE", help=_SOURCES)
    v.add_argument("-n", "--namespace", default=None, help="release namespace (default: the source's namespace)")
    add_json(v)
    _tools(v)
    v.set_defaults(handler=_verify)


def _tools(p: argparse.ArgumentParser) -> None:
    from toolkit.core.chartify import DEFAULT_KUBE_VERSION

    p.add_argument("--kube-version", default=DEFAULT_KUBE_VERSION,
                   help="Kubernetes version the chart is for: API versions it no longer serves are migrated when "
                        f"only apiVersion changes, else refused (default {DEFAULT_KUBE_VERSION})")
    p.add_argument("--helm", default=None, help="helm binary (default: CHARTKIT_HELM, PATH, then the local build)")
    p.add_argument("--kustomize", default=None, type=Path,
                   help="kustomize binary for kustomization directories (default: CHARTKIT_KUSTOMIZE, kustomize or "
                        "kubectl on PATH, then the local build)")
    add_cluster(p)


def _read(args: argparse.Namespace, sources: list[str]):  # noqa: ANN202 - lazy import
    from toolkit.core.chartify import ReadOptions, kustomization_file

    fallback = None
    if any(Path(s).is_dir() and kustomization_file(Path(s)) for s in sources):
        from toolkit.localenv import paths  # the build `chartkit up` caches: named only when a source needs it

        fallback = paths.kustomize_binary()
    return ReadOptions(kustomize=args.kustomize, kustomize_fallback=fallback)


def _verify_report(result: Any, as_json: bool) -> int:
    if as_json:
        print_json({"chart": str(result.chart), "namespace": result.namespace, "equal": result.equal,
                    "total": result.total, "fidelity": result.fidelity, "ignored_labels": list(result.ignored_labels),
                    "objects": [{"id": r.id, "status": r.status.value, "detail": r.detail,
                                 "ignored_labels": list(r.ignored_labels)} for r in result.rows]})
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{result.chart.name}: rendered with defaults (namespace {result.namespace}) vs source")
        for column in ("object", "status", "detail"):
            table.add_column(column)
        for row in result.rows:
            style = "green" if row.status.ok else "red"
            table.add_row(row.id, f"[{style}]{row.status.value}[/{style}]", row.detail)
        # pipes and logs get full lines; a terminal gets its own width
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
        console.print(table)
        console.print(f"fidelity: {result.figure}", soft_wrap=True)
        console.print("ignored (labels the chart adds on top-level metadata where the source lacked them): "
                      + (", ".join(result.ignored_labels) or "none"), soft_wrap=True)
    if result.equal != result.total:
        err(f"chartkit: error: the chart does not reproduce its source: {result.figure}")
        return 1
    return 0


def _chartify(args: argparse.Namespace) -> int:
    from toolkit.core.chartify import ChartifyOptions, chartify

    options = ChartifyOptions(name=args.name, version=args.chart_version, app_version=args.app_version,
                              output=Path(args.output) if args.output else None,
                              overrides=Path(args.overrides) if args.overrides else None, verify=not args.no_verify,
                              read=_read(args, args.sources), kube_version=args.kube_version)
    result = chartify(config_of(args), args.sources, options, progress=None if args.json else progress())
    for warning in result.warnings:
        warn(warning)
    if args.json and result.verification is None:
        print_json({"chart": str(result.chart), "objects": result.objects, "parameters": result.parameters,
                    "locked": result.locked, "skipped": result.skipped, "warnings": result.warnings,
                    "read": result.read})
        return 0
    if not args.json:
        print(f"chart {result.chart}: {result.objects} objects, {len(result.components)} components, "
              f"{result.parameters} parameters ({result.locked} locked)")
    if result.verification is None:
        return 0
    return _verify_report(result.verification, args.json)


def _verify(args: argparse.Namespace) -> int:
    from toolkit.core.verify import VerifyOptions, verify

    result = verify(config_of(args), VerifyOptions(chart=args.chart, sources=tuple(args.against),
                                                   namespace=args.namespace, read=_read(args, args.against),
                                                   kube_version=args.kube_version))
    return _verify_report(result, args.json)
