"""Calibrated load forecasts and a proactive capacity schedule (ScalingPredictor v1).

**Forecaster.** :class:`ScalingForecaster` = a robust seasonal profile + a local level, chosen by backtest:

1. *Seasonal profile* (STL-style, zero mean). Fourier terms for the daily cycle (up to 12 harmonics: hour-level
   shape) fitted by Huber-IRLS weighted least squares to the series minus its centred one-day moving average, and,
   with two weeks of history, three weekly harmonics fitted to that average minus its one-week average. Detrending
   first keeps level shifts and ramps out of the profile. Phases come from wall-clock time; older days weigh less
   (half-life two weeks); missing points are left out.
2. *Local level.* The deseasonalised series, with spikes clipped against a fast level (the newest point is never
   clipped: it may start a new level), feeds a ladder of exponential levels (half-lives 1, 4, 16 steps and half a
   day). For each horizon ``h`` the value ``h`` steps ahead is fitted as a *convex* combination of the ladder
   (non-negative weights summing to one, NNLS): it can follow the last value, a smoother level or a mix, but never
   extrapolate beyond them, so one past level shift cannot make it explode. Slow levels that a recent step left
   behind are re-anchored to the mean since the step. Variants: the smoothed last level persisting, a half-half
   blend, and a damped local trend (slope from the lag between two levels, half-life half a day).
3. *Model choice by backtest.* Seasonal design (none, daily, daily + weekly, as the history allows) x level variant
   are compared on four rolling origins over the last day. Each seasonal design is fitted once, on the data before
   the earliest origin (profile and ladder weights, no look-ahead); the ladder states are causal, so one pass over
   the series, with the robust scales of that training prefix, gives the state at every origin (no refit per
   origin). The best one-day error wins (an earlier, simpler candidate within 2 % is preferred). The first hour
   uses the same seasonal design with the learnt ladder, whose short-horizon fit rests on thousands of in-sample
   points; when the first hour is only one or two steps (hourly data) it is the average of every seasonal design's
   ladder forecast instead (a combination beats a choice there; the designs other than the long-horizon pick's
   keep the profile their backtest fitted). It is blended into the long-horizon model over the second hour. Too
   little history for a season means no seasonal candidate, and a lower stated ``confidence``.
4. *Naive blend and median shift, per horizon.* The last observed value is often hard to beat at short horizons
   (a new level the smooth states have not reached, a flat stretch of an intermittent series): per horizon, the
   forecast is a blend of the model and the naive forecast, with the naive share (0, 1/4, ..., 1) chosen by the
   in-sample mean absolute error (points on sloped straight lines, i.e. interpolated gaps, left out). On skewed
   load the least-squares mean sits above the typical value: when the median in-sample error cuts the mean
   absolute error by 10 %, the forecast moves by that median.
5. *Calibrated intervals.* The 80 % and 95 % intervals come from empirical, horizon-dependent quantiles of the
   in-sample ``h``-step errors of that final forecast (monotone in ``h``), widened conformal-style by the ratio of
   the backtest errors to the model's in-sample ones (never narrowed). No Gaussian assumption: load residuals are
   skewed (spikes go up).

Cost: a few dozen small least-squares / NNLS solves over a handful of fits (seasonal normal equations summed per
phase of the cycle), about 3-6 ms for two to four weeks of hourly data and 8-12 ms for two to four weeks of 5-minute
data on one core.

**Capacity.** :func:`learn_capacity` estimates requests per instance at the target CPU from history (robust
Theil-Sen line of CPU against requests per instance, with its confidence interval); :func:`plan_capacity` turns
the forecast's upper quantile into a desired size over time, scheduled ahead by the warm-up, scaled in only after
a cooldown, within min and max, as :class:`ScalingAction` records. :func:`analyze` produces proactive insights.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Self

import numpy as np

from cloudsage.core.base import Estimator as BaseEstimator
from cloudsage.core.base import check_is_fitted
from cloudsage.core.errors import InputValidationError, InsufficientDataError, InvalidSeriesError
from cloudsage.core.metrics_catalog import metric_info
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import Insight, ModelOutput, iso, jsonable
from cloudsage.core.rounding import rounded6
from cloudsage.core.series import MetricSeries

__all__ = [
    "CapacityEstimate",
    "CapacityPlan",
    "Forecast",
    "ScalingAction",
    "ScalingForecaster",
    "analyze",
    "forecast",
    "group_plan",
    "learn_capacity",
    "plan_capacity",
    "recurring_schedule",
]

MODEL_NAME = "scaling"
DAY_S = 86_400
WEEK_S = 7 * DAY_S

# ---------------------------------------------------------------------------------------------- fixed constants
# Fixed on purpose: robustness and calibration choices, not per-series knobs.
_MAX_DAILY_HARMONICS = 12  # hour-level daily shape
_WEEKLY_HARMONICS = (1, 2, 3)  # weekday/weekend level; multiples of 7 would repeat the daily terms
_WEIGHT_HALFLIFE_S = 14 * DAY_S  # older days weigh less in the seasonal fit
_HUBER_K = 2.0  # residuals beyond 2 robust sigmas get down-weighted in the seasonal fit
_IRLS_ITERS = 2
_RIDGE = 1e-6  # relative ridge on the seasonal normal equations (keeps collinear terms finite)
_STATE_HALFLIVES = (1.0, 4.0, 16.0)  # steps: the ladder of exponential levels the local correction reads
_TREND = 2.0
_LEVEL_MIXES = (1.0, 0.5, 0.0, _TREND)  # local-level candidates: persistent, half-half, adaptive, damped trend
_LEVEL_NAMES = {1.0: "persistent", 0.5: "blend", 0.0: "adaptive", _TREND: "damped-trend"}
_UNCLIPPED_TAIL = 1
_SHIFT_K = 4.0  # re-anchor slow levels when the fast level has left them by this many robust sigmas ...
_SHIFT_MIN_STEPS = 3  # ... for at least this many steps
_CLIP_K = 4.0  # residuals are clipped at 4 robust sigmas before they drive the local correction
_N_BACKTESTS = 4
_MIN_POINTS = 8
_MIN_DAILY_DAYS = 2.0  # days of history before a daily cycle is fitted
_MIN_WEEKLY_DAYS = 13.0  # days of history before weekly terms are offered (AWS keeps 14 days)
_LEVELS = (80, 95)
_CALIB_MAX = 4.0
_QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)
_MEDIAN_ROW = 2
_NAIVE_WEIGHTS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])  # shares of the naive forecast tried per horizon
_NAIVE_GAIN = 0.99  # the naive forecast enters the blend only when it cuts the in-sample MAE by 1 %
_SHIFT_GAIN = 0.9  # the mean moves by the median error only when that cuts the in-sample MAE by 10 %
_ENSEMBLE_MAX_STEPS = 2  # a first hour of at most this many steps averages the seasonal designs


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Forecast:
    """Point forecast with 80 % and 95 % prediction intervals, one value per horizon step.

    ``start`` is the epoch time of the first forecast step (one grid step after the last observed point);
    ``upper_80`` is the 90th percentile (p90) and ``upper_95`` the 97.5th.
    """

    start: float
    period: int
    mean: tuple[float, ...]
    lower_80: tuple[float, ...]
    upper_80: tuple[float, ...]
    lower_95: tuple[float, ...]
    upper_95: tuple[float, ...]
    seasonality: str
    confidence: float
    history_points: int

    @property
    def horizon(self) -> int:
        """Number of forecast steps."""
        return len(self.mean)

    @property
    def timestamps(self) -> np.ndarray:
        """Epoch seconds of every forecast step."""
        return self.start + self.period * np.arange(self.horizon, dtype=np.float64)

    def interval(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` arrays of the central ``level`` % interval (80 or 95).

        Raises
        ------
        InputValidationError
            For another level.
        """
        if level == 80:
            return np.asarray(self.lower_80), np.asarray(self.upper_80)
        if level == 95:
            return np.asarray(self.lower_95), np.asarray(self.upper_95)
        raise InputValidationError(f"must be one of {_LEVELS}, got {level!r}", field="level")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable({f.name: getattr(self, f.name) for f in fields(self)})
        data["timestamps"] = self.timestamps.tolist()
        return data


@dataclass(frozen=True, slots=True)
class CapacityEstimate:
    """Requests one instance serves per grid period at the target CPU, with a confidence interval.

    ``per_instance`` is in the unit of the request metric per period (``RequestCount`` per 5 minutes, say);
    ``cpu_intercept`` and ``cpu_per_request`` describe the learnt line ``cpu = a + b * requests_per_instance``.
    """

    per_instance: float
    lower: float
    upper: float
    target_utilization: float
    cpu_intercept: float
    cpu_per_request: float
    n_points: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable({f.name: getattr(self, f.name) for f in fields(self)}))


@dataclass(frozen=True, slots=True)
class ScalingAction:
    """One step of a capacity schedule.

    ``kind`` is ``scale_out``, ``scale_in``, ``maintain`` or ``schedule`` (a recurring scheduled action);
    ``at`` is when to act (epoch s; ahead of ``effective_at`` by the warm-up), ``target`` the desired size;
    ``cost_delta_per_hour`` is the change in instance-hours per hour (or dollars when a price is known, see
    ``cost_unit``).
    """

    kind: str
    at: float
    effective_at: float
    target: int
    previous: int
    confidence: float
    cost_delta_per_hour: float
    cost_unit: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable({f.name: getattr(self, f.name) for f in fields(self)})
        data["at_iso"] = iso(self.at)
        data["effective_at_iso"] = iso(self.effective_at)
        return data


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """Desired capacity per forecast step and the actions that realise it."""

    start: float
    period: int
    desired: tuple[int, ...]
    actions: tuple[ScalingAction, ...]
    current: int
    min_size: int
    max_size: int
    capacity_per_instance: float
    instance_hours: float
    instance_hours_current: float

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable({f.name: getattr(self, f.name) for f in fields(self) if f.name != "actions"})
        data["actions"] = [a.to_dict() for a in self.actions]
        return data


# ---------------------------------------------------------------------------------------------- fitting core
@dataclass
class _Design:
    name: str
    daily: int  # number of daily harmonics (0 = none)
    weekly: tuple[int, ...]  # weekly harmonics
    persist: float = 0.0  # local level: share of 'the smoothed last level persists' against the learnt ladder weights

    @property
    def n_cols(self) -> int:
        return 1 + 2 * self.daily + 2 * len(self.weekly)


def _design_matrix(t: np.ndarray, design: _Design, period: int | None = None) -> np.ndarray:
    """Intercept, daily and weekly Fourier columns (``cos`` block then ``sin`` block per season).

    Harmonics come from powers of one unit complex number per point (a cumulative product): far cheaper than a
    ``cos``/``sin`` per column on long 5-minute histories. With ``period`` (``t`` is a regular grid with that
    step), each season's block is computed for one cycle only and repeated (a gather), when the grid is longer;
    when every season repeats, the rows of the longest cycle are built once and copied down whole.
    """
    n = len(t)
    out = np.empty((n, design.n_cols))

    def cycle(season_s: int) -> int | None:
        """Steps of one cycle of the season when the grid is longer than that, else ``None`` (use all of ``t``)."""
        if period is not None and season_s % period == 0 and n > season_s // period:
            return season_s // period
        return None

    cycles = ([cycle(DAY_S)] if design.daily else []) + ([cycle(WEEK_S)] if design.weekly else [])
    repeating = [c for c in cycles if c is not None]
    # When every season repeats (the weekly cycle is 7 daily ones), row r equals row r % rows: the first rows are
    # built, then copied down (below).
    rows = max(repeating) if repeating and len(repeating) == len(cycles) else n
    head = out[:rows]
    head[:, 0] = 1.0
    col = 1
    if design.daily:
        steps = cycles[0]
        tt = t if steps is None else t[:steps]
        z = np.exp(2j * np.pi * (tt % DAY_S) / DAY_S)
        zk = np.cumprod(np.broadcast_to(z[:, None], (len(tt), design.daily)), axis=1)
        if len(tt) < rows:
            zk = zk[np.arange(rows) % len(tt)]
        head[:, col : col + design.daily] = zk.real
        head[:, col + design.daily : col + 2 * design.daily] = zk.imag
        col += 2 * design.daily
    if design.weekly:
        steps = cycles[-1]
        tt = t if steps is None else t[:steps]
        phase = 2.0 * np.pi * (tt % WEEK_S) / WEEK_S
        arg = np.outer(phase, np.asarray(design.weekly, dtype=np.float64))
        c, s_ = np.cos(arg), np.sin(arg)
        if len(tt) < rows:
            idx = np.arange(rows) % len(tt)
            c, s_ = c[idx], s_[idx]
        m = len(design.weekly)
        head[:, col : col + m] = c
        head[:, col + m : col + 2 * m] = s_
    # Copy the first rows down, doubling (filled stays a multiple of rows, so row r gets row r % rows): whole
    # contiguous rows instead of a gather per season and strided column writes.
    filled = rows
    while filled < n:
        step = min(filled, n - filled)
        out[filled : filled + step] = out[:step]
        filled += step
    return out


def _grid_design_matrix(t: np.ndarray, design: _Design, period: int) -> np.ndarray:
    """:func:`_design_matrix` of a regular grid, read-only, remembered for the last few grids.

    It depends on the times, the harmonics and the period only, and the metrics of a resource (and the resources of
    one run) share their grid: the second forecast on a grid reuses the first one's matrix (the same array: equal
    inputs, equal output). Callers only read it.
    """
    return _design_matrix_of(np.ascontiguousarray(t, dtype=np.float64).tobytes(), design.daily, design.weekly, period)


@functools.lru_cache(maxsize=8)
def _design_matrix_of(t_bytes: bytes, daily: int, weekly: tuple[int, ...], period: int) -> np.ndarray:
    out = _design_matrix(np.frombuffer(t_bytes, dtype=np.float64), _Design("", daily, weekly), period)
    out.flags.writeable = False
    return out


def _median(x: np.ndarray) -> float:
    """Median of a non-empty 1-D array (``np.median`` without its dispatch overhead).

    An even size needs the two middle order statistics: one partition at the upper one, the lower one being the
    largest value left of it (one selection instead of two, about three times faster on load residuals).
    """
    k = x.size // 2
    part = x.copy()
    part.partition(k)
    hi = float(part[k])
    if x.size % 2:
        return hi
    lo = float(part[:k].max())
    if not (lo != 0.0 and hi != 0.0 and math.isfinite(lo + hi)):
        # Equal values have equal bits except +0/-0 (and NaN): there, let the two-point partition pick, as it did.
        part = x.copy()
        part.partition([k - 1, k])
        lo, hi = float(part[k - 1]), float(part[k])
    return 0.5 * (lo + hi)


def _robust_scale(r: np.ndarray, finite: bool = False) -> float:
    """MAD scale (mean absolute deviation when the MAD is 0); ``finite=True`` skips the NaN filter."""
    if not finite:
        r = r[np.isfinite(r)]
    if r.size == 0:
        return 0.0
    mad = _median(np.abs(r - _median(r))) * 1.4826
    if mad > 0:
        return mad
    return float(np.mean(np.abs(r - np.mean(r)))) * 1.2533


def _phases(n: int, t0: float, period: int, cycle_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Phase of every grid row in a cycle of ``cycle_steps`` steps, and one row index per phase (0 when absent)."""
    off = int(round((t0 % (cycle_steps * period)) / period))
    phase = (off + np.arange(n)) % cycle_steps
    first = np.zeros(cycle_steps, dtype=np.int64)
    first[phase[::-1]] = np.arange(n - 1, -1, -1)
    return phase, first


def _seasonal_fit(
    X: np.ndarray,
    y: np.ndarray,
    ok: np.ndarray,
    w_time: np.ndarray,
    floor: float,
    phases: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Huber-IRLS weighted least squares of ``y[ok]`` on ``X[ok]``; returns the coefficients.

    With ``phases`` (from :func:`_phases`: the rows of ``X`` repeat with that cycle), the normal equations are
    summed per phase first: ``X'WX = sum_p (sum of the weights in phase p) x_p x_p'``, a cycle's rows instead of
    the whole history's (12 to 28 times fewer on the daily terms).
    """
    if phases is not None and 2 * len(phases[1]) <= len(y):
        return _seasonal_fit_phased(X, y, ok, w_time, floor, *phases)
    Xo, yo, wo = (X, y, w_time) if ok.all() else (X[ok], y[ok], w_time[ok])
    w = wo.copy()
    beta = np.zeros(X.shape[1])
    for it in range(_IRLS_ITERS + 1):
        Xw = Xo * w[:, None]
        A = Xw.T @ Xo
        A.flat[:: A.shape[0] + 1] += _RIDGE * (np.trace(A) / A.shape[0] + 1e-12)
        beta = np.linalg.solve(A, Xw.T @ yo)
        if it == _IRLS_ITERS:
            break
        r = yo - Xo @ beta
        s = max(_robust_scale(r, finite=True), floor)
        if s <= 0:
            break
        a = np.abs(r) / (_HUBER_K * s)
        w = wo / np.maximum(a, 1.0)  # Huber weights: 1 inside, 1 / a beyond
    return beta


def _seasonal_fit_phased(
    X: np.ndarray, y: np.ndarray, ok: np.ndarray, w_time: np.ndarray, floor: float, phase: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """:func:`_seasonal_fit` with the normal equations summed per phase (same fit, far fewer rows)."""
    Xu = X[first]
    n_ph = len(first)
    all_ok = bool(ok.all())
    yz = np.where(ok, y, 0.0)
    w0 = np.where(ok, w_time, 0.0)
    w = w0
    beta = np.zeros(X.shape[1])
    for it in range(_IRLS_ITERS + 1):
        wsum = np.bincount(phase, weights=w, minlength=n_ph)
        wy = np.bincount(phase, weights=w * yz, minlength=n_ph)
        A = (Xu * wsum[:, None]).T @ Xu
        A.flat[:: A.shape[0] + 1] += _RIDGE * (np.trace(A) / A.shape[0] + 1e-12)
        beta = np.linalg.solve(A, Xu.T @ wy)
        if it == _IRLS_ITERS:
            break
        r = yz - (Xu @ beta)[phase]
        ro = r if all_ok else r[ok]
        s = max(_robust_scale(ro, finite=True), floor)
        if s <= 0:
            break
        a = np.abs(r) / (_HUBER_K * s)
        w = w0 / np.maximum(a, 1.0)  # Huber weights: 1 inside, 1 / a beyond (0 where missing)
    return beta


def _centered_mean(y: np.ndarray, ok: np.ndarray, window: int) -> np.ndarray:
    """NaN-aware centred moving average over ``window`` steps (shorter, one-sided windows at the ends)."""
    half = window // 2
    cs = np.zeros(len(y) + 1)
    np.cumsum(np.where(ok, y, 0.0), out=cs[1:])
    cn = np.zeros(len(y) + 1, dtype=np.int64)
    np.cumsum(ok, out=cn[1:])
    n = len(y)
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    cnt = cn[hi] - cn[lo]
    out: np.ndarray = np.where(cnt > 0, (cs[hi] - cs[lo]) / np.maximum(cnt, 1), np.nan)
    return out


def _seasonal_beta(
    X: np.ndarray,
    y: np.ndarray,
    ok: np.ndarray,
    w_time: np.ndarray,
    floor: float,
    design: _Design,
    period: int,
    daily_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None,
    t0: float | None = None,
) -> np.ndarray:
    """Coefficients of the zero-mean seasonal profile, fitted STL-style on detrended data.

    The daily terms are fitted to ``y`` minus its centred one-day moving average and the weekly terms to that
    average minus its centred one-week average, so level shifts and ramps stay out of the profile (they are the
    local level's job). The intercept is zero: the level comes from the local correction.
    ``daily_cache`` (one per series) shares the daily fit between the designs that have the same daily terms: with
    or without weekly terms, it is the same fit on the same data (keyed by the length of the history prefix).
    ``t0`` (the time of ``y[0]``) lets each fit sum its normal equations per phase of its cycle.
    """
    beta = np.zeros(X.shape[1])
    if not design.daily:
        return beta
    steps_day = int(round(DAY_S / period))
    n_d = 1 + 2 * design.daily
    key = (len(y), design.daily)
    if daily_cache is not None and key in daily_cache:
        bd, day_ma = daily_cache[key]
    else:
        day_ma = _centered_mean(y, ok, steps_day)
        ok_d = ok & np.isfinite(day_ma)
        ph_d = _phases(len(y), t0, period, steps_day) if t0 is not None else None
        bd = _seasonal_fit(X[:, :n_d], np.where(ok_d, y - day_ma, 0.0), ok_d, w_time, floor, ph_d)
        if daily_cache is not None:
            daily_cache[key] = (bd, day_ma)
    beta[1:n_d] = bd[1:]
    if design.weekly:
        week_ma = _centered_mean(day_ma, np.isfinite(day_ma), 7 * steps_day)
        ok_w = np.isfinite(day_ma) & np.isfinite(week_ma)
        cols_w = np.concatenate([[0], np.arange(n_d, X.shape[1])])
        ph_w = _phases(len(y), t0, period, 7 * steps_day) if t0 is not None else None
        bw = _seasonal_fit(X[:, cols_w], np.where(ok_w, day_ma - week_ma, 0.0), ok_w, w_time, floor, ph_w)
        beta[n_d:] = bw[1:]
    return beta


def _ewm(x: np.ndarray, halflife: float) -> np.ndarray:
    from scipy.signal import lfilter

    alpha = 1.0 - 0.5 ** (1.0 / halflife)
    if x.size == 0:
        return x.copy()
    # Start in steady state at the first value (a zero start would bias every level low on short histories).
    out, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], x, zi=[(1.0 - alpha) * x[0]])
    return np.asarray(out)


def _horizon_grid(h_max: int) -> np.ndarray:
    """Horizons at which the local correction and the error quantiles are estimated (interpolated between)."""
    grid = {1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 144, 192, 288, 432, 576}
    grid = {h for h in grid if h < h_max} | {h_max}
    return np.array(sorted(grid), dtype=np.int64)


@dataclass
class _Core:
    """One fitted model: seasonal coefficients plus the local correction, enough to forecast."""

    design: _Design
    beta: np.ndarray
    t_end: float  # epoch of the last grid point
    period: int
    h_grid: np.ndarray
    coef: np.ndarray  # (len(h_grid), n_states)
    state: np.ndarray  # (n_states,) at the origin
    resid: np.ndarray  # raw residuals (NaN where missing)
    states: np.ndarray  # (n, n_states)
    scale: float
    slope: float = 0.0  # local slope per step at the origin (used by the damped-trend variant only)
    damp: float = 1.0  # per-step damping of that slope
    trend: bool = False
    naive_w: np.ndarray | None = None  # per grid horizon: weight of the last observed value (the naive forecast)
    last: float = 0.0  # last observed value
    shift: np.ndarray | None = None  # per grid horizon: median in-sample error added to the mean (skewed load)
    gap_scales: list[float] | None = None  # usual gaps between the fast and the slower levels (see _gap_scales)

    def mean(self, horizon: int, X_future: np.ndarray | None = None) -> np.ndarray:
        h = np.arange(1, horizon + 1)
        if X_future is None:
            X_future = _design_matrix(self.t_end + self.period * h.astype(np.float64), self.design)
        season = X_future @ self.beta
        # Interpolation is linear: interpolating the combined level equals combining the interpolated weights.
        out: np.ndarray = season + np.interp(h, self.h_grid, self.coef @ self.state)
        if self.trend:
            out = out + self.slope * np.cumsum(self.damp ** h.astype(np.float64))
        if self.naive_w is not None:
            w = np.interp(h, self.h_grid, self.naive_w)
            out = (1.0 - w) * out + w * self.last
        if self.shift is not None:
            out = out + np.interp(h, self.h_grid, self.shift)
        return out


def _fit_core(
    y: np.ndarray,
    t: np.ndarray,
    period: int,
    design: _Design,
    h_max: int,
    X: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    daily_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None,
) -> _Core:
    ok = np.isfinite(y)
    if X is None:
        X = _design_matrix(t, design)
    y0 = np.where(ok, y, 0.0)
    floor = _floor(y, ok)
    if beta is None:
        w_time = 0.5 ** ((t[-1] - t) / _WEIGHT_HALFLIFE_S)
        beta = _seasonal_beta(X, y0, ok, w_time, floor, design, period, daily_cache, float(t[0]))
    resid, r_clip, states, scale, hls = _level_states(y, ok, X, beta, period, floor)
    return _core_from_states(design, beta, float(t[-1]), period, h_max, resid, r_clip, states, scale, hls)


def _core_from_states(
    design: _Design,
    beta: np.ndarray,
    t_end: float,
    period: int,
    h_max: int,
    resid: np.ndarray,
    r_clip: np.ndarray,
    states: np.ndarray,
    scale: float,
    hls: tuple[float, ...],
) -> _Core:
    """Ladder weights per horizon, the state at the origin and the local slope, from the level states."""
    n, k = states.shape
    h_grid = _horizon_grid(max(1, min(h_max, n - 2)))
    # Normal equations per horizon: states up to n - 1 - h against the clipped residual h steps later. The Gram
    # matrix of the first n - h rows is the full one minus that of the last h rows (short: h <= 2 days).
    gram = states.T @ states
    A = np.empty((len(h_grid), k, k))
    bvec = np.empty((len(h_grid), k))
    for i, h in enumerate(h_grid.tolist()):
        tail = states[n - h :]
        A[i] = gram - tail.T @ tail
        bvec[i] = r_clip[h:] @ states[: n - h]
    coef = _convex_weights(A, bvec, scale)
    gap_scales = _gap_scales(states)
    origin = _reanchor(states, r_clip, hls, gap_scales)
    slope, damp = _slope(states[-1], hls, period)
    return _Core(
        design, beta, t_end, period, h_grid, coef, origin, resid, states, scale, slope, damp, gap_scales=gap_scales
    )


def _floor(y: np.ndarray, ok: np.ndarray) -> float:
    y0 = np.where(ok, y, 0.0)
    spread = float(np.max(y[ok]) - np.min(y[ok])) if ok.any() else 0.0
    return 1e-6 * (spread + float(np.mean(np.abs(y0))) + 1e-12)


def _level_states(
    y: np.ndarray, ok: np.ndarray, X: np.ndarray, beta: np.ndarray, period: int, floor: float, upto: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, tuple[float, ...]]:
    """Residuals of the seasonal profile, their spike-clipped version and the ladder of exponential levels.

    Every state is causal (row ``i`` depends on points up to ``i`` only), so one pass serves every backtest origin.
    With ``upto``, the two robust scales (of the residuals, and of their steps that sets the spike clipping) come
    from the first ``upto`` points only: rows before ``upto`` are then exactly those of a fit on that prefix
    (except its newest point, which a fit never clips), and rows after it use no scale from their own future.
    """
    resid = np.where(ok, y - X @ beta, np.nan)
    scale = max(_robust_scale(resid[:upto]), floor)
    # Local level of the residuals; points far from it (spikes) are clipped before they drive anything.
    idx = np.where(ok, np.arange(len(y)), 0)
    np.maximum.accumulate(idx, out=idx)
    r_fill = resid[idx]  # gaps carry the last residual forward
    r_fill[np.isnan(r_fill)] = 0.0  # (only before the first valid point)
    steps_day = DAY_S / period
    level0 = np.empty_like(r_fill)
    level0[0] = r_fill[0]
    level0[1:] = _ewm(r_fill, _STATE_HALFLIVES[0])[:-1]
    dev = r_fill - level0
    dscale = max(_robust_scale(dev[:upto][ok[:upto]], finite=True), floor)
    r_clip = level0 + np.clip(dev, -_CLIP_K * dscale, _CLIP_K * dscale)
    r_clip[-_UNCLIPPED_TAIL:] = r_fill[-_UNCLIPPED_TAIL:]  # the newest point may start a new level: keep it
    # A ladder of levels, fast to slow. The forecast of the residual h steps ahead is a convex combination of them
    # (non-negative weights summing to one, fitted per horizon): it can follow the last value, any smoother level
    # or a mix, but never extrapolate beyond them, so one past level shift cannot make it explode.
    hls = (*_STATE_HALFLIVES, max(_STATE_HALFLIVES[-1] * 3.0, steps_day / 2.0))
    states = np.column_stack([r_clip] + [_ewm(r_clip, hl) for hl in hls])
    return resid, r_clip, states, scale, hls


def _slope(state: np.ndarray, hls: Sequence[float], period: int) -> tuple[float, float]:
    """Local slope per step and its per-step damping (damped-trend variant).

    In a steady ramp an EWMA lags by (1 - a) / a steps, so the gap between a medium and the slowest level over the
    difference of their lags is the slope; it fades with a half-life of half a day.
    """
    alphas = [1.0 - 0.5 ** (1.0 / hl) for hl in hls]
    lag_mid, lag_slow = (1 - alphas[2]) / alphas[2], (1 - alphas[3]) / alphas[3]
    slope = float((state[3] - state[4]) / max(lag_slow - lag_mid, 1e-9))
    damp = 0.5 ** (1.0 / max(DAY_S / period / 2.0, 1.0))
    return slope, damp


def _gap_scales(states: np.ndarray) -> list[float]:
    """Robust scale of the gap between the fast level and every slower one (index 2 on).

    :func:`_robust_scale` of each gap, the medians of all gaps from one partition per step.
    """
    gaps = np.empty((states.shape[1] - 2, len(states)))  # (levels, n), finite
    np.subtract(states[:, 1], states[:, 2:].T, out=gaps)  # the same differences, written straight in that layout
    n = gaps.shape[1]
    if n == 0:
        return [0.0] * gaps.shape[0]
    k = n // 2

    def medians(m: np.ndarray) -> np.ndarray:
        # As _median, per row: one partition at the upper middle, the lower one the largest value left of it.
        part = np.partition(m, k, axis=1)
        if n % 2:
            odd: np.ndarray = part[:, k]
            return odd
        lo, hi = part[:, :k].max(axis=1), part[:, k]
        if not (np.all(lo != 0.0) and np.all(hi != 0.0) and np.isfinite(lo + hi).all()):
            part = np.partition(m, [k - 1, k], axis=1)  # +0/-0 or NaN: the two-point partition picks, as it did
            lo, hi = part[:, k - 1], part[:, k]
        out: np.ndarray = 0.5 * (lo + hi)
        return out

    mad = medians(np.abs(gaps - medians(gaps)[:, None])) * 1.4826
    out = mad.tolist()
    for j, v in enumerate(out):
        if not v > 0:  # no spread around the median: the mean absolute deviation instead
            g = gaps[j]
            out[j] = float(np.mean(np.abs(g - np.mean(g)))) * 1.2533
    return out


def _reanchor(
    states: np.ndarray, r: np.ndarray, halflives: Sequence[float], scales: Sequence[float] | None = None
) -> np.ndarray:
    """State at the origin, with slow levels re-anchored after a recent level shift.

    A slow level that the fast one (half-life one step) has left by more than ``_SHIFT_K`` robust sigmas of their
    usual gap, on one side for at least ``_SHIFT_MIN_STEPS`` steps, still remembers the old regime; it is replaced
    by the mean since the fast level left its usual band (what it would be had it started there). A gap older than
    three half-lives of the level is a ramp, not a step (a step would have been absorbed): the trend's job.
    ``scales`` (from :func:`_gap_scales`) saves recomputing the usual gaps at every backtest origin.
    """
    out = states[-1].copy()
    n = len(r)
    fast = states[:, 1]
    if scales is None:
        scales = _gap_scales(states)
    for i in range(2, states.shape[1]):
        s = scales[i - 2]
        if not s > 0 or abs(fast[-1] - states[-1, i]) <= _SHIFT_K * s:
            continue
        gap = fast - states[:, i]
        inside = np.flatnonzero((np.sign(gap) != np.sign(gap[-1])) | (np.abs(gap) < 2.0 * s))
        start = int(inside[-1]) + 1 if inside.size else 0
        if _SHIFT_MIN_STEPS <= n - start <= 3.0 * halflives[i - 1]:
            out[i] = float(np.mean(r[start:]))
    return out


def _convex_weights(A: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """Non-negative weights summing to one that minimise ``w'Aw - 2b'w`` (the least-squares fit, via NNLS).

    Batched over the leading axis (one problem per grid horizon): ``A`` is ``(g, k, k)``, ``b`` is ``(g, k)``; the
    Cholesky factors and triangular solves run as one stacked call each, only the NNLS itself loops.
    """
    from scipy.optimize import nnls

    g, k = b.shape
    out = np.zeros((g, k))
    out[:, 1] = 1.0  # fallback: the fast level alone
    tr = np.trace(A, axis1=1, axis2=2) / k
    ridge = 1e-6 * (tr + scale**2 + 1e-12)
    reg = A + ridge[:, None, None] * np.eye(k)
    try:
        L = np.linalg.cholesky(reg)
        good = np.ones(g, dtype=bool)
    except np.linalg.LinAlgError:  # rare: factor one by one and keep the fallback where it fails
        L = np.zeros_like(reg)
        good = np.zeros(g, dtype=bool)
        for i in range(g):
            try:
                L[i] = np.linalg.cholesky(reg[i])
                good[i] = True
            except np.linalg.LinAlgError:
                pass
    if not good.any():
        return out
    idx = np.flatnonzero(good)
    d = np.linalg.solve(L[idx], b[idx][:, :, None])[:, :, 0]
    big = 1e3 * np.sqrt(tr[idx] + 1e-12)
    M = np.empty((len(idx), k + 1, k))
    M[:, :k] = np.swapaxes(L[idx], 1, 2)
    M[:, k] = big[:, None]
    rhs = np.concatenate([d, big[:, None]], axis=1)
    for m, i in enumerate(idx.tolist()):
        w, _ = nnls(M[m], rhs[m])
        total = w.sum()
        if total > 0:
            out[i] = w / total
    return out


def _model_errors(core: _Core) -> list[np.ndarray]:
    """Signed raw ``h``-step in-sample errors of the local correction per grid horizon (NaN where missing)."""
    n = len(core.resid)
    return [
        core.resid[h:] - core.states[: n - h] @ core.coef[i] if h < n else np.array([])
        for i, h in enumerate(core.h_grid.tolist())
    ]


def _in_sample_errors(
    core: _Core, naive_err: list[np.ndarray] | None = None, model_err: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    """Signed ``h``-step in-sample errors of the local correction, one array per grid horizon.

    With ``naive_err`` (the naive forecast's errors, aligned), the errors of the final forecast: the blend with
    the naive forecast (``core.naive_w``) minus the median shift (``core.shift``). ``model_err`` (from
    :func:`_model_errors`) saves recomputing the model's own errors.
    """
    if model_err is None:
        model_err = _model_errors(core)
    out = []
    for i, e in enumerate(model_err):
        if not e.size:
            out.append(e)
            continue
        if naive_err is not None and core.naive_w is not None and core.naive_w[i] > 0:
            e = (1.0 - core.naive_w[i]) * e + core.naive_w[i] * naive_err[i]
        if naive_err is not None and core.shift is not None:
            e = e - core.shift[i]
        out.append(e[np.isfinite(e)])
    return out


def _naive_errors(y: np.ndarray, h_grid: np.ndarray) -> list[np.ndarray]:
    """In-sample errors of the naive forecast (last observed value) at every grid horizon, aligned with the model's."""
    ok = np.isfinite(y)
    idx = np.where(ok, np.arange(len(y)), 0)
    np.maximum.accumulate(idx, out=idx)
    yf = y[idx]
    n = len(y)
    # Points on a sloped straight line through their neighbours are almost surely interpolated gaps, where the naive
    # forecast looks far better than it is: they are left out (as targets and as origins).
    d1 = np.diff(yf)
    tol = 1e-9 * (float(np.nanmax(np.abs(yf))) + 1e-12) if n else 0.0
    line = np.zeros(n, dtype=bool)
    if n > 2:
        line[1:-1] = (np.abs(d1[1:] - d1[:-1]) <= tol) & (np.abs(d1[1:]) > tol)
    yt = np.where(line, np.nan, y)
    yo = np.where(line, np.nan, yf)
    return [yt[h:] - yo[: n - h] if h < n else np.array([]) for h in h_grid.tolist()]


def _learn_naive_weights(core: _Core, naive_err: list[np.ndarray], model_err: list[np.ndarray]) -> _Core:
    """Per horizon, the share of the naive forecast in a blend with the model, and a median shift, by in-sample MAE.

    At short horizons the last value is often hard to beat (a level the model's smooth states have not reached
    yet, or a flat stretch of an intermittent series); the weight is chosen from a five-point grid on thousands of
    in-sample errors, kept only when it cuts the error by 1 %. On skewed load (rare large spikes) the
    least-squares mean sits above the typical value: when the median of the blend's errors cuts their mean absolute
    value by ``1 - _SHIFT_GAIN``, the mean moves by that median (absolute-error metrics reward the median).
    """
    n = len(core.resid)
    g = len(core.h_grid)
    w = np.zeros(g)
    shift = np.zeros(g)
    for i, h in enumerate(core.h_grid.tolist()):
        if h >= n - 1:
            continue
        e_m = model_err[i]
        e_n = naive_err[i]
        ok = np.isfinite(e_m) & np.isfinite(e_n)
        n_ok = int(np.count_nonzero(ok))
        if n_ok < 20:
            continue
        em, en = (e_m, e_n) if n_ok == ok.size else (e_m[ok], e_n[ok])
        diff = en - em
        maes = np.abs(em[None, :] + _NAIVE_WEIGHTS[:, None] * diff[None, :]).mean(axis=1)
        j = int(np.argmin(maes))
        w[i] = _NAIVE_WEIGHTS[j] if maes[j] < _NAIVE_GAIN * maes[0] else 0.0
        eb = em + w[i] * diff
        med = _median(eb)
        if np.add.reduce(np.abs(eb - med)) < _SHIFT_GAIN * np.add.reduce(np.abs(eb)):  # means: same length
            shift[i] = med
    return dataclasses.replace(core, naive_w=w, shift=shift)


def _candidates(n_days: float, period: int) -> list[_Design]:
    steps_day = DAY_S / period
    seasonal = [_Design("none", 0, ())]
    if period <= 6 * 3600 and abs(steps_day - round(steps_day)) < 1e-9 and n_days >= _MIN_DAILY_DAYS:
        k = int(min(_MAX_DAILY_HARMONICS, (round(steps_day) - 1) // 2))
        if k >= 1:
            seasonal.append(_Design("daily", k, ()))
            if n_days >= _MIN_WEEKLY_DAYS:
                seasonal.append(_Design("daily+weekly", k, _WEEKLY_HARMONICS))
    out = []
    for d in seasonal:
        out += [_Design(d.name, d.daily, d.weekly, mix) for mix in _LEVEL_MIXES]
    return out


def _with_level_model(core: _Core, persist: float) -> _Core:
    """The same fit with the learnt ladder weights mixed with "the smoothed last level persists" (share ``persist``).

    ``persist = 2`` is the damped-trend variant: the smoothed last level, corrected for its lag, plus the local
    slope fading with a half-life of half a day.
    """
    if not persist:
        return core
    if persist == _TREND:
        coef = np.zeros_like(core.coef)
        coef[:, 1] = 1.0
        lag_fast = 1.0  # an EWMA with a one-step half-life lags by one step
        state = core.state.copy()
        state[1] += core.slope * lag_fast
        return dataclasses.replace(core, coef=coef, state=state, trend=True)
    coef = (1.0 - persist) * core.coef
    coef[:, 1] += persist
    return dataclasses.replace(core, coef=coef)


def _backtest(
    y: np.ndarray,
    t: np.ndarray,
    period: int,
    designs: Sequence[_Design],
    h_bt: int,
    mats: Sequence[np.ndarray],
    daily_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None,
    first_hour: dict[tuple[int, tuple[int, ...]], Callable[[], _Core]] | None = None,
    h_first: int = 1,
) -> tuple[list[float], list[np.ndarray]]:
    """Rolling-origin backtests: mean absolute error per design and the signed errors (origin, horizon).

    One fit per seasonal design on the data before the earliest origin (profile and ladder weights; no look-ahead);
    the ladder states are causal, so one pass over the whole series gives the state at every origin.
    With ``first_hour`` (a dict, filled per seasonal design), also how to build a model for the first ``h_first``
    horizons at the end of the series from the same profile and states (a function, called only when needed): the
    first-hour ensemble members of hourly data (see :meth:`ScalingForecaster.fit`) need no profile fit of their own.
    """
    n = len(y)
    stride = max(1, h_bt // _N_BACKTESTS)
    origins = [n - h_bt - k * stride for k in range(_N_BACKTESTS)]
    origins = [o for o in origins if o >= max(_MIN_POINTS, n // 2)]
    maes, errs = [], []
    ok = np.isfinite(y)
    n_valid = np.concatenate([[0], np.cumsum(ok)])  # valid points before each index
    cache: dict[tuple[int, tuple[int, ...]], list[_Core]] = {}
    paths: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, ...]] = {}
    prefixes: dict[int, tuple[np.ndarray, float, np.ndarray, np.ndarray]] = {}  # per earliest origin, see below
    last_ok = np.maximum.accumulate(np.where(ok, np.arange(len(y)), 0))  # the newest valid row up to each row
    for d, X in zip(designs, mats, strict=True):
        key = (d.daily, d.weekly)
        if key not in cache:
            usable = [o for o in origins if d.n_cols * 3 <= n_valid[o]]
            cores: list[_Core] = []
            if usable:
                # Profile fitted on the data before the earliest origin; the level states of the whole series with
                # the robust scales of that prefix (one pass: its first rows are the prefix fit's own states).
                o0 = min(usable)
                if o0 not in prefixes:  # the designs usually share their earliest origin: computed once (read only)
                    ok0 = ok[:o0]
                    w_time = 0.5 ** ((t[o0 - 1] - t[:o0]) / _WEIGHT_HALFLIFE_S)
                    prefixes[o0] = (ok0, _floor(y[:o0], ok0), w_time, np.where(ok0, y[:o0], 0.0))
                ok0, floor0, w_time, y0 = prefixes[o0]
                beta = _seasonal_beta(X[:o0], y0, ok0, w_time, floor0, d, period, daily_cache, float(t[0]))
                resid, r_clip, states, scale0, hls = _level_states(y, ok, X, beta, period, floor0, upto=o0)
                # The forecaster never clips its newest point (it may start a new level): at each origin, put the
                # unclipped value back into the last row of the states (every EWMA moves by alpha times the change).
                alphas = np.array([1.0] + [1.0 - 0.5 ** (1.0 / hl) for hl in hls])
                path = (resid, r_clip, states, last_ok, alphas)
                st0, rc0 = _at_origin(path, o0)
                base = _core_from_states(d, beta, float(t[o0 - 1]), period, h_bt, resid[:o0], rc0, st0, scale0, hls)
                for o in usable:
                    if o == o0:
                        cores.append(base)
                        continue
                    st, rc = _at_origin(path, o)
                    slope, damp = _slope(st[-1], hls, period)
                    state = _reanchor(st, rc, hls, base.gap_scales)
                    cores.append(dataclasses.replace(base, t_end=float(t[o - 1]), state=state, slope=slope, damp=damp))
                if first_hour is not None:
                    st_n, rc_n = _at_origin(path, len(y))
                    first_hour[key] = functools.partial(
                        _core_from_states, d, beta, float(t[-1]), period, h_first, resid, rc_n, st_n, scale0, hls
                    )
            cache[key] = cores
        cores = cache[key]
        if cores:
            if key not in paths:
                paths[key] = _origin_paths(cores, origins, y, X, h_bt)
            e = _variant_errors(paths[key], d.persist)
            maes.append(_nan_mae(e))
            errs.append(e)
        else:
            maes.append(math.inf)
            errs.append(np.empty((0, h_bt)))
    return maes, errs


def _at_origin(path: tuple[np.ndarray, ...], o: int) -> tuple[np.ndarray, np.ndarray]:
    """States and clipped residuals of the first ``o`` rows, the newest point put back unclipped.

    ``path`` is ``(resid, r_clip, states, last_ok, alphas)`` of one pass over the series: a fit on those rows
    never clips its newest point (it may start a new level), and every EWMA moves by alpha times the change.
    """
    resid, r_clip, states, last_ok, alphas = path
    r_last = resid[last_ok[o - 1]]
    st = states[:o].copy()
    rc = r_clip[:o].copy()
    if np.isfinite(r_last):
        st[-1] += alphas * (r_last - rc[-1])
        rc[-1] = r_last
    return st, rc


def _origin_paths(
    cores: Sequence[_Core], origins: Sequence[int], y: np.ndarray, X: np.ndarray, h_bt: int
) -> tuple[np.ndarray, ...]:
    """What every level variant's backtest forecast is made of, for all origins of one seasonal design at once.

    Returns ``(target, ladder, fast, slope, slope_path)``, each ``(origins, h_bt)`` or ``(origins, 1)``: the actual
    values minus the seasonal profile, the learnt ladder's level forecast, the fast level (state 1), the local slope
    and the damped slope's cumulative path.
    The cores share the profile and the ladder weights (one fit per design); only the states differ by origin.
    """
    core0 = cores[0]
    h = np.arange(1, h_bt + 1)
    hf = h.astype(np.float64)
    m = len(cores)
    os_ = np.asarray(origins[:m])
    rows = os_[:, None] + np.arange(h_bt)[None, :]
    target = y[rows] - (X[rows] @ core0.beta)
    S = np.array([c.state for c in cores])  # (m, k)
    lv = S @ core0.coef.T  # (m, g): ladder level at every grid horizon
    ladder = np.array([np.interp(h, core0.h_grid, row) for row in lv])
    slopes = np.array([c.slope for c in cores])
    damp = core0.damp  # the same for every origin (depends on the period only)
    path = slopes[:, None] * np.cumsum(damp**hf)[None, :]
    return target, ladder, S[:, 1:2], slopes[:, None], path


def _variant_errors(paths: tuple[np.ndarray, ...], persist: float) -> np.ndarray:
    """Backtest errors ``(origins, h_bt)`` of one level variant (see :func:`_with_level_model`)."""
    target, ladder, fast, slope, path = paths
    if persist == _TREND:
        # The damped-trend variant: the fast level corrected for its one-step lag, plus the fading slope.
        out: np.ndarray = target - ((fast + slope * 1.0) + path)
        return out
    if not persist:
        return target - ladder
    return target - ((1.0 - persist) * ladder + persist * fast)


def _nan_mae(e: np.ndarray) -> float:
    """Mean absolute value over the non-NaN entries (``inf`` when there is none): ``np.nanmean`` minus its overhead."""
    a = np.abs(e)
    nan = np.isnan(a)
    if nan.any():
        a = a[~nan]
    return float(a.sum() / a.size) if a.size else math.inf


def _band_mae(e: np.ndarray, lo: int, hi: int) -> float:
    return _nan_mae(e[:, lo:hi])


def _pick(maes: Sequence[float]) -> int:
    """Index of the smallest error, preferring an earlier (simpler) candidate within 2 %."""
    arr = np.asarray(maes, dtype=np.float64)
    if not np.isfinite(arr).any():
        return len(arr) - 1
    best = int(np.nanargmin(np.where(np.isfinite(arr), arr, np.inf)))
    for j in range(best):
        if arr[j] <= 1.02 * arr[best]:
            return j
    return best


def _calibrated_quantiles(
    core: _Core, e_bt: np.ndarray, naive_err: list[np.ndarray] | None = None, model_err: list[np.ndarray] | None = None
) -> tuple[np.ndarray, float]:
    """In-sample h-step error quantiles and the factor (>= 1) by which backtests say to widen them."""
    if model_err is None:
        model_err = _model_errors(core)
    ins = _in_sample_errors(core, naive_err, model_err)
    table = _quantile_table(ins, _QUANTILES)
    calib = 1.0
    e_bt = e_bt[:, : int(core.h_grid[-1])]  # horizons this model was fitted for
    if e_bt.size and np.isfinite(e_bt).any():
        # The backtests ran the model alone: compare them with the model's own in-sample errors.
        raw = _in_sample_errors(core, None, model_err) if naive_err is not None else ins
        mae_in = np.array([np.add.reduce(np.abs(e)) / e.size if e.size else np.nan for e in raw])
        h_idx = np.arange(1, e_bt.shape[1] + 1)
        finite = np.isfinite(mae_in)
        fill = float(np.max(mae_in[finite])) if finite.any() else 1.0
        mae_in_h = np.interp(h_idx, core.h_grid, np.where(finite, mae_in, fill))
        a_bt = np.abs(e_bt)
        nan = np.isnan(a_bt)
        if nan.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # horizons without any backtest point are NaN
                mae_bt = np.nanmean(a_bt, axis=0)
        else:
            mae_bt = np.add.reduce(a_bt, axis=0) / a_bt.shape[0]
        ratio = mae_bt / np.maximum(mae_in_h, 1e-12)
        ratio = ratio[np.isfinite(ratio)]
        if ratio.size:
            calib = float(np.clip(_median(ratio), 1.0, _CALIB_MAX))
    return table, calib


def _order_stats(
    errors: list[np.ndarray], sizes: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(srt[cols, lo], srt[cols, hi])`` with ``srt`` the errors padded with ``+inf`` and sorted per row.

    When every horizon has at least 10 errors (only the first ``size`` sorted places are read), each is sorted
    alone (1-D sorts beat one sort of the padded 2-D array): the same order statistics, and equal values are the
    same bits except zeros (+0/-0); where a value read is 0 or not finite, the padded sort decides as before.
    """
    g = len(errors)
    if bool((sizes >= 10).all()):
        s_lo, s_hi = np.empty(lo.shape), np.empty(hi.shape)
        for j, e in enumerate(errors):
            srt_j = np.sort(e)
            s_lo[:, j], s_hi[:, j] = srt_j[lo[:, j]], srt_j[hi[:, j]]
        read = np.concatenate([s_lo, s_hi])
        if np.isfinite(read).all() and np.all(read != 0.0):  # (a NaN would sort after the padding's +inf)
            return s_lo, s_hi
    pad = np.full((g, int(sizes.max())), np.inf)
    for j, e in enumerate(errors):
        pad[j, : e.size] = e
    srt = np.sort(pad, axis=1)
    cols = np.arange(g)[None, :]
    return srt[cols, lo], srt[cols, hi]


def _quantile_table(errors: list[np.ndarray], qs: Sequence[float]) -> np.ndarray:
    """``(len(qs), len(grid))`` quantiles, made monotone in the horizon (intervals never narrow with h).

    Linear interpolation between order statistics (numpy's default), from one sort of all horizons at once (the
    shorter error arrays padded with ``+inf``, which sorts last and is never read). A horizon with fewer than 10
    errors repeats the previous one's quantiles (zeros at the start).
    """
    g = len(errors)
    q_arr = np.asarray(qs, dtype=np.float64)
    sizes = np.array([e.size for e in errors], dtype=np.int64)
    tab = np.zeros((len(qs), g))
    good = sizes >= 10
    if good.any():
        pos = q_arr[:, None] * (np.maximum(sizes, 1) - 1)[None, :]
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(sizes - 1, 0)[None, :])
        s_lo, s_hi = _order_stats(errors, sizes, lo, hi)
        vals = s_lo + (pos - lo) * (s_hi - s_lo)
        # Horizons without enough errors carry the last good one forward.
        src = np.maximum.accumulate(np.where(good, np.arange(g), -1))
        tab = np.where(src >= 0, vals[:, np.maximum(src, 0)], 0.0)
    for i, q in enumerate(qs):
        if q > 0.5:
            tab[i] = np.maximum.accumulate(tab[i])
        elif q < 0.5:
            tab[i] = np.minimum.accumulate(tab[i])
    return tab


# ---------------------------------------------------------------------------------------------- estimator
def _as_values(y: Any) -> np.ndarray:
    try:
        v = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidSeriesError("values must be numbers", field="y") from None
    if v.ndim != 1:
        raise InvalidSeriesError("must be one-dimensional", field="y")
    return np.where(np.isfinite(v), v, np.nan)


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise InputValidationError(f"must be an integer in [{low}, {high}], got {value!r}", field=name)
    return int(value)


class ScalingForecaster(BaseEstimator):  # type: ignore[misc]  # scikit-learn ships no type stubs
    """Multi-seasonal load forecaster with calibrated 80 % and 95 % intervals.

    Parameters
    ----------
    horizon : int, default=12
        Forecast steps returned by :meth:`predict` when it is called without one (12 = one hour on a 5-minute
        grid). Any horizon up to ``max_horizon_s`` can be asked of a fitted model.
    period_s : int, default=300
        Grid spacing of ``y`` when it is a plain array; a :class:`MetricSeries` brings its own.
    start_s : float, default=0.0
        Epoch time of ``y[0]`` when ``y`` is a plain array (sets the time-of-day phase); a
        :class:`MetricSeries` brings its own.
    seasonality : {"auto", "none", "daily", "daily+weekly"}, default="auto"
        ``auto`` picks the design with the smallest rolling-backtest error among those the history supports.
    max_horizon_s : float, default=172800
        Longest horizon the intervals are calibrated for (48 hours).
    nonnegative : bool or None, default=None
        Clip forecasts at 0; ``None`` means: when the history has no negative value.

    Attributes
    ----------
    period_s_ : int
        Grid spacing used.
    origin_ : float
        Epoch time of the last grid point of the training series (the forecast origin).
    seasonality_ : str
        Chosen design: ``none``, ``daily`` or ``daily+weekly``.
    level_model_ : str
        Chosen local level beyond the first hour: ``persistent``, ``blend``, ``adaptive`` or ``damped-trend``.
    confidence_ : float
        How much the history supports the model (0..1): lower with a shorter history, without a season, or with
        large backtest errors.
    backtest_mae_ : dict of str to float
        Rolling-backtest mean absolute error of every candidate design.
    calibration_ : float
        Factor (>= 1) by which the in-sample error quantiles of the long-horizon model were widened after the
        backtests (``calibrations_`` has one per fitted model).
    cores_ : tuple
        The fitted first-hour model(s) (averaged when several) followed by the long-horizon model, which is last;
        ``h_short_`` is the first hour in steps.
    n_points_ : int
        Length of the training series.

    Examples
    --------
    >>> t = np.arange(14 * 288) * 300.0
    >>> y = 100 + 50 * np.sin(2 * np.pi * t / 86400) + np.random.default_rng(0).normal(0, 5, t.size)
    >>> fc = ScalingForecaster(horizon=12).fit(y).predict()
    >>> fc.seasonality, len(fc.mean)
    ('daily', 12)
    """

    def __init__(
        self,
        horizon: int = 12,
        period_s: int = 300,
        start_s: float = 0.0,
        seasonality: str = "auto",
        max_horizon_s: float = 2 * DAY_S,
        nonnegative: bool | None = None,
    ) -> None:
        self.horizon = horizon
        self.period_s = period_s
        self.start_s = start_s
        self.seasonality = seasonality
        self.max_horizon_s = max_horizon_s
        self.nonnegative = nonnegative

    def fit(self, y: Any, X: Any = None) -> Self:
        """Fit the seasonal mean, the local correction and the interval calibration.

        Parameters
        ----------
        y : array-like of shape (n,) or MetricSeries
            Load history, oldest first, on a regular grid; NaN marks missing points.
        X : None
            Ignored; present for API consistency.

        Returns
        -------
        ScalingForecaster
            ``self``, fitted.

        Raises
        ------
        InsufficientDataError
            Fewer than 8 valid points.
        InputValidationError
            A hyperparameter is out of range (names it).
        InvalidSeriesError
            ``y`` is not a one-dimensional series of numbers.
        """
        if isinstance(y, MetricSeries):
            values, period, start = _as_values(y.values), int(y.period), float(y.start)
            lower_bound = metric_info(y.metric).lower
        else:
            values = _as_values(y)
            period = _check_int("period_s", self.period_s, 1, DAY_S)
            start = float(self.start_s)
            lower_bound = None
        _check_int("horizon", self.horizon, 1, 10**6)
        if self.seasonality not in ("auto", "none", "daily", "daily+weekly"):
            raise InputValidationError(f"unknown seasonality {self.seasonality!r}", field="seasonality")
        if not isinstance(self.max_horizon_s, (int, float)) or not period <= self.max_horizon_s <= 60 * DAY_S:
            raise InputValidationError("must be between one step and 60 days", field="max_horizon_s")
        ok = np.isfinite(values)
        # Leading and trailing structure: drop leading NaN (the origin stays the last grid point).
        if ok.any():
            first = int(np.argmax(ok))
            values, start = values[first:], start + first * period
            ok = ok[first:]
        n_valid = int(ok.sum())
        if n_valid < _MIN_POINTS:
            raise InsufficientDataError("load forecast", needed=_MIN_POINTS, got=n_valid)
        n = len(values)
        t = start + period * np.arange(n, dtype=np.float64)
        n_days = n_valid * period / DAY_S
        h_max = max(1, int(math.ceil(self.max_horizon_s / period)))

        designs = _candidates(n_days, period)
        if self.seasonality != "auto":
            forced = [d for d in designs if d.name == self.seasonality]
            designs = forced or designs[-1:]
        steps_day = max(1, round(DAY_S / period))
        h_bt = int(min(steps_day, h_max, max(1, n // 4)))
        # Every candidate's columns are a prefix of the richest design's: one matrix, sliced.
        full = _grid_design_matrix(t, max(designs, key=lambda d: d.n_cols), period)
        mats = [full[:, : d.n_cols] for d in designs]
        daily_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # daily fit shared across designs
        h_short = int(min(h_bt, max(1, round(3600 / period))))
        # First-hour ensemble members (hourly data) come from the backtest's profiles and states, see below.
        first_hour: dict[tuple[int, tuple[int, ...]], Callable[[], _Core]] | None = (
            {} if h_short <= _ENSEMBLE_MAX_STEPS else None
        )
        if len(designs) > 1 or n >= 4 * h_bt:
            maes, bt_errs = _backtest(
                values, t, period, designs, h_bt, mats, daily_cache, first_hour, int(min(h_max, 2 * h_short))
            )
        else:
            maes, bt_errs = [math.inf] * len(designs), [np.empty((0, h_bt))] * len(designs)
        # Horizon bands: the first hour and the rest can pick different models (a direct multi-horizon choice).
        bands = [(0, h_short), (h_short, h_bt) if h_bt > h_short else (0, h_short)]
        long_mae = [_band_mae(e, *bands[1]) for e in bt_errs]
        long_pick = _pick(long_mae if np.isfinite(long_mae).any() else maes)
        last_value = float(values[np.flatnonzero(ok)[-1]])
        # First hour: the adaptive ladder of the long-horizon pick's seasonal design, blended with the naive forecast
        # where its in-sample errors say so. When the first hour is only one or two steps (hourly data), the
        # forecast there hangs on the profile's step-to-step change, which the designs estimate differently: the
        # average of every design's adaptive ladder then beats choosing one (a first-hour backtest on four origins
        # is too noisy to choose by, and choosing by in-sample error favours the richest design). The designs other
        # than the long-horizon pick's then keep the profile the backtest fitted (on the data before its earliest
        # origin, a day and a half older at hourly steps): the first hour hangs on the level, and that saves a
        # profile fit and a pass over the series per design.
        # Beyond the first hour, the backtest's pick; the two are blended over the second hour.
        ld = designs[long_pick]
        own = [j for j, d in enumerate(designs) if (d.daily, d.weekly, d.persist) == (ld.daily, ld.weekly, 0.0)]
        if h_short <= _ENSEMBLE_MAX_STEPS:
            shorts = [j for j, d in enumerate(designs) if d.persist == 0.0] or [long_pick]
        else:
            shorts = own[:1] or [long_pick]
        picks = [*shorts, long_pick] if shorts != [long_pick] else [long_pick]
        long_key = (designs[long_pick].daily, designs[long_pick].weekly)
        fits: dict[tuple[int, tuple[int, ...]], _Core] = {}
        naive_errs: dict[tuple[int, ...], list[np.ndarray]] = {}
        cores, tables, calibs = [], [], []
        for j in picks:
            d = designs[j]
            key = (d.daily, d.weekly)
            if key not in fits and key != long_key and first_hour and key in first_hour:
                fits[key] = first_hour[key]()
            if key not in fits:  # a design only used for the first hour needs horizons up to two hours
                h_fit = h_max if key == long_key else int(min(h_max, 2 * h_short))
                fits[key] = _fit_core(values, t, period, d, h_fit, mats[j], daily_cache=daily_cache)
            core = _with_level_model(fits[key], d.persist)
            grid_key = tuple(core.h_grid.tolist())
            if grid_key not in naive_errs:  # depends on the series and the horizons only
                naive_errs[grid_key] = _naive_errors(values, core.h_grid)
            naive_err = naive_errs[grid_key]
            model_err = _model_errors(core)
            core = _learn_naive_weights(dataclasses.replace(core, last=last_value), naive_err, model_err)
            table, calib = _calibrated_quantiles(core, bt_errs[j], naive_err, model_err)
            cores.append(core)
            tables.append(table)
            calibs.append(calib)
        self.h_short_ = h_short
        design = designs[picks[-1]]
        best = picks[-1]

        self.period_s_ = period
        self.origin_ = float(t[-1])
        self.seasonality_ = design.name
        self.cores_ = tuple(cores)
        self.quantiles_ = tuple(tables)
        self.calibration_ = float(calibs[-1])
        self.calibrations_ = tuple(calibs)
        self.level_model_ = _LEVEL_NAMES[design.persist]
        self.backtest_mae_ = {
            f"{d.name}/{_LEVEL_NAMES[d.persist]}": float(m) for d, m in zip(designs, maes, strict=True)
        }
        if self.nonnegative is None:
            nonneg = bool(np.nanmin(values) >= 0) or (lower_bound is not None and lower_bound >= 0)
        else:
            nonneg = bool(self.nonnegative)
        self.nonnegative_ = nonneg
        self.upper_bound_ = metric_info(y.metric).upper if isinstance(y, MetricSeries) else None
        self.n_points_ = n
        level = float(np.nanmean(np.abs(values))) + 1e-12
        rel_err = (maes[best] / level) if np.isfinite(maes[best]) else 0.5
        support = {"none": 0.55, "daily": 0.8, "daily+weekly": 0.9}[design.name]
        history = min(1.0, n_days / 14.0) ** 0.3
        self.confidence_ = float(np.clip(support * history * (1.0 - 0.5 * min(1.0, rel_err)), 0.05, 0.99))
        return self

    def predict(self, horizon: int | None = None) -> Forecast:
        """Forecast ``horizon`` steps after the training series.

        Parameters
        ----------
        horizon : int, optional
            Steps ahead; defaults to the ``horizon`` hyperparameter.

        Returns
        -------
        Forecast
            Mean and 80 %/95 % intervals; ``lower <= mean <= upper`` at every step.

        Raises
        ------
        cloudsage.core.base.NotFittedError
            Before :meth:`fit`.
        InputValidationError
            ``horizon`` is not a positive integer.
        """
        check_is_fitted(self, "cores_")
        h = _check_int("horizon", self.horizon if horizon is None else horizon, 1, 10**6)
        steps = np.arange(1, h + 1)
        means, qtabs = [], []
        x_future: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}  # one matrix per seasonal design
        for core, table, calib in zip(self.cores_, self.quantiles_, self.calibrations_, strict=True):
            key = (core.design.daily, core.design.weekly)
            if key not in x_future:
                t_future = core.t_end + core.period * steps.astype(np.float64)
                x_future[key] = _grid_design_matrix(t_future, core.design, core.period)
            means.append(core.mean(h, x_future[key]))
            qt = np.array([np.interp(steps, core.h_grid, row) for row in table])
            # Bands: the h-step error quantiles around the mean, widened by the calibration. (Centring the point
            # forecast on the median error was tried and measured worse on the benchmark: row 0, the shift, stays 0.)
            qtabs.append(np.vstack([np.zeros(h), calib * np.delete(qt, _MEDIAN_ROW, 0)]))
        if len(means) == 1:
            mean, q = means[0], qtabs[0]
        else:  # first-hour model(s, averaged), blended linearly into the long-horizon model over the second hour
            lam = np.clip((steps - self.h_short_) / max(self.h_short_, 1), 0.0, 1.0)
            m0, q0 = np.mean(means[:-1], axis=0), np.mean(qtabs[:-1], axis=0)
            mean = (1 - lam) * m0 + lam * means[-1]
            q = (1 - lam) * q0 + lam * qtabs[-1]
        mean = mean + q[0]
        lo95, lo80, hi80, hi95 = (mean - q[0] + q[i] for i in range(1, 5))
        lo80, lo95 = np.minimum(lo80, mean), np.minimum(lo95, np.minimum(lo80, mean))
        hi80, hi95 = np.maximum(hi80, mean), np.maximum(hi95, np.maximum(hi80, mean))
        arrays = [mean, lo80, hi80, lo95, hi95]
        if self.nonnegative_:
            arrays = [np.maximum(a, 0.0) for a in arrays]
        if self.upper_bound_ is not None:
            arrays = [np.minimum(a, self.upper_bound_) for a in arrays]
        t_mean, t_lo80, t_hi80, t_lo95, t_hi95 = (tuple(a.tolist()) for a in arrays)
        return Forecast(
            start=self.origin_ + self.period_s_,
            period=self.period_s_,
            mean=t_mean,
            lower_80=t_lo80,
            upper_80=t_hi80,
            lower_95=t_lo95,
            upper_95=t_hi95,
            seasonality=self.seasonality_,
            confidence=self.confidence_,
            history_points=self.n_points_,
        )


def forecast(series: Any, horizon: int, **params: Any) -> Forecast:
    """Stateless one-shot forecast: fit on ``series``, predict ``horizon`` steps, keep nothing.

    Same result as ``ScalingForecaster(horizon=horizon, **params).fit(series).predict()``.

    Parameters
    ----------
    series : array-like or MetricSeries
        Load history on a regular grid (NaN = missing).
    horizon : int
        Steps ahead.
    **params
        Other :class:`ScalingForecaster` hyperparameters.

    Returns
    -------
    Forecast

    Examples
    --------
    >>> fc = forecast(np.r_[np.zeros(50), np.ones(50)] + 10, 3)
    >>> [round(x, 1) for x in fc.mean]
    [11.0, 11.0, 11.0]
    """
    return ScalingForecaster(horizon=horizon, **params).fit(series).predict()


# ---------------------------------------------------------------------------------------------- capacity
_MIN_CAPACITY_POINTS = 24
_THEILSEN_MAX_POINTS = 600
_SATURATED_CPU = 90.0  # points at or above this CPU are left out of the capacity fit (queueing, not linear)


@functools.cache
def _norm_ppf(q: float) -> float:
    from scipy.stats import distributions

    return float(distributions.norm.ppf(q))


def _theil_sen_ci(y: np.ndarray, x: np.ndarray, alpha: float) -> tuple[Any, Any, Any, Any]:
    """``scipy.stats.theilslopes(y, x, alpha)`` (method "separate"): the same four numbers, bit for bit.

    The same pairwise slopes as scipy (every pair divided in place, the ``x_i > x_j`` ones kept: one gather instead
    of two), then the four order statistics scipy reads from its sorted slopes (the middle two, the interval's two)
    found by selection instead of a sort, and the normal quantile computed once. Equal values are the same bits
    except zeros (+0/-0), so where a value read is 0 or not finite (or anything is unusual: non-finite input, too
    few slopes, interval ends at the middle) scipy itself answers.
    """
    from scipy.stats import theilslopes

    y = np.array(y, dtype=float, copy=True).ravel()
    x = np.array(x, dtype=float, copy=True).ravel()
    if len(x) != len(y) or len(x) < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return tuple(theilslopes(y, x, alpha=alpha))
    deltax = x[:, np.newaxis] - x
    deltay = y[:, np.newaxis] - y
    up = deltax > 0
    with np.errstate(all="ignore"):  # the pairs left out (x_i <= x_j) may divide by 0
        np.divide(deltay, deltax, out=deltay)
    slopes = deltay[up]  # deltay[up] / deltax[up], element by element
    nt = len(slopes)
    if alpha > 0.5:
        alpha = 1.0 - alpha
    z = _norm_ppf(alpha / 2.0)
    ny = len(y)
    reps = [c[c > 1] for c in (np.unique(x, return_counts=True)[1], np.unique(y, return_counts=True)[1])]
    # Sen (1968), eq. 2.6, with scipy's integer arithmetic (the tie counts of _find_repeats, as np.unique counts).
    sigsq = 1 / 18.0 * (ny * (ny - 1) * (2 * ny + 5) - sum(int(np.sum(k * (k - 1) * (2 * k + 5))) for k in reps))
    sigma = np.sqrt(sigsq)
    if nt < 3 or not np.isfinite(sigma):
        return tuple(theilslopes(y, x, alpha=alpha))
    ru = min(int(np.round((nt - z * sigma) / 2.0)), nt - 1)
    rl = max(int(np.round((nt + z * sigma) / 2.0)) - 1, 0)
    k = nt // 2
    if not (0 <= rl < k < ru < nt):
        return tuple(theilslopes(y, x, alpha=alpha))
    # Sorted slopes at k (the upper middle), k - 1, rl < k and ru > k: one selection at k, then the largest value
    # left of it, and one selection on each side.
    slopes.partition(k)
    left, right = slopes[:k], slopes[k + 1 :]
    hi_mid = slopes[k]
    lo_mid = left.max() if nt % 2 == 0 else hi_mid
    left.partition(rl)
    right.partition(ru - k - 1)
    lo_s, hi_s = left[rl], right[ru - k - 1]
    picked = np.array([lo_mid, hi_mid, lo_s, hi_s])
    if not (np.isfinite(picked).all() and np.all(picked != 0.0)):
        return tuple(theilslopes(y, x, alpha=alpha))
    medslope = (lo_mid + hi_mid) / 2.0 if nt % 2 == 0 else hi_mid  # np.median: the mean of the middle two
    medinter = np.median(y) - medslope * np.median(x)
    return medslope, medinter, lo_s, hi_s


def learn_capacity(requests: Any, cpu: Any, instances: Any, *, target_utilization: float = 60.0) -> CapacityEstimate:
    """Learn requests per instance at the target CPU from history.

    Fits the line ``cpu = a + b * (requests / instances)`` with the Theil-Sen estimator (robust to incidents
    such as a runaway job pinning CPU) and solves it for ``target_utilization``; the interval comes from the
    90 % confidence interval of the slope. When CPU does not rise with requests (no usable slope), falls back
    to the median ratio of requests per instance to CPU (``method="ratio"``).

    Parameters
    ----------
    requests, cpu, instances : array-like of shape (n,)
        Aligned series: requests per period (sum), mean CPU percent, in-service instances. NaN = missing.
    target_utilization : float, default=60
        CPU percent one instance should run at.

    Returns
    -------
    CapacityEstimate

    Raises
    ------
    InputValidationError
        Mismatched lengths or a target outside (0, 100].
    InsufficientDataError
        Fewer than 24 aligned points with positive requests and instances.

    Examples
    --------
    >>> per = np.linspace(100, 1000, 200)
    >>> est = learn_capacity(per * 3, 5 + 0.05 * per, np.full(200, 3.0))
    >>> round(est.per_instance)  # (60 - 5) / 0.05 requests per instance and period
    1100
    """
    r, c, k = (_as_values(a) for a in (requests, cpu, instances))
    if not (r.shape == c.shape == k.shape):
        raise InputValidationError("requests, cpu and instances must have the same length", field="cpu")
    if not 0.0 < float(target_utilization) <= 100.0:
        raise InputValidationError("must be in (0, 100]", field="target_utilization")
    ok = np.isfinite(r) & np.isfinite(c) & np.isfinite(k) & (k > 0) & (r > 0)
    per = np.where(ok, r / np.where(k > 0, k, 1.0), np.nan)
    use = ok & (c < _SATURATED_CPU)
    n = int(use.sum())
    if n < _MIN_CAPACITY_POINTS:
        raise InsufficientDataError("capacity learning", needed=_MIN_CAPACITY_POINTS, got=n)
    x, yv = per[use], c[use]
    stride = max(1, math.ceil(n / _THEILSEN_MAX_POINTS))
    xs, ys = x[::stride], yv[::stride]
    target = float(target_utilization)
    spread = float(np.percentile(xs, 90) - np.percentile(xs, 10))
    if spread > 0:
        slope, intercept, lo_s, hi_s = _theil_sen_ci(ys, xs, 0.90)
        if slope > 0 and lo_s > 0 and intercept < target:
            cap = (target - intercept) / slope
            lower, upper = (target - intercept) / hi_s, (target - intercept) / lo_s
            return CapacityEstimate(
                float(cap), float(lower), float(upper), target, float(intercept), float(slope), n, "theil-sen"
            )
    ratio = x / np.maximum(yv, 1e-9)
    cap = target * float(np.median(ratio))
    lo_r, hi_r = np.percentile(ratio, [25, 75])
    return CapacityEstimate(
        cap, target * float(lo_r), target * float(hi_r), target, 0.0, 1.0 / max(cap / target, 1e-12), n, "ratio"
    )


def _exceed_probability(fc: Forecast, threshold: Any) -> np.ndarray:
    """P(load > threshold) per step, interpolating the forecast's quantiles (2.5, 10, 50, 90, 97.5 %)."""
    qv = np.maximum.accumulate(np.vstack([fc.lower_95, fc.lower_80, fc.mean, fc.upper_80, fc.upper_95]), axis=0)
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), qv.shape[1:])
    ps = np.array([0.025, 0.10, 0.50, 0.90, 0.975])
    cdf = np.where(thr < qv[0], 0.0, 1.0)
    for i in range(4):
        lo, hi = qv[i], qv[i + 1]
        inside = (thr >= lo) & (thr < hi)
        frac = (thr - lo) / np.where(hi > lo, hi - lo, 1.0)
        cdf = np.where(inside, ps[i] + frac * (ps[i + 1] - ps[i]), cdf)
    # Below the 2.5 % point or above the 97.5 % one: the tails beyond the interval.
    cdf = np.where(thr < qv[0], 0.0, np.where(thr >= qv[-1], 1.0, cdf))
    out: np.ndarray = 1.0 - cdf
    return out


def plan_capacity(
    fc: Forecast,
    capacity_per_instance: float,
    current: int,
    *,
    min_size: int = 1,
    max_size: int = 100,
    warmup_s: float = 300.0,
    cooldown_s: float = 900.0,
    quantile: float = 90,
    quantile_capacity: float | None = None,
    price_per_hour: float | None = None,
) -> CapacityPlan:
    """Turn a load forecast into desired capacity over time and the actions that realise it.

    The desired size at each step covers the forecast's ``quantile`` (90: the upper end of the 80 % interval;
    97.5: of the 95 % one) at ``capacity_per_instance``; it is held for ``cooldown_s`` after the last step that
    needed it (scale in only after a cooldown) and kept within ``[min_size, max_size]``. Each change becomes a
    :class:`ScalingAction` issued ``warmup_s`` before it must be in service (scale out) or at the time
    (scale in). Without a change the plan is one ``maintain`` action.

    Parameters
    ----------
    fc : Forecast
        Load forecast (same unit as ``capacity_per_instance``).
    capacity_per_instance : float
        Load one instance serves at the target utilisation.
    current : int
        Instances in service now.
    min_size, max_size : int
        Bounds of the group.
    warmup_s, cooldown_s : float
        Instance warm-up (actions are issued this much earlier) and scale-in cooldown, seconds.
    quantile : {90, 97.5}
        Forecast quantile to provision for.
    quantile_capacity : float, optional
        Load one instance may carry at that quantile. By default ``capacity_per_instance`` (the quantile is sized at
        the target utilisation); give the full-load capacity to size the mean at the target and the quantile at
        full load instead: ``max(mean / capacity_per_instance, quantile / quantile_capacity)`` instances.
    price_per_hour : float, optional
        Instance price; cost deltas are then in USD per hour, else in instance-hours per hour.

    Returns
    -------
    CapacityPlan

    Raises
    ------
    InputValidationError
        A parameter is out of range (names it).

    Examples
    --------
    >>> fc = Forecast(0.0, 300, (100.0,) * 4 + (400.0,) * 4, (90.0,) * 8, (120.0,) * 4 + (450.0,) * 4,
    ...               (80.0,) * 8, (130.0,) * 4 + (480.0,) * 4, "daily", 0.8, 100)
    >>> plan = plan_capacity(fc, 100.0, 2, min_size=1, max_size=10)
    >>> [(a.kind, a.target, a.at) for a in plan.actions]
    [('scale_out', 5, 900.0)]
    """
    if not capacity_per_instance > 0 or not math.isfinite(capacity_per_instance):
        raise InputValidationError("must be a positive number", field="capacity_per_instance")
    min_size = _check_int("min_size", min_size, 0, 10**6)
    max_size = _check_int("max_size", max_size, max(min_size, 1), 10**6)
    current = _check_int("current", current, 0, 10**6)
    if not 0 <= warmup_s <= DAY_S:
        raise InputValidationError("must be in [0, 86400] seconds", field="warmup_s")
    if not 0 <= cooldown_s <= DAY_S:
        raise InputValidationError("must be in [0, 86400] seconds", field="cooldown_s")
    if quantile == 90:
        load = np.asarray(fc.upper_80)
    elif quantile == 97.5:
        load = np.asarray(fc.upper_95)
    else:
        raise InputValidationError("must be 90 or 97.5", field="quantile")
    period = fc.period
    if quantile_capacity is None:
        need = load / capacity_per_instance
    elif quantile_capacity > 0 and math.isfinite(quantile_capacity):
        need = np.maximum(np.asarray(fc.mean) / capacity_per_instance, load / quantile_capacity)
    else:
        raise InputValidationError("must be a positive number", field="quantile_capacity")
    raw = np.clip(np.ceil(need - 1e-9), min_size, max_size).astype(np.int64)
    hold = max(0, int(math.ceil(cooldown_s / period)))
    desired = raw.copy()
    if hold:
        padded = np.r_[np.full(hold, min(current, max_size)), raw] if current else np.r_[np.full(hold, 0), raw]
        win = np.lib.stride_tricks.sliding_window_view(padded, hold + 1)
        desired = np.maximum(raw, win.max(axis=1)[: len(raw)])
        desired = np.clip(desired, min_size, max_size)
    ts = fc.timestamps
    unit = "USD/h" if price_per_hour else "instance-hours/h"
    unit_cost = float(price_per_hour) if price_per_hour else 1.0
    actions: list[ScalingAction] = []
    prev = current
    changes = np.flatnonzero(np.diff(np.r_[current, desired]) != 0)
    for c_i, j in enumerate(changes.tolist()):
        target = int(desired[j])
        seg_end = int(changes[c_i + 1]) if c_i + 1 < len(changes) else len(desired)
        cap_prev = prev * capacity_per_instance
        cap_new = target * capacity_per_instance
        if target > prev:
            # How likely the old size falls short while this one is in effect.
            p = float(_exceed_probability(fc, cap_prev)[j:seg_end].max())
            kind, at = "scale_out", max(float(ts[j]) - warmup_s, fc.start - period)
            reason = f"p{quantile:g} load {load[j]:.4g} exceeds {prev} x {capacity_per_instance:.4g}"
        else:
            # How likely the smaller size suffices until the next change.
            p = float(1.0 - _exceed_probability(fc, cap_new)[j:seg_end].max())
            kind, at = "scale_in", float(ts[j])
            reason = f"p{quantile:g} load stays below {target} x {capacity_per_instance:.4g} for the cooldown"
        actions.append(
            ScalingAction(
                kind=kind,
                at=float(at),
                effective_at=float(ts[j]),
                target=target,
                previous=prev,
                confidence=float(np.clip(p * fc.confidence / 0.9, 0.0, 1.0)),
                cost_delta_per_hour=(target - prev) * unit_cost,
                cost_unit=unit,
                reason=reason,
            )
        )
        prev = target
    if not actions:
        p = float(1.0 - _exceed_probability(fc, current * capacity_per_instance).max())
        actions.append(
            ScalingAction(
                "maintain",
                float(fc.start),
                float(fc.start),
                current,
                current,
                float(np.clip(p * fc.confidence / 0.9, 0.0, 1.0)),
                0.0,
                unit,
                "forecast fits current capacity",
            )
        )
    hours = period / 3600.0
    return CapacityPlan(
        start=fc.start,
        period=period,
        desired=tuple(int(d) for d in desired),
        actions=tuple(actions),
        current=current,
        min_size=min_size,
        max_size=max_size,
        capacity_per_instance=float(capacity_per_instance),
        instance_hours=float(desired.sum() * hours),
        instance_hours_current=float(current * len(desired) * hours),
    )


def recurring_schedule(plan: CapacityPlan, *, tolerance_s: float = 1800.0) -> tuple[ScalingAction, ...]:
    """Daily recurring actions (kind ``schedule``): changes the plan makes on every day it covers.

    A scale-out or scale-in recurs when a change to the same target happens on each day of the plan (which must
    cover at least two days) within ``tolerance_s`` of the same time of day; it is returned once, at its first
    occurrence, with the lowest confidence of its occurrences and ``reason`` naming the daily time (UTC). These
    are what a recurring EC2 Auto Scaling scheduled action (cron ``M H * * *``) can carry.

    Examples
    --------
    >>> day = [100.0] * 100 + [450.0] * 100 + [100.0] * 88
    >>> up = tuple(day * 2)
    >>> fc = Forecast(0.0, 300, up, up, up, up, up, "daily", 0.9, 4032)
    >>> [(a.kind, a.target, a.reason) for a in recurring_schedule(plan_capacity(fc, 100.0, 1, cooldown_s=0.0))]
    [('schedule', 5, 'daily at 08:15 UTC'), ('schedule', 1, 'daily at 16:40 UTC')]
    """
    span = len(plan.desired) * plan.period
    days = int(span // DAY_S)
    if days < 2:
        return ()
    changes = [a for a in plan.actions if a.kind in ("scale_out", "scale_in")]
    out: list[ScalingAction] = []
    used: set[int] = set()
    for i, a in enumerate(changes):
        if i in used or a.at >= plan.start + DAY_S:
            continue
        group = [i]
        for d in range(1, days):
            match = next(
                (
                    j
                    for j, b in enumerate(changes)
                    if j not in used
                    and j not in group
                    and b.kind == a.kind
                    and b.target == a.target
                    and abs((b.at - a.at) - d * DAY_S) <= tolerance_s
                ),
                None,
            )
            if match is None:
                break
            group.append(match)
        if len(group) == days:
            used.update(group)
            conf = min(changes[j].confidence for j in group)
            out.append(dataclasses.replace(a, kind="schedule", confidence=conf, reason=f"daily at {_clock(a.at)} UTC"))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- analyze
_PLOT_POINTS = 600
_UTIL_ALERT = 80.0  # a utilisation forecast whose p90 reaches this is worth a proactive insight
_FORECAST_METRICS = {
    "asg": ("RequestCount", "CPUUtilization"),
    "ec2": ("CPUUtilization", "MemoryUtilization", "mem_used_percent"),
    "rds": ("CPUUtilization", "DatabaseConnections"),
    "cache": ("CPUUtilization", "CurrConnections"),
    "lambda": ("Invocations",),
    "other": ("RequestCount", "CPUUtilization", "Invocations"),
}
_ANALYZE_DEFAULTS: dict[str, Any] = {
    "horizon_s": 2 * DAY_S,
    "target_utilization": 60.0,
    "warmup_s": 300.0,
    "cooldown_s": 900.0,
    "quantile": 90,
    "alert_utilization": _UTIL_ALERT,
    "price_path": None,  # set by the platform: live list prices (see cloudsage.adapters.pricing)
}


def _bucket(values: np.ndarray, size: int, how: str) -> np.ndarray:
    if size == 1:
        # Buckets of one: nanmin/nanmax return the value itself, nanmean its sum over one element (0 + x: -0.0
        # becomes 0.0) divided by a count of 1 (NaN, a count of 0, gives NaN).
        one = np.array(values, dtype=np.float64)
        return one + 0.0 if how not in ("min", "max") else one
    n = len(values)
    pad = (-n) % size
    arr = np.r_[values, np.full(pad, np.nan)].reshape(-1, size)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "min":
            return np.asarray(np.nanmin(arr, axis=1))
        if how == "max":
            return np.asarray(np.nanmax(arr, axis=1))
        return np.asarray(np.nanmean(arr, axis=1))


def _rounded(values: Sequence[float] | np.ndarray) -> list[float | None]:
    """Six significant digits, ``None`` for NaN: ``float(f"{v:.6g}")`` per value, bit for bit (vectorised)."""
    return rounded6(values)


def _int_list(ts: np.ndarray) -> list[int]:
    """``[int(t) for t in ts]``: one int64 conversion (also truncation toward zero) where every value fits."""
    a = np.asarray(ts)
    if a.ndim == 1 and a.dtype == np.float64 and bool(np.all(np.abs(a) < 2.0**62)):  # NaN fails: the loop raises
        out: list[int] = a.astype(np.int64).tolist()
        return out
    return [int(t) for t in a]


def _plot(
    ts: np.ndarray, values: np.ndarray, fc: Forecast, extra: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """History and forecast bands, each downsampled to at most 600 points (bucket means; bands widen to min/max)."""
    size_h = max(1, math.ceil(len(values) / _PLOT_POINTS))
    size_f = max(1, math.ceil(fc.horizon / _PLOT_POINTS))
    ft = fc.timestamps
    out: dict[str, Any] = {
        "timestamps": _int_list(ts[::size_h]),
        "values": _rounded(_bucket(values, size_h, "mean")),
        "forecast": {
            "timestamps": _int_list(ft[::size_f]),
            "mean": _rounded(_bucket(np.asarray(fc.mean), size_f, "mean")),
            "lower": _rounded(_bucket(np.asarray(fc.lower_95), size_f, "min")),
            "upper": _rounded(_bucket(np.asarray(fc.upper_95), size_f, "max")),
            "lower_80": _rounded(_bucket(np.asarray(fc.lower_80), size_f, "min")),
            "upper_80": _rounded(_bucket(np.asarray(fc.upper_80), size_f, "max")),
            "level": 95,
        },
        "seasonality": fc.seasonality,
        "confidence": round(fc.confidence, 3),
        "downsampled": bool(size_h > 1 or size_f > 1),
    }
    for key, arr in (extra or {}).items():
        out["forecast"][key] = _rounded(_bucket(np.asarray(arr, dtype=np.float64), size_f, "max"))
    return out


def _num(x: float) -> str:
    """A figure for a sentence: ``41,420`` or ``87.4`` or ``0.0123``."""
    x = float(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _clock(ts: float) -> str:
    return iso(ts)[11:16]


def _when(ts: float, origin: float) -> str:
    """``14:05`` today-ish, or ``Tue 14:05`` when more than a day away (UTC)."""
    from datetime import UTC, datetime

    if ts - origin < DAY_S:
        return f"{_clock(ts)} UTC"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%a %H:%M UTC")


def _fit_forecast(series: MetricSeries | np.ndarray, horizon: int, **kw: Any) -> tuple[ScalingForecaster, Forecast]:
    est = ScalingForecaster(horizon=horizon, **kw).fit(series)
    return est, est.predict()


def _severity_for(ratio: float, lead_s: float) -> str:
    """Severity of a forecast shortfall: how far p90 load exceeds capacity and how soon."""
    if ratio >= 1.5 and lead_s <= 6 * 3600:
        return "high"
    if ratio >= 1.15 or lead_s <= 2 * 3600:
        return "medium"
    return "low"


@dataclass(frozen=True)
class GroupPlan:
    """What :func:`group_plan` learnt and planned for one Auto Scaling group."""

    plan: CapacityPlan
    forecast: Forecast
    capacity: CapacityEstimate
    load_name: str  # RequestCount, or CPUUtilization (CPU-percent x instances) without a request metric
    unit: str
    current: int  # instances in service at the end of the history
    estimator: ScalingForecaster
    load_series: MetricSeries
    price_origin: str = ""  # where the plan's $/hour comes from ("" = no price: costs in instance-hours)


def group_plan(resource: ResourceMetrics, **params: Any) -> GroupPlan:
    """Learn per-instance capacity, forecast the load and plan the capacity of an Auto Scaling group.

    What :func:`analyze` explains as insights, and what ``cloudsage schedule`` writes as scheduled actions.

    Parameters
    ----------
    resource : ResourceMetrics
        An ``asg`` with ``GroupInServiceInstances`` and ``CPUUtilization`` (``RequestCount`` when available);
        attributes ``min_size``, ``max_size`` and ``hourly_cost_usd`` (else the list price of ``instance_type``) are
        used when present.
    **params
        As :func:`analyze`.

    Raises
    ------
    InsufficientDataError
        Too little history to forecast.
    InputValidationError
        Not a group with those metrics, or a bad parameter.
    """
    p = _analyze_params(params)
    s = resource.series
    missing = sorted({"GroupInServiceInstances", "CPUUtilization"} - set(s))
    if missing:
        raise InputValidationError(f"{resource.resource_id}: a group plan needs {missing}", field="series")
    inst = s["GroupInServiceInstances"]
    cpu = s["CPUUtilization"]
    if "RequestCount" in s:
        load_series = s["RequestCount"]
        _, mat = _aligned([load_series, cpu, inst])
        cap = learn_capacity(mat[:, 0], mat[:, 1], mat[:, 2], target_utilization=p["target_utilization"])
        load_name, unit = "RequestCount", f"requests per {load_series.period // 60} min"
    else:
        _, mat = _aligned([cpu, inst])
        values = mat[:, 0] * mat[:, 1]  # CPU-percent demand of the whole group
        load_series = MetricSeries(resource.resource_id, "GroupCPUDemand", cpu.start, cpu.period, values)
        cap = CapacityEstimate(
            p["target_utilization"],
            p["target_utilization"],
            p["target_utilization"],
            p["target_utilization"],
            0.0,
            1.0,
            int(np.isfinite(values).sum()),
            "cpu-demand",
        )
        load_name, unit = "CPUUtilization", "CPU-percent x instances"
    current = inst.values[np.isfinite(inst.values)]
    current_n = int(round(float(current[-1]))) if current.size else int(resource.attributes.get("instance_count", 1))
    current_n = max(current_n, 1)
    horizon = max(1, int(math.ceil(p["horizon_s"] / load_series.period)))
    est, fc = _fit_forecast(load_series, horizon)
    min_size = int(resource.attributes.get("min_size", 1))
    max_size = int(resource.attributes.get("max_size", max(current_n * 2, min_size + 1)))
    price, price_origin = _group_price(resource, p["price_path"])
    plan = plan_capacity(
        fc,
        cap.per_instance,
        current_n,
        min_size=min_size,
        max_size=max_size,
        warmup_s=p["warmup_s"],
        cooldown_s=p["cooldown_s"],
        quantile=p["quantile"],
        price_per_hour=price,
    )
    return GroupPlan(plan, fc, cap, load_name, unit, current_n, est, load_series, price_origin)


def _asg_insights(resource: ResourceMetrics, p: dict[str, Any], detail: dict[str, Any]) -> list[Insight]:
    """Capacity plan of an Auto Scaling group: learn capacity, forecast load, plan, explain."""
    gp = group_plan(resource, **p)
    plan, fc, cap, load_name, unit = gp.plan, gp.forecast, gp.capacity, gp.load_name, gp.unit
    current_n, est, load_series = gp.current, gp.estimator, gp.load_series
    cpu, min_size = resource.series["CPUUtilization"], plan.min_size
    capacity_line = np.asarray(plan.desired, dtype=np.float64) * cap.per_instance
    detail[load_name] = _plot(load_series.timestamps, load_series.values, fc, {"capacity": capacity_line})
    detail[load_name]["capacity_per_instance"] = cap.to_dict()
    detail[load_name]["plan"] = plan.to_dict()
    detail[load_name]["plan"]["recurring"] = [a.to_dict() for a in recurring_schedule(plan)]
    detail[load_name]["unit"] = unit

    origin = est.origin_
    up = np.asarray(fc.upper_80 if p["quantile"] == 90 else fc.upper_95)
    cur_cap = current_n * cap.per_instance
    over = np.flatnonzero(up > cur_cap)
    q = f"p{p['quantile']:g}"
    insights: list[Insight] = []
    base_ev = {
        "capacity_per_instance": round(cap.per_instance, 1),
        "capacity_interval": [round(cap.lower, 1), round(cap.upper, 1)],
        "capacity_method": cap.method,
        "current_instances": current_n,
        "forecast_seasonality": fc.seasonality,
        "forecast_confidence": round(fc.confidence, 3),
        "n_actions": len(plan.actions),
        "planned_instance_hours": round(plan.instance_hours, 1),
        "current_instance_hours": round(plan.instance_hours_current, 1),
    }
    if gp.price_origin:
        base_ev["price_origin"] = gp.price_origin
    if over.size:
        j = int(over[0])
        when = float(fc.timestamps[j])
        first_out = next((a for a in plan.actions if a.kind == "scale_out"), None)
        peak = int(np.argmax(up))
        need = int(max(plan.desired))
        end_j = j
        while end_j + 1 < len(up) and up[end_j + 1] > cur_cap:
            end_j += 1
        ratio = float(up[peak] / cur_cap)
        target = first_out.target if first_out else need
        by = first_out.at if first_out else when - p["warmup_s"]
        conf = first_out.confidence if first_out else fc.confidence
        title = f"{q} load exceeds current capacity at {_when(when, origin)}; scale to {target} by {_when(by, origin)}"
        summary = (
            f"{load_name} on {resource.resource_id} is forecast ({fc.seasonality} model) to reach {_num(up[j])} {unit} "
            f"({q}) at {_when(when, origin)}, above the {_num(cur_cap)} that {current_n} instances serve at "
            f"{p['target_utilization']:g} % CPU ({_num(cap.per_instance)} each, learnt from history). The peak, "
            f"{_num(up[peak])} at {_when(float(fc.timestamps[peak]), origin)}, needs {need} instances."
        )
        rec = (
            f"Schedule {target} instances by {_when(by, origin)} (warm-up {p['warmup_s'] / 60:g} min) instead of "
            f"waiting for target tracking; the plan has {len(plan.actions)} actions over the next "
            f"{p['horizon_s'] / 3600:g} h and keeps target tracking as the floor."
        )
        ev = base_ev | {
            "key_figure": f"{q} {_num(up[j])} > capacity {_num(cur_cap)} at {_clock(when)}",
            "first_exceed_at": when,
            "peak_load": round(float(up[peak]), 2),
            "peak_ratio": round(ratio, 3),
            "instances_needed": need,
            "scale_to": target,
            "act_by": by,
        }
        insights.append(
            _proactive(
                resource,
                _severity_for(ratio, when - origin),
                conf,
                title,
                summary,
                rec,
                origin,
                when,
                float(fc.timestamps[end_j]),
                ev,
                load_name,
            )
        )
    saved = plan.instance_hours_current - plan.instance_hours
    if not over.size and saved > 0.2 * plan.instance_hours_current and current_n > min_size:
        low = int(min(plan.desired))
        title = (
            f"{resource.resource_id} can run {low} instead of {current_n} instances for part of the next "
            f"{p['horizon_s'] / 3600:g} h"
        )
        summary = (
            f"The {q} {load_name} forecast stays below current capacity; the predictive schedule needs "
            f"{plan.instance_hours:.1f} instance-hours instead of {plan.instance_hours_current:.1f}."
        )
        rec = "Apply the predictive schedule (scale in after the cooldown, out ahead of the daily peak)."
        ev = base_ev | {
            "key_figure": f"{saved:.1f} instance-hours saved over {p['horizon_s'] / 3600:g} h",
            "instance_hours_saved": round(saved, 1),
        }
        insights.append(
            _proactive(
                resource,
                "low",
                fc.confidence,
                title,
                summary,
                rec,
                origin,
                float(fc.start),
                float(fc.timestamps[-1]),
                ev,
                load_name,
            )
        )
    # CPU per instance under the plan, for the report (no extra insights: the plan covers them).
    if load_name != "CPUUtilization":
        detail["CPUUtilization"] = _plot(cpu.timestamps, cpu.values, _cpu_under_plan(fc, plan, cap))
        detail["CPUUtilization"]["forecast"]["under_plan"] = True
    return insights


def _cpu_under_plan(fc: Forecast, plan: CapacityPlan, cap: CapacityEstimate) -> Forecast:
    """The CPU per instance that the plan implies: the learnt line ``cpu = a + b * load per instance`` applied to
    the load forecast and its bands over the planned group size (clipped to 0-100 %).

    This is what the plan commits to. A forecast of the CPU series on its own would extrapolate a per-instance
    figure as if the group kept its size, which the plan changes (it was also a second full forecast per group).
    """
    n = np.maximum(np.asarray(plan.desired, dtype=np.float64), 1.0)

    def cpu(load: tuple[float, ...]) -> tuple[float, ...]:
        per_instance = np.asarray(load, dtype=np.float64) / n
        return tuple(np.clip(cap.cpu_intercept + cap.cpu_per_request * per_instance, 0.0, 100.0).tolist())

    return dataclasses.replace(
        fc,
        mean=cpu(fc.mean),
        lower_80=cpu(fc.lower_80),
        upper_80=cpu(fc.upper_80),
        lower_95=cpu(fc.lower_95),
        upper_95=cpu(fc.upper_95),
    )


def _aligned(series: Sequence[MetricSeries]) -> tuple[np.ndarray, np.ndarray]:
    from cloudsage.core.series import align

    return align(series)


def _proactive(
    resource: ResourceMetrics,
    severity: str,
    confidence: float,
    title: str,
    summary: str,
    recommendation: str,
    detected_at: float,
    window_start: float,
    window_end: float,
    evidence: dict[str, Any],
    metric: str,
) -> Insight:
    """A proactive insight of this model; the confidence is kept inside [0.05, 0.99] (a forecast is never certain)."""
    return Insight(
        resource.resource_id,
        MODEL_NAME,
        "proactive",
        severity,
        float(np.clip(confidence, 0.05, 0.99)),
        title,
        summary,
        recommendation,
        detected_at,
        window_start,
        window_end,
        evidence,
        metric,
    )


def _util_insight(
    resource: ResourceMetrics, name: str, series: MetricSeries, p: dict[str, Any], detail: dict[str, Any]
) -> Insight | None:
    horizon = max(1, int(math.ceil(p["horizon_s"] / series.period)))
    est, fc = _fit_forecast(series, horizon)
    detail[name] = _plot(series.timestamps, series.values, fc)
    info = metric_info(name)
    up = np.asarray(fc.upper_80)
    origin = est.origin_
    if info.kind == "utilisation":
        limit, what = float(p["alert_utilization"]), f"{p['alert_utilization']:g} %"
    elif name == "Invocations" and resource.attributes.get("reserved_concurrency") and "Duration" in resource.series:
        return _lambda_insight(resource, series, fc, est, p, detail)
    else:
        # Other load metrics: only growth beyond anything seen (the mean forecast above 110 % of the maximum).
        hist = series.values[np.isfinite(series.values)]
        limit, what = 1.1 * float(np.max(hist)), "110 % of its history maximum"
        up = np.asarray(fc.mean)
    over = np.flatnonzero(up >= limit)
    if not over.size:
        return None
    j = int(over[0])
    when = float(fc.timestamps[j])
    ratio = float(np.max(up) / max(limit, 1e-12))
    end_j = j
    while end_j + 1 < len(up) and up[end_j + 1] >= limit:
        end_j += 1
    sev = "medium" if (info.kind == "utilisation" and np.max(fc.mean) >= limit) else "low"
    if info.kind == "utilisation" and np.max(fc.mean) >= 95.0:
        sev = "high"
    peak_t = float(fc.timestamps[int(np.argmax(up))])
    if j == 0:
        title = (
            f"{name} on {resource.resource_id} forecast to stay above {what}, peaking at {_num(np.max(up))} "
            f"at {_when(peak_t, origin)}"
        )
    else:
        title = f"{name} on {resource.resource_id} forecast to reach {what} at {_when(when, origin)}"
    summary = (
        f"The p90 forecast of {name} ({fc.seasonality} model, confidence {fc.confidence:.2f}) reaches {_num(up[j])} at "
        f"{_when(when, origin)} and peaks at {_num(np.max(up))} at {_when(peak_t, origin)}; the mean forecast peaks at "
        f"{_num(np.max(fc.mean))}."
    )
    rec = (
        "Add headroom before then (a larger instance type or one more instance), or move the work that drives the "
        "peak; if the peak is an expected batch window, raise the alarm threshold for that window instead."
    )
    ev = {
        "key_figure": f"p90 {_num(up[j])} at {_clock(when)}",
        "threshold": limit,
        "peak_p90": round(float(np.max(up)), 3),
        "peak_mean": round(float(np.max(fc.mean)), 3),
        "first_exceed_at": when,
        "forecast_seasonality": fc.seasonality,
        "forecast_confidence": round(fc.confidence, 3),
        "peak_ratio": round(ratio, 3),
    }
    return _proactive(
        resource,
        sev,
        fc.confidence,
        title,
        summary,
        rec,
        origin,
        when,
        float(fc.timestamps[end_j]),
        ev,
        name,
    )


def _lambda_insight(
    resource: ResourceMetrics,
    series: MetricSeries,
    fc: Forecast,
    est: ScalingForecaster,
    p: dict[str, Any],
    detail: dict[str, Any],
) -> Insight | None:
    """Concurrency forecast of a function (Little's law: invocations per second x duration) against its limit."""
    limit = float(resource.attributes["reserved_concurrency"])
    dur = resource.series["Duration"].values
    dur_ms = float(np.nanpercentile(dur, 90)) if np.isfinite(dur).any() else 0.0
    conc = np.asarray(fc.upper_80) / series.period * dur_ms / 1000.0
    detail["Invocations"]["forecast"]["concurrency_p90"] = _rounded(
        _bucket(conc, max(1, math.ceil(len(conc) / _PLOT_POINTS)), "max")
    )
    over = np.flatnonzero(conc >= 0.8 * limit)
    if not over.size:
        return None
    j = int(over[0])
    when = float(fc.timestamps[j])
    origin = est.origin_
    peak = float(conc.max())
    sev = "high" if peak >= limit else "medium"
    title = f"{resource.resource_id} concurrency forecast to reach {peak / limit:.0%} of its reserved limit"
    summary = (
        f"p90 invocations x p90 duration ({dur_ms:.0f} ms) give a concurrency of {conc[j]:.1f} at "
        f"{_when(when, origin)}, against reserved concurrency {limit:g}; throttling starts at the limit."
    )
    rec = f"Raise reserved concurrency above {math.ceil(peak * 1.2)} before {_when(when, origin)} or smooth the load."
    ev = {
        "key_figure": f"concurrency p90 {conc[j]:.1f} / limit {limit:g}",
        "peak_concurrency": round(peak, 2),
        "reserved_concurrency": limit,
        "first_exceed_at": when,
    }
    return _proactive(
        resource,
        sev,
        fc.confidence,
        title,
        summary,
        rec,
        origin,
        when,
        float(fc.timestamps[-1]),
        ev,
        "Invocations",
    )


def _analyze_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - set(_ANALYZE_DEFAULTS)
    if unknown:
        raise InputValidationError(f"unknown parameter(s) {sorted(unknown)}", field=sorted(unknown)[0])
    p = _ANALYZE_DEFAULTS | params
    for key in ("horizon_s", "warmup_s", "cooldown_s", "target_utilization", "alert_utilization"):
        if not isinstance(p[key], (int, float)) or isinstance(p[key], bool) or not math.isfinite(p[key]):
            raise InputValidationError("must be a number", field=key)
    if not 300 <= p["horizon_s"] <= 14 * DAY_S:
        raise InputValidationError("must be between 300 s and 14 days", field="horizon_s")
    if p["quantile"] not in (90, 97.5):
        raise InputValidationError("must be 90 or 97.5", field="quantile")
    if p["price_path"] is not None and not isinstance(p["price_path"], str):
        raise InputValidationError("must be a file path", field="price_path")
    return p


def _group_price(resource: ResourceMetrics, price_path: str | None) -> tuple[float | None, str]:
    """$/hour of one instance of the group and where it comes from: the ``hourly_cost_usd`` attribute, else the
    list price of its ``instance_type`` (the dated snapshot, or live prices), else unknown (instance-hours)."""
    given = resource.attributes.get("hourly_cost_usd")
    if isinstance(given, (int, float)) and not isinstance(given, bool) and math.isfinite(given) and given > 0:
        return float(given), "attribute hourly_cost_usd"
    itype = resource.attributes.get("instance_type")
    if not isinstance(itype, str):
        return None, ""
    from cloudsage.core.catalog import load_prices

    try:
        book = load_prices(str(resource.attributes.get("region", "us-east-1")), path=price_path)
        return book.hourly(itype), f"{itype} On-Demand, {book.origin}"
    except InputValidationError:  # a type or region the price book does not know: count instance-hours
        return None, ""


def analyze(resource: ResourceMetrics, **params: Any) -> ModelOutput:
    """Forecast the load of one resource and turn it into proactive insights (and a capacity plan for groups).

    * **Auto Scaling group** with ``GroupInServiceInstances`` and ``CPUUtilization`` (and ideally
      ``RequestCount``): learns requests per instance at the target CPU, forecasts requests, plans capacity from the
      p90 forecast and reports when p90 load exceeds current capacity ("p90 load exceeds current capacity at 14:05;
      scale to 8 by 13:55"), or how many instance-hours the schedule saves.
    * **Other resources**: forecasts utilisation metrics and reports when the p90 forecast reaches
      ``alert_utilization``; for a Lambda function with reserved concurrency, forecasts concurrency
      (invocations x duration) against the limit; other load metrics alert at 125 % of their history maximum.

    Parameters
    ----------
    resource : ResourceMetrics
        Metrics of one resource (a regular grid per metric; 14 days of 5-minute data is typical).
    **params
        ``horizon_s`` (default 172800: 48 h), ``target_utilization`` (60), ``warmup_s`` (300), ``cooldown_s``
        (900), ``quantile`` (90 or 97.5), ``alert_utilization`` (80).

    Returns
    -------
    ModelOutput
        ``insights`` (proactive), ``detail`` per forecast metric: ``{"timestamps", "values", "forecast":
        {"timestamps", "mean", "lower", "upper", "lower_80", "upper_80", ...}, "seasonality", "confidence"}``
        (at most 600 points each), plus ``plan`` and ``capacity_per_instance`` for groups; ``{"skipped": reason}``
        for a metric without enough data. For a group planned on its request metric, ``CPUUtilization``'s
        forecast is the CPU per instance under the plan (``"under_plan": true``): the learnt CPU line applied to the
        load forecast over the planned size.

    Raises
    ------
    InsufficientDataError
        No forecastable metric has enough data.
    InputValidationError
        An unknown or out-of-range parameter.

    Examples
    --------
    >>> t = 1.7e9 + 300 * np.arange(4 * 288)
    >>> cpu = 50 + 40 * np.sin(2 * np.pi * t / 86400)
    >>> s = MetricSeries("db-1", "CPUUtilization", t[0], 300, cpu)
    >>> out = analyze(ResourceMetrics("db-1", "rds", {"CPUUtilization": s}))
    >>> out.insights[0].title.startswith("CPUUtilization on db-1 forecast to reach 80 %")
    True
    """
    p = _analyze_params(params)
    detail: dict[str, Any] = {}
    insights: list[Insight] = []
    s = resource.series
    done: set[str] = set()
    errors: list[InsufficientDataError] = []
    if resource.resource_type == "asg" and {"GroupInServiceInstances", "CPUUtilization"} <= set(s):
        try:
            insights.extend(_asg_insights(resource, p, detail))
            done |= {"RequestCount", "CPUUtilization"}
        except InsufficientDataError as exc:
            errors.append(exc)
    for name in _FORECAST_METRICS.get(resource.resource_type, ()):
        if name not in s or name in done:
            continue
        try:
            ins = _util_insight(resource, name, s[name], p, detail)
        except InsufficientDataError as exc:
            errors.append(exc)
            detail[name] = {"skipped": str(exc)}
            continue
        if ins is not None:
            insights.append(ins)
    usable = [k for k, v in detail.items() if "skipped" not in v]
    if not usable:
        needed = max((e.needed for e in errors), default=_MIN_POINTS)
        got = max((e.got for e in errors), default=0)
        raise InsufficientDataError(f"{resource.resource_id}: no load metric to forecast", needed=needed, got=got)
    insights.sort(key=lambda i: i.window_start)
    return ModelOutput(MODEL_NAME, resource.resource_id, tuple(insights), detail)
