"""The notifier's loop (``chartkit watch``): a front door that runs the core's notices pass on an interval.

Several replicas may run (a Deployment with replicas): each tick, a replica tries to hold the Lease
(``toolkit.core.leader``); only the holder runs the pass, so every fact is raised once. A replica that dies stops
renewing and another takes over after the lease duration; a clean stop (SIGTERM, ^C) resigns at once. ``once``
runs one pass without an election (for cron, which starts one at a time).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from toolkit.config import Config
from toolkit.core.leader import LeaderElector, LeaseOptions
from toolkit.core.notices import NoticeOptions, PassResult, check
from toolkit.errors import ChartkitError

__all__ = ["WatchOptions", "default_identity", "run"]

log = logging.getLogger(__name__)


def default_identity() -> str:
    """The pod name in a Deployment (HOSTNAME), else host-pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, kw_only=True)
class WatchOptions:
    interval: float = 60.0
    once: bool = False
    identity: str = field(default_factory=default_identity)
    lease_namespace: str = "chartkit-system"
    lease_duration: float = 15.0
    notices: NoticeOptions = field(default_factory=NoticeOptions)


def _pass(config: Config, options: WatchOptions, elector: LeaderElector, tick: float,
          say: Callable[[str], None]) -> PassResult:
    """One pass while a thread keeps renewing the Lease: a pass longer than the lease must not lose it (another
    replica would start delivering the same outbox); if it is lost anyway, the pass stops at the next instance."""
    done = threading.Event()
    held = threading.Event()
    held.set()

    def renew() -> None:
        while not done.wait(tick):
            try:
                if not elector.try_lead():
                    held.clear()
                    return
            except ChartkitError as exc:
                log.warning("could not renew the lease: %s", exc)

    renewer = threading.Thread(target=renew, name="lease-renewal", daemon=True)
    renewer.start()
    try:
        return check(config, options.notices, progress=say, leading=held.is_set)
    finally:
        done.set()
        renewer.join()


def run(config: Config, options: WatchOptions, *, say: Callable[[str], None] = lambda _: None,
        stop: threading.Event | None = None) -> PassResult | None:
    """Run passes until ``stop`` is set or a signal arrives; ``once``: one pass, returned."""
    if options.once:
        return check(config, options.notices, progress=say)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    elector = LeaderElector(config, LeaseOptions(identity=options.identity, namespace=options.lease_namespace,
                                                 duration=options.lease_duration))
    leading = False
    last_pass = float("-inf")
    # the leader renews every third of the lease duration, passes or not, so a long interval never loses it
    tick = max(0.2, min(options.interval, options.lease_duration / 3))
    try:
        while not stop.is_set():
            try:
                now_leading = elector.try_lead()
                if now_leading != leading:
                    say(f"{options.identity}: {'leading' if now_leading else 'standing by'}")
                    leading = now_leading
                    last_pass = float("-inf")
                if leading and time.monotonic() - last_pass >= options.interval:
                    last_pass = time.monotonic()
                    result = _pass(config, options, elector, tick, say)
                    if result.raised or result.resolved or result.errors or result.upgraded:
                        say(result.line())
                    for error in result.errors:
                        say(f"error: {error}")
            except ChartkitError as exc:
                # the cluster or catalog is away for a moment: say so and try again next tick
                say(f"error: {exc}")
            stop.wait(tick)
    finally:
        if leading:
            try:
                elector.resign()
            except ChartkitError as exc:
                log.warning("could not resign the lease: %s", exc)
    return None
