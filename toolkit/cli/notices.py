"""``chartkit policy set|type diff|plan|approve|promote|guard|notices|watch``: policies, notices and guard rails."""

from __future__ import annotations

import argparse

from toolkit.cli.options import add_catalog, add_cluster, add_json, add_namespace, add_values, config_of, values_of
from toolkit.cli.render import err, print_json, report, table

__all__ = ["register"]


def _common(p: argparse.ArgumentParser, *, namespace: bool = True, all_namespaces: bool = False) -> None:
    if namespace:
        add_namespace(p, all_namespaces=all_namespaces)
    add_catalog(p)
    add_cluster(p)
    add_json(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="an instance's update policy: track, mode, ring")
    psub = p.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    q = psub.add_parser("set", help="set an instance's update policy (release labels; no new revision)")
    q.add_argument("instance")
    q.add_argument("--track", help="stable | edge | a range (~1.4, ^2, 1.x) | an exact version (pinned)")
    q.add_argument("--mode", choices=["manual", "automatic"],
                   help="manual: upgraded through approved plans; automatic: the watcher upgrades it")
    q.add_argument("--ring", help="the rollout ring (dev, staging, prod, ...); '' removes it")
    _common(q)
    q.set_defaults(handler=_policy_set)

    p = sub.add_parser("type", help="compare versions of a type")
    tsub = p.add_subparsers(dest="type_command", metavar="COMMAND", required=True)
    q = tsub.add_parser("diff", help="every change between two versions, compatible or breaking",
                        description="Exit codes: 0, or 3 when B breaks A without a major version.")
    q.add_argument("type")
    q.add_argument("old", metavar="A")
    q.add_argument("new", metavar="B")
    _common(q, namespace=False)
    q.set_defaults(handler=_type_diff)

    p = sub.add_parser("plan", help="work out an instance's change (dry run on the server) and store it to approve")
    p.add_argument("instance")
    p.add_argument("--version", metavar="VERSION|latest", help="target version (default: keep it)")
    p.add_argument("--plan", dest="type_plan", metavar="NAME", help="a plan the type declares (its values)")
    add_values(p)
    _common(p)
    p.set_defaults(handler=_plan)

    p = sub.add_parser("approve", help="apply a stored plan exactly (refused if anything changed since)")
    p.add_argument("plan", metavar="PLAN")
    p.add_argument("--timeout", default="5m")
    _common(p)
    p.set_defaults(handler=_approve)

    p = sub.add_parser("promote", help="upgrade a type's instances ring by ring; stop at the first failing ring",
                       description="Exit codes: 0 every ring done, 1 a ring failed (later rings untouched).")
    p.add_argument("type")
    p.add_argument("version")
    p.add_argument("--rings", default="dev,staging,prod", help="ring order (default dev,staging,prod)")
    p.add_argument("--timeout", default="5m", help="helm's timeout per upgrade")
    p.add_argument("--health-timeout", type=float, default=120.0, help="seconds to become available (default 120)")
    _common(p, all_namespaces=True)
    p.set_defaults(handler=_promote)

    p = sub.add_parser("guard", help="guard an instance's locked fields in the API server (ValidatingAdmissionPolicy)")
    p.add_argument("state", choices=["on", "off"])
    p.add_argument("instance")
    p.add_argument("--mode", choices=["deny", "warn"], default="deny",
                   help="deny: refuse edits of locked fields; warn: let them through with a warning (audited)")
    _common(p)
    p.set_defaults(handler=_guard)

    p = sub.add_parser("notices", help="out-of-date, security, drift and compliance notices the watcher raised")
    p.add_argument("--resolved", action="store_true", help="resolved notices too")
    _common(p, all_namespaces=True)
    p.set_defaults(handler=_notices)

    p = sub.add_parser("watch", help="the notifier: check catalog and cluster on an interval, notify once per fact")
    p.add_argument("--once", action="store_true", help="one pass, then exit (for cron; no leader election)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between passes (default 60)")
    p.add_argument("--webhook", metavar="URL", help="POST each notice as a CloudEvent (retried; outbox in-cluster)")
    p.add_argument("--webhook-format", choices=["cloudevents", "slack"], default="cloudevents")
    p.add_argument("--no-drift", action="store_true", help="skip drift and compliance checks")
    p.add_argument("--no-upgrade", action="store_true", help="never upgrade automatic-mode instances")
    p.add_argument("--identity", help="this replica's name in the election (default: POD_NAME or host-pid)")
    p.add_argument("--lease-namespace", default="chartkit-system")
    p.add_argument("--lease-duration", type=float, default=15.0)
    _common(p, all_namespaces=True)
    p.set_defaults(handler=_watch)


def _policy_set(args: argparse.Namespace) -> int:
    from toolkit.core.policy import PolicyOptions, set_policy

    policy = set_policy(config_of(args), PolicyOptions(instance=args.instance, namespace=args.namespace,
                                                       track=args.track, mode=args.mode, ring=args.ring))
    if args.json:
        print_json(policy.to_json())
    else:
        print(f"{args.namespace}/{args.instance}: policy {policy}")
    return 0


def _type_diff(args: argparse.Namespace) -> int:
    from toolkit.core.typediff import TypeDiffOptions, type_diff

    result = type_diff(config_of(args), TypeDiffOptions(type=args.type, old=args.old, new=args.new))
    if args.json:
        print_json(result.to_json())
    else:
        for change in result.changes:
            print(change.line())
        err(f"{args.type} {result.old} -> {result.new}: {len(result.changes)} changes, {len(result.breaking)} "
            f"breaking; needs a {result.needs} version" + (" (SemVer violated)" if result.violations else ""))
    return 3 if result.violations else 0


def _plan(args: argparse.Namespace) -> int:
    from toolkit.core.plan import PlanOptions, make_plan

    plan = make_plan(config_of(args), PlanOptions(instance=args.instance, namespace=args.namespace,
                                                  version=args.version, plan=args.type_plan, values=values_of(args)))
    if args.json:
        print_json(plan.to_json())
        return 0
    for step in plan.migrations:
        err(f"values migration: {step}")
    for change in plan.changes:
        err(f"  {change['object']}: {change['action']}" + "".join(f"\n      {f}" for f in change.get("fields", [])))
    print(plan.line())
    return 0


def _approve(args: argparse.Namespace) -> int:
    from toolkit.core.plan import ApproveOptions, approve

    return report(approve(config_of(args), ApproveOptions(plan=args.plan, namespace=args.namespace,
                                                          timeout=args.timeout)), args.json)


def _promote(args: argparse.Namespace) -> int:
    from toolkit.core.promote import PromoteOptions, promote

    def show(ring) -> None:  # type: ignore[no-untyped-def]
        if not args.json:
            err(f"ring {ring.ring}: {'ok' if ring.ok else 'FAILED'}")
            for o in ring.instances:
                err(f"  {o.action.value:8} {o.namespace}/{o.name}: {o.detail}")

    result = promote(config_of(args), PromoteOptions(
        type=args.type, version=args.version, rings=tuple(r for r in args.rings.split(",") if r),
        namespace=None if args.all_namespaces else args.namespace, timeout=args.timeout,
        health_timeout=args.health_timeout), progress=show)
    if args.json:
        print_json(result.to_json())
    else:
        left = [r.ring for r in result.rings if not r.started]
        print(f"promote {result.type} {result.version}: "
              + (f"stopped at ring {result.stopped_at}; not started: {', '.join(left) or '-'}" if result.stopped_at
                 else "every ring done"))
    return 1 if result.stopped_at else 0


def _guard(args: argparse.Namespace) -> int:
    from toolkit.core.guard import GuardOptions, guard

    mode = args.mode if args.state == "on" else "off"
    return report(guard(config_of(args), GuardOptions(instance=args.instance, namespace=args.namespace, mode=mode)),
                  args.json)


def _notices(args: argparse.Namespace) -> int:
    from toolkit.core.notices import list_notices

    found = list_notices(config_of(args, start_registry=False),
                         namespace=None if args.all_namespaces else args.namespace, resolved=args.resolved)
    if args.json:
        print_json(found)
        return 0
    table(["SINCE", "STATE", "KIND", "INSTANCE", "MESSAGE"],
          [[n.get("since", ""), n.get("state", ""), n.get("kind", ""), f"{n['namespace']}/{n['instance']}",
            n.get("message", "")] for n in found])
    return 0


def _watch(args: argparse.Namespace) -> int:
    from toolkit.core.notices import NoticeOptions
    from toolkit.watch import WatchOptions, default_identity, run

    notices = NoticeOptions(namespace=None if args.all_namespaces else args.namespace, webhook=args.webhook,
                            webhook_format=args.webhook_format, check_drift=not args.no_drift,
                            upgrade=not args.no_upgrade)
    options = WatchOptions(interval=args.interval, once=args.once, identity=args.identity or default_identity(),
                           lease_namespace=args.lease_namespace, lease_duration=args.lease_duration, notices=notices)
    result = run(config_of(args), options, say=lambda line: err(f"watch: {line}"))
    if result is not None:
        if args.json:
            print_json(result.to_json())
        else:
            print(result.line())
    return 0
