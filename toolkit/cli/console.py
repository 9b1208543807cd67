"""``chartkit console``: serve the web console (catalog, deploy form, instances, rollouts, service graph)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolkit.cli.options import add_catalog, add_cluster, config_of
from toolkit.cli.render import err

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "console", help="serve the web console: catalog, deploy form, instances, rollouts, service graph",
        description="Serves on loopback without authentication by default (everyone an operator). Elsewhere it "
                    "needs users: --access-file FILE (mode 600; lines ROLE KIND SECRET, e.g. `operator basic "
                    "alice:PASSWORD`, `viewer token TOKEN`) or --access-secret NAMESPACE/NAME (key users, or "
                    "username + password). Viewers, and everyone with --read-only, cannot change anything. The "
                    "front end is built once with npm into chartkit's cache (--build only builds it).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks a free one)")
    p.add_argument("--access-file", type=Path, metavar="FILE", help="users and their roles (mode 600)")
    p.add_argument("--access-secret", metavar="NAMESPACE/NAME", help="a Secret holding the users")
    p.add_argument("--read-only", action="store_true", help="nobody may change anything (a viewers' console)")
    p.add_argument("--index", type=Path, metavar="DIR",
                   help="catalog index enriching the type list (default: CHARTKIT_INDEX, ./repo-index)")
    p.add_argument("--assets", type=Path, metavar="DIR",
                   help="a built front end to serve (default: CHARTKIT_CONSOLE_ASSETS, else built from source)")
    p.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="the certificate's key (PEM)")
    p.add_argument("--access-log", action="store_true", help="log each request line (never bodies)")
    p.add_argument("--build", action="store_true", help="only build the front end (cached) and say where it is")
    p.add_argument("--timeout", default="5m", help="how long helm waits for installs and upgrades (default 5m)")
    add_catalog(p)
    add_cluster(p)
    p.set_defaults(handler=_console)


def _console(args: argparse.Namespace) -> int:
    from toolkit.config import resolve_index_dir
    from toolkit.console.app import ConsoleSettings
    from toolkit.console.auth import Gate
    from toolkit.console.server import ServeOptions, assets, serve
    from toolkit.core.access import Access, access_from_file, access_from_secret
    from toolkit.errors import InputError

    built = assets(args.assets, progress=err)
    if args.build:
        print(built)
        return 0
    if args.access_file and args.access_secret:
        raise InputError("unable to choose the console's users: give --access-file or --access-secret, not both")
    config = config_of(args)
    access = Access()
    if args.access_file:
        access = access_from_file(args.access_file)
    elif args.access_secret:
        access = access_from_secret(config, args.access_secret)
    settings = ConsoleSettings(assets=built, index_dir=resolve_index_dir(args.index),
                               secure_cookie=bool(args.tls_cert))

    def ready(url: str) -> None:
        who = f"users: {len(access.entries)} ({Gate(access).mode})" if access else "no authentication (loopback)"
        print(f"chartkit console: serving {url} — {who}{'; read-only' if args.read_only else ''}", flush=True)

    serve(config, Gate(access, read_only=args.read_only), settings,
          ServeOptions(host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key,
                       access_log=args.access_log), ready=ready)
    sys.stdout.flush()
    return 0
