"""Run chartkit as a user does — a child process — under a time bound and a memory bound, and classify the end.

Each run gets a private TMPDIR (scanned afterwards for secrets and key material), a memory limit (RLIMIT_DATA:
Python's heap and helm's, which it inherits) and a deadline; its peak memory comes from the kernel (wait4's
rusage). The outcome is one of ``ledger.Outcome``: a success, one clean ``chartkit: error:`` line with exit 1, an
interruption that says what it left (130/143), or a bug (``unexpected error``, a traceback, a hang, the limit).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from tests.reliability.ledger import LEDGER, BAD, Case, Outcome

REPO = Path(__file__).resolve().parents[2]
#: a chartkit command may use this much heap (helm, its child, inherits the same bound)
MEMORY_MB = 1024
#: and take this long before it counts as a hang
TIMEOUT = 120.0


@dataclass
class Run:
    args: tuple[str, ...]
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float
    outcome: str
    tmpdir: Path
    pid: int

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("chartkit: error:")]

    @property
    def line(self) -> str:
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith(("chartkit: error:", "chartkit: interrupted"))]
        return lines[-1] if lines else (self.stdout.strip().splitlines() or [""])[-1]


def classify(code: int | None, stderr: str, *, timed_out: bool = False, memory: bool = False) -> str:
    if timed_out:
        return Outcome.HANG
    if memory or "MemoryError" in stderr:
        return Outcome.MEMORY
    if "unexpected error" in stderr or "Traceback (most recent call last)" in stderr:
        return Outcome.UNEXPECTED
    errors = [line for line in stderr.splitlines() if line.startswith("chartkit: error:")]
    if code == 0 or (code in (3, 4) and not errors):  # drift and outdated report findings with 3 and 4
        return Outcome.SUCCESS
    if code is not None and code < 0:
        return Outcome.KILLED
    if code == 1 and errors:  # one line per failure (a batch may report several packages)
        return Outcome.CLEAN_ERROR
    if code in (130, 143) and "chartkit: interrupted" in stderr:
        return Outcome.INTERRUPTED
    return Outcome.UNEXPECTED


def _limits(memory_mb: int) -> Callable[[], None]:
    def apply() -> None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return apply


def start_chartkit(args: Sequence[str], *, env: Mapping[str, str] | None = None, memory_mb: int = MEMORY_MB,
                   tmp_root: Path | None = None) -> tuple[subprocess.Popen[bytes], Path, Path, Path]:
    """Start ``python -m toolkit.cli ARGS`` in a session of its own; (process, tmpdir, stdout file, stderr file)."""
    tmpdir = Path(tempfile.mkdtemp(prefix="ck-run-", dir=tmp_root))
    LEDGER.scan_dirs.add(tmpdir)
    out, err = tmpdir.parent / f"{tmpdir.name}.out", tmpdir.parent / f"{tmpdir.name}.err"
    # unbuffered: a test watches the output to strike at a step
    child_env = {**os.environ, **(env or {}), "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO),
                 "PYTHONUNBUFFERED": "1"}
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli", *args], stdout=stdout, stderr=stderr,
                                stdin=subprocess.DEVNULL, env=child_env, cwd=tmp_root or tmpdir.parent,
                                preexec_fn=_limits(memory_mb), start_new_session=True)
    return proc, tmpdir, out, err


def finish(proc: subprocess.Popen[bytes], tmpdir: Path, out: Path, err: Path, args: Sequence[str], *,
           started: float, timeout: float = TIMEOUT) -> Run:
    """Wait for the child (reaping it with its rusage); past ``timeout`` its whole session is killed: a hang."""
    deadline = started + timeout
    timed_out, status, usage = False, 0, None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    seconds = time.monotonic() - started
    stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    where = " ".join(args)[:200]
    LEDGER.output(f"stdout of chartkit {where}", stdout)
    LEDGER.output(f"stderr of chartkit {where}", stderr)
    peak = usage.ru_maxrss / 1024 if usage else 0.0
    outcome = classify(proc.returncode, stderr, timed_out=timed_out)
    return Run(tuple(args), proc.returncode, stdout, stderr, seconds, peak, outcome, tmpdir, proc.pid)


def run_chartkit(args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT,
                 memory_mb: int = MEMORY_MB, tmp_root: Path | None = None) -> Run:
    started = time.monotonic()
    proc, tmpdir, out, err = start_chartkit(args, env=env, memory_mb=memory_mb, tmp_root=tmp_root)
    return finish(proc, tmpdir, out, err, args, started=started, timeout=timeout)


def record(area: str, name: str, run: Run, *, left: str = "", outcome: str | None = None) -> Case:
    """Put a run in the ledger (its outcome as classified unless the test knows better)."""
    return LEDGER.record(Case(area, name, outcome or run.outcome, run.code, round(run.seconds, 2),
                              round(run.peak_mb, 1), run.line[:300], left))


def assert_sane(run: Run) -> None:
    """What every case must satisfy, whatever the input or fault: no bug, no hang, no memory blow-up."""
    assert run.outcome not in BAD, f"{run.outcome}: chartkit {' '.join(run.args)}\n{run.stderr[-2000:]}"
