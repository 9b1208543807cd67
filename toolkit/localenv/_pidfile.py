"""A pid file that names one started process exactly: pid *and* start time from /proc, so a pid reused by an
unrelated process after a reboot or a crash is never mistaken for ours. Cheap to import: every interactive command
reads the local environment's pid files (``toolkit.localenv.fallback``).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["PidFile", "proc_stat"]


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its closing parenthesis
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], fields[19]


def _threads_alive(pid: int) -> bool:
    """A zombie leader can outlive its threads' exit by a while; they still hold its sockets until they go."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    for task in tasks:
        try:
            raw = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if raw[raw.rindex(")") + 2:].split()[0] not in ("Z", "X"):
            return True
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True)
class PidFile:
    """A pid file naming one started process: ``{"pid", "start", "argv"}``."""

    path: Path

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def pid(self) -> int | None:
        """The recorded pid when that exact process still runs; None when absent, dead or reused."""
        record = self.read()
        if not record:
            return None
        pid = int(record.get("pid", 0))
        stat = proc_stat(pid) if pid > 0 else None
        if stat and stat[0] == "Z" and not _threads_alive(pid):
            _reap(pid)
            return None
        if not stat or stat[1] != str(record.get("start")):
            return None
        return pid

    def stale(self) -> bool:
        return self.path.exists() and self.pid() is None

    def write(self, pid: int, argv: Sequence[str]) -> None:
        stat = proc_stat(pid)
        record = {"pid": pid, "start": stat[1] if stat else "", "argv": list(argv)}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
