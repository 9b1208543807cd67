"""What the reliability suite saw: every case's outcome per area, and every secret value the tests used.

The suite runs chartkit the way a user does (a child process, ``python -m toolkit.cli``) under resource limits
(``harness.run_chartkit``) and records each case here: its area (faults, concurrency, hostile input, issue-14
regressions), its outcome, exit code, time, peak memory, and any state it left for a human with the command that
resolves it. Secret values are minted here (``secret()``) so the scanner (``scanner.py``) knows every one of them.
"""

from __future__ import annotations

import json
import secrets as _random
import threading
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class Outcome:
    SUCCESS = "success"
    CLEAN_ERROR = "clean error"        # exit 1 with one `chartkit: error:` line
    INTERRUPTED = "interrupted"        # exit 130/143 after a signal, saying what it left
    KILLED = "killed"                  # the fault killed chartkit itself (kill -9): nothing to say
    UNEXPECTED = "unexpected error"    # exit 2, a traceback, or several error lines: a bug
    HANG = "hang"                      # did not end within its time bound
    MEMORY = "memory"                  # hit its memory bound


BAD = {Outcome.UNEXPECTED, Outcome.HANG, Outcome.MEMORY}


@dataclass
class Case:
    area: str
    name: str
    outcome: str
    exit_code: int | None = None
    seconds: float = 0.0
    peak_mb: float = 0.0
    line: str = ""                     # the one line chartkit said (error or result)
    left: str = ""                     # a state left for a human, and the command that resolves it


@dataclass
class Ledger:
    cases: list[Case] = field(default_factory=list)
    secret_values: set[str] = field(default_factory=set)
    outputs: list[tuple[str, str]] = field(default_factory=list)   # (where, text) of every chartkit run
    scan_dirs: set[Path] = field(default_factory=set)               # temp dirs, indexes, caches the tests used
    namespaces: set[str] = field(default_factory=set)               # where to read Events and release labels
    lock: threading.Lock = field(default_factory=threading.Lock)

    def secret(self, hint: str = "secret") -> str:
        """A fresh secret value the scanner will look for (raw and base64) everywhere chartkit writes."""
        # hex: a valid label value too (the scanner plants one in a release label), which token_urlsafe is not
        # when it ends in "-" or "_" (one draw in 32)
        value = f"{hint[:8]}-{_random.token_hex(12)}"
        with self.lock:
            self.secret_values.add(value)
        return value

    def record(self, case: Case) -> Case:
        with self.lock:
            self.cases.append(case)
        return case

    def output(self, where: str, text: str) -> None:
        with self.lock:
            self.outputs.append((where, text))

    def totals(self) -> dict[str, dict[str, Any]]:
        by_area: dict[str, list[Case]] = defaultdict(list)
        for case in self.cases:
            by_area[case.area].append(case)
        out = {}
        for area, cases in sorted(by_area.items()):
            counts = Counter(c.outcome for c in cases)
            out[area] = {"cases": len(cases), **{k: counts.get(k, 0) for k in (
                Outcome.SUCCESS, Outcome.CLEAN_ERROR, Outcome.INTERRUPTED, Outcome.KILLED, Outcome.UNEXPECTED,
                Outcome.HANG, Outcome.MEMORY)},
                "peak MB": round(max((c.peak_mb for c in cases), default=0.0), 1),
                "left for a human": sorted({c.left for c in cases if c.left})}
        return out

    def write(self, path: Path, leaks: list[str]) -> None:
        path.write_text(json.dumps({"totals": self.totals(), "secrets leaked": leaks,
                                    "cases": [asdict(c) for c in self.cases]}, indent=2, default=str))


LEDGER = Ledger()
