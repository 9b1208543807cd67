"""Analysis gates (pure): conditions parsed without eval, measurements judged, limits counted, early stops."""

from __future__ import annotations

import math

import pytest

from toolkit.deploy.analysis import (AnalysisOptions, Condition, MetricCheck, Quantity, Verdict, analyse, measure,
                                     parse_condition, parse_interval)
from toolkit.deploy.traffic import Stats
from toolkit.errors import InputError

#: cumulative buckets (seconds, count): 100 requests, 90 within 50 ms, all within 250 ms
BUCKETS = ((0.01, 0.0), (0.05, 90.0), (0.25, 100.0), (math.inf, 100.0))


def stats(requests: float = 100, errors: float = 0, seconds: float = 2.0, buckets=BUCKETS) -> Stats:
    return Stats(requests, errors, seconds, tuple(buckets) if requests else ())


@pytest.mark.parametrize(("text", "expected"), [
    ("error_ratio < 0.01", Condition(Quantity.ERROR_RATIO, "<", 0.01)),
    ("  p95_ms<=300 ", Condition(Quantity.P95_MS, "<=", 300)),
    ("rate >= 1e1", Condition(Quantity.RATE, ">=", 10)),
    ("requests > 20", Condition(Quantity.REQUESTS, ">", 20)),
    ("p50_ms != .5", Condition(Quantity.P50_MS, "!=", 0.5)),
], ids=["error-ratio", "spaces", "exponent", "requests", "leading-dot"])
def test_conditions_parse(text, expected):
    assert parse_condition(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('true') < 1", "expected METRIC OP NUMBER"),
    ("error_ratio < 0.01 or True", "expected METRIC OP NUMBER"),
    ("latency < 3", 'unknown metric "latency"'),
    ("error_ratio = 0", "expected METRIC OP NUMBER"),
    ("p95_ms < 1e999", "must be a finite number"),
    ("", "expected METRIC OP NUMBER"),
], ids=["code", "boolean-tail", "unknown-metric", "single-equals", "infinite", "empty"])
def test_anything_but_one_comparison_is_refused(text, message):
    with pytest.raises(InputError, match=message):
        parse_condition(text)


@pytest.mark.parametrize(("value", "seconds"), [("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), (3, 3.0), ("1.5", 1.5)],
                         ids=["s", "ms", "m", "number", "bare-text"])
def test_intervals(value, seconds):
    assert parse_interval(value) == seconds


@pytest.mark.parametrize("value", ["0s", "2d", "inf", 1e308, "-1s", "10ms"], ids=["zero", "days", "inf", "huge",
                                                                              "negative", "too-short"])
def test_bad_intervals_are_refused(value):
    with pytest.raises(InputError, match="analysis interval"):
        parse_interval(value)


def options(*conditions: str, count: int = 3, failure_limit: int = 0, inconclusive_limit: int = 0) -> AnalysisOptions:
    return AnalysisOptions(metrics=tuple(MetricCheck(f"m{i}", parse_condition(c)) for i, c in enumerate(conditions)),
                           interval_seconds=1, count=count, failure_limit=failure_limit,
                           inconclusive_limit=inconclusive_limit)


def test_a_measurement_judges_every_metric():
    opts = options("error_ratio < 0.01", "p95_ms < 300", "p50_ms < 20")
    found = measure(opts, 1, stats(errors=20))
    assert [(name, held) for name, _, _, held in found.results] == [("m0", False), ("m1", True), ("m2", False)]
    assert found.verdict is Verdict.FAILED
    assert found.results[0][2] == pytest.approx(0.2)
    # 95th of 100 requests: 5 of the 10 between 50 and 250 ms, interpolated linearly
    assert found.results[1][2] == pytest.approx(150)
    assert "m0 0.2 (error_ratio < 0.01: FAILED)" in found.describe()


def test_no_requests_is_inconclusive_not_a_pass():
    found = measure(options("error_ratio < 0.01", "requests >= 0"), 1, stats(requests=0))
    assert [held for *_, held in found.results] == [None, True]
    assert found.verdict is Verdict.INCONCLUSIVE


def run(opts: AnalysisOptions, windows: list[Stats]):
    asked: list[float] = []

    def window(seconds: float) -> Stats:
        asked.append(seconds)
        return windows[len(asked) - 1]

    seen = []
    return analyse(opts, window, on_measurement=seen.append, clock=lambda: float(len(asked))), asked, seen


def test_a_bad_version_fails_at_the_first_measurement():
    result, asked, seen = run(options("error_ratio < 0.01"), [stats(errors=20), stats(), stats()])
    assert result.verdict is Verdict.FAILED and asked == [1.0] and len(seen) == 1
    assert result.seconds == 1.0 and "failed after 1 measurement(s)" in result.describe()


def test_every_measurement_runs_when_all_pass():
    result, asked, _ = run(options("error_ratio < 0.01"), [stats(), stats(), stats()])
    assert result.verdict is Verdict.SUCCESSFUL and len(asked) == 3 and result.failed == 0


def test_failure_limit_tolerates_that_many():
    result, asked, _ = run(options("error_ratio < 0.01", failure_limit=1), [stats(errors=5), stats(), stats()])
    assert result.verdict is Verdict.SUCCESSFUL and result.failed == 1
    result, asked, _ = run(options("error_ratio < 0.01", failure_limit=1), [stats(errors=5), stats(errors=5),
                                                                            stats()])
    assert result.verdict is Verdict.FAILED and len(asked) == 2


def test_inconclusive_limit():
    result, _, _ = run(options("error_ratio < 0.01"), [stats(requests=0), stats(), stats()])
    assert result.verdict is Verdict.INCONCLUSIVE
    result, _, _ = run(options("error_ratio < 0.01", inconclusive_limit=1), [stats(requests=0), stats(), stats()])
    assert result.verdict is Verdict.SUCCESSFUL and result.inconclusive == 1


@pytest.mark.parametrize(("data", "message"), [
    ({"metrics": []}, "without metrics"),
    ({"count": 0, "metrics": [{"name": "e", "successCondition": "error_ratio < 1"}]}, "count 0"),
    ({"count": 2, "failureLimit": 3, "metrics": [{"name": "e", "successCondition": "error_ratio < 1"}]},
     "failureLimit 3"),
    ({"metrics": [{"name": "e", "successCondition": "rate > 1"}, {"name": "e", "successCondition": "rate > 2"}]},
     "names must be unique"),
    ({"metrics": [{"name": "e", "successCondition": "ratio < 1"}]}, 'successCondition of metric "e"'),
], ids=["no-metrics", "count", "failure-limit", "duplicate-names", "bad-condition"])
def test_bad_analysis_data_is_refused(data, message):
    with pytest.raises(InputError, match=message):
        AnalysisOptions.from_data(data)


def test_analysis_round_trips_through_its_json():
    opts = AnalysisOptions.from_data({"interval": "2s", "count": 3, "failureLimit": 1, "metrics": [
        {"name": "errors", "successCondition": "error_ratio < 0.01"},
        {"name": "latency", "successCondition": "p95_ms < 300"}]})
    assert opts.interval_seconds == 2 and opts.seconds == 6
    assert AnalysisOptions.from_data(opts.to_json()) == opts
