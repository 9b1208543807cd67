"""The adapter over Prometheus text endpoints (the gateway's metrics, the backends' own): scrape and parse into
plain samples.

Parsing is prometheus_client's text parser (the reference implementation's format, escapes, histograms); this
module turns its output into our frozen dataclasses and its failures into ``ClusterError``.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Mapping

from toolkit.errors import ClusterError

__all__ = ["Sample", "Scrape", "parse", "scrape"]


@dataclass(frozen=True)
class Sample:
    """One line of an exposition: ``name{labels} value``; labels as sorted pairs, so samples hash and compare."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, name: str, default: str = "") -> str:
        for key, value in self.labels:
            if key == name:
                return value
        return default

    def matches(self, labels: Mapping[str, str]) -> bool:
        own = dict(self.labels)
        return all(own.get(k) == v for k, v in labels.items())


@dataclass(frozen=True)
class Scrape:
    """Everything one endpoint exposed at one moment (``taken_at``: seconds since the epoch)."""

    url: str
    taken_at: float
    samples: tuple[Sample, ...]

    def select(self, name: str, **labels: str) -> list[Sample]:
        """Samples named ``name`` whose labels include ``labels``."""
        return [s for s in self.samples if s.name == name and s.matches(labels)]

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def parse(text: str, *, source: str = "text") -> tuple[Sample, ...]:
    """Samples of a Prometheus text exposition (histograms come as their _bucket/_sum/_count series)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return tuple(Sample(s.name, tuple(sorted(s.labels.items())), float(s.value))
                     for family in text_string_to_metric_families(text) for s in family.samples)
    except (ValueError, TypeError, IndexError) as exc:
        raise ClusterError(f'unable to parse metrics "{source}": {exc}',
                           hint="the endpoint does not serve Prometheus text format") from exc


def scrape(url: str, *, timeout: float = 5.0) -> Scrape:
    """GET ``url`` and parse it; the time is taken when the answer arrived."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ClusterError(f'unable to scrape metrics "{url}": {reason}',
                           hint="is the gateway running? `chartkit env` shows its metrics URL") from exc
    taken = time.time()
    return Scrape(url, taken, parse(text, source=url))

