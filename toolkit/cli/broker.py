"""``chartkit provision|update|deprovision|provisioned``, ``chartkit marketplace add|list|remove``, ``chartkit broker``.

The CLI side of the same operations the Open Service Broker serves: a service instance by plan, its operations
recorded in the cluster (so a broker sees what the CLI did and the other way round), and other vendors' brokers.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from toolkit.cli.options import add_catalog, add_cluster, add_json, add_namespace, add_values, config_of, values_of
from toolkit.cli.render import err, print_json, table

__all__ = ["register"]


def _common(p: argparse.ArgumentParser, *, namespace: bool = True) -> None:
    if namespace:
        add_namespace(p)
    add_catalog(p)
    add_cluster(p)
    p.add_argument("--state-namespace", default=None, metavar="NAMESPACE",
                   help="where service instances, bindings and brokers are recorded (default chartkit-system)")
    p.add_argument("--timeout", default="5m", help="how long helm waits for the instance to be ready (default 5m)")
    add_json(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provision", help="provision a service instance of a type by plan (or buy one: --marketplace)")
    p.add_argument("instance", help="instance (release) name")
    p.add_argument("type_ref", metavar="TYPE[@VERSION]", help="catalog type (or the marketplace broker's service)")
    p.add_argument("--plan", help="plan name (default: the type's default plan)")
    p.add_argument("--marketplace", metavar="BROKER", help="buy it from this registered broker")
    add_values(p)
    _common(p)
    p.set_defaults(handler=_provision)

    p = sub.add_parser("update", help="change a service instance's plan, parameters or version (its update strategy)")
    p.add_argument("instance")
    p.add_argument("--plan", help="the new plan")
    p.add_argument("--version", metavar="VERSION|latest", help="the new version, through the type's update strategy")
    p.add_argument("--reset-values", action="store_true", help="drop the parameters given before")
    p.add_argument("--rotate-credentials", action="store_true",
                   help="new credentials (where the type declares rotation); every binding is rewritten")
    add_values(p)
    _common(p)
    p.set_defaults(handler=_update)

    p = sub.add_parser("deprovision", help="remove a service instance, its bindings and the namespace it got")
    p.add_argument("instance")
    _common(p)
    p.set_defaults(handler=_deprovision)

    p = sub.add_parser("provisioned", help="service instances with plan, version and last operation")
    p.add_argument("instance", nargs="?", help="one instance (with -n)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    _common(p)
    p.set_defaults(handler=_provisioned)

    m = sub.add_parser("marketplace", help="other vendors' service brokers: add, list (beside the catalog), remove")
    msub = m.add_subparsers(dest="marketplace_action", metavar="ACTION")
    msub.required = True
    p = msub.add_parser("add", help="register an Open Service Broker (its credentials go to a Secret)")
    p.add_argument("name")
    p.add_argument("url", help="the broker's base URL, e.g. https://broker.vendor.example")
    p.add_argument("--username", default="", help="basic-auth user")
    p.add_argument("--password-file", type=Path, help="file holding the password (else it is read from stdin)")
    p.add_argument("--broker-ca-file", type=Path, help="CA the broker's TLS certificate is checked against")
    _common(p, namespace=False)
    p.set_defaults(handler=_market_add)
    p = msub.add_parser("list", help="services and plans of the registered brokers next to the catalog's own types")
    p.add_argument("--no-catalog", action="store_true", help="only the registered brokers")
    _common(p, namespace=False)
    p.set_defaults(handler=_market_list)
    p = msub.add_parser("remove", help="forget a registered broker")
    p.add_argument("name")
    _common(p, namespace=False)
    p.set_defaults(handler=_market_remove)

    p = sub.add_parser("broker", help="serve the catalog as an Open Service Broker (API v2.17)",
                       description="Loopback unless --host says otherwise; basic auth from --credentials-file "
                                   "(one line USER:PASSWORD, mode 600) or --credentials-secret NS/NAME; TLS with "
                                   "--tls-cert/--tls-key. No state of its own: run as many as you like.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--credentials-file", type=Path, help="basic-auth USER:PASSWORD file (mode 600)")
    p.add_argument("--credentials-secret", metavar="NAMESPACE/NAME", help="a Secret with username and password")
    p.add_argument("--no-auth", action="store_true", help="serve without authentication (loopback only)")
    p.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="the certificate's key (PEM)")
    p.add_argument("--instances-namespace", help="place every instance here (default: context.namespace, else a "
                                                 "namespace of its own)")
    p.add_argument("--workers", type=int, default=8, help="operations run at once (default 8)")
    p.add_argument("--lease-seconds", type=float, default=15.0,
                   help="a broker silent this long is gone and its operations are taken over (default 15)")
    p.add_argument("--access-log", action="store_true", help="log each request line (never bodies)")
    _common(p, namespace=False)
    p.set_defaults(handler=_broker)


def _state(args: argparse.Namespace) -> str:
    from toolkit.core.provision import STATE_NAMESPACE

    return args.state_namespace or STATE_NAMESPACE


def _run(config, accepted, args: argparse.Namespace, holder) -> int:  # noqa: ANN001 - core types, imported lazily
    from toolkit.core.provision import State, execute

    if accepted.operation is None:
        rec = accepted.instance
        line = "exists already" if accepted.existed else "nothing to change"
    else:
        rec = accepted.instance
        if accepted.started:
            done = execute(config, rec.id, accepted.operation.id, holder=holder.identity,
                           state_namespace=_state(args), progress=None if args.json else err)
            rec = done or rec
        line = f"{rec.operation.kind.value} {rec.operation.state.value}: {rec.operation.description}"
    if args.json:
        print_json(_instance_json(rec))
    else:
        print(f"{rec.namespace}/{rec.release} ({rec.type} plan {rec.plan}): {line}")
    return 1 if rec.operation is not None and rec.operation.state is State.FAILED else 0


def _instance_json(rec) -> dict:  # noqa: ANN001
    op = rec.operation
    return {"id": rec.id, "name": rec.release, "namespace": rec.namespace, "type": rec.type, "plan": rec.plan,
            "version": rec.version, "serviceId": rec.service_id, "planId": rec.plan_id,
            "marketplace": rec.marketplace.get("broker") if rec.marketplace else None,
            "operation": op.to_json() if op else None}


def _provision(args: argparse.Namespace) -> int:
    from toolkit.core.provision import Holder, ProvisionOptions, provision
    from toolkit.errors import InputError

    type_name, _, version = args.type_ref.partition("@")
    if args.type_ref.endswith("@"):
        raise InputError(f'unable to parse type "{args.type_ref}": nothing after "@"')
    config = config_of(args)
    options = ProvisionOptions(service=type_name, plan=args.plan, name=args.instance, namespace=args.namespace,
                               parameters=values_of(args).merged(), version=version or None,
                               marketplace=args.marketplace, state_namespace=_state(args),
                               identity=f"chartkit {_who()}")
    with Holder(config.kube(), _state(args), role="cli") as holder:
        return _run(config, provision(config, options, holder=holder.identity), args, holder)


def _who() -> str:
    import base64

    return base64.b64encode(json.dumps({"username": getpass.getuser()}).encode()).decode()


def _update(args: argparse.Namespace) -> int:
    from toolkit.core.provision import Holder, InstanceRef, UpdateOptions, find, update

    config = config_of(args)
    ref = InstanceRef(name=args.instance, namespace=args.namespace, state_namespace=_state(args))
    values = values_of(args)
    parameters = None
    if values or args.reset_values:
        base = {} if args.reset_values else dict(find(config, ref).parameters)
        parameters = values.merged(base)
    options = UpdateOptions(ref=ref, plan=args.plan, parameters=parameters, version=args.version,
                            identity=f"chartkit {_who()}", rotate_credentials=args.rotate_credentials)
    with Holder(config.kube(), _state(args), role="cli") as holder:
        return _run(config, update(config, options, holder=holder.identity), args, holder)


def _deprovision(args: argparse.Namespace) -> int:
    from toolkit.core.provision import Holder, InstanceRef, deprovision

    config = config_of(args)
    ref = InstanceRef(name=args.instance, namespace=args.namespace, state_namespace=_state(args))
    with Holder(config.kube(), _state(args), role="cli") as holder:
        return _run(config, deprovision(config, ref, holder=holder.identity), args, holder)


def _provisioned(args: argparse.Namespace) -> int:
    from toolkit.core.provision import InstanceRef, find, provisioned

    config = config_of(args, start_registry=False)
    if args.instance:
        found = [find(config, InstanceRef(name=args.instance, namespace=args.namespace, state_namespace=_state(args)))]
    else:
        found = provisioned(config, namespace=None if args.all_namespaces else args.namespace,
                            state_namespace=_state(args))
    if args.json:
        print_json([_instance_json(r) for r in found])
        return 0
    table(["NAMESPACE", "NAME", "TYPE", "PLAN", "VERSION", "SOURCE", "LAST OPERATION"],
          [[r.namespace, r.release, r.type, r.plan, r.version or "-",
            (r.marketplace or {}).get("broker", "catalog"),
            f"{r.operation.kind.value} {r.operation.state.value}" if r.operation else "-"] for r in found])
    return 0


def _market_add(args: argparse.Namespace) -> int:
    from toolkit.core.marketplace import MarketplaceAddOptions, add

    if args.password_file:
        password = args.password_file.read_text().strip()
    elif args.username:
        password = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("broker password: ")
    else:
        password = ""
    broker, services = add(config_of(args, start_registry=False), MarketplaceAddOptions(
        name=args.name, url=args.url, username=args.username, password=password, ca_file=args.broker_ca_file,
        state_namespace=_state(args)))
    if args.json:
        print_json({**broker.to_json(), "services": services})
    else:
        print(f"added broker {broker.name} ({broker.url}): {services} services; credentials kept in a Secret")
    return 0


def _market_list(args: argparse.Namespace) -> int:
    from toolkit.core.marketplace import listing

    rows = listing(config_of(args), own=not args.no_catalog, state_namespace=_state(args))
    if args.json:
        print_json(rows)
        return 0
    table(["SOURCE", "SERVICE", "PLAN", "VERSION", "FREE", "BINDABLE", "DESCRIPTION"],
          [[r["source"], r["service"], r["plan"], r["version"] or "-", "yes" if r["free"] else "no",
            "yes" if r["bindable"] else "no", r["description"]] for r in rows])
    return 0


def _market_remove(args: argparse.Namespace) -> int:
    from toolkit.core.marketplace import remove

    remove(config_of(args, start_registry=False), args.name, state_namespace=_state(args))
    print(f"removed broker {args.name}")
    return 0


def _broker(args: argparse.Namespace) -> int:
    from toolkit.broker.app import BrokerSettings
    from toolkit.broker.server import ServeOptions, serve
    from toolkit.core.credentials import credentials_from_file, credentials_from_secret
    from toolkit.core.provision import LeaseTiming
    from toolkit.errors import InputError

    config = config_of(args)
    if args.credentials_file:
        credentials = credentials_from_file(args.credentials_file)
    elif args.credentials_secret:
        credentials = credentials_from_secret(config, args.credentials_secret)
    elif args.no_auth and args.host in ("127.0.0.1", "localhost", "::1"):
        credentials = None
    else:
        raise InputError("unable to serve the broker without credentials",
                         hint="pass --credentials-file or --credentials-secret (--no-auth only on loopback)")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InputError("unable to serve TLS: give both --tls-cert and --tls-key")
    lease = max(args.lease_seconds, 2.0)
    settings = BrokerSettings(credentials=credentials, state_namespace=_state(args), workers=args.workers,
                              timing=LeaseTiming(duration=lease, renew=lease / 3),
                              instances_namespace=args.instances_namespace)
    serve(config, settings, ServeOptions(host=args.host, port=args.port, tls_cert=args.tls_cert,
                                         tls_key=args.tls_key, access_log=args.access_log),
          ready=lambda url: err(f"chartkit broker: serving Open Service Broker API 2.17 at {url}"))
    return 0
