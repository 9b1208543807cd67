"""The `chartkit` command line: one module per area registers its commands, one renderer shows the results.

    chartify.py   chartify, verify                          make a type
    catalog.py    package, publish, catalog sync|list|...   share it
    instances.py  install, upgrade, deploy, rollback, ...   run and observe instances
    rollout.py    rollout start|promote|resume|abort|status, bind   strategies and bindings
    graph.py      graph                                     who calls whom, measured
    broker.py     provision, update, deprovision, marketplace, broker   service instances by plan, the OSB broker
    notices.py    policy set, type diff, plan, approve,      policies, notices and guard rails
                  promote, guard, notices, watch
    env.py        env, up, down                             the local environment
    console.py    console                                   the web console (toolkit.console)
    render.py     JSON, tables, errors, progress

Each handler parses its flags into a core operation's options (``toolkit.core``), calls it with the one
configuration (``toolkit.config``, the local environment as fallback) and renders the result: no rule of its own.
Expected errors (``ChartkitError``) exit 1 with one line; ^C (SIGINT) and SIGTERM raise ``Interrupted`` in the
main thread, so operations clean up (a rollout returns traffic to the stable version, a helm child is stopped
gracefully) and say what they left; they exit 130 and 143. Anything else is a bug: a short message, and the
traceback with ``--verbose``. Handlers import their core modules lazily so `chartkit --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from typing import Callable, Sequence

import toolkit
from toolkit import __version__
from toolkit.cli.render import err
from toolkit.cli.rollout import legacy_rollout_argv
from toolkit.errors import ChartkitError, Interrupted

__all__ = ["AREAS", "build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

#: each area's module and the commands it registers. main() builds only the area of the command it runs:
#: argparse takes 12 ms to build every command's options, an eighth of a small chartify (a test keeps this complete)
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("chartify", ("chartify", "verify")),
    ("env", ("env", "up", "down")),
    ("catalog", ("package", "publish", "catalog")),
    ("instances", ("install", "upgrade", "deploy", "rollback", "uninstall", "recover", "instances", "history",
                   "outdated", "drift")),
    ("rollout", ("rollout", "bind", "unbind", "bindings")),
    ("graph", ("graph",)),
    ("broker", ("provision", "update", "deprovision", "provisioned", "marketplace", "broker")),
    ("notices", ("policy", "type", "plan", "approve", "promote", "guard", "notices", "watch")),
    ("console", ("console",)),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; given the command about to run, only its area (every area when unknown, for help)."""
    parser = argparse.ArgumentParser(prog="chartkit", description=toolkit.__doc__)
    parser.add_argument("--version", action="version", version=f"chartkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    known = any(command in commands for _, commands in AREAS)
    for area, commands in AREAS:
        if not known or command in commands:
            importlib.import_module(f"toolkit.cli.{area}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = legacy_rollout_argv(sys.argv[1:] if argv is None else argv)
    args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    handler: Handler = args.handler
    previous = _catch_signals()
    try:
        return handler(args)
    except ChartkitError as exc:
        err(f"chartkit: error: {exc}")
        return 1
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        state = exc.state if isinstance(exc, Interrupted) else ""
        err(f"chartkit: interrupted by {signal.Signals(signum).name}" + (f": {state}" if state else ""))
        return 128 + signum
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - the last-resort handler
        if args.verbose:
            raise
        err(f"chartkit: unexpected error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return 2
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


def _catch_signals() -> dict[int, object]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread while a command runs (the old handlers back)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
