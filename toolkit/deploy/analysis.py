"""Analysis gates of a rollout, in Argo Rollouts' words: measurements of the new side's traffic, taken every
``interval``, ``count`` times; more than ``failureLimit`` failed measurements fail the gate (and the rollout
aborts), more than ``inconclusiveLimit`` measurements without traffic too (nothing to judge is not a pass).

A metric's ``successCondition`` is one comparison, ``METRIC OP NUMBER``, parsed by a regular expression and
evaluated by a table of operators — never ``eval``:

    error_ratio < 0.01      share of requests answered 5xx
    p95_ms < 300            latency quantiles from the gateway's histogram: p50_ms, p90_ms, p95_ms, p99_ms
    rate >= 1               requests per second;  requests >= 20: requests in the measurement

Measuring is the caller's (the rollout scrapes the gateway's metrics, ``toolkit.deploy.traffic``); this module
parses, evaluates and counts, so the rules are tested without a clock or a cluster.
"""

from __future__ import annotations

import enum
import math
import operator
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from toolkit.deploy.traffic import Stats
from toolkit.errors import InputError

__all__ = [
    "AnalysisOptions",
    "AnalysisResult",
    "Condition",
    "Measure",
    "Measurement",
    "MetricCheck",
    "Quantity",
    "Verdict",
    "analyse",
    "measure",
    "parse_condition",
    "parse_interval",
]

#: bounds: an analysis must end in a time a person can wait for (and never sleep on inf or 1e308)
MAX_INTERVAL_SECONDS = 3600.0
MIN_INTERVAL_SECONDS = 0.1
MAX_COUNT = 100


class Quantity(str, enum.Enum):
    """What a condition can look at in one measurement of the new side's traffic."""

    ERROR_RATIO = "error_ratio"
    P50_MS = "p50_ms"
    P90_MS = "p90_ms"
    P95_MS = "p95_ms"
    P99_MS = "p99_ms"
    RATE = "rate"
    REQUESTS = "requests"

    def of(self, stats: Stats) -> float:
        if self is Quantity.ERROR_RATIO:
            return stats.error_ratio
        if self is Quantity.RATE:
            return stats.rate
        if self is Quantity.REQUESTS:
            return stats.requests
        return stats.quantile_ms(int(self.value[1:3]) / 100)


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_CONDITION = re.compile(r"\s*(?P<quantity>[a-z0-9_]+)\s*(?P<op><=|>=|==|!=|<|>)\s*"
                        r"(?P<number>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*")
_INTERVAL = re.compile(r"\s*(?P<number>\d+(\.\d+)?|\.\d+)\s*(?P<unit>ms|s|m|h)?\s*")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class Condition:
    """``quantity op threshold``, e.g. ``error_ratio < 0.01``."""

    quantity: Quantity
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.quantity.value} {self.op} {self.threshold:g}"

    def holds(self, value: float) -> bool | None:
        """Whether ``value`` meets the condition; None when there is nothing to judge (NaN: no requests)."""
        if math.isnan(value):
            return None
        return _OPERATORS[self.op](value, self.threshold)


def parse_condition(text: str, *, where: str = "successCondition") -> Condition:
    """``"p95_ms < 300"`` → Condition; one comparison of a known quantity with a finite number."""
    match = _CONDITION.fullmatch(str(text))
    quantities = ", ".join(q.value for q in Quantity)
    if not match:
        raise InputError(f'unable to parse {where} "{text}": expected METRIC OP NUMBER such as "error_ratio < 0.01"',
                         hint=f"METRIC is one of {quantities}; OP one of {' '.join(_OPERATORS)}")
    try:
        quantity = Quantity(match["quantity"])
    except ValueError:
        raise InputError(f'unable to parse {where} "{text}": unknown metric "{match["quantity"]}"',
                         hint=f"use one of {quantities}") from None
    threshold = float(match["number"])
    if not math.isfinite(threshold):
        raise InputError(f'unable to parse {where} "{text}": the threshold must be a finite number')
    return Condition(quantity, match["op"], threshold)


def parse_interval(value: str | float) -> float:
    """``"2s"``, ``"500ms"``, ``"1m"`` or a number of seconds → seconds, bounded."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _INTERVAL.fullmatch(str(value))
        if not match:
            raise InputError(f'unable to parse analysis interval "{value}": expected seconds or a duration like '
                             "30s, 500ms, 2m")
        seconds = float(match["number"]) * _UNITS[match["unit"]]
    if not (math.isfinite(seconds) and MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS):
        raise InputError(f"unable to use analysis interval {value!r}: give {MIN_INTERVAL_SECONDS:g}s to "
                         f"{MAX_INTERVAL_SECONDS:g}s")
    return seconds


@dataclass(frozen=True)
class MetricCheck:
    """One named metric of an analysis and its success condition."""

    name: str
    condition: Condition

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "successCondition": str(self.condition)}


@dataclass(frozen=True)
class AnalysisOptions:
    """``analysis:`` of a strategy: run after each traffic step, before the next one."""

    metrics: tuple[MetricCheck, ...]
    interval_seconds: float = 10.0
    count: int = 1
    failure_limit: int = 0
    inconclusive_limit: int = 0

    def __post_init__(self) -> None:
        if not self.metrics:
            raise InputError("unable to use an analysis without metrics",
                             hint='add metrics: [{name: errors, successCondition: "error_ratio < 0.01"}]')
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise InputError(f"unable to use analysis metrics {', '.join(names)}: names must be unique")
        parse_interval(self.interval_seconds)
        if not (isinstance(self.count, int) and 1 <= self.count <= MAX_COUNT):
            raise InputError(f"unable to use analysis count {self.count!r}: give 1 to {MAX_COUNT}")
        for what, limit in (("failureLimit", self.failure_limit), ("inconclusiveLimit", self.inconclusive_limit)):
            if not (isinstance(limit, int) and 0 <= limit <= self.count):
                raise InputError(f"unable to use analysis {what} {limit!r}: give 0 to count ({self.count})")

    @property
    def seconds(self) -> float:
        """The longest an analysis takes (every measurement; it stops sooner when the gate fails)."""
        return self.interval_seconds * self.count

    def to_json(self) -> dict[str, Any]:
        return {"interval": f"{self.interval_seconds:g}s", "count": self.count, "failureLimit": self.failure_limit,
                "inconclusiveLimit": self.inconclusive_limit, "metrics": [m.to_json() for m in self.metrics]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AnalysisOptions:
        """From a strategy file's ``analysis:`` (already checked against the schema) or a rollout's saved state."""
        metrics = []
        for i, item in enumerate(data.get("metrics") or ()):
            name = str(item.get("name") or f"metric-{i + 1}")
            metrics.append(MetricCheck(name, parse_condition(item.get("successCondition", ""),
                                                             where=f'successCondition of metric "{name}"')))
        return cls(metrics=tuple(metrics), interval_seconds=parse_interval(data.get("interval", 10)),
                   count=int(data.get("count", 1)), failure_limit=int(data.get("failureLimit", 0)),
                   inconclusive_limit=int(data.get("inconclusiveLimit", 0)))


class Verdict(str, enum.Enum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Measurement:
    """One interval's numbers and what each metric made of them."""

    index: int
    stats: Stats
    results: tuple[tuple[str, str, float, bool | None], ...]  # (metric name, condition, value, held)

    @property
    def verdict(self) -> Verdict:
        held = [r[3] for r in self.results]
        if any(h is False for h in held):
            return Verdict.FAILED
        if any(h is None for h in held):
            return Verdict.INCONCLUSIVE
        return Verdict.SUCCESSFUL

    def describe(self) -> str:
        parts = []
        for name, condition, value, held in self.results:
            mark = {True: "ok", False: "FAILED", None: "no data"}[held]
            shown = "-" if math.isnan(value) else f"{value:.4g}"
            parts.append(f"{name} {shown} ({condition}: {mark})")
        return f"#{self.index} {self.stats.requests:.0f} requests: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "requests": self.stats.requests, "verdict": self.verdict.value,
                "metrics": [{"name": n, "condition": c, "value": None if math.isnan(v) else round(v, 6),
                             "held": h} for n, c, v, h in self.results]}


def measure(options: AnalysisOptions, index: int, stats: Stats) -> Measurement:
    """Judge one measurement: every metric's condition against the numbers of the new side."""
    results = tuple((m.name, str(m.condition), value, m.condition.holds(value))
                    for m in options.metrics for value in [m.condition.quantity.of(stats)])
    return Measurement(index, stats, results)


@dataclass(frozen=True)
class AnalysisResult:
    verdict: Verdict
    measurements: tuple[Measurement, ...] = field(default=())
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(m.verdict is Verdict.FAILED for m in self.measurements)

    @property
    def inconclusive(self) -> int:
        return sum(m.verdict is Verdict.INCONCLUSIVE for m in self.measurements)

    def describe(self) -> str:
        last = self.measurements[-1].describe() if self.measurements else "no measurement"
        return (f"{self.verdict.value} after {len(self.measurements)} measurement(s) in {self.seconds:.1f}s "
                f"({self.failed} failed, {self.inconclusive} without data); last {last}")

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "seconds": round(self.seconds, 2),
                "measurements": [m.to_json() for m in self.measurements]}


#: one measurement window: given its length in seconds, the new side's numbers over it (waits that long)
Measure = Callable[[float], Stats]


def analyse(options: AnalysisOptions, window: Measure, *,
            on_measurement: Callable[[Measurement], None] | None = None,
            clock: Callable[[], float] = time.monotonic) -> AnalysisResult:
    """Take up to ``count`` measurements; stop at the first one that exceeds a limit (so a bad version is
    caught after one interval, not after all of them)."""
    started = clock()
    taken: list[Measurement] = []
    failed = inconclusive = 0
    for index in range(1, options.count + 1):
        found = measure(options, index, window(options.interval_seconds))
        taken.append(found)
        if on_measurement:
            on_measurement(found)
        failed += found.verdict is Verdict.FAILED
        inconclusive += found.verdict is Verdict.INCONCLUSIVE
        if failed > options.failure_limit:
            return AnalysisResult(Verdict.FAILED, tuple(taken), clock() - started)
        if inconclusive > options.inconclusive_limit:
            return AnalysisResult(Verdict.INCONCLUSIVE, tuple(taken), clock() - started)
    return AnalysisResult(Verdict.SUCCESSFUL, tuple(taken), clock() - started)
