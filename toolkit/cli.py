"""The `chartkit` command line: argument parsing only; each command calls one core function.

Results go to stdout, diagnostics to stderr, ``--json`` gives machine output. Expected errors
(``ChartkitError``) exit 1 with one line; ^C exits 130; anything else is a bug: a short message, and the
traceback with ``--verbose``.

Each area owns one ``_add_<area>`` function below (chartify, localenv, catalog, instances) that registers its
subcommands; handlers import their core modules lazily so `chartkit --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from toolkit import __version__
from toolkit.errors import ChartkitError

Handler = Callable[[argparse.Namespace], int]


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip() + "\n")


# --- chartify -----------------------------------------------------------------------------------------------

def _add_chartify(sub: argparse._SubParsersAction) -> None:
    sources_help = "files, directories (recursive), - for stdin, or cluster:NAMESPACE[?selector]"
    p = sub.add_parser("chartify", help="turn an app's manifests or live objects into a parameterized chart")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help=sources_help)
    p.add_argument("--name", required=True, help="chart name (lowercase, digits, dashes)")
    p.add_argument("--version", dest="chart_version", default="0.1.0", help="chart version (default 0.1.0)")
    p.add_argument("--app-version", default=None, help="appVersion (default: the first workload's image tag)")
    p.add_argument("-o", "--output", default=None, help="chart directory (default ./NAME); replaced atomically")
    p.add_argument("--overrides", default=None,
                   help="owner's choices (locks, renames, add/drop, descriptions); default OUTPUT/.chartify-overrides.yaml")
    p.add_argument("--no-verify", action="store_true", help="skip helm lint and the render-and-compare check")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    _add_chartify_env(p)
    p.set_defaults(handler=_cmd_chartify)
    v = sub.add_parser("verify", help="check a chart rendered with defaults reproduces its source, object by object")
    v.add_argument("chart", metavar="CHART", help="chart directory")
    v.add_argument("--against", nargs="+", required=True, metavar="SOURCE", help=sources_help)
    v.add_argument("--namespace", default=None, help="release namespace (default: the source's namespace)")
    v.add_argument("--json", action="store_true", help="machine-readable result")
    _add_chartify_env(v)
    v.set_defaults(handler=_cmd_verify)


def _add_chartify_env(p: argparse.ArgumentParser) -> None:
    p.add_argument("--helm", default=None, help="helm binary (default: CHARTKIT_HELM, PATH, then the local build)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig for cluster: sources")
    p.add_argument("--kube-context", default=None, help="kubeconfig context for cluster: sources")


def _chartify_helm(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from pathlib import Path

    from toolkit.deploy.helm import Helm, HelmConfig

    return Helm(HelmConfig(executable=Path(args.helm) if args.helm else None))


def _chartify_read(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from pathlib import Path

    from toolkit.chartify.read import ReadOptions

    return ReadOptions(kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None, context=args.kube_context)


def _chartify_progress() -> Callable[[str], None]:
    """Progress on stderr; rich (20 ms to import, a seventh of a small chartify) only to dim it on a terminal."""
    if sys.stderr.isatty():
        return _progress()
    import time

    started = time.monotonic()
    return lambda message: print(f"{time.monotonic() - started:6.1f}s {message}", file=sys.stderr, flush=True)


def _verify_report(result: Any, as_json: bool) -> int:
    if as_json:
        _print_json({"chart": str(result.chart), "namespace": result.namespace, "equal": result.equal,
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
        _err(f"chartkit: error: the chart does not reproduce its source: {result.figure}")
        return 1
    return 0


def _cmd_chartify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toolkit.chartify import ChartifyOptions, chartify

    options = ChartifyOptions(name=args.name, version=args.chart_version, app_version=args.app_version,
                              output=Path(args.output) if args.output else None,
                              overrides=Path(args.overrides) if args.overrides else None,
                              verify=not args.no_verify, read=_chartify_read(args))
    helm = None if args.no_verify else _chartify_helm(args)
    import gc

    # a chart build allocates hundreds of thousands of dicts and lists that live until the end; the cyclic
    # collector's full passes over them cost 8% of a 1,000-object run and find a few hundred objects at most
    gc.disable()
    try:
        result = chartify(args.sources, options, helm=helm, progress=None if args.json else _chartify_progress())
    finally:
        gc.enable()
    for warning in result.warnings:
        _err(f"chartkit: warning: {warning}")
    if args.json and result.verification is None:
        _print_json({"chart": str(result.chart), "objects": result.objects, "parameters": result.parameters,
                     "locked": result.locked, "skipped": result.skipped, "warnings": result.warnings})
        return 0
    if not args.json:
        print(f"chart {result.chart}: {result.objects} objects, {len(result.components)} components, "
              f"{result.parameters} parameters ({result.locked} locked)")
    if result.verification is None:
        return 0
    return _verify_report(result.verification, args.json)


def _cmd_verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toolkit.chartify import verify_against

    result = verify_against(Path(args.chart), args.against, helm=_chartify_helm(args), read=_chartify_read(args),
                    namespace=args.namespace)
    return _verify_report(result, args.json)


# --- localenv -----------------------------------------------------------------------------------------------

def _add_localenv(sub: argparse._SubParsersAction) -> None:
    env = sub.add_parser("env", help="show the helm, registry and cluster chartkit uses (starts nothing)")
    env.add_argument("--json", action="store_true", help="machine-readable output")
    env.set_defaults(handler=_cmd_env)
    up = sub.add_parser("up", help="build (first time) and start the local registry, cluster, gateway and backends")
    up.add_argument("--no-cluster", action="store_true", help="only helm and the registry")
    up.add_argument("--json", action="store_true", help="print `chartkit env --json` afterwards")
    up.set_defaults(handler=_cmd_up)
    down = sub.add_parser("down", help="stop the local registry and cluster (by pid) and remove their state")
    down.add_argument("--keep-data", action="store_true", help="keep certificates, registry blobs and etcd data")
    down.set_defaults(handler=_cmd_down)


def _progress() -> Callable[[str], None]:
    import time

    from rich.console import Console

    console, started = Console(stderr=True, highlight=False), time.monotonic()
    return lambda message: console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}")


def _print_env(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(data)
        return
    helm, registry, cluster = data["helm"], data["registry"], data["cluster"]
    print(f"helm      {helm['path']} ({helm['version']}, from {helm['source']})" if helm
          else f"helm      none: {data.get('helm_hint', 'run `invoke up`')}")
    print(f"registry  {registry['url']}  ca_file={registry['ca_file']}  registry_config={registry['registry_config']}"
          if registry else "registry  not running (`chartkit up` starts it)")
    print(f"cluster   {cluster['server']} {cluster['version']}  kubeconfig={cluster['kubeconfig']}  "
          f"context={cluster['context']}" if cluster else "cluster   not running (`chartkit up` starts it)")
    gateway, backends = data.get("gateway"), data.get("backends")
    print(f"gateway   {gateway['url']} (traefik {gateway['version']}, Gateway {gateway['gateway_namespace']}/"
          f"{gateway['gateway_name']})  metrics={gateway['metrics_url']}" if gateway
          else "gateway   not running (`chartkit up` starts it)")
    print(f"backends  {backends['url']}  serving pods labelled {backends['label']} ({backends['pod_cidr']})"
          if backends else "backends  not running (`chartkit up` starts them)")


def _cmd_env(args: argparse.Namespace) -> int:
    from toolkit import localenv

    _print_env(localenv.status(), args.json)
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from toolkit import localenv

    progress = _progress()
    localenv.ensure_helm(progress)
    localenv.start_registry(progress)
    if not args.no_cluster:
        localenv.start_cluster(progress)
        localenv.start_gateway(progress)
        localenv.start_backends(progress)
    _print_env(localenv.status(), args.json)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from toolkit import localenv

    stopped = localenv.down(keep_data=args.keep_data)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


# --- catalog ------------------------------------------------------------------------------------------------

def _add_catalog(sub: argparse._SubParsersAction) -> None:
    from pathlib import Path

    def registry_flags(p: argparse.ArgumentParser, *, registry: bool = True) -> None:
        if registry:  # list/show/search read only the index: accepting these would silently ignore them
            p.add_argument("--ca-file", type=Path, help="CA bundle the registry's TLS certificate is checked against")
            p.add_argument("--registry-config", type=Path, help="helm/docker registry config holding credentials")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    pkg = sub.add_parser("package", help="lint and package a chart reproducibly (.tgz, optional .prov)")
    pkg.add_argument("chart", type=Path, help="chart directory")
    which = pkg.add_mutually_exclusive_group()
    which.add_argument("--version", dest="chart_version", help="the version to package (SemVer)")
    which.add_argument("--bump", choices=["major", "minor", "patch", "prerelease"],
                       help="next version after the highest one in the catalog")
    pkg.add_argument("--app-version", help="set appVersion")
    pkg.add_argument("-o", "--destination", type=Path, default=Path("."), help="output directory (default .)")
    pkg.add_argument("--catalog", help="oci://HOST/NAMESPACE to check versions against (default: see env)")
    pkg.add_argument("--offline", action="store_true", help="do not consult the catalog (no --bump)")
    pkg.add_argument("--sign", action="store_true", help="write Helm's .prov signed with --key")
    pkg.add_argument("--key", help="GnuPG key (uid, email or id) to sign with")
    pkg.add_argument("--keyring", type=Path, help="binary secret keyring (default: exported from GnuPG)")
    pkg.add_argument("--no-lint", action="store_true", help="skip helm lint")
    registry_flags(pkg)
    pkg.set_defaults(handler=_cmd_package)

    pub = sub.add_parser("publish", help="push packages to the catalog (immutable versions)")
    pub.add_argument("packages", nargs="+", type=Path, metavar="PKG", help="chart packages (.tgz; .prov beside)")
    pub.add_argument("--to", help="oci://HOST/NAMESPACE (default: see `chartkit catalog --help`)")
    pub.add_argument("--index", type=Path, help="repo-index directory to update (default ./repo-index)")
    pub.add_argument("--no-index", action="store_true", help="do not update the index")
    pub.add_argument("--workers", type=int, default=8, help="concurrent uploads (default 8)")
    registry_flags(pub)
    pub.set_defaults(handler=_cmd_publish)

    cat = sub.add_parser("catalog", help="the org's catalog: sync, list, show, search, deprecate",
                         description="Catalog URL: flag, then CHARTKIT_CATALOG, .chartkit.yaml (searched upward), "
                                     "~/.config/chartkit/config.yaml, the local registry's oci://HOST/charts "
                                     "(the same order as install). Index: --index, CHARTKIT_INDEX, ./repo-index.")
    csub = cat.add_subparsers(dest="catalog_command", metavar="COMMAND")
    csub.required = True
    sync = csub.add_parser("sync", help="update the index from the registry (incremental unless --full)")
    sync.add_argument("--from", dest="catalog", help="oci://HOST/NAMESPACE")
    sync.add_argument("--full", action="store_true", help="rebuild the index from scratch")
    sync.add_argument("--verify", action="store_true",
                      help="also check every indexed version's digest (one request each); refetch what changed")
    lst = csub.add_parser("list", help="types in the index with their latest version")
    show = csub.add_parser("show", help="one type's version: parameters, images, digests")
    show.add_argument("type")
    show.add_argument("--version", dest="type_version", help="default: latest release")
    search = csub.add_parser("search", help="types whose name, description, images or parameters match")
    search.add_argument("text")
    dep = csub.add_parser("deprecate", help="mark a version deprecated (registry marker + index); deletes nothing")
    dep.add_argument("type")
    dep.add_argument("type_version", metavar="VERSION")
    dep.add_argument("--reason", default="", help="why; stored on the registry marker")
    dep.add_argument("--catalog", help="oci://HOST/NAMESPACE")
    for p in (sync, lst, show, search, dep):
        p.add_argument("--index", type=Path, help="repo-index directory (default ./repo-index)")
        registry_flags(p, registry=p in (sync, dep))
    sync.set_defaults(handler=_cmd_catalog_sync)
    lst.set_defaults(handler=_cmd_catalog_list)
    show.set_defaults(handler=_cmd_catalog_show)
    search.set_defaults(handler=_cmd_catalog_search)
    dep.set_defaults(handler=_cmd_catalog_deprecate)


def _catalog_settings(args: argparse.Namespace, catalog: str | None = None):  # noqa: ANN202 - lazy import
    from toolkit.catalog.settings import resolve_settings

    return resolve_settings(catalog=catalog, ca_file=args.ca_file, registry_config=args.registry_config,
                            index_dir=getattr(args, "index", None))


def _cmd_package(args: argparse.Namespace) -> int:
    from toolkit.catalog.package import PackageOptions, package
    from toolkit.errors import InputError

    if args.sign and not args.key:
        raise InputError("unable to sign: --sign needs --key (a GnuPG uid, email or key id)")
    settings = None
    if not args.offline:
        try:
            settings = _catalog_settings(args, args.catalog)
        except InputError:
            if args.bump or args.catalog:
                raise
            _err("chartkit: warning: no catalog found; packaging without checking published versions")
    elif args.bump:
        raise InputError("unable to bump the version offline: --bump reads the catalog's versions")
    result = package(args.chart, PackageOptions(
        version=args.chart_version, bump=args.bump, app_version=args.app_version, destination=args.destination,
        catalog=settings.catalog if settings else None, sign_key=args.key if args.sign else None,
        keyring=args.keyring, lint=not args.no_lint, ca_file=settings.ca_file if settings else args.ca_file,
        registry_config=settings.registry_config if settings else args.registry_config))
    if args.json:
        _print_json(result.as_dict())
    else:
        note = " (already published with these exact bytes)" if result.published else ""
        print(f"packaged {result.name} {result.version} → {result.path} {result.digest}{note}")
        if result.prov:
            print(f"signed → {result.prov}")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from toolkit.catalog.publish import PublishOptions, publish

    settings = _catalog_settings(args, args.to)
    report = publish(args.packages, PublishOptions(
        to=settings.catalog, ca_file=settings.ca_file, registry_config=settings.registry_config,
        index_dir=None if args.no_index else settings.index_dir, workers=args.workers))
    if args.json:
        _print_json(report.as_dict())
    else:
        for r in report.results:
            print(f"{r.status.value}: {r.ref}:{r.version} {r.manifest_digest}{' (signed)' if r.signed else ''}")
        for package, error in report.errors:
            _err(f"chartkit: error: {package}: {error}")
    return 0 if report.ok else 1


def _cmd_catalog_sync(args: argparse.Namespace) -> int:
    from toolkit.catalog.index import sync

    settings = _catalog_settings(args, args.catalog)
    result = sync(settings.catalog, settings.index_dir, full=args.full, verify=args.verify,
                  ca_file=settings.ca_file, registry_config=settings.registry_config)
    if args.json:
        _print_json(result.as_dict())
    else:
        print(f"synced {result.catalog} → {result.path}: {result.types} types, {result.versions} versions "
              f"(+{len(result.added)} -{len(result.removed)} ~{len(result.changed)}, "
              f"{result.requests} registry requests)")
    return 0


def _index_of(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from pathlib import Path
    import os

    from toolkit.catalog.index import require_index

    return require_index(args.index or Path(os.environ.get("CHARTKIT_INDEX") or "repo-index"))


def _cmd_catalog_list(args: argparse.Namespace) -> int:
    from toolkit.catalog.index import list_types

    rows = list_types(_index_of(args))
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        flag = " (deprecated)" if row["deprecated"] else ""
        print(f"{row['type']:<24} {row['latest']:<12} {row['versions']:>3} versions  {row['description']}{flag}")
    return 0


def _cmd_catalog_show(args: argparse.Namespace) -> int:
    entry = _index_of(args).entry(args.type, args.type_version)
    if args.json:
        _print_json(entry)
        return 0
    print(f"{entry['name']} {entry['version']} (app {entry['appVersion'] or '-'})"
          f"{'  DEPRECATED' if entry['deprecated'] else ''}{'  signed' if entry['signed'] else ''}")
    print(f"  {entry['description']}")
    print(f"  install: helm install NAME {entry['ref']} --version {entry['version']}")
    print(f"  manifest {entry['manifestDigest']}  chart {entry['chartDigest']}  created {entry['created']}")
    if entry["kubeVersion"]:
        print(f"  kubeVersion {entry['kubeVersion']}")
    print("  images: " + (", ".join(entry["images"]) or "-"))
    print("  parameters:")
    for p in entry["parameters"]:
        print(f"    {p['name']:<40} {p['type']:<10} {json.dumps(p['default'])}{'  (locked)' if p['locked'] else ''}")
    return 0


def _cmd_catalog_search(args: argparse.Namespace) -> int:
    from toolkit.catalog.index import search

    hits = search(_index_of(args), args.text)
    if args.json:
        _print_json(hits)
        return 0
    for hit in hits:
        print(f"{hit['type']:<24} {hit['version']:<12} {hit['description']}  [{', '.join(hit['matched'])}]")
    return 0 if hits else 1


def _cmd_catalog_deprecate(args: argparse.Namespace) -> int:
    from toolkit.catalog.index import deprecate

    settings = _catalog_settings(args, args.catalog)
    result = deprecate(settings.catalog, args.type, args.type_version, index_dir=settings.index_dir,
                       reason=args.reason, ca_file=settings.ca_file, registry_config=settings.registry_config)
    if args.json:
        _print_json(result)
    else:
        state = "was already deprecated" if result["alreadyDeprecated"] else "is now deprecated"
        print(f"{args.type} {args.type_version} {state} (marker {result['marker']})")
    return 0


# --- instances ----------------------------------------------------------------------------------------------

def _add_instances(sub: argparse._SubParsersAction) -> None:
    from pathlib import Path

    def common(p: argparse.ArgumentParser, *, namespace: bool = True, all_namespaces: bool = False) -> None:
        if namespace:
            p.add_argument("-n", "--namespace", default="default", help="namespace of the instance (default default)")
        if all_namespaces:
            p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
        p.add_argument("--catalog", help="oci://HOST/NAMESPACE (default: CHARTKIT_CATALOG, .chartkit.yaml, "
                                         "~/.config/chartkit/config.yaml, the local registry)")
        _catalog_access_flags(p)
        p.add_argument("--kubeconfig", help="kubeconfig (default: KUBECONFIG, the local cluster, ~/.kube/config)")
        p.add_argument("--kube-context", help="kubeconfig context")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    def values(p: argparse.ArgumentParser) -> None:
        p.add_argument("-f", "--values", dest="values_files", action="append", type=Path, default=[],
                       metavar="FILE", help="values file (repeatable; later wins)")
        p.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                       help="set a value like helm (typed: true/false/null/integers)")
        p.add_argument("--set-string", dest="set_strings", action="append", default=[], metavar="K=V",
                       help="set a value as a string")
        p.add_argument("--timeout", default="5m", help="how long to wait for the rollout (default 5m)")
        force(p)

    def force(p: argparse.ArgumentParser) -> None:
        p.add_argument("--force-conflicts", action="store_true",
                       help="take back fields changed outside the chart (server-side apply conflicts; see drift)")

    p = sub.add_parser("install", help="install an instance of a catalog type (values checked before any change)")
    p.add_argument("instance", help="instance (release) name")
    p.add_argument("type_ref", metavar="TYPE[@VERSION]", help="catalog type, newest release unless @VERSION")
    p.add_argument("--take-ownership", action="store_true", help="adopt objects that exist already")
    values(p)
    common(p)
    p.set_defaults(handler=_cmd_install)

    p = sub.add_parser("upgrade", help="change an instance's values and/or version; --all-of TYPE for many")
    p.add_argument("instance", nargs="?", help="instance name (or --all-of TYPE)")
    p.add_argument("--to", metavar="VERSION|latest", help="target version (default: keep the version)")
    p.add_argument("--all-of", metavar="TYPE", help="upgrade every instance of TYPE (-A: in every namespace)")
    p.add_argument("--concurrency", type=int, default=4, help="parallel upgrades with --all-of (default 4)")
    p.add_argument("--reset-values", action="store_true", help="start from the chart's defaults")
    values(p)
    common(p, all_namespaces=True)
    p.set_defaults(handler=_cmd_upgrade)

    p = sub.add_parser("rollback", help="roll an instance back (default: to the previous revision)")
    p.add_argument("instance")
    p.add_argument("revision", nargs="?", type=int)
    p.add_argument("--timeout", default="5m")
    force(p)
    common(p)
    p.set_defaults(handler=_cmd_rollback)

    p = sub.add_parser("uninstall", help="remove an instance")
    p.add_argument("instance")
    p.add_argument("--timeout", default="5m")
    common(p)
    p.set_defaults(handler=_cmd_uninstall)

    p = sub.add_parser("recover", help="fix an instance stuck in pending-*: says what it will do, then does it")
    p.add_argument("instance")
    p.add_argument("--dry-run", action="store_true", help="only say what would be done")
    p.add_argument("--timeout", default="5m")
    force(p)
    common(p)
    p.set_defaults(handler=_cmd_recover)

    p = sub.add_parser("instances", help="instances with type, version, digest, revision, status, out of date")
    p.add_argument("--no-outdated", action="store_true", help="skip the catalog lookup")
    common(p, all_namespaces=True)
    p.set_defaults(handler=_cmd_instances)

    p = sub.add_parser("history", help="an instance's revisions with type, version and digest")
    p.add_argument("instance")
    common(p)
    p.set_defaults(handler=_cmd_history)

    p = sub.add_parser("outdated", help="instances behind the newest release of their type",
                       description="Exit codes: 0 none out of date (or no --fail-on-outdated), 3 some are.")
    p.add_argument("--fail-on-outdated", action="store_true", help="exit 3 when an instance is out of date")
    common(p, all_namespaces=True)
    p.set_defaults(handler=_cmd_outdated)

    p = sub.add_parser("drift", help="live changes behind the chart's back, who made them and when",
                       description="Exit codes: 0 clean, 3 drift, 4 compliance violation (a locked parameter's "
                                   "field changed).")
    p.add_argument("instance", nargs="?", help="instance name (or -A)")
    common(p, all_namespaces=True)
    p.set_defaults(handler=_cmd_drift)


def _catalog_access_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ca-file", type=Path, help="CA of the catalog's registry (default: the config file's caFile)")
    p.add_argument("--registry-config", type=Path,
                   help="registry credentials, docker config.json format (default: the config file's registryConfig)")


def _instance_settings(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from toolkit.deploy.config import resolve_settings

    return resolve_settings(catalog=args.catalog, kubeconfig=args.kubeconfig, context=args.kube_context,
                            timeout=getattr(args, "timeout", "5m"), ca_file=args.ca_file,
                            registry_config=args.registry_config)


def _instance_options(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from toolkit.deploy.instances import InstanceOptions

    return InstanceOptions(namespace=args.namespace, values_files=tuple(args.values_files), sets=tuple(args.sets),
                           set_strings=tuple(args.set_strings), timeout=args.timeout,
                           reset_values=getattr(args, "reset_values", False),
                           take_ownership=getattr(args, "take_ownership", False),
                           force_conflicts=args.force_conflicts)


def _report(result: Any, as_json: bool) -> int:
    if as_json:
        _print_json(result.to_json())
    else:
        print(result.line())
    return 0


def _cmd_install(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances

    settings = _instance_settings(args)
    return _report(instances.install(settings, args.instance, args.type_ref, _instance_options(args),
                                     progress=None if args.json else _err), args.json)


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances
    from toolkit.errors import InputError

    settings = _instance_settings(args)
    if args.all_of:
        if args.instance or args.values_files or args.sets or args.set_strings:
            raise InputError("unable to upgrade: --all-of TYPE takes no instance name and no values",
                             hint="change values per instance: chartkit upgrade NAME --set ...")
        # upgrade_all_of keeps each instance's values and objects: these would otherwise be silently ignored
        ignored = [flag for flag, on in (("--reset-values", args.reset_values),
                                         ("--take-ownership", getattr(args, "take_ownership", False))) if on]
        if ignored:
            raise InputError(f"unable to upgrade: --all-of TYPE does not take {' or '.join(ignored)}",
                             hint="use them per instance: chartkit upgrade NAME ...")
        return _upgrade_all(args, settings)
    if not args.instance:
        raise InputError("unable to upgrade: give an instance name or --all-of TYPE")
    return _report(instances.upgrade(settings, args.instance, _instance_options(args), to=args.to), args.json)


def _upgrade_all(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from toolkit.deploy import instances

    namespace = None if args.all_namespaces else args.namespace
    console = Console(stderr=True)
    with Progress(TextColumn("upgrading {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=args.json) as bar:
        task = bar.add_task(args.all_of, total=None)
        outcomes = instances.upgrade_all_of(
            settings, args.all_of, to=args.to or "latest", namespace=namespace, concurrency=args.concurrency,
            timeout=args.timeout, force_conflicts=args.force_conflicts,
            on_start=lambda found: bar.update(task, total=len(found)),
            progress=lambda o: (bar.advance(task), bar.console.print(
                f"  {'ok  ' if o.ok else 'FAIL'} {o.namespace}/{o.name}: "
                + (o.result.line() if o.result else o.error))))
    failed = [o for o in outcomes if not o.ok]
    if args.json:
        _print_json({"upgraded": len(outcomes) - len(failed), "failed": len(failed),
                     "outcomes": [o.to_json() for o in outcomes]})
    else:
        print(f"{args.all_of}: {len(outcomes) - len(failed)} upgraded, {len(failed)} failed"
              + (f" ({', '.join(f'{o.namespace}/{o.name}' for o in failed)})" if failed else ""))
    return 1 if failed else 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances

    result = instances.rollback(_instance_settings(args), args.instance, args.revision, namespace=args.namespace,
                                timeout=args.timeout, force_conflicts=args.force_conflicts)
    return _report(result, args.json)


def _cmd_uninstall(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances

    inst = instances.uninstall(_instance_settings(args), args.instance, namespace=args.namespace,
                               timeout=args.timeout)
    if args.json:
        _print_json({"uninstalled": inst.to_json()})
    else:
        print(f"uninstalled {inst.namespace}/{inst.name} ({inst.type} {inst.version})")
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances

    settings = _instance_settings(args)
    plan = instances.recover(settings, args.instance, namespace=args.namespace, apply=False)
    text = plan.describe(args.instance, args.namespace)
    if args.dry_run or plan.action is instances.RecoveryAction.NONE:
        if args.json:
            _print_json({"action": plan.action.value, "revision": plan.revision, "reason": plan.reason,
                         "applied": False})
        else:
            print(("would " if plan.action is not instances.RecoveryAction.NONE else "") + text)
        return 0
    _err(f"recover: will {text}")
    instances.recover(settings, args.instance, namespace=args.namespace, apply=True, timeout=args.timeout,
                      force_conflicts=args.force_conflicts)
    if args.json:
        _print_json({"action": plan.action.value, "revision": plan.revision, "reason": plan.reason, "applied": True})
    else:
        print(f"recovered: {text}")
    return 0


def _short_digest(digest: str) -> str:
    return digest[:19] if digest else "-"


def _cmd_instances(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances

    settings = _instance_settings(args)
    namespace = None if args.all_namespaces else args.namespace
    if args.no_outdated:
        rows = [instances.OutdatedRow(i, None, False, "not checked")
                for i in instances.list_instances(settings, namespace=namespace)]
    else:
        rows, _requests = instances.outdated(settings, namespace=namespace)
    if args.json:
        _print_json([r.to_json() for r in rows])
        return 0
    _table(["NAMESPACE", "NAME", "TYPE", "VERSION", "DIGEST", "REV", "STATUS", "OUTDATED"],
           [[r.instance.namespace, r.instance.name, r.instance.type, r.instance.version,
             _short_digest(r.instance.digest), str(r.instance.revision), r.instance.status,
             (f"yes ({r.latest})" if r.outdated else ("no" if r.latest else r.note or "-"))] for r in rows])
    return 0


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


def _cmd_history(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances

    rows = instances.history(_instance_settings(args), args.instance, namespace=args.namespace)
    if args.json:
        _print_json(rows)
        return 0
    _table(["REV", "UPDATED", "STATUS", "TYPE", "VERSION", "DIGEST", "DESCRIPTION"],
           [[str(r["revision"]), str(r["updated"])[:19], r["status"], r["type"], r["version"],
             _short_digest(r["digest"]), r["description"]] for r in rows])
    return 0


def _cmd_outdated(args: argparse.Namespace) -> int:
    from toolkit.deploy import instances

    settings = _instance_settings(args)
    rows, requests = instances.outdated(settings, namespace=None if args.all_namespaces else args.namespace)
    behind = [r for r in rows if r.outdated]
    if args.json:
        _print_json({"catalog": settings.catalog.url, "registryRequests": requests, "outdated": len(behind),
                     "instances": [r.to_json() for r in rows]})
    else:
        for r in behind:
            print(f"{r.instance.namespace}/{r.instance.name}: {r.instance.type} {r.instance.version} -> {r.latest}")
        _err(f"{len(behind)} of {len(rows)} instances out of date ({requests} registry requests)")
    return 3 if behind and args.fail_on_outdated else 0


def _cmd_drift(args: argparse.Namespace) -> int:
    from toolkit.deploy import drift, instances
    from toolkit.errors import InputError

    settings = _instance_settings(args)
    if args.all_namespaces or not args.instance:
        if not args.all_namespaces:
            raise InputError("unable to check drift: give an instance name or -A")
        targets = [(i.name, i.namespace) for i in instances.list_instances(settings)]
    else:
        targets = [(args.instance, args.namespace)]
    helm, kube = settings.helm(), settings.kube()
    reports = [drift.drift(settings, name, namespace=ns, helm=helm, kube=kube) for name, ns in targets]
    code = max((r.exit_code for r in reports), default=drift.ExitCode.CLEAN)
    if args.json:
        _print_json(reports[0].to_json() if args.instance and not args.all_namespaces
                    else [r.to_json() for r in reports])
    else:
        for report in reports:
            state = {0: "no drift", 3: "drift", 4: "drift with compliance violations"}[int(report.exit_code)]
            print(f"{report.namespace}/{report.instance}: {state}")
            for change in report.changes:
                print(f"  {change.line()}")
    return int(code)


# --- rollout & binding -------------------------------------------------------------------------------------

def _add_rollout(sub: argparse._SubParsersAction) -> None:
    from pathlib import Path

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-n", "--namespace", default="default", help="namespace of the instance (default default)")
        p.add_argument("--catalog", help="oci://HOST/NAMESPACE (default: as for install)")
        _catalog_access_flags(p)
        p.add_argument("--kubeconfig", help="kubeconfig (default: KUBECONFIG, the local cluster, ~/.kube/config)")
        p.add_argument("--kube-context", help="kubeconfig context")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "rollout", help="roll an instance out to a new version: rolling, blue-green, cutover, split",
        description="chartkit rollout INSTANCE --to VERSION [--strategy ...] | rollout INSTANCE --promote|--abort | "
                    "rollout status INSTANCE. Blue-green/cutover/split run the new version beside the old one in "
                    "<ns>-<instance>-green and shift traffic with an HTTPRoute named after the instance.")
    p.add_argument("words", nargs="+", metavar="INSTANCE | status INSTANCE")
    p.add_argument("--to", metavar="VERSION|latest", help="target version")
    p.add_argument("--strategy", choices=["rolling", "blue-green", "cutover", "split"], default="rolling")
    p.add_argument("--steps", default="10,50,100", help="blue-green: green's traffic %% per step (default 10,50,100)")
    p.add_argument("--pause", type=float, default=0.0, metavar="SECONDS", help="pause between weight steps")
    p.add_argument("--check-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="how long green may take to become Available before the rollout aborts (default 120)")
    p.add_argument("--header", default="X-Customer", help="split: request header naming the customer")
    p.add_argument("--customers", default="", help="split: comma-separated header values routed to green")
    p.add_argument("--gateway", metavar="NAMESPACE/NAME", help="the Gateway the instance's HTTPRoute attaches to")
    p.add_argument("--strategy-file", type=Path, metavar="FILE",
                   help="strategy as YAML/JSON (schemas/rollout-strategy.schema.json); overrides the flags above")
    p.add_argument("--promote", action="store_true", help="finish the rollout in progress in favour of green")
    p.add_argument("--abort", action="store_true", help="end the rollout in progress: all traffic back, green removed")
    p.add_argument("-f", "--values", dest="values_files", action="append", type=Path, default=[], metavar="FILE",
                   help="values for the new version, over the instance's own")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V")
    p.add_argument("--set-string", dest="set_strings", action="append", default=[], metavar="K=V")
    p.add_argument("--timeout", default="5m", help="helm's timeout for upgrading the instance of record")
    common(p)
    p.set_defaults(handler=_cmd_rollout)

    p = sub.add_parser("bind", help="give a namespace a servicebinding.io Secret to reach an instance")
    p.add_argument("instance")
    p.add_argument("--to", required=True, metavar="NAMESPACE", help="the consumer's namespace")
    p.add_argument("--name", help="binding Secret name (default <instance>-binding)")
    p.add_argument("--secret", help="the instance's Secret to hand over (default: the one its release uses)")
    p.add_argument("--service", help="the instance's Service (default: named like the instance, else the first)")
    common(p)
    p.set_defaults(handler=_cmd_bind)

    p = sub.add_parser("unbind", help="remove an instance's binding Secret from a namespace")
    p.add_argument("instance")
    p.add_argument("--from", dest="to", required=True, metavar="NAMESPACE", help="the consumer's namespace")
    p.add_argument("--name", help="binding Secret name (default <instance>-binding)")
    common(p)
    p.set_defaults(handler=_cmd_unbind)

    p = sub.add_parser("bindings", help="an instance's bindings in every namespace (key names only, never values)")
    p.add_argument("instance")
    common(p)
    p.set_defaults(handler=_cmd_bindings)


def _rollout_strategy(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from toolkit.deploy.strategies.plan import Strategy, StrategyOptions, load_strategy_file, parse_steps
    from toolkit.errors import InputError

    if args.strategy_file:
        return load_strategy_file(args.strategy_file)
    gateway = None
    if args.gateway:
        ns, _, name = args.gateway.partition("/")
        if not (ns and name):
            raise InputError(f'unable to parse --gateway "{args.gateway}": expected NAMESPACE/NAME')
        gateway = (name, ns)
    return StrategyOptions(kind=Strategy(args.strategy), steps=parse_steps(args.steps), pause_seconds=args.pause,
                           check_timeout_seconds=args.check_timeout, header=args.header,
                           customers=tuple(c.strip() for c in args.customers.split(",") if c.strip()),
                           gateway=gateway)


def _cmd_rollout(args: argparse.Namespace) -> int:
    from toolkit.deploy.strategies import run
    from toolkit.errors import InputError

    if args.words[0] == "status" and len(args.words) == 2:
        data = run.status(_instance_settings(args), args.words[1], namespace=args.namespace)
        if args.json:
            _print_json(data)
        else:
            print(run.describe_status(data) if data else f"no rollout recorded for {args.namespace}/{args.words[1]}")
        return 0
    if len(args.words) != 1:
        raise InputError("unable to parse rollout: expected INSTANCE or status INSTANCE")
    name = args.words[0]
    if sum(map(bool, (args.to, args.promote, args.abort))) != 1:
        raise InputError("unable to roll out: give exactly one of --to VERSION, --promote, --abort")
    settings = _instance_settings(args)
    progress = None if args.json else (lambda event: event.status == "started" or _err(event.line()))
    if args.promote:
        result = run.promote(settings, name, namespace=args.namespace, timeout=args.timeout, progress=progress)
    elif args.abort:
        result = run.abort(settings, name, namespace=args.namespace, progress=progress)
    else:
        options = run.RolloutOptions(namespace=args.namespace, strategy=_rollout_strategy(args),
                                     values_files=tuple(args.values_files), sets=tuple(args.sets),
                                     set_strings=tuple(args.set_strings), timeout=args.timeout)
        result = run.rollout(settings, name, args.to, options, progress=progress)
    return _report(result, args.json)


def _cmd_bind(args: argparse.Namespace) -> int:
    from toolkit.deploy import binding

    options = binding.BindOptions(namespace=args.namespace, to=args.to, name=args.name, secret=args.secret,
                                  service=args.service)
    return _report(binding.bind(_instance_settings(args), args.instance, options), args.json)


def _cmd_unbind(args: argparse.Namespace) -> int:
    from toolkit.deploy import binding

    found = binding.unbind(_instance_settings(args), args.instance, namespace=args.namespace, to=args.to,
                           name=args.name)
    if args.json:
        _print_json({"removed": found.to_json()})
    else:
        print(f"removed {found.line()}")
    return 0


def _cmd_bindings(args: argparse.Namespace) -> int:
    from toolkit.deploy import binding

    found = binding.bindings(_instance_settings(args), args.instance, namespace=args.namespace)
    if args.json:
        _print_json([b.to_json() for b in found])
    else:
        for b in found:
            print(b.line())
        if not found:
            print(f"no bindings of {args.namespace}/{args.instance}")
    return 0


# --- main ---------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chartkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"chartkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_chartify(sub)
    _add_localenv(sub)
    _add_catalog(sub)
    _add_instances(sub)
    _add_rollout(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ChartkitError as exc:
        _err(f"chartkit: error: {exc}")
        return 1
    except KeyboardInterrupt:
        _err("chartkit: interrupted")
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - the last-resort handler
        if args.verbose:
            raise
        _err(f"chartkit: unexpected error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return 2


if __name__ == "__main__":
    sys.exit(main())
