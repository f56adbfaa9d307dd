"""Unit tests of the anomaly model: the causal scorer, the estimator contract and ``analyze``.

Every series is synthetic and seeded: 5-minute points over 14 days starting on a Monday (UTC), with a
business-hours daily cycle, quieter weekends and AR(1) noise, so that "normal" already has a daily and a
weekly rhythm to get wrong.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from cloudsage.core.base import NotFittedError
from cloudsage.core.errors import InsufficientDataError
from cloudsage.core.models.anomaly import (
    _DEFAULTS,
    ALERT_DEFAULTS,
    AnomalyDetector,
    analyze,
    causal_scores,
    min_points,
)
from cloudsage.core.registry import get_spec
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import SEVERITIES, ModelOutput
from cloudsage.core.series import MetricSeries

PERIOD = 300
DAY = 288  # 5-minute steps per day
N = 14 * DAY
MONDAY = 1_767_571_200  # 2026-01-05T00:00:00Z
THRESHOLD = 0.995  # the default


def seasonal(seed: int, n: int = N, level: float = 20.0, amplitude: float = 30.0, noise: float = 2.0) -> np.ndarray:
    """Business-hours bump (08:00-20:00, peak 14:00), weekends at 60 %, AR(1) noise with ``noise`` std."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    hour = (t % DAY) / 12.0
    bump = np.clip(np.sin((hour - 8.0) / 12.0 * np.pi), 0.0, None) ** 1.5
    weekday = (t // DAY) % 7
    amp = np.where(weekday >= 5, 0.6, 1.0) * amplitude
    shocks = rng.normal(0.0, noise * math.sqrt(1 - 0.25), n)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.5 * e[i - 1] + shocks[i]
    return level + amp * bump + e


def spans_of(scores: np.ndarray, threshold: float = THRESHOLD) -> list[tuple[int, int]]:
    flagged = np.flatnonzero(scores > threshold)
    if flagged.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(flagged) > 3)
    firsts = np.concatenate(([flagged[0]], flagged[breaks + 1]))
    lasts = np.concatenate((flagged[breaks], [flagged[-1]]))
    return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]


def detector_scores(y: np.ndarray) -> np.ndarray:
    """Per-point scores at the paging operating point (AnomalyDetector defaults), no quiet periods."""
    return AnomalyDetector(period_s=PERIOD).fit(y).scores_


def resource(**metrics: np.ndarray) -> ResourceMetrics:
    series = {name: MetricSeries("web-asg", name, MONDAY, PERIOD, values) for name, values in metrics.items()}
    return ResourceMetrics("web-asg", "asg", series)


# ---------------------------------------------------------------------------------------------- causality
@settings(max_examples=15, deadline=None)
@given(cut=st.integers(min_value=60, max_value=3 * DAY), seed=st.integers(0, 10_000))
def test_causal_scores_future_data_changes_past_scores_unchanged(cut: int, seed: int) -> None:
    # Given a series and a copy whose future (from `cut` on) is replaced by something wild
    y = seasonal(seed, n=4 * DAY)
    other = y.copy()
    rng = np.random.default_rng(seed)
    other[cut:] = rng.normal(500.0, 200.0, other.size - cut)
    other[cut + 5 : cut + 50] = np.nan

    # When both are scored
    a, b = causal_scores(y, PERIOD), causal_scores(other, PERIOD)

    # Then every score before `cut` is identical
    np.testing.assert_array_equal(a[:cut], b[:cut])


@settings(max_examples=8, deadline=None)
@given(k=st.integers(min_value=48, max_value=N - 1))  # 48: the fewest points fit() accepts at 5 minutes
@example(k=2 * DAY)  # the first seasonality check falls on the split
@example(k=3301)  # inside a re-anchor run
def test_anomaly_detector_two_step_stream_equals_one_shot(k: int) -> None:
    # Given a series with anomalies, split anywhere (before, inside or after warm-up, on or off a day boundary)
    y = seasonal(3)
    y[3000] += 30.0
    y[3300:] += 15.0

    # When the first part is fitted and the rest scored as its continuation
    two_step = AnomalyDetector().fit(y[:k]).score_samples(y[k:])

    # Then the scores equal one causal pass over the whole series
    np.testing.assert_allclose(two_step, detector_scores(y)[k:], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------- what it finds
def test_detector_scores_spike_flagged_at_the_spike_only() -> None:
    # Given a normal seasonal series with a +12 sigma spike on day 10 at 10:00
    y = seasonal(1)
    i = 10 * DAY + 120
    y[i] += 25.0

    # When scored
    spans = spans_of(detector_scores(y))

    # Then the spike and nothing else is flagged
    assert spans == [(i, i)]


def test_analyze_spike_reported_as_spike_with_figures() -> None:
    # Given a CPU spike of three points
    cpu = seasonal(2)
    i = 11 * DAY + 150
    cpu[i : i + 3] = 97.0

    # When the resource is analysed
    out = analyze(resource(CPUUtilization=cpu))

    # Then one insight describes it
    assert len(out.insights) == 1
    ins = out.insights[0]
    assert ins.title == "CPUUtilization spike on web-asg"
    assert ins.model == "anomaly"
    assert ins.kind == "reactive"
    assert ins.metric == "CPUUtilization"
    assert ins.window_start == MONDAY + i * PERIOD
    assert ins.window_end == MONDAY + (i + 2) * PERIOD
    assert ins.detected_at == ins.window_end
    assert ins.evidence["observed"] == pytest.approx(97.0)
    assert ins.evidence["deviation_sigma"] > 10
    assert ins.evidence["peak_time"].endswith("Z")
    assert ins.evidence["co_moving"] == []
    assert ins.severity in ("high", "critical")
    assert 0.9 < ins.confidence <= 1.0
    assert "97" in ins.summary
    assert ins.recommendation


def test_detector_scores_level_shift_flagged_once_then_accepted() -> None:
    # Given a +12 (6 sigma) permanent level shift at night on day 11
    y = seasonal(0)
    i = 11 * DAY + 34
    y[i:] += 12.0

    # When scored
    spans = spans_of(detector_scores(y))

    # Then one span starts within 25 minutes of the shift and ends about `adapt_s` (one hour) after it, when the
    # new level has become the normal one
    assert len(spans) == 1
    first, last = spans[0]
    assert i <= first <= i + 5
    assert 9 <= last - i + 1 <= 16


def test_analyze_level_shift_reported_as_level_shift() -> None:
    # Given request latency that steps up for good after a deploy
    latency = 0.2 + 0.01 * np.random.default_rng(4).standard_normal(N)
    i = 12 * DAY + 100
    latency[i:] += 0.08

    # When analysed
    out = analyze(resource(TargetResponseTime=latency))

    # Then it is one "level shift up" insight pointing at deploys
    assert [ins.title for ins in out.insights] == ["TargetResponseTime level shift up on web-asg"]
    ins = out.insights[0]
    assert ins.evidence["direction"] == "up"
    assert "level shift" in ins.evidence["cause"]
    assert "deploy" in ins.recommendation
    assert MONDAY + i * PERIOD <= ins.window_start <= MONDAY + (i + 5) * PERIOD


def test_analyze_temporary_surge_and_its_end_are_one_insight() -> None:
    # Given CPU pinned at ~97 % for exactly one hour (long enough to be re-anchored), then back to normal
    cpu = seasonal(5)
    i = 12 * DAY + 120
    cpu[i : i + 12] = 97.0

    # When analysed
    out = analyze(resource(CPUUtilization=cpu))

    # Then the return to normal is not a second anomaly, and the episode is called a surge
    assert [ins.title for ins in out.insights] == ["CPUUtilization surge on web-asg"]


@pytest.mark.parametrize(("days", "rise"), [(6, 30.0), (2, 40.0), (3, 20.0)])
def test_analyze_slow_leak_reported_as_drift(days: int, rise: float) -> None:
    # Given memory that climbs `rise` points over the last `days` days (noise sigma 2, so 1.7 to 10 sigmas a day)
    mem = seasonal(6, level=40.0, amplitude=4.0)
    start = (14 - days) * DAY
    mem += np.clip((np.arange(N) - start) / (days * DAY), 0.0, None) * rise

    # When analysed
    out = analyze(resource(MemoryUtilization=mem))

    # Then a gradual drift up is reported as a possible leak, starting after the ramp began
    drifts = [ins for ins in out.insights if ins.evidence["shape"] == "gradual drift up"]
    assert len(drifts) == 1
    ins = drifts[0]
    assert ins.evidence["cause"] == "gradual drift (possible leak)"
    assert ins.window_start > MONDAY + start * PERIOD
    assert ins.evidence["observed"] > ins.evidence["baseline"] + 5
    assert ins.severity in ("medium", "high", "critical")
    assert "leak" in ins.recommendation


def test_analyze_latency_after_cpu_names_cpu_as_likely_cause() -> None:
    # Given CPU saturating at 10:00 and latency following 15 minutes later
    rng = np.random.default_rng(7)
    cpu = np.clip(seasonal(8) * 0.8, 0.0, 100.0)
    latency = 0.12 + 0.002 * cpu + rng.normal(0.0, 0.004, N)
    i = 12 * DAY + 120
    cpu[i : i + 12] = 97.0 + rng.normal(0.0, 1.0, 12)
    latency[i + 3 : i + 12] += 0.25

    # When analysed
    out = analyze(resource(CPUUtilization=cpu, TargetResponseTime=latency))

    # Then the latency insight names CPU, its onset and the lead time
    lat = next(ins for ins in out.insights if ins.metric == "TargetResponseTime")
    assert lat.evidence["co_moving"] == ["CPUUtilization"]
    assert lat.evidence["cause"] == (
        "TargetResponseTime rose after CPUUtilization saturated (CPUUtilization anomalous from 10:00, 15 min earlier)"
    )
    cpu_ins = next(ins for ins in out.insights if ins.metric == "CPUUtilization")
    assert "TargetResponseTime" in cpu_ins.evidence["co_moving"]


def test_analyze_cpu_then_latency_grouped_into_one_finding_cpu_first() -> None:
    # Given CPU saturating at 10:00 and latency following 15 minutes later
    rng = np.random.default_rng(7)
    cpu = np.clip(seasonal(8) * 0.8, 0.0, 100.0)
    latency = 0.12 + 0.002 * cpu + rng.normal(0.0, 0.004, N)
    i = 12 * DAY + 120
    cpu[i : i + 12] = 97.0 + rng.normal(0.0, 1.0, 12)
    latency[i + 3 : i + 12] += 0.25

    # When analysed
    out = analyze(resource(CPUUtilization=cpu, TargetResponseTime=latency))

    # Then both insights carry the same finding, whose likely cause (and first-ranked metric) is CPU and whose
    # contributions are shares that add up to one
    findings = {ins.metric: ins.evidence["finding"] for ins in out.insights}
    assert set(findings) == {"CPUUtilization", "TargetResponseTime"}
    f = findings["TargetResponseTime"]
    assert findings["CPUUtilization"]["id"] == f["id"]
    assert f["likely_cause"] == "CPUUtilization"
    assert [m["metric"] for m in f["metrics"]] == ["CPUUtilization", "TargetResponseTime"]
    assert sum(m["contribution"] for m in f["metrics"]) == pytest.approx(1.0, abs=1e-3)


def test_analyze_anomalies_days_apart_are_separate_findings() -> None:
    # Given a CPU spike on day 10 and a latency spike on day 12
    cpu, latency = seasonal(50), 0.2 + 0.01 * np.random.default_rng(51).normal(size=N)
    cpu[10 * DAY + 100] = 99.0
    latency[12 * DAY + 100] = 1.5

    # When analysed
    out = analyze(resource(CPUUtilization=cpu, TargetResponseTime=latency))

    # Then each is its own finding, led by itself
    ids = {ins.evidence["finding"]["id"] for ins in out.insights}
    assert len(out.insights) == 2
    assert len(ids) == 2
    assert all(ins.evidence["finding"]["likely_cause"] == ins.metric for ins in out.insights)


# ---------------------------------------------------------------------------------------------- what it leaves alone
@pytest.mark.parametrize("seed", range(5))
def test_detector_scores_noisy_normal_seasonal_series_raises_nothing(seed: int) -> None:
    # Given 14 days of normal behaviour with a daily and a weekly rhythm and autocorrelated noise
    y = seasonal(seed, noise=3.0)

    # When scored
    scores = detector_scores(y)

    # Then nothing crosses the threshold, and the detector found the daily cycle
    assert spans_of(scores) == []
    assert AnomalyDetector().fit(y).seasonality_ == "daily"


def test_analyze_normal_resource_raises_no_insight() -> None:
    # Given a resource whose metrics all behave normally
    out = analyze(resource(CPUUtilization=seasonal(11), RequestCount=np.round(seasonal(12) * 40.0)))

    # Then there is nothing to report, but plot data for every metric
    assert out.insights == ()
    assert set(out.detail) == {"CPUUtilization", "RequestCount"}


def test_detector_scores_recurring_daily_job_learned_as_habit() -> None:
    # Given a daily batch job around 13:00 whose start jitters by up to 20 minutes (a profile slot cannot learn it)
    rng = np.random.default_rng(9)
    y = 2.0 + rng.normal(0.0, 0.05, N)
    for day in range(14):
        i = day * DAY + 156 + int(rng.integers(-4, 5))
        y[i] = 2.6

    # When scored
    spans = spans_of(detector_scores(y))

    # Then only the first days alert: from the third occurrence on it is a habit
    assert {a // DAY for a, _ in spans} <= {0, 1}


def test_causal_scores_quantised_flip_flop_not_flagged_forever() -> None:
    # Given an idle CPU whose readings flip between two quantised values a fifth of the time
    rng = np.random.default_rng(10)
    y = np.where(rng.random(N) < 0.2, 0.134, 0.066)

    # When scored
    spans = spans_of(causal_scores(y, PERIOD))

    # Then the flips stop alerting within the first day
    assert all(a < DAY for a, _ in spans)


# ---------------------------------------------------------------------------------------------- alert stream
ALERT = float(ALERT_DEFAULTS["threshold"])
QUIET = 12  # adapt_s / period: steps after an alert that cannot alert again


def test_causal_scores_incident_alerts_once_on_its_first_point() -> None:
    # Given a five-point incident of +40 (about 20 robust sigmas) on day 9
    y = seasonal(41)
    i = 9 * DAY + 100
    y[i : i + 5] += 40.0

    # When the alert stream is computed (deviation tests alone: a seasonal series sets new extremes all through
    # its first days, which the new-extreme test would alert on; NAB's probationary period hides those)
    s = causal_scores(y, PERIOD, novelty=0.0)

    # Then it alerts on the first point (latency 0) and the rest of the incident stays quiet (score <= 0.5)
    alerts = np.flatnonzero(s >= ALERT)
    assert alerts.tolist() == [i]
    assert np.all(s[i + 1 : i + 5] <= 0.5)


def test_causal_scores_step_change_alerts_within_one_sample() -> None:
    # Given a permanent +25 step (about 12 robust sigmas) on day 9 (the latency target: at most one sample
    # for steps and spikes)
    y = seasonal(42)
    i = 9 * DAY + 30
    y[i:] += 25.0

    # When the alert stream is computed (deviation tests alone: with the new-extreme test on, the noise on the new,
    # higher level keeps setting records for a while after the step)
    alerts = np.flatnonzero(causal_scores(y, PERIOD, novelty=0.0) >= ALERT)

    # Then the first alert comes at most one sample after the step, and nothing else alerts during the next day
    # (about a day later the drift test can still take the staircase of segment means for a ramp: a known gap)
    assert alerts[0] >= i
    assert alerts[(alerts >= i) & (alerts < i + DAY)].tolist() in ([i], [i + 1])


def test_causal_scores_incident_after_quiet_period_alerts_again() -> None:
    # Given two spikes further apart than the quiet period
    y = seasonal(43)
    i = 9 * DAY + 100
    y[i] += 40.0
    y[i + QUIET + 5] += 40.0

    # When the alert stream is computed (deviation tests alone)
    alerts = np.flatnonzero(causal_scores(y, PERIOD, novelty=0.0) >= ALERT)

    # Then both alert
    assert alerts.tolist() == [i, i + QUIET + 5]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), spikes=st.lists(st.integers(2 * DAY, 5 * DAY), min_size=1, max_size=12))
def test_causal_scores_alerts_never_closer_than_quiet_period(seed: int, spikes: list[int]) -> None:
    # Given a series with spikes anywhere, clustered or not
    y = seasonal(seed, n=5 * DAY + 10)
    for k in spikes:
        y[k] += 60.0

    # When the alert stream is computed
    alerts = np.flatnonzero(causal_scores(y, PERIOD) >= ALERT)

    # Then two alerts are always more than the quiet period apart (one alert per incident)
    assert np.all(np.diff(alerts) > QUIET)


def test_causal_scores_new_extreme_alerts_only_with_novelty_on() -> None:
    # Given three days of white noise (sd 5), then a point 2 units beyond everything seen so far (about 4 sigmas:
    # no deviation test fires, but it is a new extreme by ~6% of the range)
    rng = np.random.default_rng(44)
    y = 50.0 + rng.normal(0.0, 5.0, 3 * DAY)
    i = 3 * DAY - 10
    y[i] = np.max(y[:i]) + 2.0
    y[i + 1 :] = 50.0

    # When scored with the new-extreme test on (default) and off
    on = causal_scores(y, PERIOD)
    off = causal_scores(y, PERIOD, novelty=0.0)

    # Then only the first alerts there
    assert on[i] >= ALERT
    assert off[i] < ALERT


@pytest.mark.parametrize(("share", "alerts"), [(1.02, True), (0.98, False)])
def test_causal_scores_new_extreme_margin_is_the_shipped_share_of_the_range(share: float, alerts: bool) -> None:
    # Given three days of white noise (sd 5), then one point beyond the largest value so far by just over / just
    # under the shipped margin (ALERT_DEFAULTS["novelty"] of the range seen so far: a few hundredths of a unit,
    # far below any deviation test)
    rng = np.random.default_rng(45)
    y = 50.0 + rng.normal(0.0, 5.0, 3 * DAY)
    i = 3 * DAY - 10
    hi, lo = float(np.max(y[:i])), float(np.min(y[:i]))
    y[i] = hi + share * float(ALERT_DEFAULTS["novelty"]) * (hi - lo)

    # When fitted at the NAB operating point (per-point scores, no quiet period)
    det = AnomalyDetector(**ALERT_DEFAULTS).fit(y)

    # Then it reaches the threshold exactly when it clears the margin, and only through the new-extreme test
    assert bool(det.scores_[i] >= ALERT) is alerts
    assert abs(det.trace_.z[i]) < det.config_.z_alert


def test_anomaly_detector_step_inside_the_range_is_a_new_extreme_of_the_mean() -> None:
    # Given white noise (sd 1) around 50 with one early spike to 100 (so no later point is a new extreme), then a
    # step of +7 that lasts
    rng = np.random.default_rng(3)
    y = 50.0 + rng.normal(0.0, 1.0, 3000)
    y[300] = 100.0
    y[2500:] += 7.0
    assert y[2500:].max() < y[:2500].max()

    # When fitted with the new-extreme test on
    det = AnomalyDetector(**ALERT_DEFAULTS).fit(y)

    # Then the mean of the last hour is a new extreme within the hour after the step (a record of the means)
    assert np.any(det.trace_.novelty[2500:2512] >= det.config_.z_alert)


@pytest.mark.parametrize(("share", "alerts"), [(0.12, True), (0.08, False)])
def test_anomaly_detector_value_in_a_never_visited_part_of_the_range_is_novel(share: float, alerts: bool) -> None:
    # Given four days of noise (sd 0.5) around 10 with a spike to about 100 twice a day (a habit), then one point
    # inside the range, `share` of the range away from every value seen so far (between the noise and the spikes)
    rng = np.random.default_rng(46)
    y = 10.0 + rng.normal(0.0, 0.5, 4 * DAY)
    y[DAY // 4 :: DAY // 2] = 100.0 + rng.normal(0.0, 1.0, y[DAY // 4 :: DAY // 2].size)
    i = 4 * DAY - 20
    seen = y[:i]
    y[i] = float(np.max(seen[seen < 50.0])) + share * float(np.max(seen) - np.min(seen))

    # When fitted at the NAB operating point
    det = AnomalyDetector(**ALERT_DEFAULTS).fit(y)

    # Then the gap test reaches the alert level exactly when the gap is past a tenth of the range
    assert bool(det.trace_.novelty[i] >= det.config_.z_alert) is alerts


@pytest.mark.parametrize(("share", "alerts"), [(0.4, True), (0.15, False)])
def test_anomaly_detector_spike_after_a_level_shift_is_judged_against_the_new_level(share: float, alerts: bool) -> None:
    # Given noise (sd 1) around 10, a step to 25 whose first point overshoots to 40, and three days later one point
    # above the new level's values so far by `share` of their range (still inside the whole history's range)
    rng = np.random.default_rng(47)
    y = 10.0 + rng.normal(0.0, 1.0, 6 * DAY)
    step, i = 2 * DAY, 5 * DAY
    y[step:] += 15.0
    y[step] = 40.0
    regime = y[step + 1 : i]
    y[i] = float(np.max(regime)) + share * float(np.max(regime) - np.min(regime))
    assert y[i] < 40.0

    # When fitted at the NAB operating point
    det = AnomalyDetector(**ALERT_DEFAULTS).fit(y)

    # Then the step became the new normal, and the point is novel against the new regime's own range when it
    # clears it by more than a quarter of that range (a spike the whole-history range would hide)
    assert det.trace_.reanchored[step : step + DAY].any()
    assert bool(det.trace_.novelty[i] >= det.config_.z_alert) is alerts


def test_causal_scores_steady_ramp_alerts_about_once_a_day_not_at_every_record() -> None:
    # Given ten quiet days (noise sd 2), then a steady ramp of +30 over four days (every point a new record)
    rng = np.random.default_rng(4)
    y = 20.0 + rng.normal(0.0, 2.0, N)
    start = 10 * DAY
    y[start:] += np.linspace(0.0, 30.0, N - start)

    # When scored at the alert defaults
    alerts = np.flatnonzero(causal_scores(y, PERIOD) >= ALERT)

    # Then the ramp alerts, but the drift and the records it keeps setting are one incident per drift segment
    # (a day), not one alert per quiet period (63 before drifts quieted their own records)
    on_ramp = alerts[alerts >= start]
    assert on_ramp.size >= 1
    assert on_ramp.size <= 16


def test_causal_scores_bursts_recurring_on_an_hourly_grid_become_a_habit() -> None:
    # Given an hourly metric (noise sd 1) with a +30 burst every 97 hours: a week holds under two of them
    rng = np.random.default_rng(5)
    y = 10.0 + rng.normal(0.0, 1.0, 2000)
    bursts = np.arange(300, 2000, 97)
    y[bursts] += 30.0

    # When scored at the alert defaults
    scores = causal_scores(y, 3600)

    # Then the first bursts alert and, from the seventh on (four within the last 2016 points), none does
    assert scores[bursts[0]] >= ALERT
    assert np.all(scores[bursts[6:]] < ALERT)


def test_causal_scores_negative_novelty_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="novelty"):
        causal_scores(np.ones(100), PERIOD, novelty=-0.1)


@settings(max_examples=6, deadline=None)
@given(k=st.integers(min_value=48, max_value=3 * DAY), chunk=st.integers(1, 50))
def test_anomaly_detector_update_in_chunks_equals_causal_scores(k: int, chunk: int) -> None:
    # Given a series with incidents, fitted up to k at the alert defaults
    y = seasonal(45, n=3 * DAY + 60)
    y[2 * DAY + 7 : 2 * DAY + 12] += 40.0
    y[3 * DAY :] += 25.0
    det = AnomalyDetector(**ALERT_DEFAULTS).fit(y[:k])

    # When the rest is streamed through update() in chunks
    parts = [det.update(y[a : a + chunk]) for a in range(k, y.size, chunk)]

    # Then the stream equals one causal pass, from k on
    np.testing.assert_array_equal(np.concatenate(parts), causal_scores(y, PERIOD)[k:])


# ---------------------------------------------------------------------------------------------- robustness
def test_detector_scores_nan_gaps_score_zero_and_do_not_crash() -> None:
    # Given a series with a missing day, short gaps, scattered NaN and inf, and a spike after the long gap
    y = seasonal(13)
    rng = np.random.default_rng(13)
    y[rng.random(N) < 0.05] = np.nan
    y[5 * DAY : 6 * DAY] = np.nan
    y[2000:2003] = np.inf
    i = 9 * DAY + 130
    y[i] = 120.0

    # When scored
    scores = detector_scores(y)

    # Then scores are finite probabilities, missing points score 0, the spike is still found, nothing else is
    assert scores.shape == y.shape
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert np.all(scores[~np.isfinite(y)] == 0.0)
    assert spans_of(scores) == [(i, i)]


def test_anomaly_detector_missing_points_do_not_change_the_state() -> None:
    # Given a series, and the same series followed by a few missing points (shorter than a gap that resets)
    y = seasonal(14, n=DAY + 100)
    holed = np.concatenate((y, np.full(10, np.nan)))

    # When both are fitted
    a, b = AnomalyDetector().fit(y).state_, AnomalyDetector().fit(holed).state_

    # Then the model state is the same: only the clock moved
    for name in ("level", "scale_abs", "scale_q", "swing", "shift", "shift_abs", "last_valid"):
        assert getattr(a, name) == getattr(b, name), name
    assert b.t == a.t + 10


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.just(math.nan)),
        min_size=0,
        max_size=400,
    )
)
def test_causal_scores_any_input_gives_probabilities(values: list[float]) -> None:
    # Given arbitrary floats, including NaN, inf and huge values
    y = np.array(values, dtype=np.float64)

    # When scored
    scores = causal_scores(y, PERIOD)

    # Then there is one score per point, each in [0, 1]
    assert scores.shape == y.shape
    assert np.all((scores >= 0.0) & (scores <= 1.0))


def test_fit_too_little_data_raises_insufficient_data_naming_minimum() -> None:
    # Given fewer valid points than the detector needs
    needed = min_points(PERIOD)
    y = np.full(needed + 10, np.nan)
    y[: needed - 1] = 1.0

    # When fitted / Then the error names the minimum and what it got
    with pytest.raises(InsufficientDataError, match=f"needs at least {needed} points") as info:
        AnomalyDetector().fit(y)
    assert info.value.needed == needed == 48
    assert info.value.got == needed - 1


def test_analyze_short_metric_skipped_with_reason() -> None:
    # Given one usable metric and one with only 20 points
    out = analyze(resource(CPUUtilization=seasonal(15), Errors=np.zeros(20)))

    # Then the short one is skipped, and the detail says why
    assert out.detail["Errors"] == {
        "skipped": "anomaly detection on a 300 s grid: needs at least 48 points of usable data, got 20"
    }
    assert "skipped" not in out.detail["CPUUtilization"]


def test_analyze_no_usable_metric_raises_insufficient_data() -> None:
    # Given only metrics that are too short
    r = resource(CPUUtilization=np.ones(30), Errors=np.zeros(20))

    # When analysed / Then it raises, naming the minimum
    with pytest.raises(InsufficientDataError, match="needs at least 48 points") as info:
        analyze(r)
    assert info.value.needed == 48
    assert info.value.got == 30


def test_causal_scores_unknown_parameter_raises_type_error() -> None:
    with pytest.raises(TypeError, match="unknown anomaly parameter"):
        causal_scores(np.ones(100), PERIOD, treshold=0.9)


@pytest.mark.parametrize(
    ("param", "value"),
    [("threshold", 1.5), ("threshold", "high"), ("seasonality", "monthly"), ("adapt_s", 0), ("max_gap", -1)],
)
def test_anomaly_detector_bad_hyperparameter_raises_in_fit_not_init(param: str, value: object) -> None:
    # Given a detector built with a bad value (construction must accept anything, as scikit-learn's clone needs)
    det = AnomalyDetector(**{param: value})

    # When fitted / Then the value is rejected with its name
    with pytest.raises(ValueError, match=param):
        det.fit(seasonal(16, n=DAY))


# ---------------------------------------------------------------------------------------------- estimator contract
def test_anomaly_detector_fit_returns_self() -> None:
    det = AnomalyDetector()
    assert det.fit(seasonal(17, n=2 * DAY)) is det


@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict", "update"])
def test_anomaly_detector_score_before_fit_raises_not_fitted(method: str) -> None:
    with pytest.raises(NotFittedError):
        getattr(AnomalyDetector(), method)(np.ones(10))


def test_anomaly_detector_get_params_clone_round_trip() -> None:
    # Given a detector with non-default hyperparameters, fitted
    det = AnomalyDetector(threshold=0.995, seasonality="daily", adapt_s=1800, drift_window_s=0, min_scale=0.5)
    det.fit(seasonal(18, n=3 * DAY))

    # When cloned
    twin = clone(det)

    # Then the parameters survive unchanged, the fitted state does not, and set_params round-trips
    assert twin.get_params() == det.get_params()
    assert not hasattr(twin, "state_")
    assert AnomalyDetector().set_params(**det.get_params()).get_params() == det.get_params()


def test_anomaly_detector_defaults_match_the_paging_defaults() -> None:
    # The estimator's signature and the documented paging operating point must not drift apart
    params = AnomalyDetector().get_params()
    assert {k: params[k] for k in _DEFAULTS} == _DEFAULTS


def test_causal_scores_defaults_are_the_alert_defaults() -> None:
    # Given a series with an incident
    y = seasonal(40)
    y[3000:3004] += 40.0

    # When scored with no parameters and with the documented alert defaults (the NAB-chosen operating point)
    a = causal_scores(y, PERIOD)
    b = causal_scores(y, PERIOD, **ALERT_DEFAULTS)

    # Then they are the same, and differ from the paging point (a higher threshold, new-extreme test on)
    np.testing.assert_array_equal(a, b)
    assert ALERT_DEFAULTS["threshold"] > _DEFAULTS["threshold"]
    assert ALERT_DEFAULTS["novelty"] > 0.0 == _DEFAULTS["novelty"]


def test_anomaly_detector_same_input_same_output() -> None:
    # Given one series with anomalies in it
    y = seasonal(19)
    y[3333] += 40.0

    # When fitted twice, and scored twice after fitting
    a, b = AnomalyDetector().fit(y), AnomalyDetector().fit(y)
    tail = seasonal(20, n=DAY)

    # Then everything is identical, and scoring does not change the fitted state
    np.testing.assert_array_equal(a.scores_, b.scores_)
    assert a.spans_ == b.spans_
    np.testing.assert_array_equal(a.score_samples(tail), a.score_samples(tail))


def test_anomaly_detector_fit_predict_equals_labels_and_threshold() -> None:
    y = seasonal(21)
    y[3500] -= 40.0
    det = AnomalyDetector()
    labels = det.fit_predict(y)
    np.testing.assert_array_equal(labels, (det.scores_ > det.threshold).astype(np.int8))
    assert labels[3500] == 1
    assert det.spans_ == [(3500, 3500)]


def test_anomaly_detector_metric_series_input_uses_its_period() -> None:
    # Given an hourly MetricSeries (the array default would be 300 s)
    hourly = MetricSeries("db-1", "CPUUtilization", MONDAY, 3600, seasonal(22, n=24 * 21)[: 24 * 21])

    # When fitted
    det = AnomalyDetector().fit(hourly)

    # Then the grid comes from the series
    assert det.period_s_ == 3600


def test_registry_resolves_the_anomaly_model() -> None:
    spec = get_spec("anomaly")
    assert spec.load_estimator() is AnomalyDetector
    assert spec.load_analyze() is analyze


# ---------------------------------------------------------------------------------------------- output shape
def test_analyze_detail_downsampled_with_exact_spans() -> None:
    # Given a 14-day series (4,032 points) with one spike
    cpu = seasonal(23)
    i = 12 * DAY + 77
    cpu[i] = 99.0

    # When analysed
    plot = analyze(resource(CPUUtilization=cpu)).detail["CPUUtilization"]

    # Then the plot has at most ~600 points that keep the spike, and the span is exact
    assert len(plot["timestamps"]) <= 600
    assert len(plot["values"]) == len(plot["scores"]) == len(plot["baseline"]) == len(plot["timestamps"])
    assert 99.0 in plot["values"]
    assert plot["spans"] == [[MONDAY + i * PERIOD, MONDAY + i * PERIOD]]
    assert plot["seasonality"] == "daily"
    assert plot["threshold"] == THRESHOLD


def test_analyze_report_window_keeps_only_recent_spans() -> None:
    # Given spikes on day 8 and in the last hour
    cpu = seasonal(24)
    cpu[8 * DAY + 150] = 99.0
    cpu[N - 5] = 99.0

    # When analysed with a one-hour report window
    recent = analyze(resource(CPUUtilization=cpu), report_window_s=3600)
    everything = analyze(resource(CPUUtilization=cpu))

    # Then only the recent spike is an insight (the plot still shows both spans)
    assert [ins.window_start for ins in recent.insights] == [MONDAY + (N - 5) * PERIOD]
    assert len(everything.insights) == 2
    assert len(recent.detail["CPUUtilization"]["spans"]) == 2


def test_analyze_burn_in_spans_plotted_not_reported() -> None:
    # Given a spike on day 1, while the detector is still learning the metric, and one on day 10
    cpu = seasonal(28)
    cpu[DAY + 150] = 99.0
    cpu[10 * DAY + 150] = 99.0

    # When analysed with the default burn-in (three days) and without one
    default = analyze(resource(CPUUtilization=cpu))
    none = analyze(resource(CPUUtilization=cpu), burn_in_s=0)

    # Then the early spike is only plotted by default, and reported without a burn-in
    assert [ins.window_start for ins in default.insights] == [MONDAY + (10 * DAY + 150) * PERIOD]
    assert len(default.detail["CPUUtilization"]["spans"]) == 2
    assert len(none.insights) == 2


def test_analyze_output_is_strict_json_and_round_trips() -> None:
    # Given an analysis with gaps (NaN) and anomalies
    cpu = seasonal(25)
    cpu[100:130] = np.nan
    cpu[11 * DAY] = 99.0

    # When serialised
    out = analyze(resource(CPUUtilization=cpu))
    text = json.dumps(out.to_dict(), allow_nan=False)

    # Then it is strict JSON, and the insights survive the round trip
    back = ModelOutput.from_dict(json.loads(text))
    assert back.insights == out.insights
    assert all(ins.severity in SEVERITIES for ins in out.insights)


# Speed is measured by `make bench-nab` (streaming µs per point), not asserted here: machines are noisy.
