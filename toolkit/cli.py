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
import sys
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
    pass


# --- localenv -----------------------------------------------------------------------------------------------

def _add_localenv(sub: argparse._SubParsersAction) -> None:
    env = sub.add_parser("env", help="show the helm, registry and cluster chartkit uses (starts nothing)")
    env.add_argument("--json", action="store_true", help="machine-readable output")
    env.set_defaults(handler=_cmd_env)
    up = sub.add_parser("up", help="build (first time) and start the local registry and cluster")
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

    def registry_flags(p: argparse.ArgumentParser) -> None:
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
                         description="Catalog URL: flag, then CHARTKIT_CATALOG, the index's, the local registry's "
                                     "oci://HOST/charts. Index: --index, CHARTKIT_INDEX, ./repo-index.")
    csub = cat.add_subparsers(dest="catalog_command", metavar="COMMAND")
    csub.required = True
    sync = csub.add_parser("sync", help="update the index from the registry (incremental unless --full)")
    sync.add_argument("--from", dest="catalog", help="oci://HOST/NAMESPACE")
    sync.add_argument("--full", action="store_true", help="rebuild the index from scratch")
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
        registry_flags(p)
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
    result = sync(settings.catalog, settings.index_dir, full=args.full, ca_file=settings.ca_file,
                  registry_config=settings.registry_config)
    if args.json:
        _print_json(result.as_dict())
    else:
        print(f"synced {result.catalog} → {result.path}: {result.types} types, {result.versions} versions "
              f"(+{len(result.added)} -{len(result.removed)}, {result.requests} registry requests)")
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
    pass


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
    except Exception as exc:  # noqa: BLE001 - the last-resort handler
        if args.verbose:
            raise
        _err(f"chartkit: unexpected error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return 2


if __name__ == "__main__":
    sys.exit(main())
