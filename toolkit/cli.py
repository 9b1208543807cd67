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
    pass


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
