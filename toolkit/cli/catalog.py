"""``chartkit package|publish|catalog ...``: share a type through the OCI catalog and its index."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from toolkit.cli.options import Deprecated, add_catalog, add_json, config_of
from toolkit.cli.render import err, print_json, warn

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    pkg = sub.add_parser("package", help="lint and package a chart reproducibly (.tgz, optional .prov)")
    pkg.add_argument("chart", type=Path, help="chart directory")
    which = pkg.add_mutually_exclusive_group()
    which.add_argument("--version", dest="chart_version", help="the version to package (SemVer)")
    which.add_argument("--bump", choices=["major", "minor", "patch", "prerelease"],
                       help="next version after the highest one in the catalog")
    pkg.add_argument("--app-version", help="set appVersion")
    pkg.add_argument("-o", "--destination", type=Path, default=Path("."), help="output directory (default .)")
    pkg.add_argument("--offline", action="store_true", help="do not consult the catalog (no --bump)")
    pkg.add_argument("--sign", action="store_true", help="write Helm's .prov signed with --key")
    pkg.add_argument("--key", help="GnuPG key (uid, email or id) to sign with")
    pkg.add_argument("--keyring", type=Path, help="binary secret keyring (default: exported from GnuPG)")
    pkg.add_argument("--no-lint", action="store_true", help="skip helm lint")
    pkg.add_argument("--helm", default=None, help="helm binary (default: CHARTKIT_HELM, PATH, then the local build)")
    add_catalog(pkg)
    add_json(pkg)
    pkg.set_defaults(handler=_package)

    pub = sub.add_parser("publish", help="push packages to the catalog (immutable versions)")
    pub.add_argument("packages", nargs="+", type=Path, metavar="PKG", help="chart packages (.tgz; .prov beside)")
    pub.add_argument("--to", dest="catalog", action=Deprecated, replacement="--catalog")
    pub.add_argument("--index", type=Path, help="repo-index directory to update (default ./repo-index)")
    pub.add_argument("--no-index", action="store_true", help="do not update the index")
    pub.add_argument("--workers", type=int, default=8, help="concurrent uploads (default 8)")
    pub.add_argument("--allow-breaking", action="store_true",
                     help="publish breaking changes without a major version (see `chartkit type diff`)")
    add_catalog(pub)
    add_json(pub)
    pub.set_defaults(handler=_publish)

    cat = sub.add_parser("catalog", help="the org's catalog: sync, list, show, search, deprecate",
                         description="Catalog: --catalog, then CHARTKIT_CATALOG, .chartkit.yaml (searched upward), "
                                     "~/.config/chartkit/config.yaml, a running local registry's oci://HOST/charts "
                                     "(the same order as install). Index: --index, CHARTKIT_INDEX, ./repo-index.")
    csub = cat.add_subparsers(dest="catalog_command", metavar="COMMAND")
    csub.required = True
    sync = csub.add_parser("sync", help="update the index from the registry (incremental unless --full)")
    sync.add_argument("--from", dest="catalog", action=Deprecated, replacement="--catalog")
    sync.add_argument("--full", action="store_true", help="rebuild the index from scratch")
    sync.add_argument("--verify", action="store_true",
                      help="also check every indexed version's digest (one request each); refetch what changed")
    add_catalog(sync)
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
    add_catalog(dep)
    for p in (sync, lst, show, search, dep):
        p.add_argument("--index", type=Path, help="repo-index directory (default ./repo-index)")
        add_json(p)
    sync.set_defaults(handler=_sync)
    lst.set_defaults(handler=_list)
    show.set_defaults(handler=_show)
    search.set_defaults(handler=_search)
    dep.set_defaults(handler=_deprecate)


def _index_dir(args: argparse.Namespace) -> Path:
    from toolkit.config import resolve_index_dir

    return resolve_index_dir(args.index)


def _package(args: argparse.Namespace) -> int:
    from toolkit.core.package import PackageOptions, package
    from toolkit.errors import InputError

    if args.sign and not args.key:
        raise InputError("unable to sign: --sign needs --key (a GnuPG uid, email or key id)")
    result = package(config_of(args, start_registry=False), PackageOptions(
        chart=args.chart, version=args.chart_version, bump=args.bump, app_version=args.app_version,
        destination=args.destination, offline=args.offline, sign_key=args.key if args.sign else None,
        keyring=args.keyring, lint=not args.no_lint))
    for warning in result.warnings:
        warn(warning)
    if args.json:
        print_json(result.as_dict())
    else:
        note = " (already published with these exact bytes)" if result.published else ""
        print(f"packaged {result.name} {result.version} → {result.path} {result.digest}{note}")
        if result.prov:
            print(f"signed → {result.prov}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from toolkit.core.publish import PublishOptions, publish

    report = publish(config_of(args, start_registry=False), PublishOptions(
        packages=tuple(args.packages), index_dir=None if args.no_index else _index_dir(args), workers=args.workers,
        allow_breaking=args.allow_breaking))
    if args.json:
        print_json(report.as_dict())
    else:
        for r in report.results:
            print(f"{r.status.value}: {r.ref}:{r.version} {r.manifest_digest}{' (signed)' if r.signed else ''}")
        for package, error in report.errors:
            err(f"chartkit: error: {package}: {error}")
    return 0 if report.ok else 1


def _sync(args: argparse.Namespace) -> int:
    from toolkit.core.sync import SyncOptions, sync

    result = sync(config_of(args, start_registry=False),
                  SyncOptions(index_dir=_index_dir(args), full=args.full, verify=args.verify))
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"synced {result.catalog} → {result.path}: {result.types} types, {result.versions} versions "
              f"(+{len(result.added)} -{len(result.removed)} ~{len(result.changed)}, "
              f"{result.requests} registry requests)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from toolkit.core.catalog import CatalogQuery, catalog_list

    rows = catalog_list(CatalogQuery(index_dir=_index_dir(args)))
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        flag = " (deprecated)" if row["deprecated"] else ""
        print(f"{row['type']:<24} {row['latest']:<12} {row['versions']:>3} versions  {row['description']}{flag}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from toolkit.core.catalog import CatalogQuery, catalog_show

    entry = catalog_show(CatalogQuery(index_dir=_index_dir(args)), args.type, args.type_version)
    if args.json:
        print_json(entry)
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
    decl = entry.get("declarations")
    if decl:
        print(f"  plans{'' if decl['declared'] else ' (no chartkit.yaml: the defaults)'}:")
        for plan in decl["plans"]:
            locks = f"  locked: {', '.join(plan['locked'])}" if plan["locked"] else ""
            print(f"    {plan['name']:<12}{' (default)' if plan.get('default') else ''} {plan.get('description', '')}"
                  f"{'' if plan.get('free', True) else '  (paid)'}  values {json.dumps(plan['values'])}{locks}")
        outputs = ", ".join(o["key"] + (" (secret)" if o["sensitive"] else "") for o in decl["outputs"])
        print(f"  binding: {'bindable' if decl['bindable'] else 'not bindable'}"
              + (f"; outputs {outputs}" if outputs else ""))
        print(f"  update strategy: {json.dumps(decl['updateStrategy'])}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from toolkit.core.catalog import CatalogQuery, catalog_search

    hits = catalog_search(CatalogQuery(index_dir=_index_dir(args)), args.text)
    if args.json:
        print_json(hits)
        return 0
    for hit in hits:
        print(f"{hit['type']:<24} {hit['version']:<12} {hit['description']}  [{', '.join(hit['matched'])}]")
    return 0 if hits else 1


def _deprecate(args: argparse.Namespace) -> int:
    from toolkit.core.deprecate import DeprecateOptions, deprecate

    result = deprecate(config_of(args, start_registry=False), DeprecateOptions(
        type=args.type, version=args.type_version, reason=args.reason, index_dir=_index_dir(args)))
    if args.json:
        print_json(result)
    else:
        state = "was already deprecated" if result["alreadyDeprecated"] else "is now deprecated"
        print(f"{args.type} {args.type_version} {state} (marker {result['marker']})")
    return 0
