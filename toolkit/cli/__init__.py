"""The `chartkit` command line: one module per area registers its commands, one renderer shows the results.

    chartify.py   chartify, verify                          make a type
    catalog.py    package, publish, catalog sync|list|...   share it
    instances.py  install, upgrade, deploy, rollback, ...   run and observe instances
    rollout.py    rollout start|promote|abort|status, bind  strategies and bindings
    notices.py    policy set, type diff, plan, approve,      policies, notices and guard rails
                  promote, guard, notices, watch
    env.py        env, up, down                             the local environment
    render.py     JSON, tables, errors, progress

Each handler parses its flags into a core operation's options (``toolkit.core``), calls it with the one
configuration (``toolkit.config``, the local environment as fallback) and renders the result: no rule of its own.
Expected errors (``ChartkitError``) exit 1 with one line; ^C exits 130; anything else is a bug: a short message,
and the traceback with ``--verbose``. Handlers import their core modules lazily so `chartkit --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

import toolkit
from toolkit import __version__
from toolkit.cli import catalog, chartify, env, instances, notices, rollout
from toolkit.cli.render import err
from toolkit.errors import ChartkitError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chartkit", description=toolkit.__doc__)
    parser.add_argument("--version", action="version", version=f"chartkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for area in (chartify, env, catalog, instances, rollout, notices):
        area.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = rollout.legacy_rollout_argv(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ChartkitError as exc:
        err(f"chartkit: error: {exc}")
        return 1
    except KeyboardInterrupt:
        err("chartkit: interrupted")
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - the last-resort handler
        if args.verbose:
            raise
        err(f"chartkit: unexpected error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return 2
