"""Capacity model of a request-serving system: the "virtual load test" (PerformancePredictor v1).

What it estimates, from a load test (:mod:`cloudsage.core.loadtest`) or from CloudWatch metrics:

1. **Service demand** ``D`` (CPU-seconds per request) by the *utilisation law* ``U = X * D``: for a load test,
   ``(server CPU + co-located generator CPU) / throughput`` at the most loaded measured level (the process's own
   CPU has no fixed background); for CloudWatch, a robust line ``U = U0 + D * X`` over load bins (the host's
   ``CPUUtilization`` includes a background ``U0`` that does not scale with requests).
2. **The throughput ceiling** ``X_max``: measured when the data reach the plateau (throughput stops growing with
   load, and the level below the top was already past the balanced-job-bound knee ``X * R0``: the median of the
   plateau steps); otherwise the smallest of the utilisation-law ceiling ``(cores - background) / D`` and the
   worker-pool ceiling ``workers / R0`` (Little's law with a worker held for at most the unloaded response time
   ``R0``); with neither, a contention-only (Amdahl) fit of the rising part, at low confidence. ``background`` is
   the CPU other processes took while the workload wanted it (on the plateau, or where the workload used most of
   the cores); elsewhere neighbours are taken to soak up idle CPU only. Saturated steps where neighbours took more
   than 15 % of the cores are reported as contaminated.
3. **Closed loop** (``N`` connections, think time ``Z``): exact mean-value analysis of a two-station product-form
   network, a bottleneck with ``m`` parallel servers (rate ``min(j, m) / D_b``, ``D_b = m / X_max``) and a delay
   ``R0 - D_b + Z``. ``R0`` is the unloaded response time; the effective parallelism ``m`` is the one number fitted
   to the light-load curve (it sets how round the knee is). Response time follows Little's law, ``R = N / X - Z``.
4. **Universal Scalability Law** only when the data span the knee: fitted and reported, but its retrograde part
   (a throughput *collapse* past the peak) is used only when the measured throughput already declines beyond the
   noise. A USL peak fitted below the knee, or a decline that is within run-to-run noise, is not trusted: on the
   reference run it predicts a collapse that never comes (42 % throughput error at 16-64 connections).
5. **Open loop** (arrivals at rate ``lambda``): M/M/m (Erlang C) with ``m`` servers of service time
   ``S = m / X_max``, plus a non-queueing base latency, ``R = R_base + S + v * W_q``; ``v`` (Kingman / Allen-Cunneen
   variability, ``(ca^2 + cs^2) / 2``) is fitted when the data reach utilisation 0.5 and is 1 otherwise. p95 comes
   from the M/M/m sojourn distribution on top of the measured light-load p95.
6. **Intervals that widen near saturation**: the ceiling's sampling distribution (a bootstrap over the steps,
   stratified by load level, seeded by ``random_state``) is pushed through the queueing model, so the latency
   interval blows up (to +inf) as the upper utilisation approaches 1; run-to-run noise is added for a single new
   measurement.

:func:`analyze` runs it on CloudWatch metrics (RequestCount, TargetResponseTime, CPUUtilization and
GroupInServiceInstances / ``instance_count`` for load balancers and groups; Invocations and Duration for Lambda
functions, where Little's law gives the concurrency) and reports whether the forecast peak breaches the latency
target, with the capacity that fixes it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Self

import numpy as np

from cloudsage.core.base import Estimator as BaseEstimator
from cloudsage.core.base import check_is_fitted
from cloudsage.core.errors import InputValidationError, InsufficientDataError
from cloudsage.core.loadtest import LoadPoint, LoadTest
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import Insight, ModelOutput, jsonable
from cloudsage.core.rounding import rounded6
from cloudsage.core.series import MetricSeries

MODEL_NAME = "performance"
_PLOT_POINTS = 600
_MIN_LEVELS = 2
_FLAT_GROWTH = 0.25
"""The top level is past the knee when its throughput grew by less than this fraction of proportional growth."""
_PLATEAU_FRACTION = 0.9
"""Levels within this fraction of the highest median throughput belong to the plateau."""
_SATURATED_SHARE = 0.75
"""A step whose workload uses this share of the host's cores is near saturation (its neighbours' CPU interferes)."""
_BOOTSTRAP = 200


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class CapacityModel:
    """What the fit learnt about the system, in seconds and requests per second.

    ``max_throughput`` is per unit of capacity (one server / instance); ``ceilings`` lists every ceiling estimate
    (``observed``, ``utilisation_law``, ``worker_pool``, ``contention_fit``) and ``method`` the one used.
    """

    kind: str
    method: str
    max_throughput: float
    max_throughput_lower: float
    max_throughput_upper: float
    service_demand_s: float
    cores: float
    background_cores: float
    parallelism: float
    base_response_s: float
    think_time_s: float
    knee_load: float
    knee_throughput: float
    knee_response_s: float
    noise_rel: float
    variability: float
    ceilings: dict[str, float] = field(default_factory=dict)
    usl: dict[str, float] | None = None
    usl_retrograde_trusted: bool = False
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True, slots=True)
class PerformancePrediction:
    """Predicted throughput and latency at each load, with intervals and a confidence in ``[0, 1]``.

    ``load`` is the concurrency (closed loop) or the offered rate in req/s (open loop) for the whole system of
    ``capacity`` units. Latencies are in seconds; ``inf`` means the system is saturated (no steady state).
    ``p95_s`` is NaN for closed-loop predictions without raw percentiles to calibrate it.
    """

    kind: str
    capacity: float
    load: tuple[float, ...]
    throughput: tuple[float, ...]
    throughput_lower: tuple[float, ...]
    throughput_upper: tuple[float, ...]
    mean_s: tuple[float, ...]
    mean_lower_s: tuple[float, ...]
    mean_upper_s: tuple[float, ...]
    p95_s: tuple[float, ...]
    p95_upper_s: tuple[float, ...]
    utilisation: tuple[float, ...]
    confidence: tuple[float, ...]
    level: int = 90

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable_floats(getattr(self, f.name)) for f in fields(self)}


def _jsonable_floats(value: Any) -> Any:
    """``jsonable(value)``, with a short cut for a tuple of Python floats (what jsonable makes of each float)."""
    if type(value) is tuple and all(type(v) is float for v in value):
        return [v if math.isfinite(v) else None for v in value]
    return jsonable(value)


@dataclass(frozen=True, slots=True)
class VirtualLoadTest:
    """Latency against load for one or more capacities (today's and proposed ones)."""

    kind: str
    labels: tuple[str, ...]
    scenarios: tuple[PerformancePrediction, ...]
    knee_load: tuple[float, ...]
    max_throughput: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scenarios": [
                {"label": lab, "knee_load": k, "max_throughput": x, **s.to_dict()}
                for lab, s, k, x in zip(self.labels, self.scenarios, self.knee_load, self.max_throughput, strict=True)
            ],
        }


@dataclass(frozen=True, slots=True)
class SlaCheck:
    """Instances needed to keep p95 latency under a target at a peak arrival rate."""

    peak_rps: float
    p95_target_s: float
    instances_now: float
    capacity_factor: float
    p95_now_s: float
    p95_now_upper_s: float
    utilisation_now: float
    breach: bool
    instances_needed: int | None
    p95_needed_s: float
    utilisation_needed: float
    latency_floor_s: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


# ---------------------------------------------------------------------------------------------- queueing maths
def _median(a: np.ndarray) -> float:
    """``float(np.median(a))`` for a 1-D float64 array, without its dispatch overhead (~15 us a call).

    numpy's own steps: ``np.partition`` with the same ``kth`` (so the same array), then the mean of the middle
    slice (``np.add.reduce`` over it, divided by its length), NaN if a NaN was partitioned to the end.
    """
    n = a.size
    if a.ndim != 1 or a.dtype != np.float64 or n == 0:
        return float(np.median(a))
    h = n // 2
    part = np.partition(a, [h - 1, h, -1] if n % 2 == 0 else [h, -1])
    if math.isnan(part[-1]):
        return math.nan
    mid = part[h - 1 : h + 1] if n % 2 == 0 else part[h : h + 1]
    return float(np.add.reduce(mid) / mid.size)  # np.mean's sum, so a lone -0.0 comes out as 0.0 like numpy's


def _theil_sen(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Theil-Sen line: the median of the pairwise slopes, and median(y) - slope x median(x).

    What ``scipy.stats.theilslopes`` returns (method "separate"), without its confidence interval, whose normal
    quantile and tie counting cost more than the fit on a handful of load levels.
    """
    dx = x[:, None] - x
    dy = y[:, None] - y
    up = dx > 0
    slope = _median(dy[up] / dx[up])
    return slope, _median(y) - slope * _median(x)


def erlang_c(m: int, a: np.ndarray | float) -> np.ndarray:
    """Probability of waiting in an M/M/m queue with offered load ``a = lambda * S`` (Erlang C).

    Computed by the stable Erlang-B recursion; 1 where ``a >= m`` (saturated).

    Examples
    --------
    >>> round(float(erlang_c(1, 0.5)[0]), 6), round(float(erlang_c(2, 1.0)[0]), 6)
    (0.5, 0.333333)
    """
    a_arr = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.ones_like(a_arr)
    for k in range(1, int(m) + 1):
        ab = a_arr * b  # computed once: the same product feeds the numerator and the denominator
        b = ab / (k + ab)
    rho = a_arr / m
    with np.errstate(divide="ignore", invalid="ignore"):
        c = b / (1.0 - rho * (1.0 - b))
    return np.where(rho >= 1.0, 1.0, np.clip(c, 0.0, 1.0))


def _log_fact_min(j: np.ndarray, m: float) -> np.ndarray:
    """``sum_{i=1..j} log(min(i, m))`` for integer ``j >= 0`` and real ``m >= 1``."""
    from scipy.special import gammaln

    fm = math.floor(m)
    jj = j.astype(np.float64)
    below = gammaln(np.minimum(jj, fm) + 1.0)
    return below + np.maximum(jj - fm, 0.0) * math.log(m)


def mva_throughput(
    n: np.ndarray | Sequence[float], x_max: float, m: float, r0: float, think_s: float = 0.0
) -> np.ndarray:
    """Exact closed-network throughput for populations ``n``: a bottleneck of ``m`` servers plus a delay.

    The bottleneck serves at rate ``min(j, m) / D_b`` with ``j`` requests present (``D_b = m / x_max``); the delay
    (network, client, think time) is ``max(r0 - D_b, 0) + think_s``. The product-form normalising constant is
    summed in log space, so the result is stable for any population. Non-integer populations are interpolated.

    Examples
    --------
    >>> x = mva_throughput([1, 2, 64], x_max=1000.0, m=2.0, r0=0.002)
    >>> [round(float(v)) for v in x]
    [500, 1000, 1000]
    """
    from scipy.special import gammaln, logsumexp

    pops = np.asarray(n, dtype=np.float64)
    d_b = m / x_max
    delay = max(r0 - d_b, 0.0) + max(think_s, 0.0)

    def log_g(k: int) -> float:
        j = np.arange(k + 1)
        terms = j * math.log(d_b) - _log_fact_min(j, m)
        if delay > 0:
            terms = terms + (k - j) * math.log(delay) - gammaln(k - j + 1.0)
        else:
            terms = np.where(j == k, terms, -np.inf)
        return float(logsumexp(terms))

    cache: dict[int, float] = {}

    def x_of(k: int) -> float:
        if k <= 0:
            return 0.0
        for kk in (k - 1, k):
            if kk not in cache:
                cache[kk] = log_g(kk)
        return math.exp(cache[k - 1] - cache[k])

    out = np.empty(pops.shape, dtype=np.float64)
    for idx, p in np.ndenumerate(pops):
        lo, hi = math.floor(p), math.ceil(p)
        x_lo, x_hi = x_of(lo), x_of(hi)
        out[idx] = x_lo + (p - lo) * (x_hi - x_lo) if hi != lo else x_hi
    return out


def usl_throughput(n: np.ndarray, lam: float, sigma: float, kappa: float) -> np.ndarray:
    """Gunther's Universal Scalability Law ``X(N) = lam N / (1 + sigma (N - 1) + kappa N (N - 1))``."""
    n = np.asarray(n, dtype=np.float64)
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def fit_usl(n: np.ndarray, x: np.ndarray) -> dict[str, float]:
    """Least-squares USL fit (relative errors); returns ``lam``, ``sigma``, ``kappa``, ``peak_n``, ``peak_x``.

    Raises
    ------
    InsufficientDataError
        Fewer than three distinct loads.
    """
    from scipy.optimize import least_squares

    n = np.asarray(n, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if np.unique(n).size < 3:
        raise InsufficientDataError("USL fit", needed=3, got=int(np.unique(n).size), unit="load levels")
    lam0 = float(np.median(x[n == n.min()]) / n.min())

    def resid(p: np.ndarray) -> np.ndarray:
        return (usl_throughput(n, p[0], p[1], p[2]) - x) / x

    res = least_squares(resid, [lam0, 0.05, 0.001], bounds=([1e-12, 0.0, 0.0], [np.inf, 1.0, 1.0]))
    lam, sigma, kappa = (float(v) for v in res.x)
    peak_n = math.sqrt((1.0 - sigma) / kappa) if kappa > 1e-12 else math.inf
    peak_x = (
        float(usl_throughput(np.array([peak_n]), lam, sigma, kappa)[0])
        if math.isfinite(peak_n)
        else lam / max(sigma, 1e-12)
    )
    return {"lam": lam, "sigma": sigma, "kappa": kappa, "peak_n": peak_n, "peak_x": peak_x}


def _sojourn_quantile(q: float, s: float, c: float, theta: float) -> float:
    """``q``-quantile of Exp(1/s) service plus a wait that is 0 w.p. ``1 - c`` and Exp(theta) otherwise."""
    from scipy.optimize import brentq

    mu = 1.0 / s
    if not math.isfinite(theta) or theta <= 0:
        return math.inf

    # constants hoisted out of the CDF: the same IEEE operations on the same operands (``-mu * t`` is ``(-mu) * t``)
    exp, neg_mu, neg_theta, stay, gap = math.exp, -mu, -theta, 1.0 - c, theta - mu
    if abs(gap) < 1e-9 * mu:

        def cdf(t: float) -> float:
            e = exp(neg_mu * t)
            return stay * (1.0 - e) + c * (1.0 - e * (1.0 + mu * t)) - q

    else:

        def cdf(t: float) -> float:
            e = exp(neg_mu * t)
            return stay * (1.0 - e) + c * (1.0 - (theta * e - mu * exp(neg_theta * t)) / gap) - q

    hi = s
    while cdf(hi) < 0:
        hi *= 2.0
        if hi > 1e9 * s:
            return math.inf
    return float(brentq(cdf, 0.0, hi, xtol=1e-12 * max(s, 1e-9), rtol=1e-10))


# ---------------------------------------------------------------------------------------------- fitted state
@dataclass(frozen=True, slots=True)
class _Levels:
    load: np.ndarray
    count: np.ndarray
    thr: np.ndarray
    mean_s: np.ndarray
    p95_s: np.ndarray
    work_cpu: np.ndarray
    other_cpu: np.ndarray


@dataclass(frozen=True, slots=True)
class _Params:
    kind: str
    x_max: float
    m: float
    r0: float
    think_s: float
    m_open: int
    s_open: float
    base_s: float
    v: float
    base95_s: float
    usl: dict[str, float] | None
    retrograde: bool


def _group_medians(inv: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Median of ``values`` per group index ``inv`` (NaN ignored; NaN for a group without values)."""
    ok = ~np.isnan(values)
    idx, val = inv[ok], values[ok]
    order = np.lexsort((val, idx))
    idx, val = idx[order], val[order]
    counts = np.bincount(idx, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    out = np.full(n_groups, np.nan)
    has = counts > 0
    lo, hi = starts + (counts - 1) // 2, starts + counts // 2
    out[has] = 0.5 * (val[lo[has]] + val[hi[has]])
    return out


def _levels(points: Sequence[LoadPoint], colocated: bool) -> _Levels:
    """Per-load-level medians of the steps (robust to one bad repetition)."""
    load = np.array([p.load for p in points])
    thr = np.array([p.throughput_rps for p in points])
    mean = np.array([p.mean_s for p in points])
    p95 = np.array([_p95_of(p) for p in points])
    srv = np.array([p.server_cpu_cores for p in points])
    gen = np.array([p.generator_cpu_cores if colocated else 0.0 for p in points])
    work = srv + np.where(np.isnan(gen), 0.0, gen)
    other = np.array([p.other_cpu_cores for p in points])
    uniq, inv = np.unique(load, return_inverse=True)
    cols = [_group_medians(inv, uniq.size, a) for a in (thr, mean, p95, work, other)]
    count = np.bincount(inv, minlength=uniq.size)
    return _Levels(uniq, count, *cols)


def _p95_of(p: LoadPoint) -> float:
    if math.isfinite(p.p95_s):
        return p.p95_s
    if math.isfinite(p.p90_s) and math.isfinite(p.p99_s):
        # exponential-tail interpolation: -ln(1-q) is 2.30, 3.00, 4.61 at q = 0.90, 0.95, 0.99
        return p.p90_s + (p.p99_s - p.p90_s) * (math.log(20) - math.log(10)) / (math.log(100) - math.log(10))
    return math.nan


# ---------------------------------------------------------------------------------------------- estimator
class PerformancePredictor(BaseEstimator):  # type: ignore[misc]  # scikit-learn ships no type stubs
    """Capacity model: throughput ceiling, knee, latency against load, virtual load tests and SLA checks.

    Parameters
    ----------
    level : int, default=90
        Coverage of the prediction intervals, in percent.
    cores : float or None, default=None
        Cores of one unit of capacity (host or instance); None takes ``host_cpus`` from the data.
    workers : float or None, default=None
        Worker-pool size of the server; None takes ``workers`` from the data (if any).
    think_time_s : float, default=0.0
        Think time of a closed-loop client (0 for wrk-style load generators).
    colocated_generator : bool, default=True
        The load generator runs on the server's host, so its CPU per request competes for the same cores
        (the utilisation law then counts server + generator CPU). Ignored when the data have no generator CPU.
    max_error_rate : float, default=0.01
        Steps with a larger share of failed requests are left out of the fit.
    tail_ratio : float, default=2.0
        p95 over mean latency at light load, used only when the data have no raw percentiles.
    random_state : int, Generator or None, default=0
        Seed of the bootstrap behind the intervals.

    Attributes
    ----------
    kind_ : str
        ``closed`` or ``open``.
    capacity_ : CapacityModel
        Ceiling, demand, knee, USL and notes.
    max_throughput_ : float
        Throughput ceiling of one unit, req/s.
    service_demand_s_ : float
        CPU-seconds per request (NaN without CPU data).
    knee_ : float
        Load (concurrency or req/s) where latency starts to climb fast: the point that maximises throughput over
        response time (Kleinrock's power), i.e. where a line through the origin touches the latency curve.
    ceiling_samples_ : numpy.ndarray
        Bootstrap distribution of ``max_throughput_``.
    params_ : object
        Internal parameters of the queueing model.
    n_points_ : int
        Steps used in the fit.
    noise_rel_ : float
        Relative run-to-run standard deviation of throughput between repetitions (0 without repetitions).

    Examples
    --------
    >>> pts = [LoadPoint("closed", n, x, n / x, server_cpu_cores=x * 0.002, host_cpus=2.0)
    ...        for n, x in [(1, 480.0), (2, 760.0), (4, 960.0), (8, 990.0), (8, 985.0)]]
    >>> model = PerformancePredictor().fit(pts)
    >>> round(model.max_throughput_, -1)
    990.0
    >>> pred = model.predict([64])
    >>> round(pred.mean_s[0] * 1000)
    65
    """

    def __init__(
        self,
        level: int = 90,
        cores: float | None = None,
        workers: float | None = None,
        think_time_s: float = 0.0,
        colocated_generator: bool = True,
        max_error_rate: float = 0.01,
        tail_ratio: float = 2.0,
        random_state: int | np.random.Generator | None = 0,
    ) -> None:
        self.level = level
        self.cores = cores
        self.workers = workers
        self.think_time_s = think_time_s
        self.colocated_generator = colocated_generator
        self.max_error_rate = max_error_rate
        self.tail_ratio = tail_ratio
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, y: Any, X: Any = None) -> Self:
        """Learn the capacity model from load-test steps (or CloudWatch metrics).

        Parameters
        ----------
        y : LoadTest, sequence of LoadPoint, or ResourceMetrics
            The measured steps, all closed loop or all open loop. A :class:`ResourceMetrics` is turned into
            open-loop steps per period (see :func:`operational_points`).
        X : None
            Ignored; present for API consistency.

        Returns
        -------
        PerformancePredictor
            ``self``, fitted.

        Raises
        ------
        InsufficientDataError
            Fewer than two load levels (or no usable step).
        InputValidationError
            Mixed closed/open steps, or a hyperparameter out of range (the message names it).
        """
        self._check_params()
        test = _as_loadtest(y)
        points = [p for p in test.points if p.error_rate <= float(self.max_error_rate)]
        n_levels = len({p.load for p in points})
        if n_levels < _MIN_LEVELS:
            raise InsufficientDataError("capacity model", needed=_MIN_LEVELS, got=n_levels, unit="load levels")
        rng = np.random.default_rng(self.random_state)
        kind = test.kind
        cores = self._first(self.cores, [p.host_cpus for p in points])
        workers = self._first(self.workers, [p.workers for p in points])
        colocated = bool(self.colocated_generator) and any(math.isfinite(p.generator_cpu_cores) for p in points)
        has_cpu = all(math.isfinite(p.server_cpu_cores) for p in points)
        lv = _levels(points, colocated)
        notes: list[str] = []

        ceil = _Ceiling(kind, cores, workers, has_cpu, test.cpu_scope, float(self.think_time_s))
        x_max, method, ceilings, demand, background = ceil.estimate(lv, notes)
        samples = _boot_ceilings(ceil, points, rng, colocated, _BOOTSTRAP, lv)
        samples = samples[np.isfinite(samples)]
        if samples.size == 0:
            samples = np.array([x_max])
        # centre the bootstrap spread on the point estimate (the median is a biased estimator of itself)
        samples = samples * (x_max / _median(samples))
        noise = _noise_rel(points)
        self.noise_rel_ = noise
        self._contamination(kind, lv, cores, notes)
        think = float(self.think_time_s) if kind == "closed" else 0.0
        r0, m = self._fit_curve(kind, lv, x_max, think)
        usl, retro = self._fit_usl(kind, points, lv, x_max, noise, notes)
        if method == "worker_pool":
            m_open = max(1, round(workers))
        elif math.isfinite(demand):  # servers of the open-loop view: the cores the requests keep busy at the ceiling
            m_open = max(1, round(x_max * demand))
        else:
            m_open = max(1, round(m))
        s_open = m_open / x_max
        base_s, v, base95 = self._fit_open_latency(kind, lv, x_max, m_open, s_open, r0)
        self.params_ = _Params(kind, x_max, m, r0, think, m_open, s_open, base_s, v, base95, usl, retro)
        self.kind_ = kind
        self.max_throughput_ = x_max
        self.service_demand_s_ = demand
        self.ceiling_samples_ = samples
        self.n_points_ = len(points)
        self.knee_ = self._knee()
        alpha = (100.0 - float(self.level)) / 200.0
        lo, hi = (float(v) for v in np.quantile(samples, [alpha, 1.0 - alpha]))
        knee_pred = self.predict([self.knee_])
        self.capacity_ = CapacityModel(
            kind=kind,
            method=method,
            max_throughput=x_max,
            max_throughput_lower=min(lo, x_max),
            max_throughput_upper=max(hi, x_max),
            service_demand_s=demand,
            cores=cores,
            background_cores=background,
            parallelism=m,
            base_response_s=r0 if kind == "closed" else base_s + s_open,
            think_time_s=think,
            knee_load=self.knee_,
            knee_throughput=knee_pred.throughput[0],
            knee_response_s=knee_pred.mean_s[0],
            noise_rel=noise,
            variability=v,
            ceilings=ceilings,
            usl=usl,
            usl_retrograde_trusted=retro,
            notes=tuple(notes),
        )
        return self

    def _check_params(self) -> None:
        if not isinstance(self.level, (int, float)) or not 50 <= float(self.level) < 100:
            raise InputValidationError(f"must be in [50, 100), got {self.level!r}", field="level")
        for name in ("cores", "workers"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0):
                raise InputValidationError(f"must be a number > 0 or None, got {v!r}", field=name)
        if not isinstance(self.think_time_s, (int, float)) or not 0 <= float(self.think_time_s) < math.inf:
            raise InputValidationError(f"must be >= 0, got {self.think_time_s!r}", field="think_time_s")
        if not isinstance(self.max_error_rate, (int, float)) or not 0 <= float(self.max_error_rate) <= 1:
            raise InputValidationError(f"must be in [0, 1], got {self.max_error_rate!r}", field="max_error_rate")
        if not isinstance(self.tail_ratio, (int, float)) or not 1 <= float(self.tail_ratio) < 100:
            raise InputValidationError(f"must be in [1, 100), got {self.tail_ratio!r}", field="tail_ratio")

    @staticmethod
    def _first(explicit: float | None, values: Sequence[float]) -> float:
        if explicit is not None:
            return float(explicit)
        finite = [v for v in values if math.isfinite(v)]
        return _median(np.asarray(finite, dtype=np.float64)) if finite else math.nan

    @staticmethod
    def _contamination(kind: str, lv: _Levels, cores: float, notes: list[str]) -> None:
        """Note when other processes took CPU the saturated workload wanted (a noisy neighbour).

        Only saturated steps tell: below saturation, neighbours may just be soaking up idle CPU.
        """
        if not math.isfinite(cores) or not np.any(np.isfinite(lv.other_cpu)):
            return
        if kind == "closed" and _plateau_reached(lv):
            top = lv.thr >= _PLATEAU_FRACTION * float(np.max(lv.thr))
        elif kind == "open" and _open_saturated(lv):
            top = lv.load == lv.load[-1]
        else:
            return
        if not np.any(np.isfinite(lv.other_cpu[top])):
            return
        other = float(np.nanmedian(lv.other_cpu[top]))
        if other > 0.15 * cores:
            notes.append(
                f"other processes used {other:.2f} of {cores:g} cores at the saturated steps: the measurement is "
                "contaminated by neighbours and the ceiling is lower than the server's own"
            )

    def _fit_curve(self, kind: str, lv: _Levels, x_max: float, think: float) -> tuple[float, float]:
        """Unloaded response time ``R0`` and effective parallelism ``m`` of the bottleneck."""
        from scipy.optimize import minimize_scalar

        resp = lv.mean_s
        if kind == "open":
            return float(np.nanmin(resp)), 1.0
        lowest = int(np.argmin(lv.load))
        if lv.load[lowest] == 1:
            r0 = float(resp[lowest])
        else:  # no N = 1 step: the lowest level's cycle time bounds R0 from above (Little's law)
            r0 = float(min(resp[lowest], lv.load[lowest] / lv.thr[lowest] - think))
        r0 = max(r0, 1e-9)
        m_hi = max(1.0, x_max * r0)
        if m_hi <= 1.0 + 1e-9:
            return r0, 1.0
        obs = np.log(lv.thr)

        def loss(log_m: float) -> float:
            pred = mva_throughput(lv.load, x_max, math.exp(log_m), r0, think)
            return float(np.sum(lv.count * (np.log(pred) - obs) ** 2))

        res = minimize_scalar(loss, bounds=(0.0, math.log(m_hi)), method="bounded", options={"xatol": 1e-3})
        return r0, float(math.exp(res.x))

    def _fit_usl(
        self, kind: str, points: Sequence[LoadPoint], lv: _Levels, x_max: float, noise: float, notes: list[str]
    ) -> tuple[dict[str, float] | None, bool]:
        """USL only when the data span the knee; its collapse only when the data already decline past the noise."""
        if kind != "closed" or lv.load.size < 3 or not _plateau_reached(lv):
            return None, False
        n = np.array([p.load for p in points])
        x = np.array([p.throughput_rps for p in points])
        try:
            usl = fit_usl(n, x)
        except (InsufficientDataError, ValueError):
            return None, False
        top = int(np.argmax(lv.load))
        best = float(np.max(lv.thr))
        se = noise * best / math.sqrt(max(int(lv.count[top]), 1))
        decline = best - float(lv.thr[top])
        retro = usl["kappa"] > 0 and decline > max(0.05 * best, 2.0 * se) and lv.load[top] > usl["peak_n"]
        if usl["kappa"] > 0 and not retro:
            notes.append(
                f"USL peak at N={usl['peak_n']:.1f} ({usl['peak_x']:.0f} req/s) predicts a collapse the data do not "
                "show beyond run-to-run noise: throughput held flat past the knee"
            )
        return usl, bool(retro)

    def _fit_open_latency(
        self, kind: str, lv: _Levels, x_max: float, m: int, s: float, r0: float
    ) -> tuple[float, float, float]:
        """Base (non-queueing) latency, variability factor ``v`` and base p95 of the open-loop view."""
        rho = np.clip(lv.thr / x_max, 0.0, 0.999)
        wq1 = erlang_c(m, rho * m) * s / (m * (1.0 - rho))
        if kind == "closed":
            base = max(r0 - s, 0.0)
            return base, 1.0, (base + s) * float(self.tail_ratio)
        r = lv.mean_s - s
        v = 1.0
        if float(np.max(rho)) >= 0.5 and lv.load.size >= 3:
            from scipy.optimize import lsq_linear

            a = np.column_stack([np.ones_like(wq1), wq1])
            sol = lsq_linear(a, r, bounds=([0.0, 0.25], [np.inf, 10.0]))
            base, v = float(sol.x[0]), float(sol.x[1])
        else:
            base = float(max(np.median(r - wq1), 0.0))
        q0 = _q95(m, s, 0.0, v)
        p95 = lv.p95_s
        if np.any(np.isfinite(p95)):
            extra = np.array([_q95(m, s, float(x), v) - q0 for x in rho])
            base95 = float(np.nanmedian(p95 - extra))
        else:
            base95 = (base + s) * float(self.tail_ratio)
        return base, v, max(base95, base + s)

    # ------------------------------------------------------------------ predictions
    def predict(self, load: Any, capacity: float = 1.0) -> PerformancePrediction:
        """Throughput and latency at ``load`` for ``capacity`` units (instances, or a capacity factor).

        Parameters
        ----------
        load : float or array-like
            Concurrency (closed loop) or offered rate in req/s (open loop), for the whole system.
        capacity : float, default=1.0
            Units of capacity: identical instances behind a balancer, or the capacity factor of a bigger type.

        Returns
        -------
        PerformancePrediction

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        InputValidationError
            A load or capacity that is not a finite number > 0.
        """
        check_is_fitted(self, "params_")
        loads = np.atleast_1d(np.asarray(load, dtype=np.float64))
        if loads.ndim != 1 or loads.size == 0 or not np.all(np.isfinite(loads)) or np.any(loads <= 0):
            raise InputValidationError("must be finite numbers > 0", field="load")
        if not isinstance(capacity, (int, float)) or not math.isfinite(capacity) or capacity <= 0:
            raise InputValidationError(f"must be a finite number > 0, got {capacity!r}", field="capacity")
        alpha = (100.0 - float(self.level)) / 200.0
        lo, hi = (float(v) for v in np.quantile(self.ceiling_samples_, [alpha, 1.0 - alpha]))
        x_mid = self.params_.x_max
        z = _z(float(self.level))
        if self.params_.kind == "closed":
            return self._predict_closed(loads, float(capacity), (min(lo, x_mid), x_mid, max(hi, x_mid)), z)
        return self._predict_open(loads, float(capacity), (min(lo, x_mid), x_mid, max(hi, x_mid)), z)

    def _closed_x(self, n: np.ndarray, x_max: float) -> np.ndarray:
        p = self.params_
        x = mva_throughput(n, x_max, p.m, p.r0, p.think_s)
        if p.retrograde and p.usl is not None:
            u = p.usl
            grid = np.maximum.accumulate(
                usl_throughput(np.arange(1, int(np.max(n)) + 2), u["lam"], u["sigma"], u["kappa"])
            )
            at = usl_throughput(n, u["lam"], u["sigma"], u["kappa"])
            running_max = np.interp(n, np.arange(1, grid.size + 1), grid)
            x = x * np.minimum(1.0, at / running_max)
        return x

    def _predict_closed(
        self, loads: np.ndarray, k: float, ceils: tuple[float, float, float], z: float
    ) -> PerformancePrediction:
        p = self.params_
        per_unit = loads / k
        x_lo, x_mid, x_hi = (k * self._closed_x(per_unit, c) for c in ceils)
        noise = z * self.capacity_noise()
        thr_lo, thr_hi = x_lo * max(1.0 - noise, 0.05), x_hi * (1.0 + noise)
        think = p.think_s
        mean = loads / x_mid - think
        mean_lo, mean_hi = loads / thr_hi - think, loads / thr_lo - think
        util = x_mid / (k * p.x_max)
        conf = np.clip(1.0 - (thr_hi - thr_lo) / (2.0 * x_mid), 0.05, 0.99)
        nan = tuple(math.nan for _ in loads)
        return PerformancePrediction(
            kind="closed",
            capacity=k,
            load=_t(loads),
            throughput=_t(x_mid),
            throughput_lower=_t(thr_lo),
            throughput_upper=_t(thr_hi),
            mean_s=_t(mean),
            mean_lower_s=_t(np.maximum(mean_lo, 0.0)),
            mean_upper_s=_t(mean_hi),
            p95_s=nan,
            p95_upper_s=nan,
            utilisation=_t(util),
            confidence=_t(conf),
            level=int(self.level),
        )

    def capacity_noise(self) -> float:
        """Relative run-to-run noise of throughput (0 before any repetition)."""
        check_is_fitted(self, "params_")
        return float(self.noise_rel_)

    def _open_mean(self, lam: np.ndarray, x_max: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean latency per unit at per-unit arrival rates ``lam`` with ceiling ``x_max``, and the Erlang C."""
        p = self.params_
        m = p.m_open
        s = m / x_max
        rho = lam / x_max
        c = erlang_c(m, np.minimum(rho, 0.999999) * m)
        with np.errstate(divide="ignore"):
            wq = np.where(rho < 1.0, p.v * c * s / (m * (1.0 - rho)), np.inf)
        return p.base_s + s + wq, c

    def _open_at(self, lam: np.ndarray, x_max: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and p95 latency per unit at per-unit arrival rates ``lam`` with ceiling ``x_max``."""
        p = self.params_
        m = p.m_open
        s = m / x_max
        rho = lam / x_max
        mean, c = self._open_mean(lam, x_max)
        q0 = _q95(m, s, 0.0, p.v)
        # below the 0.999999 clip, c[i] is the Erlang C that _q95 would recompute (same elementwise IEEE operations)
        p95 = np.array(
            [
                p.base95_s + (_q95(m, s, r, p.v, ci if r <= 0.999999 else None) - q0) if r < 1.0 else math.inf
                for r, ci in zip(rho.tolist(), c.tolist(), strict=True)
            ]
        )
        return mean, p95

    def _predict_open(
        self, loads: np.ndarray, k: float, ceils: tuple[float, float, float], z: float
    ) -> PerformancePrediction:
        per_unit = loads / k
        lo, mid, hi = ceils
        mean, p95 = self._open_at(per_unit, mid)
        mean_fast, _ = self._open_mean(per_unit, hi)  # its p95 is not reported
        mean_slow, p95_slow = self._open_at(per_unit, lo)
        noise = z * float(self.noise_rel_)
        thr = np.minimum(loads, k * mid)
        thr_lo = np.minimum(loads, k * lo * max(1.0 - noise, 0.05))
        thr_hi = np.minimum(loads, k * hi * (1.0 + noise))
        util = per_unit / mid
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(np.isfinite(mean_slow), (mean_slow - mean_fast) / (2.0 * mean), np.inf)
        conf = np.clip(1.0 - rel, 0.05, 0.99)
        return PerformancePrediction(
            kind="open",
            capacity=k,
            load=_t(loads),
            throughput=_t(thr),
            throughput_lower=_t(thr_lo),
            throughput_upper=_t(thr_hi),
            mean_s=_t(mean),
            mean_lower_s=_t(mean_fast),
            mean_upper_s=_t(mean_slow),
            p95_s=_t(p95),
            p95_upper_s=_t(p95_slow),
            utilisation=_t(util),
            confidence=_t(conf),
            level=int(self.level),
        )

    def _knee(self) -> float:
        """Load maximising throughput / response time (Kleinrock's power) on the fitted curve."""
        p = self.params_
        if p.kind == "closed":
            top = max(4, math.ceil(4.0 * p.x_max * (p.r0 + p.think_s)))
            # every population up to 400, a geometric grid beyond (each MVA evaluation costs O(N))
            n = (
                np.arange(1, top + 1, dtype=np.float64)
                if top <= 400
                else np.unique(np.round(np.geomspace(1, top, 400)))
            )
            x = self._closed_x(n, p.x_max)
            power = x / (n / x)
            return float(n[int(np.argmax(power))])
        lam = np.linspace(0.005, 0.995, 397) * p.x_max
        mean, _ = self._open_mean(lam, p.x_max)
        return float(lam[int(np.argmax(lam / mean))])

    # ------------------------------------------------------------------ scenarios
    def virtual_load_test(
        self,
        loads: Any = None,
        capacities: Sequence[float] = (1.0,),
        labels: Sequence[str] | None = None,
    ) -> VirtualLoadTest:
        """Latency against load for each capacity (e.g. today's instances and a proposed count or type).

        Parameters
        ----------
        loads : array-like, optional
            Loads to evaluate (concurrency or req/s for the whole system); default: from 2 % to 98 % of the
            largest capacity's ceiling (open loop) or up to four times its knee (closed loop), 40 points.
        capacities : sequence of float
            Units of capacity per scenario (instance counts, or instance count x capacity factor).
        labels : sequence of str, optional
            One label per scenario.

        Returns
        -------
        VirtualLoadTest
        """
        check_is_fitted(self, "params_")
        caps = [float(c) for c in capacities]
        if not caps or any(not math.isfinite(c) or c <= 0 for c in caps):
            raise InputValidationError("must be finite numbers > 0", field="capacities")
        labs = list(labels) if labels is not None else [f"capacity {c:g}" for c in caps]
        if len(labs) != len(caps):
            raise InputValidationError("one label per capacity", field="labels")
        if loads is None:
            big = max(caps)
            if self.params_.kind == "closed":
                loads = np.unique(np.round(np.geomspace(1, max(8.0, 4.0 * self.knee_ * big), 40)))
            else:
                loads = np.linspace(0.02, 0.98, 40) * self.params_.x_max * big
        scen = tuple(self.predict(loads, capacity=c) for c in caps)
        return VirtualLoadTest(
            kind=self.params_.kind,
            labels=tuple(labs),
            scenarios=scen,
            knee_load=tuple(self.knee_ * c for c in caps),
            max_throughput=tuple(self.params_.x_max * c for c in caps),
        )

    def sla_check(
        self,
        peak_rps: float,
        p95_target_s: float,
        instances_now: float = 1.0,
        capacity_factor: float = 1.0,
        max_instances: int = 10_000,
    ) -> SlaCheck:
        """Instances needed to keep the p95 latency under ``p95_target_s`` at an arrival rate of ``peak_rps``.

        Uses the open-loop view (production traffic arrives independently of response times) of the fitted
        model, also for a model fitted on a closed-loop test. The check uses the *upper* end of the p95
        interval, so the answer holds unless the system is better than the data say.

        Parameters
        ----------
        peak_rps : float
            Forecast peak arrival rate for the whole group, req/s.
        p95_target_s : float
            Latency objective for the 95th percentile, seconds.
        instances_now : float, default=1.0
            Instances in service today.
        capacity_factor : float, default=1.0
            Capacity of one instance of the (proposed) type relative to the measured one.
        max_instances : int, default=10000
            Search limit.

        Returns
        -------
        SlaCheck
            ``instances_needed`` is None when no count meets the target (the latency floor is above it).
        """
        check_is_fitted(self, "params_")
        for name, v in (("peak_rps", peak_rps), ("p95_target_s", p95_target_s), ("instances_now", instances_now)):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InputValidationError(f"must be a finite number > 0, got {v!r}", field=name)
        if not isinstance(capacity_factor, (int, float)) or not math.isfinite(capacity_factor) or capacity_factor <= 0:
            raise InputValidationError(f"must be a finite number > 0, got {capacity_factor!r}", field="capacity_factor")
        alpha = (100.0 - float(self.level)) / 200.0
        x_lo = min(float(np.quantile(self.ceiling_samples_, alpha)), self.params_.x_max)

        def p95_at(instances: float, ceiling: float) -> float:
            _, p95 = self._open_at(np.array([peak_rps / (instances * capacity_factor)]), ceiling * capacity_factor)
            return float(p95[0])

        mid = self.params_.x_max
        x_hi = max(float(np.quantile(self.ceiling_samples_, 1.0 - alpha)), mid)
        p95_now, p95_now_hi = p95_at(instances_now, mid), p95_at(instances_now, x_lo)
        p95_now_lo = p95_at(instances_now, x_hi)
        floor = p95_at(1e9, mid)
        needed: int | None = None
        if floor < p95_target_s:
            lo_n, hi_n = 1, 1
            while p95_at(hi_n, x_lo) > p95_target_s and hi_n < max_instances:
                lo_n, hi_n = hi_n, min(hi_n * 2, max_instances)
            if p95_at(hi_n, x_lo) <= p95_target_s:
                while lo_n < hi_n:
                    mid_n = (lo_n + hi_n) // 2
                    if p95_at(mid_n, x_lo) <= p95_target_s:
                        hi_n = mid_n
                    else:
                        lo_n = mid_n + 1
                needed = hi_n
        p95_needed = p95_at(needed, mid) if needed is not None else math.inf
        util_now = peak_rps / (instances_now * capacity_factor * mid)
        util_needed = peak_rps / (needed * capacity_factor * mid) if needed is not None else math.inf
        # confident when the optimistic and the pessimistic ceilings agree on the verdict
        conf = 0.9 if (p95_now_lo > p95_target_s) == (p95_now_hi > p95_target_s) else 0.5
        return SlaCheck(
            peak_rps=float(peak_rps),
            p95_target_s=float(p95_target_s),
            instances_now=float(instances_now),
            capacity_factor=float(capacity_factor),
            p95_now_s=p95_now,
            p95_now_upper_s=p95_now_hi,
            utilisation_now=util_now,
            breach=bool(p95_now_hi > p95_target_s),
            instances_needed=needed,
            p95_needed_s=p95_needed,
            utilisation_needed=util_needed,
            latency_floor_s=floor,
            confidence=conf,
        )


# ---------------------------------------------------------------------------------------------- ceiling
@dataclass(frozen=True, slots=True)
class _Ceiling:
    kind: str
    cores: float
    workers: float
    has_cpu: bool
    cpu_scope: str
    think_s: float

    def estimate(self, lv: _Levels, notes: list[str]) -> tuple[float, str, dict[str, float], float, float]:
        """``(x_max, method, all ceilings, demand per request, background cores)`` from level medians."""
        ceilings: dict[str, float] = {}
        demand, background = math.nan, 0.0
        reached = _plateau_reached(lv) if self.kind == "closed" else _open_saturated(lv)
        if reached:
            ceilings["observed"] = _plateau_value(lv) if self.kind == "closed" else float(np.max(lv.thr))
        if self.has_cpu and math.isfinite(self.cores):
            demand, background, x_util = self._utilisation_law(lv, reached)
            if math.isfinite(x_util) and x_util > 0:
                ceilings["utilisation_law"] = x_util
        if math.isfinite(self.workers):
            r0 = float(np.nanmin(lv.mean_s))
            ceilings["worker_pool"] = self.workers / r0
        if "observed" in ceilings:
            x_max, method = ceilings["observed"], "observed"
        else:
            model = {k: v for k, v in ceilings.items() if k in ("utilisation_law", "worker_pool")}
            if model:
                method = min(model, key=lambda k: model[k])
                x_max = model[method]
            else:
                x_max = _contention_fit(lv, self.kind)
                ceilings["contention_fit"] = x_max
                method = "contention_fit"
                notes.append("no CPU, worker or plateau data: ceiling extrapolated from a contention-only fit")
        if method != "observed":  # a model ceiling below a measured throughput is wrong; a plateau is measured
            x_max = max(x_max, float(np.max(lv.thr)))
        if "utilisation_law" in ceilings and "observed" in ceilings:
            gap = ceilings["utilisation_law"] / ceilings["observed"] - 1.0
            if abs(gap) > 0.15:
                notes.append(f"utilisation-law ceiling differs from the measured plateau by {100 * gap:+.0f}%")
        return x_max, method, ceilings, demand, background

    def _utilisation_law(self, lv: _Levels, reached: bool) -> tuple[float, float, float]:
        """Demand per request, background cores and the utilisation-law ceiling."""
        ok = np.isfinite(lv.work_cpu) & (lv.thr > 0)
        if not np.any(ok):
            return math.nan, 0.0, math.nan
        thr, work, other = lv.thr[ok], lv.work_cpu[ok], lv.other_cpu[ok]
        intercept = 0.0
        if self.cpu_scope == "host" and thr.size >= 3 and float(np.max(thr)) >= 1.5 * float(np.min(thr)):
            slope, icpt = _theil_sen(work, thr)
            if slope > 0:
                demand, intercept = float(slope), float(np.clip(icpt, 0.0, 0.9 * self.cores))
            else:
                demand = float(work[-1] / thr[-1])
        else:
            top = int(np.argmax(thr))  # the most loaded level is the closest to what is extrapolated
            demand = float(work[top] / thr[top])
        # CPU the neighbours take from a workload that wants more: on the measured plateau (the server is
        # saturated there) or where the workload already uses most of the cores; elsewhere they soak idle CPU
        if reached and self.kind == "closed":
            busy = thr >= _PLATEAU_FRACTION * float(np.max(thr))
        else:
            busy = work >= _SATURATED_SHARE * self.cores
        background = float(np.nanmedian(other[busy])) if np.any(busy) and np.any(np.isfinite(other[busy])) else 0.0
        background = float(np.clip(background, 0.0, 0.9 * self.cores))
        if demand <= 0:
            return math.nan, background, math.nan
        return demand, background + intercept, (self.cores - background - intercept) / demand


def _plateau_reached(lv: _Levels) -> bool:
    """True when the light-load data already show the plateau.

    Two conditions: the top level's throughput grew by less than a quarter of proportional growth, and the level
    below it was already past the balanced-job-bound knee ``N* = X_top * R0`` (so the flat step is the ceiling,
    not a slow approach to it). ``R0`` is the lowest level's response time, an upper bound, which makes the test
    conservative when the data start above ``N = 1``.
    """
    if lv.load.size < 3:
        return False
    x_top, x_prev = float(lv.thr[-1]), float(lv.thr[-2])
    growth = (x_top / x_prev - 1.0) / (lv.load[-1] / lv.load[-2] - 1.0)
    knee = max(x_top, x_prev) * float(lv.mean_s[0])
    return bool(growth < _FLAT_GROWTH and lv.load[-2] >= knee)


def _plateau_value(lv: _Levels) -> float:
    """Median throughput of the plateau levels (from the first level within 10 % of the best, onwards)."""
    best = float(np.max(lv.thr))
    first = int(np.argmax(lv.thr >= _PLATEAU_FRACTION * best))
    sel = lv.thr[first:]
    weights = lv.count[first:]
    return float(np.median(np.repeat(sel, weights)))


def _open_saturated(lv: _Levels) -> bool:
    """An open-loop test saturated when the achieved rate fell clearly short of the offered rate at the top."""
    return bool(lv.thr[-1] < 0.95 * lv.load[-1])


def _contention_fit(lv: _Levels, kind: str) -> float:
    """Ceiling from an Amdahl (USL with kappa = 0) fit of the rising part; open loop: twice the top rate."""
    if kind != "closed" or lv.load.size < 3:
        return 2.0 * float(np.max(lv.thr))
    from scipy.optimize import least_squares

    n, x = lv.load, lv.thr
    lam0 = float(x[0] / n[0])
    res = least_squares(
        lambda p: (usl_throughput(n, p[0], p[1], 0.0) - x) / x, [lam0, 0.05], bounds=([1e-12, 1e-4], [np.inf, 1.0])
    )
    return float(res.x[0] / res.x[1])


def _boot_ceiling(ceil: _Ceiling, points: Sequence[LoadPoint], rng: np.random.Generator, colocated: bool) -> float:
    """Ceiling of one bootstrap resample (NaN when the resample is degenerate)."""
    try:
        return ceil.estimate(_levels(_resample(points, rng), colocated), [])[0]
    except (ValueError, FloatingPointError, ZeroDivisionError):
        return math.nan


def _boot_ceilings(
    ceil: _Ceiling,
    points: Sequence[LoadPoint],
    rng: np.random.Generator,
    colocated: bool,
    n_boot: int,
    lv: _Levels | None = None,
) -> np.ndarray:
    """``n_boot`` bootstrap ceilings in draw order: the numbers ``_boot_ceiling`` gives, called ``n_boot`` times.

    ``lv`` is ``_levels(points, colocated)`` when the caller has it already.
    """
    fast = _PairsBootstrap.build(ceil, points, colocated, lv)
    if fast is not None:
        return fast.run(rng, n_boot)
    return np.array([_boot_ceiling(ceil, points, rng, colocated) for _ in range(n_boot)])


def _masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row of ``mask``, ``np.median(values[mask[row]])`` (inf for an empty row).

    Exact for finite non-zero values: sorting finds the same order statistics as ``np.partition`` (equal values of
    that kind are the same bits), and ``np.median`` averages the middle two as ``(a + b) / 2`` too.
    """
    if mask.shape[1] == 0:
        return np.full(mask.shape[0], np.inf)
    v = np.where(mask, values, np.inf)
    v.sort(axis=1)
    k = mask.sum(axis=1)
    rows = np.arange(v.shape[0])
    lo, hi = v[rows, np.maximum(k - 1, 0) // 2], v[rows, k // 2 - (k == 0)]
    with np.errstate(invalid="ignore"):
        return np.where(k % 2 == 1, lo, (lo + hi) / 2.0)


@dataclass(frozen=True, slots=True)
class _PairsBootstrap:
    """Vectorised pairs bootstrap of an open-loop ceiling (distinct loads: CloudWatch bins), same draws and numbers.

    With distinct loads every resampled level is copies of one step, so its medians are that step's level values
    (``0.5 * (v + v)`` like the full fit's) and a resample's levels are a subset of the full fit's levels. Each
    resample's draws are made exactly as :func:`_resample` makes them; the ceiling arithmetic of
    :meth:`_Ceiling.estimate` is then done for all resamples at once on those subsets. Only built when every value
    a median or a maximum sees is finite and non-zero (so ties are bit-identical) and nothing can raise.
    """

    ceil: _Ceiling
    pos: np.ndarray
    load: np.ndarray
    thr: np.ndarray
    work: np.ndarray
    other: np.ndarray
    ok: np.ndarray
    pair_hi: np.ndarray
    pair_lo: np.ndarray
    slopes: np.ndarray

    @classmethod
    def build(
        cls, ceil: _Ceiling, points: Sequence[LoadPoint], colocated: bool, lv: _Levels | None = None
    ) -> _PairsBootstrap | None:
        if ceil.kind != "open" or math.isfinite(ceil.workers) or len(points) < 2:
            return None
        if any(v not in ("ignore", "warn") for v in np.geterr().values()):
            return None  # the step-by-step path turns a raised FloatingPointError into a NaN sample
        loads = [p.load for p in points]
        if not all(math.isfinite(x) for x in loads) or len(set(loads)) != len(loads):
            return None
        lv = lv if lv is not None else _levels(points, colocated)
        if not np.all(np.isfinite(lv.thr) & (lv.thr > 0)):
            return None
        pos = np.searchsorted(lv.load, np.array(loads))
        ok = np.isfinite(lv.work_cpu) & bool(ceil.has_cpu and math.isfinite(ceil.cores))
        hi, lo = np.nonzero(ok[:, None] & ok[None, :] & (lv.thr[:, None] - lv.thr[None, :] > 0))
        slopes = (lv.work_cpu[hi] - lv.work_cpu[lo]) / (lv.thr[hi] - lv.thr[lo])
        other = lv.other_cpu[ok & np.isfinite(lv.other_cpu)]
        for vals in (lv.work_cpu[ok], slopes, other):
            if not np.all(np.isfinite(vals) & (vals != 0)):
                return None
        return cls(ceil, pos, lv.load, lv.thr, lv.work_cpu, lv.other_cpu, ok, hi, lo, slopes)

    def run(self, rng: np.random.Generator, n_boot: int) -> np.ndarray:
        n, n_lv = self.pos.size, self.load.size
        sel = np.zeros((n_boot, n_lv), dtype=bool)
        start = rng.bit_generator.state
        # one call for n_boot x n integers yields the stream of n_boot calls for n (the bit generator keeps its
        # 32-bit buffer in its state); valid while no resample needs _resample's redraw of a one-level sample
        picks = rng.integers(0, n, (n_boot, n))
        if np.all(np.any(picks != picks[:, :1], axis=1)):  # distinct steps have distinct loads
            sel[np.arange(n_boot)[:, None], self.pos[picks]] = True
        else:
            rng.bit_generator.state = start
            for b in range(n_boot):
                for _ in range(10):  # the draws of _resample's pairs bootstrap, in the same order
                    pick = rng.integers(0, n, n)
                    if np.any(pick != pick[0]):
                        sel[b, self.pos[pick]] = True
                        break
                else:
                    sel[b] = True
        cores, thr, work = self.ceil.cores, self.thr, self.work
        top_level = n_lv - 1 - np.argmax(sel[:, ::-1], axis=1)
        observed = thr[top_level] < 0.95 * self.load[top_level]  # _open_saturated
        max_thr = np.where(sel, thr, -np.inf).max(axis=1)
        # _utilisation_law on the selected usable levels
        use = sel & self.ok
        k_ok = use.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            max_ok = np.where(use, thr, -np.inf).max(axis=1)
            min_ok = np.where(use, thr, np.inf).min(axis=1)
            theil = (self.ceil.cpu_scope == "host") & (k_ok >= 3) & (max_ok >= 1.5 * min_ok)
            slope = _masked_median(self.slopes, use[:, self.pair_hi] & use[:, self.pair_lo])
            icpt = _masked_median(work, use) - slope * _masked_median(thr, use)
            last = n_lv - 1 - np.argmax(use[:, ::-1], axis=1)
            top = np.argmax(np.where(use, thr, -np.inf), axis=1)  # first of equal maxima, as np.argmax
            rising = theil & (slope > 0)
            demand = np.where(theil, np.where(slope > 0, slope, work[last] / thr[last]), work[top] / thr[top])
            intercept = np.where(rising, np.clip(icpt, 0.0, 0.9 * cores), 0.0)
            busy = use & (work >= _SATURATED_SHARE * cores) & np.isfinite(self.other)
            background = np.where(busy.any(axis=1), _masked_median(self.other, busy), 0.0)
            background = np.clip(background, 0.0, 0.9 * cores)
            x_util = (cores - background - intercept) / demand
            util_ok = (k_ok > 0) & (demand > 0) & np.isfinite(x_util) & (x_util > 0)
        # no plateau: the utilisation-law ceiling, else the open-loop contention fit (twice the top rate)
        model = np.where(util_ok, x_util, 2.0 * max_thr)
        return np.where(observed, max_thr, np.maximum(model, max_thr))


def _resample(points: Sequence[LoadPoint], rng: np.random.Generator) -> list[LoadPoint]:
    """Bootstrap sample stratified by load level (every level keeps its number of steps).

    When no level is repeated (CloudWatch bins), the levels themselves are resampled (a pairs bootstrap of the
    utilisation-law regression), keeping at least two distinct loads.
    """
    by: dict[float, list[LoadPoint]] = {}
    for p in points:
        by.setdefault(p.load, []).append(p)
    if max(len(g) for g in by.values()) == 1:
        for _ in range(10):
            pick = [points[i] for i in rng.integers(0, len(points), len(points))]
            if len({p.load for p in pick}) >= _MIN_LEVELS:
                return pick
        return list(points)
    out: list[LoadPoint] = []
    for load in sorted(by):
        grp = by[load]
        out.extend(grp[i] for i in rng.integers(0, len(grp), len(grp)))
    return out


def _noise_rel(points: Sequence[LoadPoint]) -> float:
    """Pooled relative standard deviation of throughput between repetitions of a level."""
    by: dict[float, list[float]] = {}
    for p in points:
        by.setdefault(p.load, []).append(p.throughput_rps)
    num, den = 0.0, 0
    for vals in by.values():
        if len(vals) >= 2:
            a = np.asarray(vals)
            num += float(np.sum((a / np.mean(a) - 1.0) ** 2))
            den += a.size - 1
    return math.sqrt(num / den) if den else 0.0


def _q95(m: int, s: float, rho: float, v: float, c_known: float | None = None) -> float:
    """p95 sojourn time of M/M/m at utilisation ``rho``; ``c_known`` is ``erlang_c(m, rho * m)`` if already known."""
    if c_known is None:
        c_known = float(erlang_c(m, rho * m)[0]) if rho > 0 else 0.0
    c = c_known if rho > 0 else 0.0
    theta = (m / s) * (1.0 - rho) / v if rho < 1.0 else 0.0
    if c <= 0.0:
        return -s * math.log(0.05)
    return _sojourn_quantile(0.95, s, c, theta)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 200.0))


def _t(a: np.ndarray | float) -> tuple[float, ...]:
    return tuple(float(v) for v in np.atleast_1d(a))


def _as_loadtest(y: Any) -> LoadTest:
    if isinstance(y, LoadTest):
        test = y
    elif isinstance(y, ResourceMetrics):
        test = operational_points(y)
    elif isinstance(y, (list, tuple)) and all(isinstance(p, LoadPoint) for p in y):
        if not y:
            raise InsufficientDataError("capacity model", needed=_MIN_LEVELS, got=0, unit="load levels")
        test = LoadTest(kind=y[0].kind, points=tuple(y))
    else:
        raise InputValidationError(
            f"expected a LoadTest, a sequence of LoadPoint or ResourceMetrics, got {type(y).__name__}", field="y"
        )
    kinds = {p.kind for p in test.points}
    if len(kinds) > 1:
        raise InputValidationError("mixes closed-loop and open-loop steps", field="kind")
    if kinds and kinds != {test.kind}:
        test = LoadTest(kind=kinds.pop(), points=test.points, source=test.source, cpu_scope=test.cpu_scope)
    return test


# ---------------------------------------------------------------------------------------------- CloudWatch
_SIZE_VCPUS = {"nano": 2, "micro": 2, "small": 2, "medium": 2, "large": 2, "xlarge": 4}


def vcpus_of(instance_type: str | None) -> float:
    """vCPUs of an EC2-style instance type from its size (``c6i.large`` -> 2, ``m5.2xlarge`` -> 8); NaN if unknown.

    Examples
    --------
    >>> vcpus_of("c6i.large"), vcpus_of("m5.2xlarge"), vcpus_of("db.r6g.large")
    (2.0, 8.0, 2.0)
    """
    if not instance_type:
        return math.nan
    size = str(instance_type).rsplit(".", 1)[-1]
    if size in _SIZE_VCPUS:
        return float(_SIZE_VCPUS[size])
    match = re.fullmatch(r"(\d+)xlarge", size)
    return float(4 * int(match.group(1))) if match else math.nan


def _instances(resource: ResourceMetrics, n: int, ts: np.ndarray) -> np.ndarray:
    attr = resource.attributes.get("instance_count", 1)
    base = float(attr) if isinstance(attr, (int, float)) and attr > 0 else 1.0
    s = resource.series.get("GroupInServiceInstances")
    if s is None or s.n_valid == 0:
        return np.full(n, base)
    vals = np.interp(ts, s.timestamps[s.mask], s.values[s.mask])
    return np.where(vals >= 1.0, vals, base)


def _on_grid(s: MetricSeries, ts: np.ndarray) -> np.ndarray:
    idx = np.round((ts - s.start) / s.period).astype(np.int64)
    ok = (idx >= 0) & (idx < len(s)) & np.isclose(s.start + idx * s.period, ts)
    out = np.full(ts.shape, np.nan)
    out[ok] = s.values[idx[ok]]
    return out


def operational_points(resource: ResourceMetrics, n_bins: int = 16, vcpus: float | None = None) -> LoadTest:
    """Open-loop "steps" from CloudWatch metrics: per-instance rate bins with median CPU and latency.

    Each period gives a per-instance arrival rate ``RequestCount / period / instances``, a mean latency
    (``TargetResponseTime``) and busy cores (``CPUUtilization / 100 * vCPUs``). Periods are grouped into
    ``n_bins`` quantile bins of the rate; a bin's medians are one step, which keeps incidents (a runaway job
    pinning the CPU at normal traffic) from steering the fit.

    Raises
    ------
    InsufficientDataError
        No ``RequestCount``, or fewer than 3 usable bins.
    """
    rc = resource.series.get("RequestCount")
    if rc is None or rc.n_valid == 0:
        raise InsufficientDataError(
            f"{resource.resource_id}: capacity model needs RequestCount", needed=1, got=0, unit="request series"
        )
    ts = rc.timestamps
    rate_total = rc.values / rc.period
    inst = _instances(resource, len(ts), ts)
    lam = rate_total / inst
    lat = _on_grid(resource.series["TargetResponseTime"], ts) if "TargetResponseTime" in resource.series else None
    cpu = _on_grid(resource.series["CPUUtilization"], ts) if "CPUUtilization" in resource.series else None
    cores = vcpus if vcpus is not None else _vcpus_attr(resource)
    ok = np.isfinite(lam) & (lam > 0)
    if lat is not None:
        ok &= np.isfinite(lat) & (lat > 0)
    if cpu is not None and math.isfinite(cores):
        ok &= np.isfinite(cpu)
    if int(np.sum(ok)) < 3 * 5:
        raise InsufficientDataError(f"{resource.resource_id}: capacity model", needed=15, got=int(np.sum(ok)))
    edges = np.unique(np.quantile(lam[ok], np.linspace(0.0, 1.0, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, lam, side="right") - 1, 0, edges.size - 2)
    pts: list[LoadPoint] = []
    for b in range(edges.size - 1):
        sel = ok & (which == b)
        if int(np.sum(sel)) < 5:
            continue
        rate = _median(lam[sel])
        mean = _median(lat[sel]) if lat is not None else math.nan
        busy = _median(cpu[sel]) / 100.0 * cores if cpu is not None and math.isfinite(cores) else math.nan
        if not math.isfinite(mean):
            mean = math.nan
        pts.append(
            LoadPoint(
                "open",
                rate,
                rate,
                mean if math.isfinite(mean) else 1.0,
                server_cpu_cores=busy,
                host_cpus=cores,
                requests=float(np.sum(rc.values[sel])),
                rep=b + 1,
            )
        )
    if len(pts) < 3:
        raise InsufficientDataError(f"{resource.resource_id}: capacity model", needed=3, got=len(pts), unit="load bins")
    return LoadTest(kind="open", points=tuple(pts), source=f"cloudwatch:{resource.resource_id}", cpu_scope="host")


def _vcpus_attr(resource: ResourceMetrics) -> float:
    v = resource.attributes.get("vcpus")
    if isinstance(v, (int, float)) and v > 0:
        return float(v)
    itype = resource.attributes.get("instance_type")
    spec = _catalog_spec(itype)
    return float(spec.vcpu) if spec is not None else vcpus_of(itype)


def _catalog_spec(instance_type: Any) -> Any:
    """The cost catalog's spec of ``instance_type`` (vCPUs, relative capacity), or None when unknown."""
    if not instance_type:
        return None
    try:
        from cloudsage.core.catalog import instance_spec

        return instance_spec(str(instance_type))
    except (ImportError, OSError, ValueError, KeyError):
        return None


def capacity_factor(current_type: str, proposed_type: str) -> float:
    """Capacity of one ``proposed_type`` instance relative to one ``current_type`` (the cost catalog's
    CPU-capacity figures; vCPU ratio when the catalog does not know a type).

    Raises
    ------
    InputValidationError
        When neither the catalog nor the size name tells the capacity (names ``proposed_instance_type``).
    """
    cur, new = _catalog_spec(current_type), _catalog_spec(proposed_type)
    if cur is not None and new is not None and cur.capacity > 0:
        return float(new.capacity / cur.capacity)
    a, b = vcpus_of(current_type), vcpus_of(proposed_type)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise InputValidationError(f"unknown capacity of {proposed_type!r}", field="proposed_instance_type")
    return b / a


# ---------------------------------------------------------------------------------------------- analyze
_DEFAULT_P95_TARGET_S = 0.5
_DEFAULT_LAMBDA_LIMIT = 1000.0
_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class _PeakForecast:
    peak: float
    lower: float
    upper: float
    day_ts: np.ndarray
    day_peaks: np.ndarray
    fc_ts: np.ndarray
    fc_mean: np.ndarray
    fc_lower: np.ndarray
    fc_upper: np.ndarray
    method: str


def _nanmedian_rows3(win: np.ndarray) -> np.ndarray:
    """``np.nanmedian(win, axis=0)`` for a ``(3, n)`` float64 array of finite values and NaN.

    numpy takes a masked-array median there: the sorted valid values' middle one, or the halved sum of the middle
    two, or of the lone value with itself, which is that value. Bit-identical while no value is -0.0 (the sorts
    may order it against 0.0 differently) or so large that doubling overflows; else, or with an all-NaN column
    (numpy warns), numpy's own.
    """
    nan = np.isnan(win)
    k = 3 - nan.sum(axis=0)
    vals = win[~nan]
    if win.shape[0] != 3 or not np.all(k > 0) or np.any((vals == 0) & np.signbit(vals)) or np.any(np.abs(vals) > 1e300):
        return np.nanmedian(win, axis=0)
    s = np.sort(win, axis=0)  # NaN sorts last, as the masked values do
    return np.where(k == 3, s[1], np.where(k == 2, (s[0] + s[1]) / 2.0, s[0]))


def forecast_peak(rate: np.ndarray, ts: np.ndarray, horizon_days: float = 7.0) -> _PeakForecast:
    """Peak arrival rate expected within ``horizon_days``: a linear trend through the daily peaks.

    Daily peaks are the maximum of a 3-point rolling median (a lone spike is not a peak). The forecast is the
    larger of the trend at the horizon and the highest of the last seven daily peaks, with a band of 1.645
    residual standard deviations of the daily peaks around the trend. A stand-in for the ScalingForecaster's
    peak when none is passed to :func:`analyze`.

    Raises
    ------
    InsufficientDataError
        No finite rate.
    """
    ok = np.isfinite(rate)
    if not np.any(ok):
        raise InsufficientDataError("peak forecast", needed=1, got=0)
    r = rate.copy()
    padded = np.concatenate(([r[0]], r, [r[-1]]))
    win = np.stack([padded[:-2], padded[1:-1], padded[2:]])
    smooth = _nanmedian_rows3(np.where(np.isfinite(win), win, np.nan)) if r.size >= 3 else r
    day = np.floor(ts / _DAY_S)
    days = np.unique(day[ok])
    peaks = np.array([np.nanmax(smooth[(day == d) & np.isfinite(smooth)]) for d in days])
    day_ts = days * _DAY_S + _DAY_S / 2
    recent = float(np.max(peaks[-7:]))
    if peaks.size >= 4:
        slope, icpt = np.polyfit(days, peaks, 1)
        resid = peaks - (slope * days + icpt)
        sd = float(np.std(resid, ddof=2)) if peaks.size > 2 else 0.0
        fc_days = days[-1] + np.arange(1, max(1, math.ceil(horizon_days)) + 1)
        fc = slope * fc_days + icpt
        trend_peak = float(slope * (days[-1] + horizon_days) + icpt)
        method = "daily-peak trend"
    else:
        sd, fc_days = 0.0, days[-1] + np.arange(1, max(1, math.ceil(horizon_days)) + 1)
        fc = np.full(fc_days.shape, recent)
        trend_peak = recent
        method = "recent peak"
    peak = max(trend_peak, recent)
    half = 1.645 * sd
    return _PeakForecast(
        peak=peak,
        lower=max(peak - half, 0.0),
        upper=peak + half,
        day_ts=day_ts,
        day_peaks=peaks,
        fc_ts=fc_days * _DAY_S + _DAY_S / 2,
        fc_mean=np.maximum(fc, 0.0),
        fc_lower=np.maximum(fc - half, 0.0),
        fc_upper=fc + half,
        method=method,
    )


def analyze(resource: ResourceMetrics, **params: Any) -> ModelOutput:
    """Capacity and SLA check of one resource from its CloudWatch metrics.

    * Load balancer / group / instance with ``RequestCount`` and ``TargetResponseTime`` (``CPUUtilization``
      and ``GroupInServiceInstances`` or the ``instance_count`` attribute make it a capacity model): fits
      :class:`PerformancePredictor` to per-instance load bins (:func:`operational_points`), forecasts the peak
      rate (or takes ``forecast_peak_rps``), and checks the p95 target with today's instances. One insight:
      a breach (with the instance count that fixes it) or an informational capacity summary.
    * Lambda function with ``Invocations`` and ``Duration``: Little's law gives the concurrency
      (``rate x duration``); the forecast peak concurrency is compared with the reserved concurrency
      (attribute ``reserved_concurrency``, else the 1,000 account default).

    Parameters
    ----------
    resource : ResourceMetrics
        Metrics of one resource.
    **params
        ``p95_target_s`` (default: attribute ``sla_p95_s``, else 0.5 s), ``forecast_peak_rps`` (the
        ScalingForecaster's peak for the whole resource, req/s; default: :func:`forecast_peak`),
        ``horizon_days`` (7), ``proposed_capacity_factor`` (capacity of a proposed instance type relative to
        today's; adds a scenario to the virtual load test), ``proposed_instance_type`` (the same, with the factor
        taken from the cost catalog's capacity figures, :func:`capacity_factor`), ``vcpus`` (default: attribute
        ``vcpus``, else the catalog's figure for ``instance_type``),
        and :class:`PerformancePredictor` hyperparameters (``level``, ``tail_ratio``, ``random_state``).

    Returns
    -------
    ModelOutput
        ``detail`` holds plot data per metric (``RequestCount`` with the peak forecast), ``capacity``,
        ``virtual_load_test`` and ``sla``.

    Raises
    ------
    InsufficientDataError
        No request-rate and latency metrics (RDS, caches, idle instances), or too little data.
    InputValidationError
        A parameter out of range.
    """
    params = dict(params)
    if "Invocations" in resource.series and "Duration" in resource.series and "RequestCount" not in resource.series:
        return _analyze_lambda(resource, params)
    missing = [m for m in ("RequestCount", "TargetResponseTime") if m not in resource.series]
    if missing:
        raise InsufficientDataError(
            f"{resource.resource_id}: capacity model needs {' and '.join(missing)}", needed=1, got=0, unit="series"
        )
    return _analyze_requests(resource, params)


def _param(params: dict[str, Any], name: str, default: float | None, *, positive: bool = True) -> float | None:
    v = params.pop(name, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
        raise InputValidationError(f"must be a finite number > 0, got {v!r}", field=name)
    return float(v)


def _analyze_requests(resource: ResourceMetrics, params: dict[str, Any]) -> ModelOutput:
    attr_target = resource.attributes.get("sla_p95_s")
    target = _param(params, "p95_target_s", attr_target if isinstance(attr_target, (int, float)) else None)
    target = target if target is not None else _DEFAULT_P95_TARGET_S
    peak_given = _param(params, "forecast_peak_rps", None)
    horizon = _param(params, "horizon_days", 7.0) or 7.0
    proposed = _param(params, "proposed_capacity_factor", None)
    proposed_type = params.pop("proposed_instance_type", None)
    if proposed is None and proposed_type:
        proposed = capacity_factor(str(resource.attributes.get("instance_type", "")), str(proposed_type))
    vcpus = _param(params, "vcpus", None)
    est_params = {k: params.pop(k) for k in ("level", "tail_ratio", "random_state") if k in params}
    if params:
        raise InputValidationError(f"unknown parameter(s) {sorted(params)}", field=sorted(params)[0])

    test = operational_points(resource, vcpus=vcpus)
    model = PerformancePredictor(**est_params).fit(test)
    cap = model.capacity_
    rc = resource.series["RequestCount"]
    ts = rc.timestamps
    rate = rc.values / rc.period
    inst = _instances(resource, len(ts), ts)
    fc = forecast_peak(rate, ts, horizon)
    peak = peak_given if peak_given is not None else fc.peak
    i_peak = int(np.nanargmax(rate))
    inst_now = float(inst[i_peak])
    max_size = resource.attributes.get("max_size")
    sla = model.sla_check(peak, target, instances_now=inst_now)
    needed = sla.instances_needed

    caps, labels = [inst_now], [f"today ({inst_now:g} instances)"]
    if needed is not None and needed != inst_now:
        caps.append(float(needed))
        labels.append(f"needed for target ({needed} instances)")
    if proposed is not None:
        caps.append(inst_now * proposed)
        what = f"{proposed_type}, " if proposed_type else ""
        labels.append(f"proposed type ({what}x{proposed:.3g} capacity, {inst_now:g} instances)")
    top_rate = max(peak, float(np.nanmax(rate))) * 1.5
    vlt = model.virtual_load_test(np.linspace(top_rate / 40.0, top_rate, 40), capacities=caps, labels=labels)

    unit_ceiling = cap.max_throughput
    t0, t1 = float(ts[0]), float(ts[-1])
    rid = resource.resource_id
    p95_txt = f"{sla.p95_now_s:.3g} s" if math.isfinite(sla.p95_now_s) else "unbounded (saturated)"
    key = f"p95 {p95_txt} at {peak:.0f} req/s (target {target:g} s)"
    figures = (
        f"Forecast peak {peak:.0f} req/s ({fc.method if peak_given is None else 'given'}) on {inst_now:g} "
        f"instances: utilisation {100 * sla.utilisation_now:.0f}%, predicted p95 {p95_txt}. One instance carries at "
        f"most {unit_ceiling:.0f} req/s ({cap.method.replace('_', ' ')}"
        + (f", {1000 * cap.service_demand_s:.1f} ms CPU per request" if math.isfinite(cap.service_demand_s) else "")
        + f"); latency starts to climb fast above {model.knee_:.0f} req/s per instance."
    )
    if sla.breach:
        if needed is None:
            severity, title = "critical", f"{rid} cannot meet its p95 target at any size"
            rec = (
                f"Latency floor is {sla.latency_floor_s:.3g} s even with unlimited instances: the time is spent "
                "outside the instance's CPU (dependencies, payload); scaling out will not fix it."
            )
        else:
            over_max = isinstance(max_size, (int, float)) and needed > max_size
            severity = "high" if sla.utilisation_now >= 1.0 or over_max else "medium"
            title = f"{rid} will breach its p95 target at the forecast peak"
            rec = f"Run at least {needed} instances at the peak (today {inst_now:g})" + (
                f"; raise the group's max size from {max_size} to {needed}." if over_max else "."
            )
    else:
        severity = "info"
        title = f"{rid} has capacity for the forecast peak"
        rec = (
            f"{needed} instances keep p95 under {target:g} s at {peak:.0f} req/s; no change needed."
            if needed is not None
            else "No change needed."
        )
    # fewer load bins, or a ceiling that is only a guess, make the verdict less certain
    method_trust = {"observed": 1.0, "utilisation_law": 1.0, "worker_pool": 0.8}.get(cap.method, 0.4)
    confidence = float(np.clip(sla.confidence * method_trust * min(1.0, len(test.points) / 8.0), 0.05, 0.95))
    insight = Insight(
        resource_id=rid,
        model=MODEL_NAME,
        kind="proactive",
        severity=severity,
        confidence=round(confidence, 4),
        title=title,
        summary=figures,
        recommendation=rec,
        detected_at=t1,
        window_start=t0,
        window_end=t1,
        evidence={
            "key_figure": key,
            "forecast_peak_rps": round(peak, 3),
            "p95_target_s": target,
            "p95_now_s": sla.p95_now_s,
            "p95_now_upper_s": sla.p95_now_upper_s,
            "instances_now": inst_now,
            "instances_needed": needed,
            "max_throughput_per_instance_rps": round(unit_ceiling, 3),
            "ceiling_method": cap.method,
            "service_demand_ms": round(1000 * cap.service_demand_s, 4) if math.isfinite(cap.service_demand_s) else None,
            "knee_rps_per_instance": round(model.knee_, 3),
            "utilisation_at_peak": round(sla.utilisation_now, 4),
            "in_flight_per_instance_at_peak": _in_flight(model, peak / inst_now),
        },
        metric="TargetResponseTime",
    )
    detail: dict[str, Any] = {
        "RequestCount": {
            **_plot(ts, rc.values),
            "forecast": {
                "timestamps": [int(t) for t in fc.fc_ts],
                "mean": _r(fc.fc_mean * rc.period),
                "lower": _r(fc.fc_lower * rc.period),
                "upper": _r(fc.fc_upper * rc.period),
                "what": "daily peak, requests per period",
            },
        },
        "TargetResponseTime": _latency_plot(resource, model, ts, rate / inst),
        "capacity": cap.to_dict(),
        "virtual_load_test": vlt.to_dict(),
        "sla": sla.to_dict(),
        "fit_points": [p.to_dict() for p in test.points],
    }
    return ModelOutput(model=MODEL_NAME, resource_id=rid, insights=(insight,), detail=detail)


def _in_flight(model: PerformancePredictor, rate: float) -> float | None:
    """Little's law: requests in flight on one instance = arrival rate x mean response time."""
    mean = model.predict([rate]).mean_s[0]
    return round(rate * mean, 4) if math.isfinite(mean) else None


def _latency_plot(resource: ResourceMetrics, model: PerformancePredictor, ts: np.ndarray, lam: np.ndarray) -> dict:
    lat = _on_grid(resource.series["TargetResponseTime"], ts)
    idx = _plot_index(ts.size)
    fitted = np.full(idx.shape, np.nan)
    ok = np.isfinite(lam[idx]) & (lam[idx] > 0)
    if np.any(ok):
        mean, _ = model._open_mean(lam[idx][ok], model.max_throughput_)
        fitted[ok] = mean
    out = _plot(ts, lat)
    out["model_mean"] = _r(fitted)
    return out


def _plot_index(n: int) -> np.ndarray:
    return np.arange(0, n, max(1, math.ceil(n / _PLOT_POINTS)))


def _plot(ts: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    idx = _plot_index(ts.size)
    return {"timestamps": [int(t) for t in ts[idx]], "values": _r(values[idx]), "downsampled": bool(idx.size < ts.size)}


def _r(values: np.ndarray) -> list[float]:
    """Six significant digits, NaN where not finite: ``float(f"{v:.6g}")`` per value, bit for bit (vectorised)."""
    return rounded6(values, missing=math.nan)  # type: ignore[return-value]  # never None with a float `missing`


def _analyze_lambda(resource: ResourceMetrics, params: dict[str, Any]) -> ModelOutput:
    peak_given = _param(params, "forecast_peak_rps", None)
    horizon = _param(params, "horizon_days", 7.0) or 7.0
    ignored = ("p95_target_s", "proposed_capacity_factor", "proposed_instance_type", "vcpus", "level", "tail_ratio")
    for k in (*ignored, "random_state"):
        params.pop(k, None)
    if params:
        raise InputValidationError(f"unknown parameter(s) {sorted(params)}", field=sorted(params)[0])
    inv, dur = resource.series["Invocations"], resource.series["Duration"]
    ts = inv.timestamps
    rate = inv.values / inv.period
    dur_s = _on_grid(dur, ts) / 1000.0
    conc = rate * dur_s  # Little's law: requests in flight = arrival rate x time in the system
    ok = np.isfinite(conc)
    if int(np.sum(ok)) < 12:
        raise InsufficientDataError(f"{resource.resource_id}: Lambda concurrency", needed=12, got=int(np.sum(ok)))
    fc = forecast_peak(rate, ts, horizon)
    peak = peak_given if peak_given is not None else fc.peak
    busy = ok & (rate >= np.nanquantile(rate[ok], 0.9))
    dur_peak = float(np.nanmedian(dur_s[busy])) if np.any(busy) else float(np.nanmedian(dur_s[ok]))
    dur_hi = float(np.nanquantile(dur_s[ok], 0.95))
    peak_conc = peak * dur_peak
    peak_conc_hi = peak * dur_hi
    reserved = resource.attributes.get("reserved_concurrency")
    limit = float(reserved) if isinstance(reserved, (int, float)) and reserved > 0 else _DEFAULT_LAMBDA_LIMIT
    throttles = float(np.nansum(resource.series["Throttles"].values)) if "Throttles" in resource.series else 0.0
    ratio = peak_conc_hi / limit
    severity = "high" if ratio >= 1.0 else "medium" if ratio >= 0.8 else "low" if ratio >= 0.5 else "info"
    rid = resource.resource_id
    title = (
        f"{rid} will be throttled at the forecast peak"
        if ratio >= 1.0
        else f"{rid} concurrency headroom at the forecast peak"
    )
    key = f"{peak_conc:.1f} of {limit:g} concurrent executions at peak"
    summary = (
        f"Little's law: {peak:.2f} invocations/s x {1000 * dur_peak:.0f} ms = {peak_conc:.1f} concurrent executions at "
        f"the forecast peak ({peak_conc_hi:.1f} with the 95th-percentile duration), against a limit of {limit:g}"
        f" ({100 * ratio:.0f}%). Throttles in the window: {throttles:.0f}."
    )
    if ratio >= 0.8:
        need = math.ceil(peak_conc_hi / 0.8)
        rec = f"Raise reserved concurrency to at least {need} (80 % headroom) or cut the duration."
    else:
        rec = "No change needed."
    t0, t1 = float(ts[0]), float(ts[-1])
    insight = Insight(
        resource_id=rid,
        model=MODEL_NAME,
        kind="proactive",
        severity=severity,
        confidence=0.8 if peak_given is None else 0.9,
        title=title,
        summary=summary,
        recommendation=rec,
        detected_at=t1,
        window_start=t0,
        window_end=t1,
        evidence={
            "key_figure": key,
            "forecast_peak_rps": round(peak, 4),
            "duration_at_peak_s": round(dur_peak, 5),
            "peak_concurrency": round(peak_conc, 3),
            "peak_concurrency_p95_duration": round(peak_conc_hi, 3),
            "concurrency_limit": limit,
            "throttles": throttles,
        },
        metric="Invocations",
    )
    detail = {
        "Invocations": {
            **_plot(ts, inv.values),
            "forecast": {
                "timestamps": [int(t) for t in fc.fc_ts],
                "mean": _r(fc.fc_mean * inv.period),
                "lower": _r(fc.fc_lower * inv.period),
                "upper": _r(fc.fc_upper * inv.period),
                "what": "daily peak, invocations per period",
            },
        },
        "concurrency": {**_plot(ts, conc), "limit": limit, "what": "Little's law: rate x duration"},
    }
    return ModelOutput(model=MODEL_NAME, resource_id=rid, insights=(insight,), detail=detail)
