"""``chartkit install|upgrade|deploy|rollback|uninstall|recover|instances|history|outdated|drift``."""

from __future__ import annotations

import argparse

from toolkit.cli.options import (Deprecated, add_catalog, add_cluster, add_json, add_namespace, add_values, config_of,
                                 values_of)
from toolkit.cli.render import err, print_json, report, short_digest, table

__all__ = ["register"]


def _common(p: argparse.ArgumentParser, *, all_namespaces: bool = False, namespace: bool = True) -> None:
    if namespace:
        add_namespace(p, all_namespaces=all_namespaces)
    add_catalog(p)
    add_cluster(p)
    add_json(p)


def _timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", default="5m", help="how long to wait for the rollout (default 5m)")


def _force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force-conflicts", action="store_true",
                   help="take back fields changed outside the chart (server-side apply conflicts; see drift)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("install", help="install an instance of a catalog type (values checked before any change)")
    p.add_argument("instance", help="instance (release) name")
    p.add_argument("type_ref", metavar="TYPE[@VERSION]", help="catalog type, newest release unless @VERSION")
    p.add_argument("--take-ownership", action="store_true", help="adopt objects that exist already")
    add_values(p)
    _timeout(p)
    _force(p)
    _common(p)
    p.set_defaults(handler=_install)

    p = sub.add_parser("upgrade", help="change an instance's values and/or version; --all-of TYPE for many")
    p.add_argument("instance", nargs="?", help="instance name (or --all-of TYPE)")
    p.add_argument("--version", dest="version", metavar="VERSION|latest",
                   help="target version (default: keep the version)")
    p.add_argument("--to", dest="version", action=Deprecated, replacement="--version")
    p.add_argument("--all-of", metavar="TYPE", help="upgrade every instance of TYPE (-A: in every namespace)")
    p.add_argument("--concurrency", type=int, default=4, help="parallel upgrades with --all-of (default 4)")
    p.add_argument("--reset-values", action="store_true", help="start from the chart's defaults")
    add_values(p)
    _timeout(p)
    _force(p)
    _common(p, all_namespaces=True)
    p.set_defaults(handler=_upgrade)

    p = sub.add_parser("deploy", help="install the instance, or upgrade it to TYPE's asked (default newest) version")
    p.add_argument("instance", help="instance (release) name")
    p.add_argument("type_ref", metavar="TYPE[@VERSION]", help="catalog type, newest release unless @VERSION")
    add_values(p)
    _timeout(p)
    _force(p)
    _common(p)
    p.set_defaults(handler=_deploy)

    p = sub.add_parser("rollback", help="roll an instance back (default: to the previous revision)")
    p.add_argument("instance")
    p.add_argument("revision", nargs="?", type=int)
    _timeout(p)
    _force(p)
    _common(p)
    p.set_defaults(handler=_rollback)

    p = sub.add_parser("uninstall", help="remove an instance (and a rollout's route and green side)")
    p.add_argument("instance")
    _timeout(p)
    _common(p)
    p.set_defaults(handler=_uninstall)

    p = sub.add_parser("recover", help="fix an instance stuck in pending-* or failed: says what it will do, then does it")
    p.add_argument("instance")
    p.add_argument("--dry-run", action="store_true", help="only say what would be done")
    _timeout(p)
    _force(p)
    _common(p)
    p.set_defaults(handler=_recover)

    p = sub.add_parser("instances", help="instances with type, version, digest, revision, status, out of date")
    p.add_argument("--no-outdated", action="store_true", help="skip the catalog lookup")
    _common(p, all_namespaces=True)
    p.set_defaults(handler=_instances)

    p = sub.add_parser("history", help="an instance's revisions with type, version and digest")
    p.add_argument("instance")
    _common(p)
    p.set_defaults(handler=_history)

    p = sub.add_parser("outdated", help="instances behind the newest release of their type",
                       description="Exit codes: 0 none out of date (or no --fail-on-outdated), 3 some are.")
    p.add_argument("--fail-on-outdated", action="store_true", help="exit 3 when an instance is out of date")
    _common(p, all_namespaces=True)
    p.set_defaults(handler=_outdated)

    p = sub.add_parser("drift", help="live changes behind the chart's back, who made them and when",
                       description="Exit codes: 0 clean, 3 drift, 4 compliance violation (a locked parameter's "
                                   "field changed).")
    p.add_argument("instance", nargs="?", help="instance name (or -A)")
    p.add_argument("--propose", action="store_true",
                   help="turn the drift into a values change or a type change proposal (which parameter, which value)")
    _common(p, all_namespaces=True)
    p.set_defaults(handler=_drift)


def _install(args: argparse.Namespace) -> int:
    from toolkit.core.install import InstallOptions, install

    options = InstallOptions(instance=args.instance, type_ref=args.type_ref, namespace=args.namespace,
                             values=values_of(args), timeout=args.timeout, take_ownership=args.take_ownership,
                             force_conflicts=args.force_conflicts)
    return report(install(config_of(args), options, progress=None if args.json else err), args.json)


def _upgrade(args: argparse.Namespace) -> int:
    from toolkit.core.upgrade import UpgradeOptions, upgrade
    from toolkit.errors import InputError

    if args.all_of:
        from toolkit.core.upgrade_all import refuse_per_instance_settings

        refuse_per_instance_settings(instance=args.instance, values=bool(values_of(args)),
                                     reset_values=args.reset_values)
        return _upgrade_all(args)
    if not args.instance:
        raise InputError("unable to upgrade: give an instance name or --all-of TYPE")
    options = UpgradeOptions(instance=args.instance, namespace=args.namespace, version=args.version,
                             values=values_of(args), reset_values=args.reset_values, timeout=args.timeout,
                             force_conflicts=args.force_conflicts)
    return report(upgrade(config_of(args), options, progress=None if args.json else err), args.json)


def _upgrade_all(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from toolkit.core.upgrade_all import UpgradeAllOptions, upgrade_all

    options = UpgradeAllOptions(type=args.all_of, version=args.version or "latest",
                                namespace=None if args.all_namespaces else args.namespace,
                                concurrency=args.concurrency, timeout=args.timeout,
                                force_conflicts=args.force_conflicts)
    with Progress(TextColumn("upgrading {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), disable=args.json) as bar:
        task = bar.add_task(args.all_of, total=None)
        outcomes = upgrade_all(
            config_of(args), options, on_start=lambda found: bar.update(task, total=len(found)),
            progress=lambda o: (bar.advance(task), bar.console.print(
                f"  {'ok  ' if o.ok else 'FAIL'} {o.namespace}/{o.name}: "
                + (o.result.line() if o.result else o.error))))
    failed = [o for o in outcomes if not o.ok]
    if args.json:
        print_json({"upgraded": len(outcomes) - len(failed), "failed": len(failed),
                    "outcomes": [o.to_json() for o in outcomes]})
    else:
        print(f"{args.all_of}: {len(outcomes) - len(failed)} upgraded, {len(failed)} failed"
              + (f" ({', '.join(f'{o.namespace}/{o.name}' for o in failed)})" if failed else ""))
    return 1 if failed else 0


def _deploy(args: argparse.Namespace) -> int:
    from toolkit.core.deploy import DeployOptions, deploy

    options = DeployOptions(instance=args.instance, type_ref=args.type_ref, namespace=args.namespace,
                            values=values_of(args), timeout=args.timeout, force_conflicts=args.force_conflicts)
    return report(deploy(config_of(args), options, progress=None if args.json else err), args.json)


def _rollback(args: argparse.Namespace) -> int:
    from toolkit.core.rollback import RollbackOptions, rollback

    return report(rollback(config_of(args), RollbackOptions(
        instance=args.instance, namespace=args.namespace, revision=args.revision, timeout=args.timeout,
        force_conflicts=args.force_conflicts)), args.json)


def _uninstall(args: argparse.Namespace) -> int:
    from toolkit.core.uninstall import UninstallOptions, uninstall

    inst = uninstall(config_of(args), UninstallOptions(instance=args.instance, namespace=args.namespace,
                                                       timeout=args.timeout))
    if args.json:
        print_json({"uninstalled": inst.to_json()})
    else:
        print(f"uninstalled {inst.namespace}/{inst.name} ({inst.type} {inst.version})")
    return 0


def _recover(args: argparse.Namespace) -> int:
    from toolkit.core.recover import RecoverOptions, RecoveryAction, plan, recover

    config = config_of(args)
    options = RecoverOptions(instance=args.instance, namespace=args.namespace, timeout=args.timeout,
                             force_conflicts=args.force_conflicts)
    recovery = plan(config, options)
    text = recovery.describe(args.instance, args.namespace)
    apply = not args.dry_run and recovery.action is not RecoveryAction.NONE
    if apply:
        err(f"recover: will {text}")
        recover(config, options, recovery)
    if args.json:
        print_json({**recovery.to_json(), "applied": apply})
    elif apply:
        print(f"recovered: {text}")
    else:
        print(("would " if recovery.action is not RecoveryAction.NONE else "") + text)
    return 0


def _instances(args: argparse.Namespace) -> int:
    config = config_of(args)
    namespace = None if args.all_namespaces else args.namespace
    if args.no_outdated:
        from toolkit.core.instances import InstancesOptions, instances
        from toolkit.core.outdated import OutdatedRow

        rows = [OutdatedRow(i, None, False, "not checked")
                for i in instances(config, InstancesOptions(namespace=namespace))]
    else:
        from toolkit.core.outdated import OutdatedOptions, outdated

        rows = outdated(config, OutdatedOptions(namespace=namespace)).rows
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    table(["NAMESPACE", "NAME", "TYPE", "VERSION", "DIGEST", "REV", "RELEASE", "OUTDATED", "STATUS", "POLICY"],
          [[r.instance.namespace, r.instance.name, r.instance.type, r.instance.version,
            short_digest(r.instance.digest), str(r.instance.revision), r.instance.status,
            (f"yes ({r.latest})" if r.outdated else ("no" if r.latest else r.note or "-")),
            _status(r), str(r.policy)] for r in rows])
    return 0


def _status(row) -> str:  # type: ignore[no-untyped-def]
    if row.status is None:
        return "-"
    return row.status.status.value + (f" -> {row.status.target}" if row.status.target else "")


def _history(args: argparse.Namespace) -> int:
    from toolkit.core.history import HistoryOptions, history

    rows = history(config_of(args), HistoryOptions(instance=args.instance, namespace=args.namespace))
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    table(["REV", "UPDATED", "STATUS", "TYPE", "VERSION", "DIGEST", "DESCRIPTION"],
          [[str(r.revision), r.updated[:19], r.status, r.type, r.version, short_digest(r.digest), r.description]
           for r in rows])
    return 0


def _outdated(args: argparse.Namespace) -> int:
    from toolkit.core.outdated import OutdatedOptions, outdated

    result = outdated(config_of(args), OutdatedOptions(namespace=None if args.all_namespaces else args.namespace))
    behind = result.behind
    if args.json:
        print_json({"catalog": result.catalog, "registryRequests": result.registry_requests, "outdated": len(behind),
                    "instances": [r.to_json() for r in result.rows]})
    else:
        for r in behind:
            status = f" [{_status(r)}; policy {r.policy}]" if r.status is not None else ""
            print(f"{r.instance.namespace}/{r.instance.name}: {r.instance.type} {r.instance.version} -> {r.latest}{status}")
        err(f"{len(behind)} of {len(result.rows)} instances out of date ({result.registry_requests} registry requests)")
    return 3 if behind and args.fail_on_outdated else 0


def _drift(args: argparse.Namespace) -> int:
    from toolkit.core.drift import DriftOptions, drift

    config = config_of(args)
    result = drift(config, DriftOptions(instance=args.instance, namespace=args.namespace,
                                        all_namespaces=args.all_namespaces))
    if args.propose:
        from toolkit.core.drift import proposals

        found = proposals(config, result)
        if args.json:
            print_json([p.to_json() for p in found])
        else:
            for proposal in found:
                print(f"{proposal.namespace}/{proposal.instance}:")
                for line in proposal.lines():
                    print(f"  {line}")
        return int(result.exit_code)
    if args.json:
        print_json(result.to_json())
    else:
        for r in result.reports:
            state = {0: "no drift", 3: "drift", 4: "drift with compliance violations"}[int(r.exit_code)]
            print(f"{r.namespace}/{r.instance}: {state}")
            for change in r.changes:
                print(f"  {change.line()}")
    return int(result.exit_code)

