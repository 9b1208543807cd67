"""Processes the local environment starts: locks, pid files, free ports, spawning, stopping, waiting.

A pid file records the pid *and* the process start time from /proc, so a pid reused by an unrelated process
after a reboot or a crash is never mistaken for ours (that is what makes a stale pid file detectable).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from toolkit.errors import LocalEnvError
from toolkit.localenv._pidfile import PidFile

__all__ = ["PidFile", "Progress", "free_port", "locked", "log_tail", "port_free", "say", "spawn", "stop", "wait_until"]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def say(progress: Progress | None, message: str) -> None:
    log.info("%s", message)
    if progress:
        progress(message)


#: how often a long build says it is still going (a newcomer must never stare at a silent terminal for minutes)
HEARTBEAT_SECONDS = 30.0


def run_logged(argv: Sequence[str], *, log_file: Path, env: Mapping[str, str] | None, cwd: Path | None,
               still: Callable[[int], str], progress: Progress | None) -> tuple[int, float]:
    """Run a build step with its output appended to ``log_file``, saying ``still(seconds so far)`` every
    HEARTBEAT_SECONDS; the exit code and the seconds it took."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_file, "a") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}" + (f" (in {cwd})" if cwd else "")
                  + "\n")
        out.flush()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        while True:
            try:
                proc.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                say(progress, still(int(time.monotonic() - started)))
        out.write(f"EXIT {proc.returncode}\n")
    return proc.returncode, time.monotonic() - started


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so several processes (pytest workers, engineers) start things once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)




def spawn(argv: Sequence[str], *, pidfile: PidFile, log_file: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start ``argv`` detached (own session, so it outlives us and ^C does not reach it); record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting: %s (log %s)", " ".join(argv), log_file)
    with open(log_file, "ab") as out:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd=cwd, env=dict(env) if env is not None else None)
        except OSError as exc:
            raise LocalEnvError(f'unable to start "{argv[0]}": {exc}') from exc
    pidfile.write(proc.pid, argv)
    return proc.pid


def stop(pidfile: PidFile, *, timeout: float = 10.0) -> bool:
    """Stop the process a pid file names (its whole process group): TERM, then KILL. True when one was running."""
    pid = pidfile.pid()
    if pid is None:
        pidfile.remove()
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if pidfile.pid() is None:
                pidfile.remove()
                return True
            time.sleep(0.05)
    raise LocalEnvError(f'unable to stop pid {pid} from "{pidfile.path}": it ignores SIGKILL')


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # like the Go servers we start: connections in TIME_WAIT from an earlier run must not make a port "taken"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(preferred: int | None = None, *, avoid: Sequence[int] = ()) -> int:
    """The preferred port when it is free (stable URLs across restarts), else a free one.

    Ports come from below the kernel's ephemeral range: a port the kernel hands out for outgoing connections
    can be busy (as some connection's local port) exactly when a restart wants it back.
    """
    if preferred and preferred not in avoid and port_free(preferred):
        return preferred
    low, _ = _ephemeral_range()
    if low > 21000:
        rng = random.Random()
        for _ in range(200):
            port = rng.randrange(20000, low)
            if port not in avoid and port_free(port):
                return port
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise LocalEnvError("unable to find a free port on 127.0.0.1")


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, pidfile: PidFile | None = None,
               log_file: Path | None = None, interval: float = 0.1) -> None:
    """Poll ``check`` until it holds; fail early when the process died, quoting the end of its log."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        died = pidfile is not None and pidfile.pid() is None
        if died or time.monotonic() > deadline:
            tail = log_tail(log_file) if log_file else ""
            cause = "the process exited" if died else f"not ready after {timeout:.0f}s"
            raise LocalEnvError(f"unable to start {what}: {cause}" + (f"; its log ends with: {tail}" if tail else ""),
                                hint=f"read {log_file}" if log_file else None)
        time.sleep(interval)


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return " | ".join(ln.strip() for ln in text.strip().splitlines()[-lines:])


def listeners_of(port: int) -> str:
    """Who holds a TCP port on 127.0.0.1 (for error messages): a pid and command when /proc tells."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    return f"pid {proc.name} ({cmd[:80]})"
    return "another process"
