"""``chartkit rollout start|promote|resume|abort|status`` and ``chartkit bind|unbind|bindings``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from toolkit.cli.options import (Deprecated, add_catalog, add_cluster, add_json, add_namespace, add_values, config_of,
                                 values_of)
from toolkit.cli.render import err, print_json, report, warn

__all__ = ["legacy_rollout_argv", "register"]

ACTIONS = ("start", "promote", "resume", "abort", "status")


def _common(p: argparse.ArgumentParser) -> None:
    add_namespace(p)
    add_catalog(p)
    add_cluster(p)
    add_json(p)


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "rollout", help="roll an instance out to a new version: rolling, blue-green, cutover, split",
        description="Blue-green/cutover/split run the new version beside the old one in <ns>-<instance>-green and "
                    "shift traffic with an HTTPRoute named after the instance; its state lives on that route, so "
                    "any machine can promote, abort or show it.")
    rsub = r.add_subparsers(dest="rollout_action", metavar="ACTION")
    rsub.required = True
    p = rsub.add_parser("start", help="start a rollout of INSTANCE to --version")
    p.add_argument("instance")
    p.add_argument("--version", required=True, metavar="VERSION|latest", help="target version")
    p.add_argument("--strategy", choices=["rolling", "blue-green", "cutover", "split"], default="rolling")
    p.add_argument("--steps", default="10,50,100", help="blue-green: green's traffic %% per step (default 10,50,100)")
    p.add_argument("--pause", default="0", metavar="SECONDS", help="pause between weight steps")
    p.add_argument("--check-timeout", default="120", metavar="SECONDS",
                   help="how long green may take to become Available before the rollout aborts (default 120)")
    p.add_argument("--header", default="X-Customer", help="split: request header naming the customer")
    p.add_argument("--customers", default="", help="split: comma-separated header values routed to green")
    p.add_argument("--gateway", metavar="NAMESPACE/NAME",
                   help="the Gateway the instance's HTTPRoute attaches to (default: CHARTKIT_GATEWAY, gateway: in "
                        ".chartkit.yaml, the local gateway)")
    p.add_argument("--hostname", dest="hostnames", action="append", default=[], metavar="HOST",
                   help="the route's hostname (repeatable; default <instance>.<namespace>.chartkit.test)")
    p.add_argument("--gateway-metrics", metavar="URL",
                   help="the Gateway's Prometheus metrics, read by analysis gates (default: the configuration's)")
    p.add_argument("--strategy-file", type=Path, metavar="FILE",
                   help="strategy as YAML/JSON (schemas/rollout-strategy.schema.json; analysis gates live there); "
                        "overrides the flags above")
    add_values(p)
    p.add_argument("--timeout", default="5m", help="helm's timeout for upgrading the instance of record")
    _common(p)
    p.set_defaults(handler=_start)
    for action, text in (("promote", "finish the rollout in progress in favour of the new version"),
                         ("resume", "carry on a blue-green/cutover rollout whose driver stopped, from its weight"),
                         ("abort", "end the rollout in progress: all traffic back, green removed"),
                         ("status", "the last rollout: phase, versions, step, live route rules, last analysis")):
        p = rsub.add_parser(action, help=text)
        p.add_argument("instance")
        if action in ("promote", "resume"):
            p.add_argument("--timeout", default="5m", help="helm's timeout for upgrading the instance of record")
        if action == "resume":
            p.add_argument("--gateway-metrics", metavar="URL",
                           help="the Gateway's metrics for the remaining analysis gates (default: the configuration's)")
        _common(p)
        p.set_defaults(handler={"promote": _promote, "resume": _resume, "abort": _abort, "status": _status}[action])

    p = sub.add_parser("bind", help="give a consumer namespace a servicebinding.io Secret to reach an instance")
    p.add_argument("instance")
    p.add_argument("--consumer-namespace", metavar="NAMESPACE",
                   help="where the consuming app runs; the binding Secret goes there (required)")
    p.add_argument("--to", dest="consumer_namespace", action=Deprecated, replacement="--consumer-namespace")
    p.add_argument("--name", help="binding Secret name (default <instance>-binding)")
    p.add_argument("--secret", help="the instance's Secret to hand over (default: the one its release uses)")
    p.add_argument("--service", help="the instance's Service (default: named like the instance, else the first)")
    p.add_argument("--workload", metavar="KIND/NAME",
                   help="project the binding into this Deployment/StatefulSet/CronJob of the consumer namespace "
                        "($SERVICE_BINDING_ROOT/<name>)")
    p.add_argument("--state-namespace", metavar="NAMESPACE",
                   help="where provisioned (and bought) service instances are recorded (default chartkit-system)")
    _common(p)
    p.set_defaults(handler=_bind)

    p = sub.add_parser("unbind", help="remove an instance's binding Secret from a consumer namespace")
    p.add_argument("instance")
    p.add_argument("--consumer-namespace", metavar="NAMESPACE", help="the consumer's namespace (required)")
    p.add_argument("--from", dest="consumer_namespace", action=Deprecated, replacement="--consumer-namespace")
    p.add_argument("--name", help="binding Secret name (default <instance>-binding)")
    _common(p)
    p.set_defaults(handler=_unbind)

    p = sub.add_parser("bindings", help="an instance's bindings in every namespace (key names only, never values)")
    p.add_argument("instance")
    _common(p)
    p.set_defaults(handler=_bindings)


def legacy_rollout_argv(argv: Sequence[str]) -> list[str]:
    """``rollout INSTANCE --to V | --promote | --abort`` (the last release's form) → ``rollout ACTION ...``."""
    argv = list(argv)
    if "rollout" not in argv:
        return argv
    at = argv.index("rollout")
    rest = argv[at + 1:]
    if not rest or rest[0] in ACTIONS or rest[0].startswith("-"):
        return argv
    action = "promote" if "--promote" in rest else "abort" if "--abort" in rest else "start"
    rest = [a for a in rest if a not in ("--promote", "--abort")]
    rest = ["--version" if a == "--to" else a for a in rest]
    warn(f"`chartkit rollout INSTANCE --to/--promote/--abort` is deprecated and will be removed in the next release; "
         f"use `chartkit rollout {action} INSTANCE ...`")
    return [*argv[:at + 1], action, *rest]


def _strategy(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from toolkit.core.rollout import load_strategy_file, options_from_flags

    if args.strategy_file:
        return load_strategy_file(args.strategy_file)
    return options_from_flags(kind=args.strategy, steps=args.steps, pause=args.pause,
                              check_timeout=args.check_timeout, header=args.header, customers=args.customers,
                              gateway=args.gateway, hostnames=args.hostnames, metrics_url=args.gateway_metrics)


def _events(args: argparse.Namespace):  # noqa: ANN202 - a progress callback
    return None if args.json else (lambda event: event.status == "started" or err(event.line()))


def _start(args: argparse.Namespace) -> int:
    from toolkit.core.rollout import RolloutOptions, rollout

    options = RolloutOptions(instance=args.instance, version=args.version, namespace=args.namespace,
                             strategy=_strategy(args), values=values_of(args), timeout=args.timeout)
    return report(rollout(config_of(args), options, progress=_events(args)), args.json)


def _target(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from toolkit.core.rollout import RolloutTarget

    return RolloutTarget(instance=args.instance, namespace=args.namespace, timeout=getattr(args, "timeout", None))


def _promote(args: argparse.Namespace) -> int:
    from toolkit.core.rollout import promote

    return report(promote(config_of(args), _target(args), progress=_events(args)), args.json)


def _resume(args: argparse.Namespace) -> int:
    from toolkit.core.rollout import resume

    return report(resume(config_of(args), _target(args), progress=_events(args)), args.json)


def _abort(args: argparse.Namespace) -> int:
    from toolkit.core.rollout import abort

    return report(abort(config_of(args), _target(args), progress=_events(args)), args.json)


def _status(args: argparse.Namespace) -> int:
    from toolkit.core.rollout import describe_status, status

    data = status(config_of(args), _target(args))
    if args.json:
        print_json(data)
    else:
        print(describe_status(data) if data else f"no rollout recorded for {args.namespace}/{args.instance}")
    return 0


def _bind(args: argparse.Namespace) -> int:
    from toolkit.core.bind import BindOptions, bind

    state = {"state_namespace": args.state_namespace} if args.state_namespace else {}
    options = BindOptions(instance=args.instance, namespace=args.namespace, consumer_namespace=args.consumer_namespace,
                          name=args.name, secret=args.secret, service=args.service, workload=args.workload, **state)
    return report(bind(config_of(args), options), args.json)


def _unbind(args: argparse.Namespace) -> int:
    from toolkit.core.bind import BindingRef, unbind

    found = unbind(config_of(args), BindingRef(instance=args.instance, namespace=args.namespace,
                                               consumer_namespace=args.consumer_namespace, name=args.name))
    if args.json:
        print_json({"removed": found.to_json()})
    else:
        print(f"removed {found.line()}")
    return 0


def _bindings(args: argparse.Namespace) -> int:
    from toolkit.core.bind import BindingRef, bindings

    found = bindings(config_of(args), BindingRef(instance=args.instance, namespace=args.namespace))
    if args.json:
        print_json([b.to_json() for b in found])
    else:
        for b in found:
            print(b.line())
        if not found:
            print(f"no bindings of {args.namespace}/{args.instance}")
    return 0
