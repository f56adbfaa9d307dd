"""Causal, seasonality-aware anomaly detection for CloudWatch metrics (AnomalyDetector v1).

The detector reads a metric one point at a time and keeps a small state, so the score at ``t`` uses the data up
to ``t`` only: a live stream and a batch re-run give the same scores, and a benchmark can replay it point by
point. Per point it:

1. **Predicts a baseline** with a robust additive Holt-Winters recursion (Gelper, Fried & Croux, "Robust
   forecasting with exponential and Holt-Winters smoothing", J. Forecasting 29, 2010): a local level plus, once
   the history shows one, a daily profile (one slot per grid step) and a weekly correction (hourly slots), each
   slot updated at its own phase. Residuals enter every update through a Huber clip, and anomalous points update
   nothing, so an incident does not poison the baseline it is measured against.
2. **Finds seasonality causally**: at each day boundary it correlates the moving-average-detrended history with
   itself one day back (from two days of history on) and, from two weeks on, one week back, and switches the
   profiles on or off. Until then the local level alone is the baseline.
3. **Measures noise robustly**: the residual scale is the larger of an EW mean absolute deviation, a tracked
   95th percentile of ``|residual|`` (which learns that a quantised CPU flipping between 0.066 and 0.134 is
   normal) and, with a daily profile, a per-time-of-day mean ``|residual|`` (which learns that the edges of a
   nightly job whose start and length jitter are rough every night); never below 1% of the metric's usual swing
   (noise-free series) nor below ``min_scale``.
4. **Scores three deviations**, each in units of its own robust running scale:

   * *point*: the residual (spikes, dips);
   * *shift*: a short EW mean of clipped residuals (a change of a few sigmas that lasts, e.g. after a deploy);
     while it is half-way up the baseline holds still, so a step is measured, not learnt;
   * *drift*: the changes between the last four segment means, at two segment lengths (``drift_window_s / 4``,
     one day by default, and half that); when all three rise (or all fall), the smallest of them over the usual
     size of such a change, learnt from before the test window (slow ramps such as a memory leak, which the level
     would otherwise follow unnoticed). Whole-day segments cancel the daily cycle; three changes in a row keep a
     weekday/weekend step from looking like a ramp; half-day segments catch a two-day leak before it ends.

   The largest goes through the two-sided Student-t (3 d.o.f.) probability, a score in ``[0, 1]``: 0.99 at 5.8
   robust sigmas, 0.995 (the default threshold) at 7.5, 0.999 at 12.9. The heavy tail keeps real, heavy-tailed
   residuals from being over-flagged and keeps big deviations apart in rank.
5. **Adapts to a new normal**: a change that stays anomalous in one direction for ``adapt_s`` re-anchors the
   level there (a level shift is one span of about ``adapt_s``, not an alert forever); a return to the old level
   within a day undoes that (the episode was a surge, and its end is not a second anomaly). Bursts that recur (four
   within a week or 2016 points, or around the same time of day on two earlier days) raise the scale to their
   size, so only clearly bigger ones alert again.
6. **Alerts once per incident** (the alert stream of :func:`causal_scores` and :meth:`AnomalyDetector.update`):
   after a point reaches the threshold, the next ``adapt_s`` worth of points (12 at 5 minutes) cannot alert again
   and report at most 0.5. An incident pages once, at its first point; CAD-OSE and ARTime, the best published
   NAB detectors, use the same kind of rest period. A drift is one incident for longer: for one drift segment
   (a day by default) after a drift alert, further drift alerts and new extremes (item 7) in its direction are
   quiet too, since a steady ramp sets a new record at almost every point.
7. **Optionally alerts on new extremes** (``novelty``, on in :data:`ALERT_DEFAULTS`, off for paging): a value
   beyond the whole range seen so far by ``novelty`` of that range scores like a deviation at the threshold, a
   larger one higher. It catches anomalies that are small against the noise but have never happened before (a CPU
   that has never been this high); it also fires on records of plain noise, about ``ln(n)`` times in ``n``
   points, and on the noise of a new, higher level after a step, which is why the paging product leaves it off.
   The same test runs on the mean of the last ``adapt_s`` (margin 7% of the range of such means, and at least 0.7
   standard errors of such a mean beyond the record): a sustained change that no single point makes a record
   (traffic stuck at a level it only ever touched in one spike); inside the range, on a value 10% of the range
   away from every value seen so far (a level never visited: a spike of a size never seen, between the usual
   noise and the usual spikes); and, once a level shift has become the new normal and that regime is a day old,
   against the regime's own range (margin a quarter of it: a spike of the new level that the old level's range
   and the transition would hide).

:func:`causal_scores` runs this over a raw array with :data:`ALERT_DEFAULTS` (the operating point chosen on NAB,
the benchmark path); :class:`AnomalyDetector` wraps it in the scikit-learn API with the paging defaults;
:func:`analyze` turns the flagged spans of every metric of a resource into
:class:`~cloudsage.core.results.Anomaly` and :class:`~cloudsage.core.results.Insight` records.

Cost: O(1) per point plus a vectorised seasonality check per day. The per-point recursion, the drift test and
the quiet period run in a small C kernel when it is built (``make native``, or the layer's for Lambda; see
:mod:`cloudsage.core.native`), with the same results to the last bit, else in Python: about 4 ms of CPU for a
14-day 5-minute series of 4,032 points with the kernel, about 12 ms without (``make bench-scale``), and about
20 us per single-point :meth:`AnomalyDetector.update` call (short chunks always run in Python). Imports: numpy,
ctypes and the project's light :mod:`cloudsage.core.base` only (no scikit-learn, no scipy), about 0.2 s of CPU
cold.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from cloudsage.core.base import Estimator, check_is_fitted
from cloudsage.core.errors import InsufficientDataError, InvalidSeriesError
from cloudsage.core.metrics_catalog import metric_info
from cloudsage.core.native import library as native_library
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import SEVERITIES, Anomaly, Insight, ModelOutput, iso
from cloudsage.core.rounding import rounded6, rounded_to
from cloudsage.core.series import MetricSeries

__all__ = ["ALERT_DEFAULTS", "AnomalyDetector", "analyze", "causal_scores", "min_points", "threshold_for_budget"]

MODEL_NAME = "anomaly"
DAY_S = 86_400

# ---------------------------------------------------------------------------------------------- fixed constants
# Fixed on purpose (not hyperparameters): each is a robustness or calibration choice, not a per-fleet knob.
# Baseline
_HUBER_K = 2.5  # residuals beyond 2.5 sigmas are clipped before they update the baseline
_SEASON_HALFLIFE_CYCLES = 3.0  # a daily slot remembers about the last three days
_WEEKLY_HALFLIFE_CYCLES = 2.0  # a weekly slot about the last two weeks
_ACF_ON, _ACF_OFF = 0.3, 0.2  # a seasonal profile is switched on above / off below this lag autocorrelation
_WEEKLY_MARGIN = 0.1  # weekly only when the week-lag correlation beats the day-lag one by this much
_MIN_DAILY_CYCLES, _MIN_WEEKLY_CYCLES = 2, 2  # history needed before looking for a daily / weekly cycle
_MIN_DAY_STEPS, _MAX_DAY_STEPS = 12, 2880  # daily profiles on grids from 2 h down to 30 s; others: local level only
_HISTORY_WEEKS = 5  # raw history kept for the seasonality checks
_MIN_WARMUP = 12  # points used to start the level and scale before anything is scored
# Noise scale
_SCALE_CLIP = 3.0  # residuals beyond 3 sigmas are clipped before they update the scale
_SLOT_CLIP = 5.0  # ... and beyond 5 before they update a time-of-day scale (which anomalies do update)
_SCALE_HALFLIFE_S = 6 * 3600  # the scale follows the time of day's noise level, not single incidents
_MAD_TO_SIGMA = math.sqrt(math.pi / 2.0)  # mean absolute deviation -> sigma for Gaussian residuals
_MEDIAN_TO_MEAN_ABS = 1.1829  # median |N(0, 1)| -> mean |N(0, 1)| (0.7979 / 0.6745)
_Q95 = 1.959964  # 95th percentile of |N(0, 1)|: tracked |residual| percentile -> sigma
_SWING_FLOOR = 0.01  # the scale is at least 1% of the metric's usual swing: a deviation of a few hundredths of
# that is never news, even on a noise-free or quantised series whose residuals are mostly exactly zero
# Shift statistic and re-anchoring
_SHIFT_HALFLIFE_STEPS = 2.0  # the shift statistic averages the last ~3-6 points
_SHIFT_CLIP = 6.0  # one huge spike moves it by at most this many sigmas times its weight
_SHIFT_MIN_Z = 1.5  # it only counts at points that deviate themselves, so it does not prolong a spike
_HOLD_FRACTION = 0.5  # the baseline holds still while the shift statistic is past half the threshold
_REANCHOR_SHARE = 0.75  # a held run re-anchors the level only when 3 in 4 of its points kept clear of the old one
# Drift test
_DRIFT_SEGMENTS = 4  # four segment means, three same-sign changes
_MIN_SEGMENT_STEPS = 4  # shorter segments are noise, not drift
_DRIFT_FLOOR = 0.15  # a segment-to-segment change below 0.15 noise sigmas is never a drift
_DRIFT_SAMPLES_PER_SEGMENT = 12  # the usual size of a segment-to-segment change is sampled 12 times a segment
_DRIFT_MIN_SAMPLES, _DRIFT_MAX_SAMPLES = 12, 96  # and judged from the last 1 to 8 segments' worth
# Habits: bursts that keep coming back
_BURST_WINDOW_S, _BURST_MIN = 7 * DAY_S, 4  # four or more bursts (flagged runs) within a week are a habit, not news
_BURST_WINDOW_POINTS = 2016  # ... or within the last 2016 points (a week at 5 minutes) on coarser grids: a habit is
# learnt from a number of observations, and an hourly metric shows only 168 points a week
_BURST_MARGIN = 1.5  # from then on only bursts 1.5 times their usual (80th percentile) size are flagged
_BURSTS_KEPT = 256  # bound on the remembered bursts (a flapping metric must not make each refresh slow)
_HABIT_DAYS, _HABIT_TOL_S, _HABIT_MIN_DAYS = 7, 3600, 2  # bursts within an hour of the same time of day on two
# or more earlier days of the last week are a daily habit (a cron job whose start jitters)
# Score and reporting
_NU = 3.0  # Student-t degrees of freedom of the score
_SPIKE_STEPS = 3  # spans of at most this many points are spikes/dips
_COMOVE_SCORE = 0.97  # another metric "deviates" when its score reaches this (about 4 robust sigmas) nearby
_BURN_IN_S = 3 * DAY_S  # analyze(): spans ending in a metric's first three days are plotted, not reported
_PLOT_POINTS = 600  # plot series are downsampled to at most about this many points
_MIN_SCALE_BY_KIND = {"count": 1.0, "utilisation": 0.5}  # analyze(): smallest deviation worth an alert

_UPDATE_SCORE = 0.995  # points scoring above this (7.5 robust sigmas) do not update the baseline: a fixed
# robustness choice, independent of the alert threshold (which trades alerts against misses, see _DEFAULTS)
_SUPPRESSED_SCORE = 0.5  # score reported for points in the quiet period after an alert (causal_scores only)
_MEAN_NOVELTY = 0.07  # with the new-extreme test on: the mean of the last adapt_s beyond the range of such means
# seen so far by 7% of that range alerts too (a sustained change that no single point makes a record; means vary
# less than points, so their range is narrower and the margin wider; 5-8% scored alike on NAB, 7% held out best)
_MEAN_MIN_SE = math.sqrt(0.5)  # ... when the excess is also at least 0.7 standard errors of such a mean
# (sigma / sqrt(persist)): a new record of a mean of pure noise, e.g. a quantised CPU's flips, is not news

_GAP_NOVELTY = 0.1  # with the new-extreme test on: a value inside the range but 10% of the range away from every
# value seen so far alerts too (a level never visited, e.g. a spike of a size never seen between the usual noise and
# the usual spikes); the interior version of the new-extreme test, with a wider margin since both sides are bounded
_REGIME_NOVELTY = 0.25  # ... and, once a level shift has become the new normal (re-anchored) and that regime is a
# day old (its daily swing seen once), a value beyond the regime's own range by a quarter of it: after a step, the
# whole-history range is the old level's plus the transition, and a spike of the new level hides inside it
_GAP_RESOLUTION = 1.0 / 512  # the values kept for it are thinned to 1/512 of the range (state bounded, gap +-0.2%)
_GAP_KEPT = 1024  # ... and re-thinned when more are kept (the range has grown)
_KIND_NONE, _KIND_POINT, _KIND_SHIFT, _KIND_DRIFT, _KIND_NOVEL = 0, 1, 2, 3, 4
_SEASONALITIES = ("auto", "none", "daily", "weekly")
_SCORE_PARAMS = ("threshold", "seasonality", "adapt_s", "drift_window_s", "min_scale", "novelty")


# ---------------------------------------------------------------------------------------------- score mapping
def _t3_score(z: np.ndarray) -> np.ndarray:
    """Two-sided Student-t(3) probability ``P(|T| <= |z|)``, closed form (no scipy.stats import)."""
    a = np.abs(np.asarray(z, dtype=np.float64)) / math.sqrt(_NU)
    return np.clip((2.0 / math.pi) * (np.arctan(a) + a / (1.0 + a * a)), 0.0, 1.0)


@functools.lru_cache(maxsize=64)
def _z_for_score(score: float) -> float:
    """Inverse of :func:`_t3_score` by bisection (200 steps: remembered per score, every metric asks again)."""
    lo, hi = 0.0, 1e9
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        a = mid / math.sqrt(_NU)
        if (2.0 / math.pi) * (math.atan(a) + a / (1.0 + a * a)) < score:
            lo = mid
        else:
            hi = mid
    return hi


_Z_UPDATE = _z_for_score(_UPDATE_SCORE)


# ---------------------------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class _Config:
    """Validated hyperparameters plus everything derived from them and the grid period."""

    period_s: int
    threshold: float
    seasonality: str
    adapt_s: float
    drift_window_s: float
    min_scale: float
    novelty: float = 0.0  # margin of a new extreme, as a share of the range seen so far, that alerts (0 = off)
    day: int = 0  # steps per day; 0 = no daily profile possible on this grid
    week: int = 0  # steps per week; 0 = no weekly profile possible
    week_bin: int = 1  # steps per weekly slot (about an hour)
    alpha: float = 0.0  # level smoothing weight
    beta: float = 0.0  # scale smoothing weight
    b_swing: float = 0.0  # swing smoothing weight (a day)
    a_shift: float = 0.0  # shift statistic weight
    gamma_d: float = 0.0  # daily slot weight
    gamma_w: float = 0.0  # weekly slot weight
    persist: int = 1  # steps until a sustained change is the new normal
    warmup: int = _MIN_WARMUP
    seg: int = 0  # longest drift segment in steps; 0 = drift test off
    segs: tuple[int, ...] = ()  # drift segment lengths tested (the longest and its half)
    z_threshold: float = 0.0  # baseline logic: points beyond this z update nothing
    z_alert: float = 0.0  # alerting: the z of ``threshold``
    q_up: float = 1.0  # multiplicative steps of the 95th-percentile tracker
    q_down: float = 1.0
    shift_floor: float = 0.0
    history_cap: int = 0

    @classmethod
    def build(cls, period_s: Any, params: dict[str, Any]) -> _Config:
        unknown = sorted(set(params) - set(_SCORE_PARAMS))
        if unknown:
            raise TypeError(f"unknown anomaly parameter(s) {unknown}; known: {list(_SCORE_PARAMS)}")
        p = {**_DEFAULTS, **params}
        if isinstance(period_s, bool) or not isinstance(period_s, (int, np.integer)) or not 1 <= period_s <= DAY_S:
            raise ValueError(f"period_s must be whole seconds in [1, 86400], got {period_s!r}")
        threshold = _number(p, "threshold")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if p["seasonality"] not in _SEASONALITIES:
            raise ValueError(f"seasonality must be one of {_SEASONALITIES}, got {p['seasonality']!r}")
        adapt_s, drift_s, min_scale = _number(p, "adapt_s"), _number(p, "drift_window_s"), _number(p, "min_scale")
        if adapt_s <= 0:
            raise ValueError(f"adapt_s must be > 0, got {adapt_s!r}")
        if drift_s < 0:
            raise ValueError(f"drift_window_s must be >= 0 (0 switches the drift test off), got {drift_s!r}")
        if min_scale < 0:
            raise ValueError(f"min_scale must be >= 0, got {min_scale!r}")
        novelty = _number(p, "novelty")
        if novelty < 0:
            raise ValueError(f"novelty must be >= 0 (0 switches the new-extreme test off), got {novelty!r}")
        period = int(period_s)
        day = DAY_S // period if DAY_S % period == 0 and _MIN_DAY_STEPS <= DAY_S // period <= _MAX_DAY_STEPS else 0
        week = 7 * day if day else 0
        week_bin = max(1, round(3600 / period)) if week else 1
        while week and week % week_bin:
            week_bin -= 1
        level_halflife = max(1.0, adapt_s / period)
        persist = max(3, round(adapt_s / period))
        seg = int(drift_s // period) // _DRIFT_SEGMENTS
        a_shift = _ew_weight(_SHIFT_HALFLIFE_STEPS)
        # an excess of the percentile tracker halves in a day (at least 48 steps) when nothing exceeds it
        q_eta = math.log(2.0) / (max(48.0, DAY_S / period) * 0.05)
        return cls(
            period_s=period,
            threshold=threshold,
            seasonality=str(p["seasonality"]),
            adapt_s=adapt_s,
            drift_window_s=drift_s,
            min_scale=min_scale,
            novelty=novelty,
            day=day,
            week=week,
            week_bin=week_bin,
            alpha=_ew_weight(level_halflife),
            beta=_ew_weight(max(24.0, _SCALE_HALFLIFE_S / period)),
            b_swing=_ew_weight(max(24.0, DAY_S / period)),
            a_shift=a_shift,
            gamma_d=_ew_weight(_SEASON_HALFLIFE_CYCLES),
            gamma_w=_ew_weight(_WEEKLY_HALFLIFE_CYCLES),
            persist=persist,
            warmup=max(_MIN_WARMUP, 2 * persist),
            seg=seg if seg >= _MIN_SEGMENT_STEPS else 0,
            segs=tuple(sorted({k for k in (seg, seg // 2) if k >= _MIN_SEGMENT_STEPS})),
            z_threshold=_Z_UPDATE,
            z_alert=_z_for_score(threshold),
            q_up=math.exp(q_eta * 0.95),
            q_down=math.exp(-q_eta * 0.05),
            shift_floor=math.sqrt(a_shift / (2.0 - a_shift)),
            history_cap=max(_HISTORY_WEEKS * week, (_DRIFT_SEGMENTS + 1) * seg, 4 * persist, 64),
        )


_DEFAULTS: dict[str, Any] = {
    "threshold": 0.995,
    "seasonality": "auto",
    "adapt_s": 3600.0,
    "drift_window_s": 4.0 * DAY_S,
    "min_scale": 0.0,
    "novelty": 0.0,
}
"""Defaults of :class:`AnomalyDetector` and :func:`analyze`: the paging operating point (see ``ALERT_DEFAULTS``)."""

ALERT_DEFAULTS: dict[str, Any] = {"threshold": 0.9975, "novelty": 0.0049}
"""Defaults of :func:`causal_scores`: the operating point chosen on the shared NAB corpus (standard profile).

NAB rewards the first detection in a labelled window and charges 0.11 per false positive, so its optimum alerts
on 9.4 robust sigmas *or* a new extreme of the series (0.49% of its range beyond anything seen so far, or 7% for
the mean of its last ``adapt_s``, or a level never visited inside the range, or a record of the regime after a
level shift). A new-extreme score is proportional to the threshold's own z, so only the margins move which records
reach the threshold; NAB's optimiser puts its threshold a hair above 0.9975 (0.997576: one false-positive row, a
gap of 9.99% of the range, sits between), and moving the shipped value there only moves the optimum with it (the
scores scale with the threshold's z). At 0.9975 the shared corpus scores 79.3 / 74.5 / 82.7, against 79.4 / 74.7 /
82.8 at the optimiser's own threshold (``docs/bench/nab.md``). A paging
product charges a false page more and a miss less; it keeps the 7.5-sigma threshold and no new-extreme test,
because a metric's busiest hour so far is not an incident by itself (a record of pure noise comes about
``ln(n)`` times in ``n`` points)."""


def _number(p: dict[str, Any], name: str) -> float:
    value = p[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _ew_weight(halflife_steps: float) -> float:
    """Exponential-smoothing weight whose memory halves after ``halflife_steps`` updates."""
    return 1.0 - float(0.5 ** (1.0 / halflife_steps))


def min_points(period_s: int = 300, adapt_s: float = 3600.0) -> int:
    """Fewest valid points the detector needs: twice its warm-up of ``max(12, 2 * round(adapt_s / period_s))``.

    Examples
    --------
    >>> min_points(300)
    48
    """
    return 2 * _Config.build(period_s, {"adapt_s": adapt_s}).warmup


def threshold_for_budget(false_alarms_per_week: float, n_metrics: int, period_s: int) -> float:
    """Alert threshold that keeps a resource within ``false_alarms_per_week`` expected false alarms.

    A score is the two-sided Student-t(3) probability of the robust deviation, so a normal point exceeds a
    threshold ``T`` with probability at most ``1 - T`` when its standardised residual is no heavier-tailed than
    t(3). A resource with ``n_metrics`` metrics sampled every ``period_s`` seconds has
    ``n_metrics * 604800 / period_s`` points a week, hence ``T = 1 - budget / points_per_week``. Every flagged
    span holds at least one exceeding point, so the expected number of false alarms is at most the budget. The
    bound is conservative: robust scales, habit learning and Huber clipping make real residuals much lighter-tailed
    than t(3). On the demo fleet's two weeks the default 0.995 (a budget of about 40 a week for a 4-metric
    resource) raised 0.64 false alarms per resource-week outside the labelled incidents, and
    ``tests/unit/test_anomaly_budget.py`` checks that budgets of 0.5, 2 and 10 hold there.

    Parameters
    ----------
    false_alarms_per_week : float
        Expected false alarms per resource per week the user accepts (> 0).
    n_metrics : int
        Metrics scored on the resource (>= 1).
    period_s : int
        Sampling period of the metrics in seconds.

    Returns
    -------
    float
        The threshold, in ``(0.5, 1)``.

    Raises
    ------
    ValueError
        A non-positive budget, metric count or period (the message names the parameter).

    Examples
    --------
    >>> round(threshold_for_budget(1.0, 4, 300), 6)
    0.999876
    """
    budget = _number({"false_alarms_per_week": false_alarms_per_week}, "false_alarms_per_week")
    if budget <= 0:
        raise ValueError(f"false_alarms_per_week must be > 0, got {false_alarms_per_week!r}")
    if isinstance(n_metrics, bool) or not isinstance(n_metrics, (int, np.integer)) or n_metrics < 1:
        raise ValueError(f"n_metrics must be a positive integer, got {n_metrics!r}")
    if isinstance(period_s, bool) or not isinstance(period_s, (int, np.integer, float)) or not period_s > 0:
        raise ValueError(f"period_s must be > 0, got {period_s!r}")
    points = n_metrics * 7 * DAY_S / float(period_s)
    return float(min(1.0 - 1e-12, max(0.5, 1.0 - budget / points)))


# ---------------------------------------------------------------------------------------------- streaming state
@dataclass
class _State:
    """Everything the recursion carries from one point to the next (deep-copied to continue a stream)."""

    t: int = 0  # global step index of the next point
    warm: list[float] = field(default_factory=list)
    ready: bool = False
    level: float = 0.0
    scale_abs: float = 0.0  # EW mean absolute residual (x 1.2533 = sigma)
    scale_q: float = 0.0  # tracked 95th percentile of |residual| (/ 1.96 = sigma)
    swing: float = 0.0  # EW mean |value - level|: how much the metric moves at all
    prev_flag: bool = False
    bursts: list[tuple[int, float]] = field(default_factory=list)  # (end step, peak |r|) of recent flagged runs
    burst_peak: float = 0.0  # peak |r| of the flagged run in progress
    burst_floor: float = 0.0  # scale below which frequent bursts would be flagged again
    burst_recheck: float = math.inf  # step at which a burst leaves a window and the floors change
    habit: _HabitTable | None = None  # per daily slot: (burst days, latest day, scale), or None
    shift: float = 0.0  # EW mean of clipped z
    shift_abs: float = 0.0  # its EW mean absolute value
    daily: list[float] | None = None
    slot_abs: list[float] | None = None  # per daily slot: EW mean |residual| (times of day that are always rough)
    weekly: list[float] | None = None
    season_on: str = "none"
    run: int = 0  # consecutive flagged points with one sign
    run_sign: int = 0
    run_buf: list[float] = field(default_factory=list)
    prev_level: float | None = None  # level before the last re-anchor ...
    prev_until: int = 0  # ... remembered until this step
    last_valid: int = -1
    hist: list[float] = field(default_factory=list)  # raw values (NaN kept) for the seasonality checks
    clean: list[float] = field(default_factory=list)  # values clipped to the baseline band, NaN kept
    hist_t0: int = 0  # global index of hist[0]
    cs: list[float] = field(default_factory=lambda: [0.0])  # prefix sums of deseasonalised clean values
    cn: list[int] = field(default_factory=lambda: [0])  # prefix counts of valid points
    drift: list[_DriftTest] = field(default_factory=list)  # one per segment length, made on first use
    hi: float = -math.inf  # largest and smallest valid values seen so far (the new-extreme test)
    lo: float = math.inf
    quiet_until: int = -1  # alerts are suppressed up to this step (one alert per incident)
    mean_buf: list[float] = field(default_factory=list)  # the last `persist` scored values (new-extreme test of means)
    mean_hi: float = -math.inf  # largest and smallest such mean so far
    mean_lo: float = math.inf
    drift_quiet_until: int = -1  # after a drift alert, drifts and new extremes in its direction are the same incident
    drift_up: bool = True  # ... up to this step; the direction of that drift
    seen: list[float] = field(default_factory=list)  # values seen so far, sorted, thinned (the gap test)
    regime_hi: float = -math.inf  # range of the values since the last re-anchor (the regime test) ...
    regime_lo: float = math.inf
    regime_n: int = -1  # ... and their count; -1 = no re-anchor yet, or the level went back to the old one


@dataclass
class _DriftTest:
    """State of the drift test at one segment length."""

    seg: int  # segment length in steps
    samples: list[float] = field(default_factory=list)  # recent |newest segment-mean change|
    scale: float = 0.0  # 1.4826 x their median: robust to the odd weekly step
    pending: list[tuple[int, float]] = field(default_factory=list)  # samples not yet old enough


@dataclass
class _Trace:
    """Per-point output of one run."""

    z: np.ndarray  # signed z of the dominating test (0 = not scored)
    kind: np.ndarray  # which test dominated (_KIND_*)
    baseline: np.ndarray  # the expected value (level + season)
    sigma: np.ndarray  # robust noise scale
    reference: np.ndarray  # the value compared against (baseline, or the level days ago for a drift)
    reanchored: np.ndarray  # bool: a sustained change became the new normal here
    reverted: np.ndarray  # bool: the series went back to the level it had before the last re-anchor
    novelty: np.ndarray  # z of the new-extreme test (>= 0; 0 = not a new extreme or test off)
    suppressed: np.ndarray  # bool: in the quiet period after an alert

    @property
    def scores(self) -> np.ndarray:
        """Per-point score of the strongest test (no quiet periods): what spans and plots use."""
        return _t3_score(np.maximum(np.abs(self.z), self.novelty))

    @property
    def alert_scores(self) -> np.ndarray:
        """:attr:`scores` with points in the quiet period after an alert capped at ``_SUPPRESSED_SCORE``."""
        s = self.scores
        return np.where(self.suppressed, np.minimum(s, _SUPPRESSED_SCORE), s)


def _season_at(cfg: _Config, st: _State, idx: np.ndarray) -> np.ndarray:
    out = np.zeros(idx.shape[0])
    if st.daily is not None:
        out += np.asarray(st.daily)[idx % cfg.day]
    if st.weekly is not None:
        out += np.asarray(st.weekly)[(idx % cfg.week) // cfg.week_bin]
    return out


@functools.lru_cache(maxsize=16)
def _window_bounds(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Prefix-sum indexes of :func:`_centered_mean`'s windows (read-only; the daily check asks for the same ones)."""
    lo = np.clip(np.arange(n) - window // 2, 0, n)
    hi = np.clip(lo + window, 0, n)
    lo.flags.writeable = hi.flags.writeable = False
    return lo, hi


def _centered_mean(x: np.ndarray, window: int) -> np.ndarray:
    """NaN-aware centred moving mean (shorter windows at the edges)."""
    n = x.shape[0]
    ok = ~np.isnan(x)
    c = np.empty(n + 1)
    c[0] = 0.0
    np.cumsum(np.where(ok, x, 0.0), out=c[1:])
    k = np.empty(n + 1, dtype=np.int64)
    k[0] = 0
    np.cumsum(ok, out=k[1:])
    lo, hi = _window_bounds(n, window)
    cnt = k[hi] - k[lo]
    if cnt.all():  # no empty window (the usual case): nothing to mark NaN
        return (c[hi] - c[lo]) / cnt
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[hi] - c[lo]) / np.maximum(cnt, 1), np.nan)


def _percentile_1_99(v: np.ndarray) -> tuple[float, float]:
    """``np.percentile(v, [1, 99])`` to the last bit (numpy's default "linear" method) from one partition.

    The seasonality check runs it on the whole history every day; numpy's generic quantile machinery costs several
    times the partition itself there.
    """
    n = v.shape[0]
    vis = ((n - 1) * (1.0 / 100), (n - 1) * (99.0 / 100))
    los = [math.floor(x) for x in vis]
    part = np.partition(v, sorted({0, n - 1, *(min(lo, n - 1) for lo in los), *(min(lo + 1, n - 1) for lo in los)}))
    out = []
    for vi, lo in zip(vis, los, strict=True):
        if vi >= n - 1:
            out.append(float(part[n - 1]))
            continue
        a, b, t = float(part[lo]), float(part[lo + 1]), vi - lo
        d = b - a
        out.append(b - d * (1 - t) if t >= 0.5 else a + d * t)  # numpy's lerp, both branches
    return out[0], out[1]


def _lag_corr(u: np.ndarray, lag: int) -> float:
    if lag >= u.shape[0]:
        return 0.0
    nan = np.isnan(u)
    ok = ~(nan[:-lag] | nan[lag:])
    if np.count_nonzero(ok) < max(10, lag // 2):
        return 0.0
    lo, hi = _percentile_1_99(u[~nan])  # a few huge spikes must not decide
    a, b = u[:-lag][ok], u[lag:][ok]  # copies, changed in place below
    for v in (a, b):  # np.clip(v, lo, hi): lo <= hi and no NaN is left
        np.maximum(v, lo, out=v)
        np.minimum(v, hi, out=v)
    a -= np.add.reduce(a) / a.size  # v.mean(): numpy's own sum over the count
    b -= np.add.reduce(b) / b.size
    # sums of products, not a BLAS dot: a multithreaded BLAS spins threads that cost more than the sum
    den = math.sqrt(float(np.add.reduce(a * a)) * float(np.add.reduce(b * b)))
    return float(np.add.reduce(a * b)) / den if den > 0 else 0.0


_ACF_EXACT_MARGIN = 1e-9  # the kernel's correlation is within ~1e-11 of numpy's: exact within this of a threshold


def _acf(h: np.ndarray, window: int, lag: int, lib: Any, near: Sequence[float] = ()) -> float:
    """``_lag_corr(h - _centered_mean(h, window), lag)`` for comparing with the thresholds ``near``.

    With the compiled kernel (``lib``) the value comes from ``cs_season_acf``, whose sums add in another order than
    numpy's (within about 1e-11, see the kernel); within ``_ACF_EXACT_MARGIN`` of a threshold, or when the kernel
    cannot bound its error, numpy's exact value is computed instead, so every comparison comes out as numpy's.
    """
    if lib is not None:
        n = h.shape[0]
        h = np.ascontiguousarray(h, dtype=np.float64)
        work, out = np.empty(4 * (n + 1)), np.zeros(2)
        lib.cs_season_acf(h.ctypes.data, n, window, lag, work.ctypes.data, out.ctypes.data)
        value = float(out[0])
        if not out[1] and all(abs(value - x) > _ACF_EXACT_MARGIN for x in near):
            return value
    return _lag_corr(h - _centered_mean(h, window), lag)


def _slot_median(u: np.ndarray, first_slot: int, n_slots: int, bin_steps: int = 1, pool: int = 0) -> np.ndarray:
    """Per-slot median of ``u`` (slot of u[0] is ``first_slot``; NaN skipped; 0 for an empty slot).

    With ``pool`` the values of the ``pool`` slots on either side join each slot's median (circularly). A median
    of three neighbouring slots keeps sharp edges (a cron job at 02:00, a square business-hours profile; a mean or
    a smoothing kernel would turn each into a daily false alarm) yet ignores a one-off spike even when only two
    days of history are there, where a plain median is the mean of two.
    """
    slot = ((first_slot + np.arange(u.shape[0])) % (n_slots * bin_steps)) // bin_steps
    ok = ~np.isnan(u)
    vals, slots = u[ok], slot[ok]
    out = np.zeros(n_slots)
    m = vals.shape[0]
    if m == 0:
        return out
    if np.any((vals == 0.0) & np.signbit(vals)):  # -0.0 beside 0.0: only a stable sort keeps the median's sign
        if pool:
            vals = np.tile(vals, 2 * pool + 1)
            slots = np.concatenate([(slots + k) % n_slots for k in range(-pool, pool + 1)])
        order = np.lexsort((vals, slots))
        s_sorted, v_sorted = slots[order], vals[order]
    else:
        # each slot's values in order: the values sorted once, then one integer sort of (slot, value rank); equal
        # values are the same bits, so the medians are those of lexsort((vals, slots)) (5x faster with pooling)
        by_value = np.argsort(vals)
        rank = np.empty(m, dtype=np.int64)
        rank[by_value] = np.arange(m)
        if pool:
            slots = np.concatenate([(slots + k) % n_slots for k in range(-pool, pool + 1)])
            rank = np.tile(rank, 2 * pool + 1)
        key = np.sort(slots.astype(np.int64) * m + rank)
        s_sorted, v_sorted = key // m, vals[by_value][key % m]
    starts = np.searchsorted(s_sorted, np.arange(n_slots), "left")
    ends = np.searchsorted(s_sorted, np.arange(n_slots), "right")
    has = ends > starts
    lo, hi = (starts + ends - 1) // 2, (starts + ends) // 2
    out[has] = 0.5 * (v_sorted[lo[has]] + v_sorted[np.minimum(hi[has], ends[has] - 1)])
    return out


def _centred(profile: np.ndarray) -> list[float]:
    out: list[float] = (profile - profile.mean()).tolist()
    return out


def _check_seasonality(
    cfg: _Config,
    st: _State,
    before_change: Callable[[], None] | None = None,
    hist: np.ndarray | None = None,
    lib: Any = None,
) -> None:
    """At a day boundary: switch the daily/weekly profiles on or off from the history seen so far.

    ``before_change`` runs first when they do switch (the switch restates the drift test's prefix sums).

    Uses the raw history (winsorised in the correlation, medians per slot): the cleaned history is only as good
    as the model that cleaned it, and the model is what is being chosen here. ``hist``, when given, is
    ``st.hist`` as an array (the compiled kernel's driver keeps one); ``lib``, the compiled kernels, computes the
    correlations (the same decisions, see :func:`_acf`).
    """
    h = np.asarray(st.hist, dtype=np.float64) if hist is None else hist
    n_valid = h.shape[0] - int(np.count_nonzero(np.isnan(h)))
    day, week = cfg.day, cfg.week
    want_daily = want_weekly = False
    if cfg.seasonality != "none" and n_valid >= _MIN_DAILY_CYCLES * day:
        if cfg.seasonality == "auto":
            on_d = _ACF_OFF if st.daily is not None else _ACF_ON
            want_daily = _acf(h, day, day, lib, (on_d,)) >= on_d
        else:
            want_daily = True
    if want_daily and cfg.seasonality in ("auto", "weekly") and n_valid >= _MIN_WEEKLY_CYCLES * week:
        if cfg.seasonality == "auto":
            on = _ACF_OFF if st.weekly is not None else _ACF_ON
            acf_w = acf_d = math.nan
            if lib is not None:
                acf_w, acf_d = _acf(h, week, week, lib), _acf(h, week, day, lib)
            if lib is None or (
                abs(acf_w - on) <= _ACF_EXACT_MARGIN or abs(acf_w - acf_d - _WEEKLY_MARGIN) <= 2 * _ACF_EXACT_MARGIN
            ):  # Python, or near a threshold: numpy's exact values decide
                uw = h - _centered_mean(h, week)
                acf_w, acf_d = _lag_corr(uw, week), _lag_corr(uw, day)
            want_weekly = acf_w >= on and acf_w - acf_d >= _WEEKLY_MARGIN
        else:
            want_weekly = True
    if want_daily == (st.daily is not None) and want_weekly == (st.weekly is not None):
        return
    if before_change is not None:
        before_change()
    idx = st.hist_t0 + np.arange(h.shape[0])
    old_season = _season_at(cfg, st, idx)
    if want_daily and st.daily is None:
        u = h - _centered_mean(h, day)
        st.daily = _centred(_slot_median(u, st.hist_t0 % day, day, pool=1))
        dev = np.abs(u - _season_at(cfg, st, idx))
        st.slot_abs = (_MEDIAN_TO_MEAN_ABS * _slot_median(dev, st.hist_t0 % day, day, pool=1)).tolist()
    elif not want_daily:
        st.daily = st.slot_abs = None
    if want_weekly and st.weekly is None:
        st.weekly = None
        base = h - _centered_mean(h, week) - _season_at(cfg, st, idx)
        st.weekly = _centred(_slot_median(base, st.hist_t0 % week, week // cfg.week_bin, cfg.week_bin))
    elif not want_weekly:
        st.weekly = None
    st.season_on = "weekly" if st.weekly is not None else "daily" if st.daily is not None else "none"
    new_season = _season_at(cfg, st, idx)
    # Re-anchor the level on the last hour under the new model, and restate the drift sums in it.
    tail = (h - new_season)[-cfg.persist :]
    tail = tail[~np.isnan(tail)]
    if tail.size:
        st.level = float(np.median(tail))
    elif h.size:
        st.level += float(old_season[-1] - new_season[-1])
    clean = np.asarray(st.clean, dtype=np.float64)
    u = np.where(np.isnan(clean), 0.0, clean - new_season)
    st.cs = np.concatenate(([st.cs[0]], st.cs[0] + np.cumsum(u))).tolist()


def _start(cfg: _Config, st: _State) -> None:
    """Leave warm-up: level = recent median; scale = the larger of two robust spreads.

    The spread around the median overstates the noise of a trending start, the spread of successive differences
    understates positively autocorrelated noise; the larger one errs on the side of fewer early alarms.
    """
    w = np.asarray(st.warm)
    st.level = float(np.median(w[-cfg.persist :]))
    d = np.diff(w)
    s = 1.4826 * max(
        float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0), float(np.median(np.abs(w - np.median(w))))
    )
    if s <= 0.0:
        s = float(np.mean(np.abs(d))) * _MAD_TO_SIGMA / math.sqrt(2.0)
    st.scale_abs = s / _MAD_TO_SIGMA
    st.scale_q = s * _Q95
    st.swing = float(np.mean(np.abs(w - st.level)))
    st.shift_abs = cfg.shift_floor / _MAD_TO_SIGMA
    st.ready = True
    st.warm = []


def _refresh_bursts(cfg: _Config, st: _State, t: int) -> None:
    """Recompute the scales that keep habitual bursts from alerting again (after a burst ends or expires).

    A burst (flagged run) is habitual when four or more happened in the last week (or the last 2016 points, when
    that is longer), or when bursts happened within an hour of this time of day on two or more earlier days of the
    last week (a daily job whose start jitters, which a per-slot profile cannot learn). From then on only bursts
    ``_BURST_MARGIN`` times the 80th percentile of their sizes are flagged. Bursts count whether or not they were
    flagged, so a habit stays known.
    """
    scale = _BURST_MARGIN / cfg.z_threshold
    window = max(round(_BURST_WINDOW_S / cfg.period_s), _BURST_WINDOW_POINTS)
    keep = max(window, round(max(_BURST_WINDOW_S, _HABIT_DAYS * DAY_S) / cfg.period_s))
    while st.bursts and st.bursts[0][0] < t - keep:  # kept in time order
        del st.bursts[0]
    recent = [(end, peak) for end, peak in st.bursts if end >= t - window]
    st.burst_floor = scale * _upper([peak for _, peak in recent]) if len(recent) >= _BURST_MIN else 0.0
    # next change: the frequent floor lapses when too few recent bursts remain, the oldest burst expires
    lapse = recent[len(recent) - _BURST_MIN][0] + window if len(recent) >= _BURST_MIN else math.inf
    st.burst_recheck = min(lapse, st.bursts[0][0] + keep if st.bursts else math.inf)
    st.habit = _habits(cfg, st.bursts, scale) if cfg.day and st.bursts else None


class _HabitTable:
    """Per daily slot, the habit of bursts at that time of day: three arrays (``arrays``: days with a burst, ``-1``
    where that is no habit; latest such day; scale), what the compiled kernel reads; and ``rows``, the same as
    ``(days, latest day, scale)`` or None per slot, what the Python loop reads (built on first use: a bursty metric
    refreshes the table hundreds of times, and the kernel never needs the rows)."""

    __slots__ = ("_rows", "arrays")

    def __init__(self, days: np.ndarray, last_day: np.ndarray, scales: np.ndarray) -> None:
        self.arrays = (days, last_day, scales)
        self._rows: list[tuple[int, int, float] | None] | None = None

    @property
    def rows(self) -> list[tuple[int, int, float] | None]:
        if self._rows is None:
            self._rows = [
                (d, ld, sc) if d >= 0 else None for d, ld, sc in zip(*(a.tolist() for a in self.arrays), strict=True)
            ]
        return self._rows

    def __repr__(self) -> str:
        return f"_HabitTable{tuple(a.tolist() for a in self.arrays)!r}"


def _habits(cfg: _Config, bursts: list[tuple[int, float]], scale: float) -> _HabitTable:
    """Per daily slot: ``(days with a burst within the tolerance, latest such day, scale)``, or None under two days.

    Vectorised: it runs after every burst, and a bursty metric has hundreds of them in a week.
    """
    day, tol = cfg.day, round(_HABIT_TOL_S / cfg.period_s)
    ends = np.array([end for end, _ in bursts], dtype=np.int64)
    offsets = np.arange(-tol, tol + 1)
    slots = ((ends[:, None] + offsets[None, :]) % day).ravel()
    days = np.repeat(ends // day, offsets.size)
    peaks = np.repeat(np.array([peak for _, peak in bursts]), offsets.size)
    base = int(days.max()) + 1
    pairs = np.unique(slots * base + days)  # distinct (slot, day)
    n_days = np.bincount(pairs // base, minlength=day)
    last_day = np.full(day, -1, dtype=np.int64)
    np.maximum.at(last_day, pairs // base, pairs % base)
    order = np.lexsort((peaks, slots))  # by slot, then peak: the 80th percentile by nearest rank
    counts = np.bincount(slots, minlength=day)
    starts = np.cumsum(counts) - counts
    upper = peaks[order][np.clip(starts + np.minimum(counts - 1, (0.8 * counts).astype(np.int64)), 0, None)]
    habit = n_days >= _HABIT_MIN_DAYS
    # scale * upper elementwise: the same product as scale * float(upper[k]) per slot
    return _HabitTable(np.where(habit, n_days, -1).astype(np.int64), last_day, scale * upper)


def _upper(values: list[float]) -> float:
    """80th percentile (nearest rank): the size of the bigger usual bursts when sizes are mixed."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.8 * len(ordered)))]


_SCALAR_DRIFT_MAX = 32  # up to this many points, the drift test runs point by point (same result)


def _drift_point(
    test: _DriftTest, cs: list[float], cn: list[int], k: int, t: int, sigma: float, zthr: float
) -> tuple[float, float]:
    """The drift test of :func:`_drift_pass` at one point with ``k`` history points behind it (the oracle of the
    vectorised pass, and what a streaming update of a few points runs)."""
    seg = test.seg
    if k < 2 * seg:
        return 0.0, math.nan
    means = []
    for j in range(min(_DRIFT_SEGMENTS, k // seg), 0, -1):
        lo = k - j * seg
        cnt = cn[lo + seg] - cn[lo]
        means.append((cs[lo + seg] - cs[lo]) / cnt if 2 * cnt >= seg else math.nan)
    newest = means[-1] - means[-2]
    z = 0.0
    if len(means) == _DRIFT_SEGMENTS and len(test.samples) >= _DRIFT_MIN_SAMPLES:
        d1, d2 = means[1] - means[0], means[2] - means[1]
        dmin = 0.0
        if d1 > 0 and d2 > 0 and newest > 0:
            dmin = min(d1, d2, newest)
        elif d1 < 0 and d2 < 0 and newest < 0:
            dmin = max(d1, d2, newest)
        z = dmin / max(test.scale, _DRIFT_FLOOR * sigma)
    pending = test.pending
    if abs(z) > zthr:
        pending.clear()
    elif t % max(1, seg // _DRIFT_SAMPLES_PER_SEGMENT) == 0 and newest == newest:
        pending.append((t, abs(newest)))
    delay = (_DRIFT_SEGMENTS - 1) * seg
    if pending and pending[0][0] <= t - delay:
        while pending and pending[0][0] <= t - delay:
            test.samples.append(pending.pop(0)[1])
        del test.samples[:-_DRIFT_MAX_SAMPLES]
        test.scale = 1.4826 * _median(test.samples)
    return z, means[0]


def _drift_pass(
    test: _DriftTest,
    cs: np.ndarray,
    cn: np.ndarray,
    ks: np.ndarray,
    base: int,
    ts: np.ndarray | list[int],
    sigmas: np.ndarray,
    zthr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Drift z at one segment length for a run of scored points (0 when untestable), and the oldest segment mean.

    Point ``p`` has ``base + ks[p]`` history points behind it, ``ks[p]`` of them in the prefix sums ``cs``/``cn``
    (which start ``base`` points in), and the noise scale
    ``sigmas[p]``. The four newest segment means must change three times in one direction; the smallest change,
    over the usual size of a segment-to-segment change, is the statistic. The usual size is judged from samples
    older than the test window, so a drift cannot teach the scale that it is normal before it has been seen whole,
    and samples taken just before a flagged drift are dropped.

    The segment means come from prefix sums, so they are computed for every point at once; only the scale (a median
    of samples that mature three segments after they are taken) is carried point by point.
    """
    seg = test.seg
    n = ks.shape[0]
    z_out, ref_out = np.zeros(n), np.full(n, math.nan)
    ok = ks + base >= 2 * seg  # fewer points: untestable, and the test's state does not move
    if not ok.any():
        return z_out, ref_out
    nm = np.minimum(_DRIFT_SEGMENTS, (ks + base) // seg)
    means = np.full((_DRIFT_SEGMENTS, n), math.nan)  # means[j - 1] = mean of the j-th newest segment
    for j in range(1, _DRIFT_SEGMENTS + 1):
        has = ok & (nm >= j)
        lo = np.where(has, ks - j * seg, 0)
        cnt = cn[lo + seg] - cn[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            m = (cs[lo + seg] - cs[lo]) / cnt
        means[j - 1] = np.where(has & (2 * cnt >= seg), m, math.nan)
    newest = means[0] - means[1]
    d1, d2 = means[2] - means[3], means[1] - means[2]
    with np.errstate(invalid="ignore"):
        up = (d1 > 0) & (d2 > 0) & (newest > 0)
        down = (d1 < 0) & (d2 < 0) & (newest < 0)
    dmin = np.where(up, np.fmin(np.fmin(d1, d2), newest), np.where(down, np.fmax(np.fmax(d1, d2), newest), 0.0))
    ref_out[ok] = means[nm[ok] - 1, np.flatnonzero(ok)]
    every = max(1, seg // _DRIFT_SAMPLES_PER_SEGMENT)
    delay = (_DRIFT_SEGMENTS - 1) * seg
    # The state (samples, pending, scale) only moves at points where a sample may be taken (t % every == 0) or the
    # statistic can be non-zero (three same-sign changes: the test leans on the scale there, and may clear the
    # pending samples); elsewhere z is 0 whatever the scale. So only those points are visited, each first
    # catching up with the samples that matured by the point before it: the same samples, scales and z as a walk
    # over every point (tested against _drift_point).
    okp = np.flatnonzero(ok)
    t_ok = np.asarray(ts, dtype=np.int64)[okp]
    prev_t = np.concatenate(([np.iinfo(np.int64).min // 2], t_ok[:-1]))  # the previous scored point's t
    visit = (dmin[okp] != 0.0) | (t_ok % every == 0)
    vp, vt, vprev = okp[visit].tolist(), t_ok[visit].tolist(), prev_t[visit].tolist()
    full = (nm == _DRIFT_SEGMENTS).tolist()
    dmins, floors = dmin.tolist(), (_DRIFT_FLOOR * sigmas).tolist()
    newest_abs = np.abs(newest).tolist()
    samples, pending, scale = test.samples, test.pending, test.scale

    def mature(upto: int) -> None:  # called when the oldest pending sample is old enough
        nonlocal scale
        while pending and pending[0][0] <= upto:
            samples.append(pending.pop(0)[1])
        del samples[:-_DRIFT_MAX_SAMPLES]
        scale = 1.4826 * _median(samples)

    for p, t, tp in zip(vp, vt, vprev, strict=True):
        if pending and pending[0][0] <= tp - delay:
            mature(tp - delay)
        z = 0.0
        if full[p] and len(samples) >= _DRIFT_MIN_SAMPLES:
            f = floors[p]
            z = dmins[p] / (f if f > scale else scale)
            z_out[p] = z
        if abs(z) > zthr:
            pending.clear()
        elif t % every == 0 and newest_abs[p] == newest_abs[p]:
            pending.append((t, newest_abs[p]))
        if pending and pending[0][0] <= t - delay:
            mature(t - delay)
    if okp.size and pending and pending[0][0] <= int(t_ok[-1]) - delay:
        mature(int(t_ok[-1]) - delay)
    test.scale = scale
    return z_out, ref_out


def _drift_native(
    lib: Any,
    test: _DriftTest,
    cs: np.ndarray,
    cn: np.ndarray,
    ks: np.ndarray,
    base: int,
    ts: np.ndarray,
    sigmas: np.ndarray,
    zthr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_drift_pass` in the compiled kernel (``cs_drift_run``: :func:`_drift_point` at every point)."""
    n, seg = ks.shape[0], test.seg
    z, ref = np.empty(n), np.empty(n)
    n_pend, n_smp = len(test.pending), len(test.samples)
    pend_t, pend_v = np.zeros(n_pend + n + 1, dtype=np.int64), np.zeros(n_pend + n + 1)
    if n_pend:
        pend_t[:n_pend] = [p[0] for p in test.pending]
        pend_v[:n_pend] = [p[1] for p in test.pending]
    samples, ordered = np.zeros(_DRIFT_MAX_SAMPLES + 1), np.zeros(_DRIFT_MAX_SAMPLES + 1)
    samples[:n_smp] = test.samples
    ordered[:n_smp] = sorted(test.samples)
    every = max(1, seg // _DRIFT_SAMPLES_PER_SEGMENT)
    d = np.array(
        [seg, every, (_DRIFT_SEGMENTS - 1) * seg, _DRIFT_MIN_SAMPLES, _DRIFT_MAX_SAMPLES, base, n, n_smp, n_pend],
        dtype=np.int64,
    )
    df = np.array([zthr, _DRIFT_FLOOR, 1.4826, test.scale])
    ks, ts = np.ascontiguousarray(ks, dtype=np.int64), np.ascontiguousarray(ts, dtype=np.int64)
    sigmas, cs, cn = np.ascontiguousarray(sigmas), np.ascontiguousarray(cs), np.ascontiguousarray(cn, dtype=np.int64)
    lib.cs_drift_run(
        *(a.ctypes.data for a in (cs, cn, ks, ts, sigmas, d, df, samples, ordered, pend_t, pend_v, z, ref))
    )
    n_smp, n_pend = int(d[7]), int(d[8])
    test.samples = samples[:n_smp].tolist()
    test.pending = list(zip(pend_t[:n_pend].tolist(), pend_v[:n_pend].tolist(), strict=True))
    test.scale = float(df[3])
    return z, ref


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    m = len(ordered) // 2
    return ordered[m] if len(ordered) % 2 else 0.5 * (ordered[m - 1] + ordered[m])


def _thin(seen: list[float], resolution: float) -> None:
    """Keep the sorted ``seen`` values at least ``resolution`` apart (the extremes always), in place."""
    kept = [seen[0]]
    for v in seen[1:-1]:
        if v - kept[-1] > resolution:
            kept.append(v)
    if len(seen) > 1:
        kept.append(seen[-1])
    seen[:] = kept


def _trim(cfg: _Config, st: _State) -> None:
    drop = len(st.hist) - cfg.history_cap
    del st.hist[:drop]
    del st.clean[:drop]
    del st.cs[:drop]
    del st.cn[:drop]
    st.hist_t0 += drop


class _Chunk:
    """Per-point outputs of one chunk, and the scored points that the passes after the recursion visit.

    Lists in Python; numpy arrays (``arrays``) when the compiled kernel runs, which writes them in place.
    """

    def __init__(self, n: int, t0: int, lib: Any = None) -> None:
        nan = math.nan
        self.lib = lib  # the compiled kernels, or None (Python)
        self.arrays = False
        self.t0 = t0  # every point, scored or not, advances t by one and adds one prefix sum
        self.z: Any = [0.0] * n
        self.kind: Any = [_KIND_NONE] * n
        self.base: Any = [nan] * n
        self.sig: Any = [nan] * n
        self.ref: Any = [nan] * n
        self.anchor: Any = [False] * n
        self.revert: Any = [False] * n
        self.nov: Any = [0.0] * n
        self.quiet: Any = [False] * n
        # per scored point (its index in the chunk), for the passes after the recursion
        self.rec_i: Any = []
        self.rec_sig: Any = []
        self.rec_seas: Any = []
        self.flushed = 0  # records before this one have been through the drift test

    def as_lists(self) -> None:
        """Turn the kernel's arrays into the lists the Python passes expect."""
        if not self.arrays:
            return
        for name in ("z", "kind", "base", "sig", "ref", "nov", "rec_i", "rec_sig", "rec_seas"):
            setattr(self, name, getattr(self, name).tolist())
        for name in ("anchor", "revert", "quiet"):
            setattr(self, name, getattr(self, name).astype(bool).tolist())
        self.arrays = False

    def flush(self, cfg: _Config, st: _State, done: int, tail: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Run the drift test over the points recorded since the last flush, with the prefix sums as they are
        after the chunk's first ``done`` points.

        ``tail``: the prefix sums and counts of the chunk's last points, not yet appended to ``st.cs``/``st.cn``
        (the kernel's driver passes its arrays instead of converting lists); only with more than
        ``_SCALAR_DRIFT_MAX`` points to flush.
        """
        z_out, kind_out, ref_out, zthr = self.z, self.kind, self.ref, cfg.z_threshold
        n_rec = len(self.rec_i)
        if self.flushed == n_rec or not st.drift:
            self.flushed = n_rec
            return
        sl = slice(self.flushed, n_rec)
        self.flushed = n_rec
        n_cs = len(st.cs) + (0 if tail is None else tail[0].shape[0])
        # the chunk's point done - 1 added the last prefix sum: point j has len(cs) - done + j history points
        k_off = n_cs - done
        if n_rec - sl.start <= _SCALAR_DRIFT_MAX:  # a streaming update of a few points: numpy's overhead dominates
            assert tail is None, "the point-by-point test reads st.cs"
            recs = (self.rec_i, self.rec_sig, self.rec_seas)
            idx, sigs, seas_l = (a[sl] if isinstance(a, list) else a[sl].tolist() for a in recs)
            cs, cn = st.cs, st.cn
            for j, sg, se in zip(idx, sigs, seas_l, strict=True):
                for test in st.drift:
                    zp, rp = _drift_point(test, cs, cn, k_off + j, self.t0 + j, sg, zthr)
                    if math.fabs(zp) > math.fabs(z_out[j]):
                        z_out[j], kind_out[j], ref_out[j] = zp, _KIND_DRIFT, rp + se
            return
        idx_a = np.asarray(self.rec_i[sl], dtype=np.int64)
        # only the prefix sums the tests can reach: the last four of the longest segments before the first point
        base = max(0, k_off + int(idx_a[0]) - _DRIFT_SEGMENTS * max(cfg.segs))
        ks, ts = idx_a + (k_off - base), idx_a + self.t0
        sig, seas = np.asarray(self.rec_sig[sl]), np.asarray(self.rec_seas[sl])
        if tail is None:
            csa, cna = np.asarray(st.cs[base:]), np.asarray(st.cn[base:], dtype=np.int64)
        elif base >= len(st.cs):
            csa, cna = tail[0][base - len(st.cs) :], tail[1][base - len(st.cs) :]
        else:
            csa = np.concatenate((np.asarray(st.cs[base:]), tail[0]))
            cna = np.concatenate((np.asarray(st.cn[base:], dtype=np.int64), tail[1]))
        if self.arrays:
            zb, kb, rb = z_out[idx_a], kind_out[idx_a], ref_out[idx_a]
        else:
            idx = idx_a.tolist()
            zb = np.asarray([z_out[j] for j in idx])
            kb = np.asarray([kind_out[j] for j in idx], dtype=np.int8)
            rb = np.asarray([ref_out[j] for j in idx])
        for test in st.drift:
            if self.lib is not None:
                z3, ref = _drift_native(self.lib, test, csa, cna, ks, base, ts, sig, zthr)
            else:
                z3, ref = _drift_pass(test, csa, cna, ks, base, ts, sig, zthr)
            wins = np.abs(z3) > np.abs(zb)
            if wins.any():
                zb = np.where(wins, z3, zb)
                kb = np.where(wins, np.int8(_KIND_DRIFT), kb)
                rb = np.where(wins, ref + seas, rb)
        if self.arrays:
            z_out[idx_a], kind_out[idx_a], ref_out[idx_a] = zb, kb, rb
            return
        for j, zv, kv, rv in zip(idx_a.tolist(), zb.tolist(), kb.tolist(), rb.tolist(), strict=True):
            z_out[j], kind_out[j], ref_out[j] = zv, kv, rv


_NATIVE_MIN = 64  # shorter chunks (streaming updates) run in Python: the kernel's set-up would cost more


def _run(values: np.ndarray, cfg: _Config, st: _State, native: bool | None = None) -> _Trace:
    """Advance ``st`` over ``values`` (one call per chunk; chunks may be split anywhere).

    The recursion runs in the compiled kernel when there is one (:mod:`cloudsage.core.native`) and the chunk is
    long enough, else in Python; the results are the same to the last bit. ``native=False`` forces Python,
    ``native=True`` requires the kernel (tests).
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    vals = values.tolist()
    n = len(vals)
    if not st.drift:
        st.drift = [_DriftTest(k) for k in cfg.segs]
    lib = None if native is False else native_library()
    if native and lib is None:
        raise RuntimeError("the compiled anomaly kernel is not available (make native)")
    if lib is not None and not native and n < _NATIVE_MIN:
        lib = None
    ch = _Chunk(n, st.t, lib)
    if lib is not None:
        _NativeRun(lib, values, vals, cfg, st, ch).run()
    else:
        _python_points(vals, 0, n, cfg, st, ch)
    ch.flush(cfg, st, n)
    if ch.arrays and cfg.novelty <= 0.0:  # only the quiet period: the kernel's loop
        _quiet_native(ch, cfg, st, n)
    else:
        ch.as_lists()
        _alerts(cfg, st, vals, ch.rec_i, ch.rec_sig, ch.base, ch.anchor, ch.revert, ch.z, ch.kind, ch.nov, ch.quiet)
    return _Trace(
        z=np.asarray(ch.z, dtype=np.float64),
        kind=np.asarray(ch.kind, dtype=np.int8),
        baseline=np.asarray(ch.base, dtype=np.float64),
        sigma=np.asarray(ch.sig, dtype=np.float64),
        reference=np.asarray(ch.ref, dtype=np.float64),
        reanchored=np.asarray(ch.anchor, dtype=bool),
        reverted=np.asarray(ch.revert, dtype=bool),
        novelty=np.asarray(ch.nov, dtype=np.float64),
        suppressed=np.asarray(ch.quiet, dtype=bool),
    )


def _quiet_native(ch: _Chunk, cfg: _Config, st: _State, n: int) -> None:
    """:func:`_alerts` with the new-extreme tests off (the quiet period only), in the compiled kernel."""
    qi = np.array([cfg.persist, cfg.seg, st.quiet_until, st.drift_quiet_until, st.drift_up], dtype=np.int64)
    rec = np.ascontiguousarray(ch.rec_i, dtype=np.int64)
    ch.lib.cs_quiet_run(
        rec.ctypes.data, rec.shape[0], st.t - n, cfg.z_alert, ch.z.ctypes.data, ch.kind.ctypes.data,
        ch.quiet.ctypes.data, qi.ctypes.data,
    )  # fmt: skip
    st.quiet_until, st.drift_quiet_until, st.drift_up = int(qi[2]), int(qi[3]), bool(qi[4])


def _python_points(
    vals: list[float], lo: int, hi: int, cfg: _Config, st: _State, ch: _Chunk, until_ready: bool = False
) -> int:
    """The recursion over the chunk's points ``lo`` to ``hi`` (the reference implementation of the kernel).

    With ``until_ready`` it stops after the point that ends the warm-up. Returns the index of the next point.
    """
    z_out, kind_out, base_out, sig_out, ref_out = ch.z, ch.kind, ch.base, ch.sig, ch.ref
    anchor_out, revert_out = ch.anchor, ch.revert
    rec_i, rec_sig, rec_seas = ch.rec_i, ch.rec_sig, ch.rec_seas
    nan = math.nan
    day, week, wbin = cfg.day, cfg.week, cfg.week_bin
    alpha, beta, a_sh = cfg.alpha, cfg.beta, cfg.a_shift
    g_d, g_w = cfg.gamma_d, cfg.gamma_w / cfg.week_bin
    persist, zthr = cfg.persist, cfg.z_threshold
    z_hold = _HOLD_FRACTION * zthr
    revert_window = max(4 * persist, day)
    min_scale, shift_floor = cfg.min_scale, cfg.shift_floor
    checks = day > 0 and cfg.seasonality != "none"
    fabs = math.fabs
    hist, clean, cs, cn = st.hist, st.clean, st.cs, st.cn
    daily, weekly, slot_abs = st.daily, st.weekly, st.slot_abs
    level, scale_abs, shift, shift_abs, scale_q = st.level, st.scale_abs, st.shift, st.shift_abs, st.scale_q
    swing, b_swing = st.swing, cfg.b_swing
    q_up, q_down = cfg.q_up, cfg.q_down
    t = st.t

    stop = hi
    for i in range(lo, hi):
        x = vals[i]
        if checks and t % day == 0 and t > 0:
            st.level, st.t = level, t
            # a switch restates the prefix sums: the drift test sees them as they were
            _check_seasonality(cfg, st, functools.partial(ch.flush, cfg, st, i))
            daily, weekly, level, cs, slot_abs = st.daily, st.weekly, st.level, st.cs, st.slot_abs
        if len(hist) >= 2 * cfg.history_cap:
            ch.flush(cfg, st, i)
            _trim(cfg, st)
        hist.append(x)
        seas = 0.0
        if daily is not None:
            seas = daily[t % day]
            if weekly is not None:
                seas += weekly[(t % week) // wbin]
        if x != x:  # missing: no score, no update
            clean.append(nan)
            cs.append(cs[-1])
            cn.append(cn[-1])
            if st.ready:
                base_out[i] = level + seas
            t += 1
            continue
        if not st.ready:
            st.warm.append(x)
            clean.append(x)
            cs.append(cs[-1] + x - seas)
            cn.append(cn[-1] + 1)
            if len(st.warm) >= cfg.warmup:
                st.level, st.t = level, t
                _start(cfg, st)
                level, scale_abs, shift_abs, scale_q, swing = st.level, st.scale_abs, st.shift_abs, st.scale_q, st.swing
            st.last_valid = t
            t += 1
            if until_ready and st.ready:
                stop = i + 1
                break
            continue

        if t - st.last_valid > persist:  # back from a long gap: start from here, judge nothing yet
            level = x - seas
            shift = 0.0
            st.run, st.run_sign, st.run_buf = 0, 0, []
            clean.append(x)
            cs.append(cs[-1] + x - seas)
            cn.append(cn[-1] + 1)
            base_out[i] = x
            st.last_valid = t
            t += 1
            continue
        st.last_valid = t

        pred = level + seas
        sigma = scale_abs * _MAD_TO_SIGMA
        if scale_q > _Q95 * sigma:
            sigma = scale_q / _Q95
        r = x - pred
        dev = fabs(x - level)
        swing += b_swing * (dev - swing)
        floor = _SWING_FLOOR * swing + 1e-9 * (1.0 + fabs(level))
        if floor < min_scale:
            floor = min_scale
        if sigma < floor:
            sigma = floor
        base_sigma = sigma  # the noise scale proper, before time-of-day and habit allowances
        band = _HUBER_K * sigma
        if st.prev_level is not None:  # within a day of a re-anchor: a return to the old level ends the episode
            if t > st.prev_until:
                st.prev_level = None
            elif fabs(r) > band and 3.0 * fabs(x - seas - st.prev_level) <= min(fabs(r), 6.0 * band):
                # (three times nearer the old level than the new one: a noise dip after a small shift is not it)
                level, st.prev_level = st.prev_level, None
                revert_out[i] = True
                pred = level + seas
                r = x - pred
                shift = 0.0
                st.run, st.run_sign, st.run_buf = 0, 0, []
        if slot_abs is not None:  # times of day that are rough every day (jittery job edges) get their own scale
            ds = t % day
            here = slot_abs[ds]  # last updated a day ago: an incident does not raise its own bar
            if here * _MAD_TO_SIGMA > sigma:
                sigma = here * _MAD_TO_SIGMA
            ar = fabs(r)
            cap = _SLOT_CLIP * sigma
            slot_abs[ds] = here + g_d * ((ar if ar < cap else cap) - here)  # anomalous points count too
        if t > st.burst_recheck:
            _refresh_bursts(cfg, st, t)
        raw_sigma = sigma
        if st.burst_floor > sigma:  # bursts this size keep coming back: they are part of normal behaviour
            sigma = st.burst_floor
        if st.habit is not None:
            habit = st.habit.rows[t % day]
            # earlier days only: a burst earlier today is not yet a habit
            if habit is not None and habit[2] > sigma and habit[0] - (habit[1] == t // day) >= _HABIT_MIN_DAYS:
                sigma = habit[2]
        base_out[i], sig_out[i], ref_out[i] = pred, sigma, pred
        xc = pred + band if r > band else pred - band if r < -band else x
        clean.append(xc)
        cs.append(cs[-1] + xc - seas)
        cn.append(cn[-1] + 1)

        # point and shift statistics
        z1 = r / sigma
        zc = _SHIFT_CLIP if z1 > _SHIFT_CLIP else -_SHIFT_CLIP if z1 < -_SHIFT_CLIP else z1
        shift += a_sh * (zc - shift)
        s_sh = shift_abs * _MAD_TO_SIGMA
        if s_sh < shift_floor:
            s_sh = shift_floor
        z2 = shift / s_sh
        if z1 * z2 <= 0.0 or fabs(z1) < _SHIFT_MIN_Z or sigma > raw_sigma:
            z2 = 0.0  # the point itself must lean the same way, and habitual bursts are sustained by nature
        zbest, kbest = z1, _KIND_POINT
        if fabs(z2) > fabs(z1):
            zbest, kbest = z2, _KIND_SHIFT

        z_out[i], kind_out[i] = zbest, kbest
        # the drift and new-extreme tests and the quiet period after an alert feed nothing back into the baseline:
        # they run over the chunk afterwards (see flush() and _alerts)
        rec_i.append(i)
        rec_sig.append(base_sigma)
        rec_seas.append(seas)
        # An anomalous point updates nothing, and neither do the points after it while the shift statistic stays
        # half-way up in the same direction (a step, unlike a ramp, must not be learnt); a run of such points
        # lasting `persist` steps re-anchors the level: the change is the new normal.
        flagged = fabs(z1) > zthr or fabs(z2) > zthr
        # The hold also starts without an anomalous point once a daily profile is in use: the baseline then already
        # follows the daily ramps, so a shift statistic half-way up is a step in the making, not a ramp to learn.
        holding = fabs(shift) > s_sh * z_hold and (
            (st.run and (shift > 0) == (st.run_sign > 0)) or (not st.run and daily is not None)
        )
        suspect = flagged or holding
        # The 95th percentile of |r| sees flagged points too (only the first of a run), so deviations that are
        # frequent (a CPU flipping between two quantised values) raise the scale instead of alerting forever; it
        # also sees held points, so a long unfamiliar stretch (the first weekend) widens the scale, not the alarm.
        if not (flagged and st.prev_flag):
            scale_q *= q_up if fabs(r) > scale_q else q_down
        st.prev_flag = flagged
        if flagged or fabs(r) > zthr * raw_sigma:  # habitual bursts are still bursts: the habit stays known
            st.burst_peak = max(st.burst_peak, fabs(r))
        elif st.burst_peak > 0.0:
            st.bursts.append((t, st.burst_peak))
            del st.bursts[:-_BURSTS_KEPT]
            st.burst_peak = 0.0
            _refresh_bursts(cfg, st, t)
        if suspect:
            sign = 1 if (r if flagged else shift) > 0 else -1
            if sign != st.run_sign:
                st.run, st.run_sign, st.run_buf = 0, sign, []
            st.run += 1
            st.run_buf.append(x - seas)
            if st.run >= persist:
                # Only a change that kept clear of the old level re-anchors it; a cluster of bursts with normal
                # points between them would put the new level half-way and make every normal point look low.
                held = st.run_buf[-persist:]
                clear = sum(1 for v in held if (v - level) * sign > band)
                if clear >= _REANCHOR_SHARE * persist:
                    st.prev_level, st.prev_until = level, t + revert_window
                    level = _median(held)
                    shift = 0.0
                    anchor_out[i] = True
                st.run, st.run_sign, st.run_buf = 0, 0, []
        else:
            st.run, st.run_sign = 0, 0
            if st.run_buf:
                st.run_buf = []
            psi = band if r > band else -band if r < -band else r
            level += alpha * psi
            if daily is not None:
                daily[t % day] += g_d * psi
                if weekly is not None:
                    weekly[(t % week) // wbin] += g_w * psi
            ar = fabs(r)
            cap = _SCALE_CLIP * base_sigma
            scale_abs += beta * ((ar if ar < cap else cap) - scale_abs)
            ash = fabs(shift)
            shift_abs += beta * ((ash if ash < _SHIFT_CLIP else _SHIFT_CLIP) - shift_abs)
        t += 1

    st.level, st.scale_abs, st.scale_q, st.swing = level, scale_abs, scale_q, swing
    st.shift, st.shift_abs, st.t = shift, shift_abs, t
    return stop


class _NativeRun:
    """Drives the compiled kernel over one chunk: Python does the warm-up, the daily seasonality checks, the history
    trims and the burst bookkeeping; the kernel does every point in between (``_native/anomaly.c``).

    While the kernel runs, its arrays hold the state and the chunk's outputs; ``st``'s history lists are brought up
    to date (``_sync``) only before Python code that reads them (a seasonality switch, a trim) and at the end.
    """

    def __init__(self, lib: Any, values: np.ndarray, vals: list[float], cfg: _Config, st: _State, ch: _Chunk):
        n = len(vals)
        self.lib, self.values, self.vals, self.cfg, self.st, self.ch = lib, values, vals, cfg, st, ch
        self.clean, self.cs = np.full(n, math.nan), np.zeros(n)
        self.cn = np.zeros(n, dtype=np.int64)
        self.rec_i, self.rec_sig, self.rec_seas = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n)
        self.run_buf, self.work = np.zeros(cfg.persist + 1), np.zeros(cfg.persist + 1)
        ch.arrays = True  # the kernel writes the chunk's outputs in place
        ch.z, ch.kind = np.zeros(n), np.zeros(n, dtype=np.int8)
        ch.base, ch.sig, ch.ref = np.full(n, math.nan), np.full(n, math.nan), np.full(n, math.nan)
        ch.anchor, ch.revert = np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.uint8)
        ch.nov, ch.quiet = np.zeros(n), np.zeros(n, dtype=np.uint8)
        ch.rec_i, ch.rec_sig, ch.rec_seas = self.rec_i[:0], self.rec_sig[:0], self.rec_seas[:0]
        # the history as it will be: the seasonality check reads its tail from here instead of converting st.hist
        self.h0 = len(st.hist)
        self.full = np.concatenate((np.asarray(st.hist, dtype=np.float64), values))
        self.P = np.array(
            [cfg.alpha, cfg.beta, cfg.a_shift, cfg.gamma_d, cfg.gamma_w / cfg.week_bin, cfg.z_threshold,
             _HOLD_FRACTION * cfg.z_threshold, cfg.min_scale, cfg.shift_floor, cfg.b_swing, cfg.q_up, cfg.q_down,
             _MAD_TO_SIGMA, _Q95, _SWING_FLOOR, _HUBER_K, _SLOT_CLIP, _SHIFT_CLIP, _SHIFT_MIN_Z,
             _REANCHOR_SHARE * cfg.persist, _SCALE_CLIP],
        )  # fmt: skip
        self.Q = np.array(
            [max(cfg.day, 1), max(cfg.week, 1), cfg.week_bin, cfg.persist, max(4 * cfg.persist, cfg.day),
             _HABIT_MIN_DAYS], dtype=np.int64,
        )  # fmt: skip
        self.S, self.I = np.zeros(12), np.zeros(12, dtype=np.int64)
        self.synced = 0  # chunk points before this one are in st's history lists
        self.profiles: tuple[Any, ...] = ()  # st's daily, weekly and slot_abs lists that self.profile_arrays mirror
        self.profile_arrays: list[np.ndarray | None] = []
        self.habit: Any = None  # st.habit that self.habit_arrays mirror
        self.habit_arrays: list[np.ndarray | None] = [None, None, None]

    def _load_profiles(self) -> None:
        st = self.st
        self.profiles = (st.daily, st.weekly, st.slot_abs)
        self.profile_arrays = [None if p is None else np.asarray(p, dtype=np.float64) for p in self.profiles]

    def _store_profiles(self) -> None:
        for lst, arr in zip(self.profiles, self.profile_arrays, strict=True):
            if lst is not None and arr is not None:
                lst[:] = arr.tolist()

    def _load_habit(self) -> None:
        habit = self.habit = self.st.habit
        self.habit_arrays = [None, None, None] if habit is None else list(habit.arrays)

    def _pack(self) -> None:
        st = self.st
        has_prev = st.prev_level is not None
        self.S[:] = (
            st.level, st.scale_abs, st.scale_q, st.swing, st.shift, st.shift_abs, st.burst_peak, st.burst_floor,
            float(st.burst_recheck), st.prev_level if has_prev else 0.0, st.cs[-1], 0.0,
        )  # fmt: skip
        self.I[:] = (
            st.t, st.last_valid, st.prev_flag, has_prev, st.prev_until, st.run, st.run_sign, len(st.run_buf),
            st.cn[-1], 0, 0, -1,
        )  # fmt: skip
        self.run_buf[: len(st.run_buf)] = st.run_buf

    def _unpack(self) -> None:
        st, s, i = self.st, self.S.tolist(), self.I.tolist()
        st.level, st.scale_abs, st.scale_q, st.swing, st.shift, st.shift_abs, st.burst_peak = s[:7]
        st.prev_level = s[9] if i[3] else None
        st.t, st.last_valid, st.prev_until, st.run, st.run_sign = i[0], i[1], i[4], i[5], i[6]
        st.prev_flag = bool(i[2])
        st.run_buf = self.run_buf[: i[7]].tolist()

    def _sync(self, upto: int) -> None:
        """Bring st's history lists up to the chunk's point ``upto``, and the chunk's scored points up to now."""
        a, st, ch = self.synced, self.st, self.ch
        if upto > a:
            st.hist.extend(self.vals[a:upto])
            st.clean.extend(self.clean[a:upto].tolist())
            st.cs.extend(self.cs[a:upto].tolist())
            st.cn.extend(self.cn[a:upto].tolist())
            self.synced = upto
        m = int(self.I[10])
        ch.rec_i, ch.rec_sig, ch.rec_seas = self.rec_i[:m], self.rec_sig[:m], self.rec_seas[:m]

    def run(self) -> None:
        cfg, st, ch, vals = self.cfg, self.st, self.ch, self.vals
        n = len(vals)
        i = 0
        while i < n and not st.ready:
            i = _python_points(vals, i, n, cfg, st, ch, until_ready=True)
        self.synced = i
        if i >= n:
            return
        day, checks = cfg.day, cfg.day > 0 and cfg.seasonality != "none"
        self._load_profiles()
        self._load_habit()
        self._pack()
        S, I = self.S, self.I  # noqa: E741
        head = [a.ctypes.data for a in (S, I, self.P, self.Q)]
        tail = [
            a.ctypes.data
            for a in (self.run_buf, self.work, self.clean, self.cs, self.cn, ch.z, ch.kind, ch.base, ch.sig, ch.ref,
                      ch.anchor, ch.revert, self.rec_i, self.rec_sig, self.rec_seas)
        ]  # fmt: skip
        vptr = self.values.ctypes.data
        checked_t = -1
        while i < n:
            t = int(I[0])
            hist_len = len(st.hist) + (i - self.synced)
            if checks and t % day == 0 and t > 0 and checked_t != t:
                checked_t = t

                def before_change(done: int = i) -> None:  # a switch: Python reads the history and the profiles
                    self._sync(done)
                    self._store_profiles()
                    ch.flush(cfg, st, done)

                st.level = float(S[0])
                _check_seasonality(cfg, st, before_change, self.full[self.h0 + i - hist_len : self.h0 + i], self.lib)
                S[0] = st.level
                if any(a is not b for a, b in zip((st.daily, st.weekly, st.slot_abs), self.profiles, strict=True)):
                    self._load_profiles()
                    S[10] = st.cs[-1]  # restated in the new model (synced above)
            if hist_len >= 2 * cfg.history_cap:
                self._sync(i)
                ch.flush(cfg, st, i)
                _trim(cfg, st)
                hist_len = len(st.hist)
            stop = min(n, i + day - t % day) if checks else n
            stop = min(stop, i + 2 * cfg.history_cap - hist_len)
            S[7], S[8] = st.burst_floor, float(st.burst_recheck)
            if st.habit is not self.habit:
                self._load_habit()
            profiles = [None if a is None else a.ctypes.data for a in (*self.profile_arrays, *self.habit_arrays)]
            i = self.lib.cs_anomaly_run(vptr, i, stop, *head, *profiles, *tail)
            event = int(I[9])
            if event == 1:  # a burst ended at the point before i
                t_end = int(I[0]) - 1
                st.bursts.append((t_end, float(S[11])))
                del st.bursts[:-_BURSTS_KEPT]
                _refresh_bursts(cfg, st, t_end)
            elif event == 2:  # point i reaches the burst recheck step: refresh first, then the kernel scores it
                I[11] = int(I[0])
                _refresh_bursts(cfg, st, int(I[0]))
        a, m = self.synced, int(I[10])
        ch.rec_i, ch.rec_sig, ch.rec_seas = self.rec_i[:m], self.rec_sig[:m], self.rec_seas[:m]
        if m - ch.flushed > _SCALAR_DRIFT_MAX:  # the last drift flush from the kernel's arrays, not from st's lists
            ch.flush(cfg, st, n, (self.cs[a:n], self.cn[a:n]))
        self._sync(n)
        self._unpack()
        self._store_profiles()


def _alerts(
    cfg: _Config,
    st: _State,
    vals: list[float],
    rec_i: list[int],
    rec_sig: list[float],
    base_out: list[float],
    anchor_out: list[bool],
    revert_out: list[bool],
    z_out: list[float],
    kind_out: list[int],
    nov_out: list[float],
    quiet_out: list[bool],
) -> None:
    """The new-extreme tests and the quiet period after an alert, over one chunk, in order.

    Every valid value updates what has been seen (range, visited levels); the scored points (``rec_i``, with their
    noise scale ``rec_sig`` and expected value ``base_out``) are tested. ``z_out``/``kind_out`` hold the dominating
    test so far and are updated where a new extreme dominates. ``anchor_out``/``revert_out`` mark where the baseline
    took a level shift as the new normal, or went back: a new regime starts, or ends.
    """
    z_alert, nov_margin, persist = cfg.z_alert, cfg.novelty, cfg.persist
    quiet_until, drift_quiet_until, drift_up = st.quiet_until, st.drift_quiet_until, st.drift_up
    fabs = math.fabs
    t0 = st.t - len(vals)
    if nov_margin <= 0.0:  # only the quiet period: scored points only
        for i in rec_i:
            quiet_until, drift_quiet_until, drift_up = _quiet(
                i, t0 + i, z_out[i], fabs(z_out[i]), False, kind_out, quiet_out, z_alert, persist, cfg.seg,
                quiet_until, drift_quiet_until, drift_up,
            )  # fmt: skip
        st.quiet_until, st.drift_quiet_until, st.drift_up = quiet_until, drift_quiet_until, drift_up
        return
    scored = dict(zip(rec_i, rec_sig, strict=True))
    hi, lo = st.hi, st.lo
    mbuf, mean_hi, mean_lo = st.mean_buf, st.mean_hi, st.mean_lo
    seen = st.seen
    regime_hi, regime_lo, regime_n = st.regime_hi, st.regime_lo, st.regime_n
    regime_age = max(persist, round(DAY_S / cfg.period_s))  # a regime's range is a reference after a day
    sqrt_persist = math.sqrt(persist)
    for i, x in enumerate(vals):
        if x != x:
            continue
        h0, l0 = hi, lo  # the range before this point
        gap = 0.0  # distance to the nearest value seen so far, for a value inside the range
        k = bisect.bisect_left(seen, x)
        if 0 < k < len(seen):
            below, above = x - seen[k - 1], seen[k] - x
            gap = below if below < above else above
            if gap > (h0 - l0) * _GAP_RESOLUTION:
                seen.insert(k, x)
        elif k == len(seen) or x < seen[0]:  # a new extreme (or the first value)
            seen.insert(k, x)
        if x > hi:
            hi = x
        if x < lo:
            lo = x
        if len(seen) > _GAP_KEPT:
            _thin(seen, (hi - lo) * _GAP_RESOLUTION)
        base_sigma = scored.get(i)
        if base_sigma is None:  # warm-up, or the first point after a long gap: seen, not judged
            continue
        if revert_out[i]:  # back to the old level: the regime that began at the re-anchor is over
            regime_n = -1
        zbest = z_out[i]
        # Each test scores how far the value (or the recent mean) lies beyond what has been seen, in units of its
        # margin: one margin's worth scores like z_alert. (score, beyond upwards)
        novel: list[tuple[float, bool]] = []
        # new extreme: beyond the whole range seen so far by `novelty` of that range
        if h0 > l0 and (x > h0 or x < l0):
            novel.append((z_alert * (x - h0 if x > h0 else l0 - x) / ((h0 - l0) * nov_margin), x > h0))
        if regime_n >= 0:  # the same against the range of the current regime, once it is a day old
            if regime_n >= regime_age and regime_hi > regime_lo and (x > regime_hi or x < regime_lo):
                excess = x - regime_hi if x > regime_hi else regime_lo - x
                novel.append((z_alert * excess / ((regime_hi - regime_lo) * _REGIME_NOVELTY), x > regime_hi))
            if x > regime_hi:
                regime_hi = x
            if x < regime_lo:
                regime_lo = x
            regime_n += 1
        if gap > 0.0 and h0 > l0:  # a value in a part of the range never visited before
            novel.append((z_alert * gap / ((h0 - l0) * _GAP_NOVELTY), x - base_out[i] > 0.0))
        # the same as the first on the mean of the last `persist` points (a sustained change)
        mbuf.append(x)
        if len(mbuf) > persist:
            del mbuf[0]
        if len(mbuf) == persist:
            mv, mh, ml = math.fsum(mbuf) / persist, mean_hi, mean_lo
            excess = mv - mh if mv > mh else ml - mv
            if mh > ml and excess > 0.0 and excess * sqrt_persist >= _MEAN_MIN_SE * base_sigma:
                novel.append((z_alert * excess / ((mh - ml) * _MEAN_NOVELTY), mv > mh))
            if mv > mh:
                mean_hi = mv
            if mv < ml:
                mean_lo = mv
        za, nov_up = fabs(zbest), False
        for znov, up in novel:  # in order: on a tie the earlier test names the direction (usually none)
            if znov > nov_out[i]:
                nov_out[i] = znov
            if znov > za:
                za, nov_up = znov, up
                kind_out[i] = _KIND_NOVEL
        quiet_until, drift_quiet_until, drift_up = _quiet(
            i, t0 + i, zbest, za, nov_up, kind_out, quiet_out, z_alert, persist, cfg.seg,
            quiet_until, drift_quiet_until, drift_up,
        )  # fmt: skip
        if anchor_out[i]:  # a level shift became the new normal here: a new regime starts
            regime_hi = regime_lo = x
            regime_n = 1
    st.quiet_until, st.drift_quiet_until, st.drift_up = quiet_until, drift_quiet_until, drift_up
    st.mean_hi, st.mean_lo, st.hi, st.lo = mean_hi, mean_lo, hi, lo
    st.regime_hi, st.regime_lo, st.regime_n = regime_hi, regime_lo, regime_n


def _quiet(
    i: int,
    t: int,
    zbest: float,
    za: float,
    nov_up: bool,
    kind_out: list[int],
    quiet_out: list[bool],
    z_alert: float,
    persist: int,
    seg: int,
    quiet_until: int,
    drift_quiet_until: int,
    drift_up: bool,
) -> tuple[int, int, bool]:
    """One alert per incident: after an alert, the next ``persist`` points (adapt_s) cannot alert again.

    A drift is one incident too: for a segment after a drift alert, further drift alerts and new extremes in its
    direction (a steady ramp sets a record at every point) are part of it, not new incidents.
    """
    kind = kind_out[i]
    same_drift = (
        t <= drift_quiet_until
        and kind in (_KIND_DRIFT, _KIND_NOVEL)
        and ((zbest > 0) if kind == _KIND_DRIFT else nov_up) == drift_up
    )
    if t <= quiet_until or (za >= z_alert and same_drift):
        quiet_out[i] = True
    elif za >= z_alert:
        quiet_until = t + persist
        if kind == _KIND_DRIFT:
            drift_quiet_until, drift_up = t + seg, zbest > 0
    return quiet_until, drift_quiet_until, drift_up


def _as_values(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise InvalidSeriesError(f"expected a one-dimensional series, got shape {v.shape}", field="values")
    return np.where(np.isfinite(v), v, np.nan)


def causal_scores(values: np.ndarray, period_s: int, **params: Any) -> np.ndarray:
    """Anomaly score in ``[0, 1]`` for every point of a regularly sampled series, computed causally.

    The score at ``t`` depends on ``values[: t + 1]`` only. Missing points (NaN or inf) get score 0 and do not
    change the state. The first ``max(12, 2 * adapt_s / period_s)`` valid points only warm the state up and
    score 0.

    Parameters
    ----------
    values : numpy.ndarray
        One-dimensional values on a regular grid, oldest first.
    period_s : int
        Grid spacing in seconds (sets the daily/weekly lags and turns ``*_s`` parameters into steps).
    **params
        ``threshold``, ``seasonality``, ``adapt_s``, ``drift_window_s``, ``min_scale``, ``novelty``; see
        :class:`AnomalyDetector`. Unset ones take :data:`ALERT_DEFAULTS` (the operating point chosen on NAB:
        threshold 0.9975, novelty 0.0049), then the estimator defaults.

    Returns
    -------
    numpy.ndarray
        float64 alert scores, same length as ``values``; a point alerts when its score reaches ``threshold``.
        After an alert, the next ``round(adapt_s / period_s)`` points (at least 3) report at most 0.5: one alert
        per incident.

    Raises
    ------
    ValueError
        A parameter is out of range; ``TypeError`` for an unknown parameter name.
    InvalidSeriesError
        ``values`` is not one-dimensional.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = 50 + rng.normal(0, 1, 500)
    >>> y[400] = 80
    >>> np.flatnonzero(causal_scores(y, 300) >= 0.9975).tolist()  # new extremes of the noise while it is young
    [39, 79, 108, 138, 159, 211, 238, 303, 400]
    >>> np.flatnonzero(causal_scores(y, 300, novelty=0.0) >= 0.9975).tolist()
    [400]
    """
    cfg = _Config.build(period_s, {**ALERT_DEFAULTS, **params})
    return _run(_as_values(values), cfg, _State()).alert_scores


# ---------------------------------------------------------------------------------------------- estimator
class AnomalyDetector(Estimator):
    """Causal, seasonality-aware detector of spikes, level shifts and slow drifts in one metric.

    Higher scores mean *more* anomalous (unlike scikit-learn's outlier detectors, whose ``score_samples`` is
    lower for outliers): a score is a probability-like value in ``[0, 1]``.

    Parameters
    ----------
    threshold : float, default=0.995
        Score above which a point is anomalous (7.5 robust sigmas under the t(3) mapping). High on purpose:
        every flagged span can page someone, and real residuals are heavy-tailed (at 0.99, 5.8 sigmas, the demo
        fleet's one noisy-but-normal day already raised alerts). Only alerting uses it: points beyond 7.5 sigmas
        never update the baseline, whatever the threshold. :func:`causal_scores` defaults to 0.9975 (9.4 sigmas,
        see :data:`ALERT_DEFAULTS`).
    seasonality : {"auto", "none", "daily", "weekly"}, default="auto"
        ``auto`` switches a daily profile on from two days of history when the day-lag autocorrelation shows a
        cycle, and a weekly correction from two weeks when the week lag beats the day lag (both re-checked every
        day). ``daily`` and ``weekly`` force them on (from the same amounts of history); ``none`` uses the local
        level only. Grids that do not divide a day, coarser than 2 h or finer than 30 s have no profiles.
    adapt_s : float, default=3600
        How long a change must last to become the new normal, in seconds; also the half-life of the level.
        One hour: a deploy's level shift is reported once, as a one-hour span, then accepted.
    drift_window_s : float, default=345600
        Span of the drift test (four segments: four days by default, tested again at half that): a drift is three
        segment-to-segment changes in a row in one direction, each large against the usual such change. One-day
        segments cancel the daily cycle. 0 switches it off.
    min_scale : float, default=0.0
        Smallest noise scale in metric units, so that a near-constant metric (0 errors for days) does not alert
        on a change of one unit. :func:`analyze` sets it from the metric kind (1 for counts, 0.5 for percents).
    novelty : float, default=0.0
        New-extreme test: a value beyond the whole range seen so far by this share of that range alerts (a larger
        one scores higher), and so does a mean of the last ``adapt_s`` beyond the range of such means by 7% of it.
        0 switches both off (the paging default); :func:`causal_scores` uses 0.0049.
    max_gap : int, default=2
        Anomalous points separated by at most this many normal points form one span.
    period_s : int, default=300
        Grid spacing of ``y`` when it is a plain array; a :class:`MetricSeries` brings its own.

    Attributes
    ----------
    period_s_ : int
        Grid spacing used.
    seasonality_ : str
        Seasonal model in use at the end of ``y``: ``none``, ``daily`` or ``weekly`` (daily + weekly).
    scores_ : numpy.ndarray
        Causal scores of the training series.
    labels_ : numpy.ndarray
        1 where ``scores_`` exceeds ``threshold``, else 0.
    baseline_ : numpy.ndarray
        Expected value at every training point (NaN during warm-up).
    spans_ : list of tuple of int
        ``(first, last)`` indices of the anomalous spans in the training series.
    state_ : object
        Streaming state at the end of ``y``; :meth:`score_samples` continues from it without changing it.
    config_ : object
        The validated configuration ``state_`` was built with (hyperparameters turned into grid steps).
    trace_ : object
        Per-point detail of the training run (signed z, dominating test, noise scale, re-anchors), used by
        :func:`analyze` to describe spans.
    n_points_ : int
        Length of the training series.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = 10 + rng.normal(0, 0.5, 600)
    >>> y[500:] += 6
    >>> det = AnomalyDetector().fit(y)
    >>> det.spans_[0][0]
    500
    """

    def __init__(
        self,
        threshold: float = 0.995,
        seasonality: str = "auto",
        adapt_s: float = 3600.0,
        drift_window_s: float = 4.0 * DAY_S,
        min_scale: float = 0.0,
        novelty: float = 0.0,
        max_gap: int = 2,
        period_s: int = 300,
    ) -> None:
        self.threshold = threshold
        self.seasonality = seasonality
        self.adapt_s = adapt_s
        self.drift_window_s = drift_window_s
        self.min_scale = min_scale
        self.novelty = novelty
        self.max_gap = max_gap
        self.period_s = period_s

    def _config(self, period_s: int) -> _Config:
        return _Config.build(period_s, {k: getattr(self, k) for k in _SCORE_PARAMS})

    def fit(self, y: Any, X: Any = None) -> Self:
        """Run the detector over ``y`` and keep its state and training scores.

        Parameters
        ----------
        y : array-like of shape (n,) or MetricSeries
            The metric, oldest first; NaN marks missing points.
        X : None
            Ignored; present for API consistency.

        Returns
        -------
        AnomalyDetector
            ``self``, fitted.

        Raises
        ------
        InsufficientDataError
            Fewer valid points than :func:`min_points` (the message names the minimum).
        ValueError
            A hyperparameter is out of range.
        """
        values, period = self._split(y, self.period_s)
        cfg = self._config(period)
        if isinstance(self.max_gap, bool) or not isinstance(self.max_gap, (int, np.integer)) or self.max_gap < 0:
            raise ValueError(f"max_gap must be a non-negative integer, got {self.max_gap!r}")
        n_valid = int(np.sum(~np.isnan(values)))
        needed = 2 * cfg.warmup
        if n_valid < needed:
            raise InsufficientDataError(f"anomaly detection on a {period} s grid", needed=needed, got=n_valid)
        state = _State()
        trace = _run(values, cfg, state)
        self.period_s_ = period
        self.config_ = cfg
        self.state_ = state
        self.trace_ = trace
        self.scores_ = trace.scores
        self.labels_ = (self.scores_ > cfg.threshold).astype(np.int8)
        self.baseline_ = trace.baseline
        self.spans_ = _spans(self.labels_.astype(bool), int(self.max_gap), trace.kind, cfg.seg // 4)
        self.seasonality_ = state.season_on
        self.n_points_ = int(values.shape[0])
        return self

    @staticmethod
    def _split(y: Any, period_s: int) -> tuple[np.ndarray, int]:
        if isinstance(y, MetricSeries):
            return _as_values(y.values), y.period
        return _as_values(y), period_s

    def score_samples(self, y: Any) -> np.ndarray:
        """Scores of points that follow the training series, continuing its stream (higher = more anomalous).

        The fitted state is not changed: two calls with the same ``y`` return the same scores, and
        ``fit(y[:k]).score_samples(y[k:])`` equals ``fit(y).scores_[k:]``: per-point scores without the quiet
        period after an alert (:meth:`update` gives the alert stream).

        Parameters
        ----------
        y : array-like of shape (m,) or MetricSeries
            The points right after the training series.

        Returns
        -------
        numpy.ndarray
            Scores in ``[0, 1]``.

        Raises
        ------
        cloudsage.core.base.NotFittedError
            Before :meth:`fit`.
        """
        check_is_fitted(self, "state_")
        values, period = self._split(y, self.period_s_)
        if period != self.period_s_:
            raise InvalidSeriesError(f"period {period} s differs from the fitted {self.period_s_} s", field="period")
        return _run(values, self.config_, copy.deepcopy(self.state_)).scores

    def decision_function(self, y: Any) -> np.ndarray:
        """``score_samples(y) - threshold``: positive where a point is anomalous."""
        return self.score_samples(y) - float(self.threshold)

    def predict(self, y: Any) -> np.ndarray:
        """1 for anomalous points that follow the training series, 0 otherwise."""
        return (self.decision_function(y) > 0).astype(np.int8)

    def fit_predict(self, y: Any, X: Any = None) -> np.ndarray:
        """Fit on ``y`` and return its labels (one causal pass; equals ``fit(y).labels_``)."""
        return self.fit(y).labels_

    def update(self, y: Any) -> np.ndarray:
        """Score points that follow everything seen so far and advance the stream (the streaming entry point).

        Unlike :meth:`score_samples` this changes the fitted state, so calls chain: ``fit(y[:k])`` followed by
        ``update`` on ``y[k:]`` in chunks of any size (one point at a time included) returns the same scores as
        :func:`causal_scores` over the whole of ``y`` with the same parameters, from ``k`` on.

        Parameters
        ----------
        y : array-like of shape (m,) or MetricSeries
            The next points.

        Returns
        -------
        numpy.ndarray
            Alert scores in ``[0, 1]``: points in the quiet period after an alert are capped at 0.5.

        Raises
        ------
        cloudsage.core.base.NotFittedError
            Before :meth:`fit`.
        """
        check_is_fitted(self, "state_")
        values, period = self._split(y, self.period_s_)
        if period != self.period_s_:
            raise InvalidSeriesError(f"period {period} s differs from the fitted {self.period_s_} s", field="period")
        self.n_points_ += int(values.shape[0])
        return _run(values, self.config_, self.state_).alert_scores


def _spans(
    flags: np.ndarray, max_gap: int, kind: np.ndarray | None = None, drift_gap: int = 0
) -> list[tuple[int, int]]:
    """``(first, last)`` index pairs of runs of True, merging runs separated by at most ``max_gap`` False.

    Two neighbouring spans that are both mostly drift (per ``kind``) merge across gaps of up to ``drift_gap``:
    a drift test hovering around the threshold for days is one finding, not a dozen.
    """
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    firsts = np.concatenate(([idx[0]], idx[breaks + 1]))
    lasts = np.concatenate((idx[breaks], [idx[-1]]))
    spans = [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]
    if kind is None or drift_gap <= max_gap:
        return spans

    def drifting(a: int, b: int) -> bool:
        k = kind[a : b + 1][flags[a : b + 1]]
        return bool(np.mean(k == _KIND_DRIFT) >= 0.5)

    merged = [spans[0]]
    for a, b in spans[1:]:
        pa, pb = merged[-1]
        if a - pb - 1 <= drift_gap and drifting(pa, pb) and drifting(a, b):
            merged[-1] = (pa, b)
        else:
            merged.append((a, b))
    return merged


# ---------------------------------------------------------------------------------------------- analyze
@dataclass
class _MetricRun:
    """One metric's detection, kept for co-moving checks and plots."""

    series: MetricSeries
    timestamps: np.ndarray
    values: np.ndarray
    trace: _Trace
    scores: np.ndarray
    spans: list[tuple[int, int]]
    seasonality: str
    threshold: float


@dataclass
class _Span:
    metric: str
    first: int
    last: int
    peak: int
    shape: str
    direction: str
    score: float
    observed: float
    baseline: float
    deviation: float
    start: float
    end: float


def analyze(resource: ResourceMetrics, **params: Any) -> ModelOutput:
    """Detect anomalies in every metric of one resource and explain them as insights.

    Each metric is scored by an :class:`AnomalyDetector` (per-point scores, no quiet periods); flagged points
    (gaps of up to ``max_gap`` merged) become spans. Every span becomes one
    :class:`~cloudsage.core.results.Insight` with the shape (spike, dip, level shift, surge, drop, gradual
    drift), the other metrics of the resource that deviate in an overlapping window (``co_moving``) and, when one
    of those started earlier, a likely cause ("TargetResponseTime rose after CPUUtilization saturated
    (CPUUtilization anomalous from 10:05, 15 min earlier)"). Insights whose spans overlap across metrics share
    ``evidence["finding"]``: one finding with its likely cause and its metrics ranked by contribution.

    Parameters
    ----------
    resource : ResourceMetrics
        The metrics of one resource over the analysis window.
    **params
        Hyperparameters of :class:`AnomalyDetector` (``period_s`` excepted: each series brings its own), plus
        ``report_window_s`` (float or None, default None = the whole window): report only spans that end within
        this many seconds of the newest point, so a scheduled run every hour over a two-week window re-reports
        nothing older than the last hour (the insight id is stable anyway, so re-reports deduplicate); and
        ``burn_in_s`` (float or None, default None = three days, at most a quarter of the metric's history):
        spans that end within this long of a metric's first point are plotted but not reported, because the
        detector is still learning the metric there: two days to switch the daily profile on, a third to learn
        how rough each time of day is (the role of NAB's "probationary period"); and
        ``false_alarms_per_week`` (float or None, default None = ``threshold``, 0.995): the false-alarm budget
        of the resource, mapped to a threshold per metric by :func:`threshold_for_budget` (exclusive with
        ``threshold``). Without an explicit ``min_scale`` it is taken from the metric kind: 1 for counts, 0.5 for
        percents. The defaults are the paging operating point (7.5 sigmas, no new-extreme test), not NAB's
        :data:`ALERT_DEFAULTS`: NAB charges a false alarm 0.11 of a detection, a pager much more.

    Returns
    -------
    ModelOutput
        ``insights`` ordered by end time; ``detail`` has, per metric, plot data
        ``{"timestamps", "values", "scores", "baseline", "spans", "seasonality", "threshold", "anomalies"}``
        (at most about 600 points, one per bucket, the most anomalous where one deviates; spans exact),
        or just ``{"skipped": reason}`` for a metric with too little data (so a report does not take it for a plot).

    Raises
    ------
    InsufficientDataError
        When no metric has enough data (names the minimum).
    ValueError, TypeError
        A parameter is out of range or unknown.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> v = 40 + rng.normal(0, 1, 600)
    >>> v[550:553] = 95
    >>> s = MetricSeries("web-asg", "CPUUtilization", 1.7e9, 300, v)
    >>> out = analyze(ResourceMetrics("web-asg", "asg", {"CPUUtilization": s}))
    >>> out.insights[0].title
    'CPUUtilization spike on web-asg'
    """
    params = dict(params)
    report_window_s = params.pop("report_window_s", None)
    if report_window_s is not None and _number({"report_window_s": report_window_s}, "report_window_s") <= 0:
        raise ValueError(f"report_window_s must be > 0 or None, got {report_window_s!r}")
    burn_in_s = params.pop("burn_in_s", None)
    if burn_in_s is not None and _number({"burn_in_s": burn_in_s}, "burn_in_s") < 0:
        raise ValueError(f"burn_in_s must be >= 0 or None, got {burn_in_s!r}")
    params.pop("period_s", None)
    budget = params.pop("false_alarms_per_week", None)
    if budget is not None and "threshold" in params:
        raise ValueError("give either threshold or false_alarms_per_week, not both")
    if budget is not None:
        threshold_for_budget(budget, 1, 300)  # validate before any work
    runs: dict[str, _MetricRun] = {}
    detail: dict[str, Any] = {}
    best_got, needed_any = 0, 0
    for name, series in resource.series.items():
        kind_params = dict(params)
        if budget is not None:
            kind_params["threshold"] = threshold_for_budget(budget, len(resource.series), series.period)
        if "min_scale" not in kind_params:
            kind_params["min_scale"] = _MIN_SCALE_BY_KIND.get(metric_info(name).kind, 0.0)
        det = AnomalyDetector(**kind_params, period_s=series.period)
        try:
            det.fit(series)
        except InsufficientDataError as exc:
            best_got, needed_any = max(best_got, exc.got), max(needed_any, exc.needed)
            detail[name] = {"skipped": str(exc)}
            continue
        runs[name] = _MetricRun(
            series=series,
            timestamps=series.timestamps,
            values=_as_values(series.values),
            trace=det.trace_,
            scores=det.scores_,
            spans=det.spans_,
            seasonality=det.seasonality_,
            threshold=float(det.threshold),
        )
    if not runs:
        raise InsufficientDataError(
            f"{resource.resource_id}: no metric with enough data for anomaly detection", needed=needed_any, got=best_got
        )

    spans = {name: [_describe(name, run, a, b) for a, b in run.spans] for name, run in runs.items()}
    newest = max(float(run.timestamps[-1]) for run in runs.values())
    insights: list[Insight] = []
    for name, run in runs.items():
        reported: list[dict[str, Any]] = []
        first = float(run.timestamps[0])
        learning = _BURN_IN_S if burn_in_s is None else float(burn_in_s)
        if burn_in_s is None:
            learning = min(learning, 0.25 * (float(run.timestamps[-1]) - first))
        for sp in spans[name]:
            if report_window_s is not None and sp.end < newest - float(report_window_s):
                continue
            if sp.end < first + learning:
                continue
            anomaly = _to_anomaly(resource, sp, runs)
            insights.append(_to_insight(resource, run, sp, anomaly))
            reported.append(anomaly.to_dict())
        detail[name] = {**_plot(run), "anomalies": reported}
    insights = _group_findings(resource, insights, runs)
    insights.sort(key=lambda i: (i.detected_at, i.metric))
    return ModelOutput(model=MODEL_NAME, resource_id=resource.resource_id, insights=tuple(insights), detail=detail)


def _group_findings(resource: ResourceMetrics, insights: list[Insight], runs: dict[str, _MetricRun]) -> list[Insight]:
    """Group insights of different metrics whose spans overlap (within a tolerance) into one finding.

    Each insight keeps its own record (consumers that route by metric keep working) and gains
    ``evidence["finding"]``: the finding's id (the same for every member), its time span, its likely cause (the
    member whose anomaly started first; on a tie, the larger one) and its metrics ranked by contribution, the
    likely cause first. A metric's contribution is its share of the members' peak deviations in robust sigmas
    (each capped at 50, so one huge outlier does not make the others look irrelevant).
    """
    if not insights:
        return insights
    tol = max((max(3 * run.series.period, 900) for run in runs.values()), default=900)
    order = sorted(range(len(insights)), key=lambda k: insights[k].window_start)
    groups: list[list[int]] = []
    group_end = -math.inf
    for k in order:
        ins = insights[k]
        if groups and ins.window_start <= group_end + tol:
            groups[-1].append(k)
            group_end = max(group_end, ins.window_end)
        else:
            groups.append([k])
            group_end = ins.window_end
    out = list(insights)
    for members in groups:
        # one entry per metric: its largest deviation in the finding, and when it started deviating
        best: dict[str, int] = {}
        first: dict[str, float] = {}
        for k in members:
            name, dev = insights[k].metric, abs(float(insights[k].evidence["deviation_sigma"]))
            if name not in best or dev > abs(float(insights[best[name]].evidence["deviation_sigma"])):
                best[name] = k
            first[name] = min(first.get(name, math.inf), insights[k].window_start)
        peaks = {name: min(abs(float(insights[k].evidence["deviation_sigma"])), 50.0) for name, k in best.items()}
        lead = min(best, key=lambda name: (first[name], -peaks[name]))
        total = sum(peaks.values()) or 1.0
        ranked = sorted(best, key=lambda name: (name != lead, -peaks[name], name))
        start = min(first.values())
        finding = {
            "id": f"{resource.resource_id}:{iso(start)}",
            "start": start,
            "end": max(insights[k].window_end for k in members),
            "likely_cause": lead,
            "metrics": [
                {
                    "metric": name,
                    "contribution": round(peaks[name] / total, 3),
                    "deviation_sigma": insights[best[name]].evidence["deviation_sigma"],
                    "shape": insights[best[name]].evidence["shape"],
                    "start": first[name],
                }
                for name in ranked
            ],
        }
        for k in members:
            out[k] = dataclasses.replace(insights[k], evidence={**insights[k].evidence, "finding": finding})
    return out


def _describe(name: str, run: _MetricRun, first: int, last: int) -> _Span:
    """Shape, peak and figures of one flagged span."""
    tr = run.trace
    scores = run.scores[first : last + 1]
    peak = first + int(np.argmax(scores))
    kinds = tr.kind[first : last + 1][scores > run.threshold]
    drift_share = float(np.mean(kinds == _KIND_DRIFT)) if kinds.size else 0.0
    observed = float(run.values[peak])
    reference = float(tr.reference[peak])
    z = float(tr.z[peak])
    direction = "up" if z > 0 else "down"
    anchored = bool(tr.reanchored[first : last + 1].any())
    later = np.flatnonzero(tr.reanchored[last + 1 :])
    went_back = bool(tr.reverted[last + 1 : last + 1 + (int(later[0]) if later.size else len(tr.reverted))].any())
    if drift_share >= 0.5:
        shape = f"gradual drift {direction}"
    elif last - first + 1 <= _SPIKE_STEPS and not anchored:
        shape = "spike" if direction == "up" else "dip"
    elif anchored and not went_back:  # it lasted, was accepted as the new normal and did not go back
        shape = f"level shift {direction}"
    else:
        shape = "surge" if direction == "up" else "drop"
    return _Span(
        metric=name,
        first=first,
        last=last,
        peak=peak,
        shape=shape,
        direction=direction,
        score=float(run.scores[peak]),
        observed=observed,
        baseline=reference,
        deviation=z,
        start=float(run.timestamps[first]),
        end=float(run.timestamps[last]),
    )


def _onset(run: _MetricRun, t0: float, t1: float) -> tuple[float, int] | None:
    """Whether the metric deviates (score >= 0.9) somewhere in ``[t0, t1]``: the start of that deviating run
    (which may lie before ``t0``) and its direction, else None."""
    ts = run.timestamps
    a, b = int(np.searchsorted(ts, t0, "left")), int(np.searchsorted(ts, t1, "right"))
    if b <= a:
        return None
    level = min(_COMOVE_SCORE, run.threshold)
    hit = np.flatnonzero(run.scores[a:b] >= level)
    if hit.size == 0:
        return None
    i = a + int(hit[0])
    below = np.flatnonzero(run.scores[:i] < level)
    first = int(below[-1]) + 1 if below.size else 0
    return float(ts[first]), 1 if run.trace.z[i] > 0 else -1


def _to_anomaly(resource: ResourceMetrics, sp: _Span, runs: dict[str, _MetricRun]) -> Anomaly:
    run = runs[sp.metric]
    tol = max(3 * run.series.period, 900)
    lookback = max(4 * tol, 3600)
    onset_window = max(tol, 3600)  # co-moving means deviating around this span's onset, not anywhere in a long one
    co_moving: list[str] = []
    earliest: tuple[float, str, int] | None = None
    for other, orun in runs.items():
        if other == sp.metric:
            continue
        hit = _onset(orun, sp.start - tol, min(sp.end, sp.start + onset_window) + tol)
        if hit is None:
            continue
        co_moving.append(other)
        when, sign = hit
        # a trigger started shortly before this span; one deviating since long before is background, not cause
        if sp.start - lookback <= when < sp.start and (earliest is None or when < earliest[0]):
            earliest = (when, other, sign)
    cause = _shape_cause(sp)
    if earliest is not None:
        when, other, sign = earliest
        cause = (
            f"{sp.metric} {'rose' if sp.direction == 'up' else 'fell'} after {other} "
            f"{_movement(other, runs[other], when, sign)} ({other} anomalous from {iso(when)[11:16]}, "
            f"{_duration(sp.start - when)} earlier)"
        )
    return Anomaly(
        resource_id=resource.resource_id,
        metric=sp.metric,
        start=sp.start,
        end=sp.end,
        peak_time=float(run.timestamps[sp.peak]),
        score=sp.score,
        severity=_severity(sp, run),
        direction=sp.direction,
        observed=sp.observed,
        baseline=sp.baseline,
        deviation=sp.deviation,
        co_moving=tuple(sorted(co_moving)),
        cause=cause,
    )


def _movement(name: str, run: _MetricRun, when: float, sign: int) -> str:
    if sign > 0 and metric_info(name).kind == "utilisation":
        ts = run.timestamps
        i = int(np.searchsorted(ts, when, "left"))
        window = run.values[i : i + max(1, 3600 // run.series.period)]
        if window.size and np.nanmax(np.where(np.isnan(window), -np.inf, window)) >= 90.0:
            return "saturated"
    return "rose" if sign > 0 else "fell"


def _shape_cause(sp: _Span) -> str:
    if sp.shape.startswith("gradual drift"):
        leaky = "mem" in sp.metric.lower() or "connection" in sp.metric.lower()
        if leaky and (sp.direction == "up") != ("free" in sp.metric.lower()):
            return "gradual drift (possible leak)"
        return f"gradual drift {sp.direction} over days (steady growth or a leak)"
    if sp.shape.startswith("level shift"):
        return f"level shift {sp.direction} (e.g. a deploy or configuration change)"
    if sp.shape in ("spike", "dip"):
        return sp.shape
    return f"temporary {'surge' if sp.direction == 'up' else 'drop'} (back to normal afterwards)"


def _severity(sp: _Span, run: _MetricRun) -> str:
    """Severity from score, size in sigmas and relative change; drifts are at least medium (they persist)."""
    sigmas = abs(sp.deviation)
    rel = abs(sp.observed - sp.baseline) / max(abs(sp.baseline), float(run.trace.sigma[sp.peak]) or 1e-12)
    if sp.score < run.threshold:
        return "info"
    if sigmas >= 20 and rel >= 0.5:
        level = 4
    elif sigmas >= 10 and rel >= 0.2:
        level = 3
    elif sigmas >= 7 or rel >= 0.2:
        level = 2
    else:
        level = 1
    if sp.shape.startswith("gradual drift"):
        level = max(level, 2)
    info = metric_info(sp.metric)
    if info.kind == "utilisation" and sp.direction == "up" and sp.observed >= 95.0:
        level = max(level, 3)
    return SEVERITIES[level]


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60.0)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


_RECOMMENDATIONS = {
    "spike": "Check what ran at {peak}: traffic burst, batch job or retry storm. One-off spikes need no action; "
    "recurring ones call for smoothing the load or more headroom.",
    "dip": "Check for dropped traffic, failing health checks or a stalled producer around {peak}.",
    "level shift": "Compare with deployments and configuration changes around {start}. If intended, nothing to "
    "do: the baseline has adapted. If not, roll back or investigate the change.",
    "surge": "Find what drove the surge around {start}; if it repeats, scale ahead of it or rate-limit the source.",
    "drop": "Check upstream health and traffic sources around {start}.",
    "gradual drift": "The metric has moved steadily for days. Look for a leak (heap, caches, file handles, "
    "connections) or data growth; schedule a restart as a stopgap and capture a profile.",
}


def _to_insight(resource: ResourceMetrics, run: _MetricRun, sp: _Span, anomaly: Anomaly) -> Insight:
    unit = run.series.unit if run.series.unit not in ("None", "") else ""
    pct = 100.0 * (sp.observed - sp.baseline) / abs(sp.baseline) if abs(sp.baseline) > 1e-12 else math.nan
    pct_text = f", {pct:+.0f}%" if math.isfinite(pct) else ""
    duration = _duration(sp.end - sp.start + run.series.period)
    summary = (
        f"{sp.metric} was {sp.observed:.4g}{' ' + unit if unit else ''} at {iso(anomaly.peak_time)} against an "
        f"expected {sp.baseline:.4g} ({sp.deviation:+.1f} robust sigmas{pct_text}); anomalous from "
        f"{iso(sp.start)} to {iso(sp.end)} ({duration}). Likely cause: {anomaly.cause}."
    )
    if anomaly.co_moving:
        summary += f" Also deviating: {', '.join(anomaly.co_moving)}."
    family = next(
        k for k in ("gradual drift", "level shift", "spike", "dip", "surge", "drop") if sp.shape.startswith(k)
    )
    recommendation = _RECOMMENDATIONS[family].format(peak=iso(anomaly.peak_time), start=iso(sp.start))
    if family == "gradual drift" and "leak" not in anomaly.cause:
        recommendation = recommendation.replace("Look for a leak", "Check for growth in load or data, or a leak")
    coverage = float(np.mean(~np.isnan(run.values)))
    return Insight(
        resource_id=resource.resource_id,
        model=MODEL_NAME,
        kind="reactive",
        severity=anomaly.severity,
        confidence=round(min(1.0, sp.score * coverage), 4),
        title=f"{sp.metric} {sp.shape} on {resource.resource_id}",
        summary=summary,
        recommendation=recommendation,
        detected_at=sp.end,
        window_start=sp.start,
        window_end=sp.end,
        evidence={
            "observed": sp.observed,
            "baseline": sp.baseline,
            "deviation_sigma": round(sp.deviation, 2),
            "peak_time": iso(anomaly.peak_time),
            "co_moving": list(anomaly.co_moving),
            "score": round(sp.score, 5),
            "direction": sp.direction,
            "shape": sp.shape,
            "cause": anomaly.cause,
            "duration_s": sp.end - sp.start + run.series.period,
            "seasonality": run.seasonality,
            "unit": run.series.unit,
        },
        metric=sp.metric,
    )


def _plot(run: _MetricRun) -> dict[str, Any]:
    """Plot data, downsampled to at most ~600 points: one per bucket, its first point unless something in it
    deviates (score >= 0.97), then its most anomalous one, so that spikes stay visible and noise is not inflated."""
    n = run.values.shape[0]
    idx = np.arange(n)
    if n > _PLOT_POINTS:
        size = math.ceil(n / _PLOT_POINTS)
        pad = (-n) % size
        s = np.concatenate((run.scores, np.full(pad, -1.0))).reshape(-1, size)
        peak = np.argmax(s, axis=1)
        pick = np.where(s[np.arange(s.shape[0]), peak] >= _COMOVE_SCORE, peak, 0)
        idx = np.arange(0, n, size) + pick
    return {
        "timestamps": run.timestamps[idx].astype(np.int64).tolist(),  # int(t) each: both truncate
        "values": _rounded(run.values[idx]),
        "scores": rounded_to(run.scores[idx], 4),  # round(float(s), 4) per score, bit for bit
        "baseline": _rounded(run.trace.baseline[idx]),
        "spans": [[float(run.timestamps[a]), float(run.timestamps[b])] for a, b in run.spans],
        "seasonality": run.seasonality,
        "threshold": run.threshold,
        "downsampled": bool(n > _PLOT_POINTS),
    }


def _rounded(values: Sequence[float] | np.ndarray) -> list[float]:
    """Six significant digits, NaN where not finite: ``float(f"{v:.6g}")`` per value, bit for bit (vectorised)."""
    return rounded6(values, missing=math.nan)  # type: ignore[return-value]  # never None with a float `missing`
