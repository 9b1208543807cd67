"""How the CLI shows things: JSON, tables, one-line errors and warnings, progress on stderr.

Results go to stdout, diagnostics to stderr; ``--json`` gives machine output. rich is imported only where a
terminal will show its colours (it costs 20 ms, a seventh of a small command).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Sequence

__all__ = ["err", "print_json", "progress", "report", "short_digest", "table", "warn"]


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def err(message: str) -> None:
    sys.stderr.write(message.rstrip() + "\n")


def warn(message: str) -> None:
    err(f"chartkit: warning: {message}")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


def short_digest(digest: str) -> str:
    return digest[:19] if digest else "-"


def progress() -> Callable[[str], None]:
    """Progress lines on stderr with the time since the command started (dimmed on a terminal)."""
    started = time.monotonic()
    if not sys.stderr.isatty():
        return lambda message: print(f"{time.monotonic() - started:6.1f}s {message}", file=sys.stderr, flush=True)
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    return lambda message: console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}")


def report(result: Any, as_json: bool) -> int:
    """A result with ``to_json()`` and ``line()``: one line, or its JSON."""
    if as_json:
        print_json(result.to_json())
    else:
        print(result.line())
    return 0
