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
    pass


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
