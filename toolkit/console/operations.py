"""Operations the console started (install, upgrade, rollback, rollouts), run on worker threads and watched
through server-sent events.

Progress lives in this process's memory for as long as someone may watch it (an hour after the end); the outcome
lives where the CLI's does, in the cluster (release records, the rollout's route), so another console process or
the CLI sees the same state. A rollout started here stops at once when an abort is asked for here (its ``cancel``
is the rollout's ``RolloutOptions.stop``); one another replica runs is asked on its route (``core.rollout.abort``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from toolkit.errors import ChartkitError

__all__ = ["Cancelled", "Operation", "Operations"]

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600.0


class Cancelled(Exception):
    """Raised inside a running operation's progress callback to stop it between two steps."""


@dataclass
class Operation:
    id: str
    kind: str                               # install, upgrade, rollback, rollout, promote, abort
    namespace: str
    instance: str
    by: str
    started: float = field(default_factory=time.time)
    events: list[dict[str, Any]] = field(default_factory=list)
    state: str = "running"                  # running, succeeded, failed, cancelled
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    ended: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def say(self, message: str, **extra: Any) -> None:
        if self.cancel.is_set():
            raise Cancelled(f"{self.kind} of {self.namespace}/{self.instance} stopped: an abort was asked for")
        self.record(message, **extra)

    def record(self, message: str, **extra: Any) -> None:
        """An event, never refused: a rollout watches ``cancel`` itself (RolloutOptions.stop) and aborts."""
        self.events.append({"time": time.time(), "message": message, **extra})

    def to_json(self, since: int = 0) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "namespace": self.namespace, "instance": self.instance,
                "by": self.by, "started": self.started, "ended": self.ended, "state": self.state,
                "result": self.result, "error": self.error, "events": self.events[since:]}


class Operations:
    """The operations of this console process."""

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="console-op")
        self._ops: dict[str, Operation] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, namespace: str, instance: str, by: str,
              work: Callable[[Operation], dict[str, Any]]) -> Operation:
        """Run ``work(op)`` on a worker thread; it reports through ``op.say`` and returns the result's JSON."""
        op = Operation(uuid.uuid4().hex[:16], kind, namespace, instance, by)
        with self._lock:
            self._forget_old()
            self._ops[op.id] = op
        self._pool.submit(self._run, op, work)
        return op

    def _run(self, op: Operation, work: Callable[[Operation], dict[str, Any]]) -> None:
        try:
            op.result = work(op)
            op.state = "succeeded"
        except Cancelled as exc:
            op.state, op.error = "cancelled", {"error": str(exc)}
        except ChartkitError as exc:
            op.state, op.error = "failed", {"error": exc.message, "hint": exc.hint}
        except Exception as exc:  # noqa: BLE001 - a worker must say what went wrong, never die silently
            log.exception("%s of %s/%s failed", op.kind, op.namespace, op.instance)
            op.state, op.error = "failed", {"error": f"unexpected error: {type(exc).__name__}: {exc}"}
        finally:
            op.ended = time.time()

    def get(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id)

    def of(self, namespace: str, instance: str, kinds: tuple[str, ...]) -> list[Operation]:
        """This process's operations of these kinds on one instance, oldest first."""
        return sorted((op for op in list(self._ops.values())
                       if op.kind in kinds and (op.namespace, op.instance) == (namespace, instance)),
                      key=lambda op: op.started)

    def running(self, namespace: str, instance: str, kinds: tuple[str, ...]) -> list[Operation]:
        return [op for op in list(self._ops.values())
                if op.state == "running" and op.kind in kinds and (op.namespace, op.instance) == (namespace, instance)]

    def latest(self, namespace: str, instance: str, kinds: tuple[str, ...]) -> Operation | None:
        found = [op for op in list(self._ops.values())
                 if op.kind in kinds and (op.namespace, op.instance) == (namespace, instance)]
        return max(found, key=lambda op: op.started, default=None)

    def _forget_old(self) -> None:
        now = time.time()
        for op_id in [i for i, op in self._ops.items() if op.ended and now - op.ended > KEEP_SECONDS]:
            del self._ops[op_id]

    def shutdown(self) -> None:
        for op in list(self._ops.values()):
            op.cancel.set()  # a rollout aborts at once (RolloutOptions.stop); the others stop at their next say()
        self._pool.shutdown(wait=False, cancel_futures=True)
