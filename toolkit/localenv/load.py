"""A bounded HTTP load generator for tests, the demo and benchmarks: real requests over TCP (aiohttp's client).

aiohttp rather than httpx: on this 2-core machine httpx's async pool gave 530 requests/s on one connection and
fell to 106/s with 32 (its pool does work per request across every connection), where aiohttp's gave 1,980/s and
2,290/s against the same Go server.

Requests go out on an open-loop schedule (``rate`` per second, so a slow server does not slow the offered load
until ``concurrency`` requests are in flight): ``requests`` of them, or ``rate x duration`` (a saturated target
gets them late, so the run takes longer). With an infinite rate, ``duration`` is a deadline and ``concurrency``
requests stay in flight until it passes. A header mix gives a share of requests an extra header, spread evenly (exactly floor(n * share) of the
first n carry it), so shares measured per group are not sampling noise. Responses are counted by the
``version`` field of their JSON body (what the backends harness answers), by status and by group; latencies are
measured per request on the client.

    python -m toolkit.localenv.load URL --rate 200 --duration 5 --host chat.example --mix X-Customer=acme:0.1 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import aiohttp
import orjson

__all__ = ["GroupResult", "HeaderShare", "Latency", "LoadOptions", "LoadResult", "main", "run", "run_async"]

DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class HeaderShare:
    """A share of requests (0..1) that carries ``name: value``; its responses are counted as group ``name=value``."""

    name: str
    value: str
    share: float

    @property
    def group(self) -> str:
        return f"{self.name}={self.value}"

    @classmethod
    def parse(cls, text: str) -> HeaderShare:
        """``X-Customer=acme:0.1``."""
        try:
            header, share = text.rsplit(":", 1)
            name, value = header.split("=", 1)
            parsed = cls(name.strip(), value.strip(), float(share))
        except ValueError:
            raise ValueError(f'header mix "{text}" is not NAME=VALUE:SHARE (e.g. X-Customer=acme:0.1)') from None
        if not 0 <= parsed.share <= 1 or not parsed.name:
            raise ValueError(f'header mix "{text}": the share must be between 0 and 1')
        return parsed


@dataclass(frozen=True)
class LoadOptions:
    url: str
    rate: float = 100.0  # requests per second offered; math.inf sends as fast as concurrency allows
    duration: float | None = 5.0  # seconds of load, unless ``requests`` bounds it
    requests: int | None = None  # this many requests (wins over duration)
    concurrency: int = 32  # most requests in flight (and connections)
    host: str | None = None  # the Host header (a Gateway routes on it)
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)  # on every request
    mix: tuple[HeaderShare, ...] = ()  # at most one group per request: the first whose turn it is
    body: bytes | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class Latency:
    """Client-side latency in milliseconds over completed requests."""

    count: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency:
        if not samples:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
        ordered = sorted(samples)

        def pct(q: float) -> float:  # nearest rank
            return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

        return cls(len(ordered), sum(ordered) / len(ordered), pct(0.5), pct(0.9), pct(0.95), pct(0.99), ordered[-1])


@dataclass(frozen=True)
class GroupResult:
    """What one header group got back."""

    sent: int
    versions: dict[str, int]  # by the body's "version" ("" when the body named none)
    statuses: dict[int, int]
    failed: int  # no HTTP answer (connection refused, reset, timeout)

    def share(self, version: str) -> float:
        """Share of this group's answered requests that came from ``version``."""
        answered = sum(self.versions.values())
        return self.versions.get(version, 0) / answered if answered else math.nan


@dataclass(frozen=True)
class LoadResult:
    sent: int
    answered: int  # got an HTTP response (any status)
    failed: int  # got none
    seconds: float
    statuses: dict[int, int]
    versions: dict[str, int]
    groups: dict[str, GroupResult]
    errors: dict[str, int]  # failures by exception type
    latency: Latency
    samples_ms: tuple[float, ...] = field(default=(), repr=False)  # every answered request's latency, in order

    @property
    def rps(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def error_ratio(self) -> float:
        """Share of requests that failed or answered 5xx."""
        bad = self.failed + sum(n for code, n in self.statuses.items() if code >= 500)
        return bad / self.sent if self.sent else math.nan

    def share(self, version: str) -> float:
        answered = sum(self.versions.values())
        return self.versions.get(version, 0) / answered if answered else math.nan

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["samples_ms"]
        data["rps"] = self.rps
        data["error_ratio"] = self.error_ratio
        return data


def _group_of(index: int, mix: Sequence[HeaderShare]) -> HeaderShare | None:
    for share in mix:
        if math.floor((index + 1) * share.share) > math.floor(index * share.share):
            return share
    return None


def _version(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    return str(data.get("version", "")) if isinstance(data, dict) else ""


async def run_async(options: LoadOptions) -> LoadResult:
    if options.requests is None and options.duration is None:
        raise ValueError("a load needs a bound: requests or duration")
    if options.rate <= 0 or options.concurrency <= 0:
        raise ValueError("rate and concurrency must be positive")
    total = options.requests if options.requests is not None else \
        (math.inf if math.isinf(options.rate) else max(1, round(options.rate * (options.duration or 0))))
    deadline = options.duration if options.requests is None and math.isinf(options.rate) else None
    base = dict(options.headers)
    if options.host:
        base["Host"] = options.host
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    group_versions: dict[str, Counter[str]] = {}
    group_statuses: dict[str, Counter[int]] = {}
    group_sent: Counter[str] = Counter()
    group_failed: Counter[str] = Counter()
    latencies: list[float] = []
    slots = asyncio.Semaphore(options.concurrency)

    async def one(client: aiohttp.ClientSession, index: int) -> None:
        share = _group_of(index, options.mix)
        group = share.group if share else DEFAULT_GROUP
        headers = {**base, share.name: share.value} if share else base
        group_sent[group] += 1
        started = time.perf_counter()
        try:
            async with client.request(options.method, options.url, headers=headers, data=options.body) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            errors[type(exc).__name__] += 1
            group_failed[group] += 1
            return
        finally:
            slots.release()
        latencies.append((time.perf_counter() - started) * 1000)
        version = _version(body)
        statuses[status] += 1
        versions[version] += 1
        group_versions.setdefault(group, Counter())[version] += 1
        group_statuses.setdefault(group, Counter())[status] += 1

    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=options.concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, trust_env=False,
                                     timeout=aiohttp.ClientTimeout(total=options.timeout)) as client:
        start = time.perf_counter()
        sent = 0
        while sent < total:
            now = time.perf_counter() - start
            if deadline is not None and now >= deadline:
                break
            if not math.isinf(options.rate):
                due = sent / options.rate
                if due > now:
                    await asyncio.sleep(due - now)
            await slots.acquire()
            task = asyncio.create_task(one(client, sent))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        if tasks:
            await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
    groups = {name: GroupResult(count, dict(group_versions.get(name, {})), dict(group_statuses.get(name, {})),
                                group_failed[name])
              for name, count in group_sent.items()}
    failed = sum(errors.values())
    return LoadResult(sent=sent, answered=sent - failed, failed=failed, seconds=seconds, statuses=dict(statuses),
                      versions=dict(versions), groups=groups, errors=dict(errors), latency=Latency.of(latencies),
                      samples_ms=tuple(latencies))


def run(options: LoadOptions) -> LoadResult:
    """Run a load to completion (from synchronous code: a test, a task, a benchmark)."""
    return asyncio.run(run_async(options))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.localenv.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (inf: as fast as possible)")
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--duration", type=float, default=5.0, help="seconds (default 5)")
    bound.add_argument("--requests", type=int, help="this many requests instead of a duration")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--host", help="Host header")
    parser.add_argument("--method", default="GET")
    parser.add_argument("-H", "--header", action="append", default=[], help="NAME: VALUE on every request")
    parser.add_argument("--mix", action="append", default=[], help="NAME=VALUE:SHARE on that share of requests")
    parser.add_argument("--json", action="store_true", help="the whole result as JSON")
    args = parser.parse_args(argv)
    try:
        headers = dict((part.strip() for part in h.split(":", 1)) for h in args.header)
        mix = tuple(HeaderShare.parse(m) for m in args.mix)
    except ValueError as exc:
        parser.error(str(exc))
    result = run(LoadOptions(url=args.url, rate=args.rate, duration=None if args.requests else args.duration,
                             requests=args.requests, concurrency=args.concurrency, host=args.host,
                             method=args.method, headers=headers, mix=mix))
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        lat = result.latency
        sys.stdout.write(f"{result.sent} sent, {result.answered} answered, {result.failed} failed in "
                         f"{result.seconds:.1f}s ({result.rps:.0f}/s); latency ms p50 {lat.p50:.1f} p95 {lat.p95:.1f} "
                         f"p99 {lat.p99:.1f}\n")
        for name, group in sorted(result.groups.items()):
            shares = ", ".join(f"{v or '?'} {n / max(1, sum(group.versions.values())):.1%}"
                               for v, n in sorted(group.versions.items()))
            sys.stdout.write(f"  {name}: {group.sent} sent; {shares}; statuses {dict(sorted(group.statuses.items()))}\n")
    return 0 if result.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
