"""Workload classification and resource recommendations from metrics alone (ResourceRecommender v1).

**Classes**: ``web`` (human-driven request traffic: strong daily cycle, weaker weekends, large responses), ``api``
(request traffic with small payloads or a flat, machine-driven rhythm, CPU tracking requests), ``microservice``
(event- or request-driven small units: Lambda functions, or instances with low, request-following CPU),
``batch`` (scheduled work: CPU switches between idle and busy, busy a small share of the time), ``database``
(database metrics, or steady memory with disk I/O), ``cache`` (cache metrics, or memory-heavy with high network
per CPU), ``ml`` (sustained near-saturated compute for hours, GPU metrics).

**Features** (:func:`workload_features`, all interpretable, computed on an hourly grid): which metric families
exist (requests, invocations, database, cache, GPU, disk), CPU level and spread, duty cycle (share of hours busy
and the contrast between busy and idle), longest busy run, daily and weekly seasonality strength (the share of
variance a daily profile explains, as in Hyndman's STL "strength of seasonality"; weekly = weekend/weekday level),
the share of points between the idle and the busy level (low for on/off switching), CPU-to-request correlation,
median response time, burstiness (P99 over median), memory level and its ratio to CPU, network bytes per
request. Names and tags are never required: a ``name`` attribute containing ``batch``, ``cache``, ``db`` ...
adds a small prior only.

**Model**: transparent rule scores per class (:func:`class_scores`); confidence is the softmax of the scores
(temperature 1). The rules were written from what each class *is* and checked on a labelled generator with
randomised parameters (``benchmarks/classify``), with no per-fleet tuning.

**Recommendation**: family class (compute for batch/ml, memory for database/cache or high memory-to-CPU,
burstable for low and spiky CPU, else general), size from the :class:`~cloudsage.core.models.cost.CostOptimizer`
requirement within that family, and for request-driven groups a target-tracking policy (target CPU, min, max)
with predictive scaling on when the daily seasonality strength is at least ``predictive_threshold``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Self

import numpy as np

from cloudsage.core.base import Estimator as BaseEstimator
from cloudsage.core.base import check_is_fitted
from cloudsage.core.catalog import HOURS_PER_MONTH, instance_spec, instance_specs, load_prices
from cloudsage.core.errors import InputValidationError, InsufficientDataError
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import Insight, ModelOutput, jsonable

__all__ = [
    "WORKLOADS",
    "Classification",
    "Recommendation",
    "ResourceRecommender",
    "analyze",
    "class_scores",
    "classify_resource",
    "seasonality_strength",
    "workload_features",
]

MODEL_NAME = "resources"
WORKLOADS: tuple[str, ...] = ("web", "api", "batch", "database", "cache", "ml", "microservice")
HOUR_S = 3600.0
DAY_S = 86_400.0

_REQUEST_METRICS = ("RequestCount", "RequestCountPerTarget", "Requests")
_INVOCATION_METRICS = ("Invocations",)
_DB_METRICS = (
    "DatabaseConnections",
    "ReadIOPS",
    "WriteIOPS",
    "ReadLatency",
    "WriteLatency",
    "FreeableMemory",
    "ReplicaLag",
    "DiskQueueDepth",
)
_CACHE_METRICS = (
    "CacheHitRate",
    "CacheHits",
    "CacheMisses",
    "CurrConnections",
    "Evictions",
    "CurrItems",
    "BytesUsedForCache",
    "DatabaseMemoryUsagePercentage",
)
_GPU_METRICS = ("GPUUtilization", "nvidia_smi_utilization_gpu", "GPUMemoryUtilization")
_MEMORY_METRICS = ("MemoryUtilization", "mem_used_percent")
_DISK_METRICS = ("DiskReadOps", "DiskWriteOps", "DiskReadBytes", "DiskWriteBytes", "EBSReadOps", "EBSWriteOps")
_NAME_HINTS: dict[str, tuple[str, ...]] = {
    "batch": ("batch", "etl", "job", "cron", "worker", "nightly"),
    "database": ("db", "database", "postgres", "mysql", "aurora", "mongo"),
    "cache": ("cache", "redis", "memcache", "valkey"),
    "ml": ("ml", "train", "inference", "gpu", "model"),
    "web": ("web", "frontend", "www", "site"),
    "api": ("api", "gateway", "backend"),
    "microservice": ("svc", "service", "processor", "handler", "fn", "function"),
}
_NAME_PRIOR = 0.6


# --------------------------------------------------------------------------------------------- features
def _hourly(values: np.ndarray, period: int, how: str = "mean") -> np.ndarray:
    """Aggregate to hours (NaN-aware); a period of an hour or more is returned as is."""
    steps = max(1, int(round(HOUR_S / period)))
    if steps == 1:
        return np.asarray(values, dtype=np.float64)
    n = values.shape[0] // steps * steps
    block = np.asarray(values[:n], dtype=np.float64).reshape(-1, steps)
    with np.errstate(all="ignore"), _Quiet():
        if how == "sum":
            out = np.where(np.all(np.isnan(block), axis=1), np.nan, np.nansum(block, axis=1))
        elif how == "max":
            out = np.nanmax(block, axis=1)
        else:
            out = np.nanmean(block, axis=1)
    return np.asarray(out, dtype=np.float64)


class _Quiet:
    """Silence numpy's all-NaN slice warnings inside a block."""

    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._w.__exit__(*exc)


def seasonality_strength(hourly: np.ndarray, start_hour: int = 0) -> float:
    """Daily seasonality strength in [0, 1] of an hourly series: ``max(0, 1 - Var(R) / Var(S + R))``.

    The series is detrended with a centred 24-hour moving average, the daily profile ``S`` is the mean of the
    detrended values per hour of day, and ``R`` is what remains (Hyndman & Athanasopoulos, FPP3 section 4.3).

    Parameters
    ----------
    hourly : numpy.ndarray
        Hourly values (NaN = missing), at least two days.
    start_hour : int
        Hour of day (UTC) of the first value.

    Returns
    -------
    float
        0 for no daily cycle, close to 1 for a clean one; 0 when there is too little data.

    Examples
    --------
    >>> t = np.arange(24 * 7)
    >>> seasonality_strength(10 + np.sin(2 * np.pi * t / 24)) > 0.95
    True
    """
    x = np.asarray(hourly, dtype=np.float64)
    if x.size < 48 or np.sum(np.isfinite(x)) < 36:
        return 0.0
    filled = np.where(np.isfinite(x), x, np.nanmean(x))
    kernel = np.ones(24) / 24.0
    pad = np.concatenate([np.full(12, filled[0]), filled, np.full(11, filled[-1])])
    trend = np.convolve(pad, kernel, mode="valid")
    detr = x - trend
    hours = (np.arange(x.size) + start_hour) % 24
    with _Quiet():
        prof = np.array([np.nanmean(detr[hours == h]) if np.any(hours == h) else 0.0 for h in range(24)])
    prof = np.nan_to_num(prof)
    resid = detr - prof[hours]
    ok = np.isfinite(detr)
    total = float(np.var(detr[ok]))
    if total <= 1e-12:
        return 0.0
    return float(max(0.0, 1.0 - float(np.var(resid[ok])) / total))


def _weekly_ratio(hourly: np.ndarray, start_ts: float) -> float:
    """Weekend mean over weekday mean (1 = no weekly effect); NaN without both."""
    ts = start_ts + HOUR_S * np.arange(hourly.size)
    weekday = (np.floor(ts / DAY_S).astype(np.int64) + 3) % 7
    wk, we = hourly[weekday < 5], hourly[weekday >= 5]
    with _Quiet():
        a, b = np.nanmean(wk) if wk.size else np.nan, np.nanmean(we) if we.size else np.nan
    if not (np.isfinite(a) and np.isfinite(b)) or a <= 1e-9:
        return math.nan
    return float(b / a)


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return int(np.max(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 12 or np.std(a[ok]) < 1e-9 or np.std(b[ok]) < 1e-9:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def _first(resource: ResourceMetrics, names: tuple[str, ...]) -> str | None:
    return next((m for m in names if m in resource.series and resource.series[m].n_valid), None)


def workload_features(resource: ResourceMetrics) -> dict[str, float]:
    """Interpretable features of a resource's metrics (see the module docstring).

    Returns
    -------
    dict of str to float
        Flags are 0/1; figures NaN when their metric is absent.

    Raises
    ------
    InsufficientDataError
        When no metric has at least a day of usable hourly data.
    """
    f: dict[str, float] = {}
    rtype = resource.resource_type
    for t in ("asg", "ec2", "rds", "cache", "lambda", "other"):
        f[f"type_{t}"] = float(rtype == t)
    req = _first(resource, _REQUEST_METRICS)
    inv = _first(resource, _INVOCATION_METRICS)
    f["has_requests"] = float(req is not None)
    f["has_invocations"] = float(inv is not None)
    f["has_db_metrics"] = float(_first(resource, _DB_METRICS) is not None)
    f["has_cache_metrics"] = float(_first(resource, _CACHE_METRICS) is not None)
    f["has_gpu"] = float(_first(resource, _GPU_METRICS) is not None)
    f["has_disk"] = float(_first(resource, _DISK_METRICS) is not None)
    driver_name = "CPUUtilization" if "CPUUtilization" in resource.series else (req or inv)
    if driver_name is None:
        driver_name = max(resource.series, key=lambda m: resource.series[m].n_valid, default=None)
    if driver_name is None:
        raise InsufficientDataError(f"{resource.resource_id}: no metrics", needed=24, got=0, unit="hours")
    s = resource.series[driver_name]
    how = "sum" if driver_name in (_REQUEST_METRICS + _INVOCATION_METRICS) else "mean"
    h = _hourly(s.values, s.period, how)
    n_ok = int(np.sum(np.isfinite(h)))
    if n_ok < 24:
        raise InsufficientDataError(f"{resource.resource_id}/{driver_name}", needed=24, got=n_ok, unit="hours")
    start_hour = int((s.start % DAY_S) // HOUR_S)
    fine = s.values[np.isfinite(s.values)]
    p5, p50, p99 = (float(np.percentile(fine, q)) for q in (5, 50, 99))
    f["cpu_present"] = float(driver_name == "CPUUtilization")
    f["level_p50"] = p50
    f["level_p99"] = p99
    f["level_p10"] = float(np.percentile(fine, 10))
    f["burstiness"] = (p99 + 1e-6) / (p50 + 1e-6)
    f["contrast"] = (p99 + 1e-6) / (p5 + 1e-6)
    lo_band, hi_band = p5 + 0.25 * (p99 - p5), p5 + 0.75 * (p99 - p5)
    f["mid_share"] = float(np.mean((fine > lo_band) & (fine < hi_band))) if p99 - p5 > 1e-9 else 1.0
    mid = p5 + 0.5 * (p99 - p5)
    busy = h > mid
    f["duty_cycle"] = float(np.mean(busy[np.isfinite(h)])) if p99 - p5 > 1e-9 else 0.0
    f["longest_busy_h"] = float(_longest_run(busy & np.isfinite(h)))
    f["daily_strength"] = seasonality_strength(h, start_hour)
    f["weekly_ratio"] = _weekly_ratio(h, s.start)
    # share of variance the profile would explain on a smoothed sine: peak-to-trough smoothness
    f["cv"] = float(np.nanstd(h) / (abs(np.nanmean(h)) + 1e-9))
    cpu_h = _hourly(resource.series["CPUUtilization"].values, s.period) if "CPUUtilization" in resource.series else None
    driver = req or inv
    if driver is not None:
        r = resource.series[driver]
        rh = _hourly(r.values, r.period, "sum")
        f["req_daily_strength"] = seasonality_strength(rh, int((r.start % DAY_S) // HOUR_S))
        f["req_weekly_ratio"] = _weekly_ratio(rh, r.start)
        f["req_burstiness"] = (
            float((np.nanpercentile(rh, 99) + 1e-6) / (np.nanpercentile(rh, 50) + 1e-6))
            if np.isfinite(rh).any()
            else math.nan
        )
        f["cpu_req_corr"] = _corr(cpu_h, rh) if cpu_h is not None else math.nan
        out = resource.series.get("NetworkOut")
        if out is not None and req is not None:
            oh = _hourly(out.values, out.period, "sum")
            total_req = float(np.nansum(rh[: oh.size]))
            f["bytes_per_request"] = float(np.nansum(oh[: rh.size]) / total_req) if total_req > 0 else math.nan
        else:
            f["bytes_per_request"] = math.nan
        f["requests_per_hour"] = float(np.nanmedian(rh))
        lat = resource.series.get("TargetResponseTime")
        f["latency_p50_s"] = float(np.nanmedian(lat.values)) if lat is not None and lat.n_valid else math.nan
    else:
        for k in ("req_daily_strength", "req_weekly_ratio", "req_burstiness", "cpu_req_corr", "bytes_per_request"):
            f[k] = math.nan
        f["requests_per_hour"] = f["latency_p50_s"] = math.nan
    mem = _first(resource, _MEMORY_METRICS)
    if mem is not None:
        mv = resource.series[mem].values
        f["memory_p50"] = float(np.nanmedian(mv))
        f["memory_cv"] = float(np.nanstd(mv) / (np.nanmean(mv) + 1e-9))
        f["memory_to_cpu"] = f["memory_p50"] / (p50 + 1.0) if driver_name == "CPUUtilization" else math.nan
    else:
        f["memory_p50"] = f["memory_cv"] = f["memory_to_cpu"] = math.nan
    net = [resource.series[m] for m in ("NetworkIn", "NetworkOut") if m in resource.series]
    if net and driver_name == "CPUUtilization":
        nb = sum(np.nan_to_num(_hourly(x.values, x.period, "sum"), nan=0.0)[: h.size] for x in net)
        f["net_mb_per_hour"] = float(np.nanmedian(nb)) / 1e6
        f["net_per_cpu"] = f["net_mb_per_hour"] / (p50 + 0.5)
        f["net_cpu_corr"] = _corr(h, nb)
    else:
        f["net_mb_per_hour"] = f["net_per_cpu"] = f["net_cpu_corr"] = math.nan
    return f


def _nz(x: float, default: float = 0.0) -> float:
    return default if x is None or not math.isfinite(x) else float(x)


def class_scores(f: dict[str, float], name: str = "") -> dict[str, float]:
    """Rule scores per class (higher = more likely), from :func:`workload_features`.

    Each class sums the evidence for it, each term readable on its own. ``name`` (name or tags) adds a small
    prior when it contains a telling word.
    """
    s = dict.fromkeys(WORKLOADS, 0.0)
    requests = f["has_requests"] > 0
    invocations = f["has_invocations"] > 0
    daily = _nz(f["daily_strength"])
    duty = _nz(f["duty_cycle"], 0.5)
    contrast = _nz(f["contrast"], 1.0)
    p50, p10 = _nz(f["level_p50"]), _nz(f["level_p10"])
    cpu = f["cpu_present"] > 0
    weekly = _nz(f["weekly_ratio"], 1.0)
    mem = f["memory_p50"]
    # --- structure: metric families are the strongest evidence of what a resource is
    s["database"] += 4.0 * f["has_db_metrics"] + 2.5 * f["type_rds"]
    s["cache"] += 4.0 * f["has_cache_metrics"] + 2.5 * f["type_cache"]
    s["ml"] += 4.0 * f["has_gpu"]
    s["microservice"] += 3.0 * f["has_invocations"] + 1.5 * f["type_lambda"]
    # --- batch: idle most of the time, busy in long blocks, big contrast, no user traffic
    if cpu and not requests and not invocations:
        # on/off switching: few points between the idle and the busy level (a daily curve spends hours there)
        onoff = contrast >= 4 and _nz(f["mid_share"], 1.0) < 0.2
        if onoff:
            batchy = (duty < 0.6) * min(2.0, math.log10(contrast)) + (f["longest_busy_h"] >= 1.0) * 0.5
            s["batch"] += 1.5 * batchy + 1.5 * (p10 < 20)
        if contrast < 3 and _nz(f["level_p99"]) < 15:  # low and flat: a small always-on service
            s["microservice"] += 1.0
    # --- ml: sustained near-saturated compute, hours on end
    if cpu and p50 >= 60 and p10 >= 40:
        s["ml"] += 2.5 + (f["longest_busy_h"] >= 12) * 0.5
        s["batch"] += 0.5
    if cpu and _nz(mem) >= 60 and p50 >= 50:
        s["ml"] += 0.5
    # --- request-driven services
    if requests:
        req_daily = _nz(f["req_daily_strength"])
        bpr = f["bytes_per_request"]
        big_pages = math.isfinite(bpr) and bpr >= 20_000
        small_payload = math.isfinite(bpr) and bpr < 8_000
        human = req_daily >= 0.5 and _nz(f["req_weekly_ratio"], 1.0) <= 0.85
        s["web"] += 1.5 + 1.5 * human + 1.5 * big_pages + 0.5 * (req_daily >= 0.6)
        s["api"] += 1.5 + 1.5 * (req_daily < 0.5) + 1.5 * small_payload + 1.0 * (_nz(f["cpu_req_corr"]) >= 0.8)
        s["api"] += 0.5 * (not human)
        latency = f["latency_p50_s"]
        if math.isfinite(latency):  # machine clients get small, fast answers; pages take longer to build
            s["api"] += 0.5 * (latency < 0.1)
            s["web"] += 0.5 * (latency >= 0.2)
        s["microservice"] += 0.5 + 1.0 * (f["type_asg"] == 0 and p50 < 15)
    elif cpu and not invocations:
        # an instance with no request metric: user-facing rhythm or a steady backend service
        p99 = _nz(f["level_p99"])
        if daily >= 0.5 and duty >= 0.3 and p99 >= 15:  # a user-facing rhythm with real CPU behind it
            s["web"] += 1.0 + 0.5 * (weekly <= 0.85)
            s["api"] += 1.0
        small_always_on = p99 < 15 and contrast < 6  # never busy: a microservice (or idle)
        flat_backend = daily < 0.35 and duty >= 0.3 and p50 < 40
        if small_always_on or flat_backend:
            s["microservice"] += 1.5
        steady_memory = not math.isnan(mem) and mem >= 55 and _nz(f["memory_cv"], 1.0) < 0.1
        chatty = _nz(f["net_per_cpu"]) >= 50  # MB per hour per CPU-%: serving bytes, not computing
        if steady_memory and chatty and p50 < 30:
            s["cache"] += 3.0
        elif steady_memory:
            s["database"] += 2.0 + 1.0 * (f["has_disk"] > 0)
        if f["has_disk"] > 0 and not math.isnan(mem) and mem >= 50:
            s["database"] += 1.0
    # --- invocations: event-driven functions are microservices; a human rhythm leans to api
    if invocations:
        s["api"] += 0.5 * (_nz(f["req_daily_strength"]) >= 0.5)
    # --- light name prior, never decisive alone
    low = name.lower()
    for cls, words in _NAME_HINTS.items():
        tokens = low.replace("_", "-").replace(".", "-").replace(" ", "-").split("-")
        if any(w in tokens for w in words):
            s[cls] += _NAME_PRIOR
    return s


@dataclass(frozen=True, slots=True)
class Classification:
    """A workload class with its confidence and the evidence behind it."""

    workload: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    m = max(scores.values())
    e = {k: math.exp(v - m) for k, v in scores.items()}
    z = sum(e.values())
    return {k: v / z for k, v in e.items()}


def classify_resource(resource: ResourceMetrics, *, use_name: bool = True) -> Classification:
    """Classify one resource (see :func:`class_scores`).

    Raises
    ------
    InsufficientDataError
        Less than a day of usable data.

    Examples
    --------
    >>> from cloudsage.local.demo import build_demo_fleet
    >>> batch = build_demo_fleet().to_resource_metrics()[1]
    >>> classify_resource(batch, use_name=False).workload
    'batch'
    """
    f = workload_features(resource)
    name = ""
    if use_name:
        tags = resource.attributes.get("tags") or {}
        tag_text = " ".join(f"{k} {v}" for k, v in tags.items()) if isinstance(tags, dict) else ""
        name = f"{resource.attributes.get('name', '')} {tag_text}".strip()
    scores = class_scores(f, name)
    probs = _softmax(scores)
    best = max(WORKLOADS, key=lambda k: (probs[k], -WORKLOADS.index(k)))
    return Classification(best, round(probs[best], 4), {k: round(v, 3) for k, v in scores.items()}, f)


# --------------------------------------------------------------------------------------------- recommendation
@dataclass(frozen=True, slots=True)
class Recommendation:
    """Workload class, instance family and size, and an autoscaling policy for one resource.

    Parameters
    ----------
    workload : str
        One of :data:`WORKLOADS`.
    confidence : float
        Probability of that class (softmax of the rule scores).
    family_class : str
        ``compute``, ``memory``, ``general`` or ``burstable``.
    instance_type : str or None
        Recommended type (None when the resource has no instance type, e.g. Lambda).
    autoscaling : dict or None
        ``{"policy": "target-tracking", "metric", "target", "min", "max", "predictive_scaling",
        "seasonality_strength"}`` for request-driven or grouped resources.
    reasons : tuple of str
        Why, in words.
    """

    workload: str
    confidence: float
    family_class: str
    instance_type: str | None
    autoscaling: dict[str, Any] | None
    reasons: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


_FAMILY_FOR: dict[str, str] = {
    "batch": "compute",
    "ml": "compute",
    "database": "memory",
    "cache": "memory",
    "web": "general",
    "api": "general",
    "microservice": "general",
}
_PREFERRED_FAMILY: dict[tuple[str, str], str] = {
    ("compute", "x86_64"): "c6i",
    ("memory", "x86_64"): "r6i",
    ("general", "x86_64"): "m6i",
    ("burstable", "x86_64"): "t3",
    ("compute", "arm64"): "c7g",
    ("memory", "arm64"): "r7g",
    ("general", "arm64"): "m7g",
    ("burstable", "arm64"): "t4g",
}


class ResourceRecommender(BaseEstimator):
    """Classify a workload from its metrics and recommend family, size and autoscaling.

    Parameters
    ----------
    use_name : bool
        Let the resource's name and tags add a small prior.
    predictive_threshold : float
        Predictive scaling is recommended when the daily seasonality strength of the load is at least this.
    strategy : str
        Sizing strategy passed to the CostOptimizer (see :mod:`cloudsage.core.models.cost`).
    random_state : int or None
        Unused (rules are deterministic); accepted so every model shares the contract.

    Attributes
    ----------
    classification_ : Classification
        Class, confidence, scores and features.
    resource_ : ResourceMetrics
        The resource fitted on.

    Examples
    --------
    >>> from cloudsage.local.demo import build_demo_fleet
    >>> web = build_demo_fleet().to_resource_metrics()[0]
    >>> rec = ResourceRecommender().fit(web).predict()
    >>> rec.autoscaling["predictive_scaling"]
    True
    """

    def __init__(
        self,
        use_name: bool = True,
        predictive_threshold: float = 0.5,
        strategy: str = "balanced",
        random_state: int | None = None,
    ) -> None:
        self.use_name = use_name
        self.predictive_threshold = predictive_threshold
        self.strategy = strategy
        self.random_state = random_state

    def fit(self, y: ResourceMetrics, X: Any = None) -> Self:
        """Compute features and the class of one resource.

        Parameters
        ----------
        y : ResourceMetrics
            The resource (its metrics and attributes).
        X : ignored

        Returns
        -------
        self

        Raises
        ------
        InputValidationError
            ``y`` is not a ResourceMetrics, or a parameter is out of range (names it).
        InsufficientDataError
            Less than a day of usable data.
        """
        if not isinstance(y, ResourceMetrics):
            raise InputValidationError(f"must be a ResourceMetrics, got {type(y).__name__}", field="y")
        if not 0.0 <= float(self.predictive_threshold) <= 1.0:
            raise InputValidationError("must be in [0, 1]", field="predictive_threshold")
        self.classification_ = classify_resource(y, use_name=bool(self.use_name))
        self.resource_ = y
        return self

    def predict(self) -> Recommendation:
        """Family, size and autoscaling policy for the fitted resource."""
        check_is_fitted(self, "classification_")
        c, res = self.classification_, self.resource_
        f = c.features
        reasons = [f"classified {c.workload} ({c.confidence:.0%})"]
        family = _FAMILY_FOR[c.workload]
        p50, p99 = _nz(f["level_p50"]), _nz(f["level_p99"])
        mem_cpu = f.get("memory_to_cpu", math.nan)
        if family == "general" and f["cpu_present"] and math.isfinite(mem_cpu) and mem_cpu >= 4:
            family = "memory"
            reasons.append(f"memory {f['memory_p50']:.0f} % against CPU {p50:.0f} %: memory-bound")
        if (
            family == "general"
            and f["cpu_present"]
            and p50 < 20
            and f["burstiness"] >= 2.5
            and res.resource_type == "ec2"
        ):
            family = "burstable"
            reasons.append(f"CPU median {p50:.0f} %, P99 {p99:.0f} %: low and spiky, credits cover the peaks")
        itype = res.attributes.get("instance_type")
        target_type: str | None = None
        if itype and "CPUUtilization" in res.series:
            target_type = self._size(str(itype), family, reasons)
        autoscaling = self._autoscaling(c, reasons)
        return Recommendation(c.workload, c.confidence, family, target_type, autoscaling, tuple(reasons), c.scores)

    def _size(self, itype: str, family_class: str, reasons: list[str]) -> str | None:
        from cloudsage.core.models.cost import STRATEGIES, rightsize

        try:
            cur = instance_spec(itype)
        except InputValidationError:
            reasons.append(f"{itype} is not in the catalog: no size recommendation")
            return None
        prefix = itype.split(".")[0] + "." if itype.startswith(("db.", "cache.")) else ""
        fam = _PREFERRED_FAMILY[(family_class, cur.arch)]
        cpu = self.resource_.series["CPUUtilization"]
        vals = cpu.values[np.isfinite(cpu.values)]
        demand = vals / 100.0 * cur.capacity
        pct, head = STRATEGIES.get(self.strategy, STRATEGIES["balanced"])
        mem_name = _first(self.resource_, _MEMORY_METRICS)
        mem_need = None
        if mem_name:
            mv = self.resource_.series[mem_name].values
            mem_need = float(np.nanpercentile(mv, 99.5)) / 100.0 * cur.memory_gib * 1.2
        # without a memory metric, keep today's family class as an alternative (its memory is known to suffice)
        own = _PREFERRED_FAMILY.get((cur.family_class, cur.arch), cur.family)
        fams = {fam, own} if mem_name is None else {fam}
        if prefix:  # RDS / ElastiCache: stay in today's family (classes differ by engine; not priced here)
            fams = {cur.family}
        names = [n for n, s in instance_specs().items() if s.family in fams]
        _, cands = rightsize(
            demand,
            cur.instance_type,
            load_prices(),
            percentile=pct,
            headroom=head,
            period_s=float(cpu.period),
            required_memory_gib=mem_need,
            candidates=names,
            same_arch=True,
            allow_burstable=True,
        )
        if not cands:
            reasons.append(f"no {fam} size meets P{pct:g} + {head:.0%} of today's demand")
            return None
        spec, hourly, proj = cands[0]
        if spec.family != fam:
            reasons.append(f"{spec.family} (today's class) is cheaper than {fam} at the memory it must keep")
        reasons.append(
            f"{spec.instance_type}: P{pct:g} + {head:.0%} headroom projects P99.5 {proj:.0f} % "
            f"(${hourly * HOURS_PER_MONTH:,.2f}/month, 730 h)"
        )
        return prefix + spec.instance_type

    def _autoscaling(self, c: Classification, reasons: list[str]) -> dict[str, Any] | None:
        res = self.resource_
        grouped = res.resource_type == "asg" or "GroupInServiceInstances" in res.series
        if c.workload not in ("web", "api", "microservice") or not grouped or "CPUUtilization" not in res.series:
            return None
        f = c.features
        strength = _nz(f.get("req_daily_strength", math.nan), _nz(f["daily_strength"]))
        burst = _nz(f["burstiness"], 1.0)
        target = 40.0 if burst >= 3 else 50.0 if burst >= 2 else 60.0
        cpu = res.series["CPUUtilization"].values
        group = res.series.get("GroupInServiceInstances")
        if group is not None and group.n_valid:
            n = group.values[: cpu.size]
            total = cpu[: n.size] * n  # CPU-% x instances = demand in instance-%
        else:
            total = cpu * float(res.attributes.get("instance_count", 1) or 1)
        total = total[np.isfinite(total)]
        lo, hi = float(np.percentile(total, 5)), float(np.percentile(total, 99.5))
        min_n = max(2, math.ceil(lo / target))  # two for availability
        max_n = max(min_n + 1, math.ceil(hi * 1.2 / target))
        predictive = bool(strength >= float(self.predictive_threshold))
        reasons.append(
            f"target tracking on CPU at {target:.0f} % (P99/median {burst:.1f}); min {min_n}, max {max_n}; "
            f"predictive scaling {'on' if predictive else 'off'} (daily seasonality strength {strength:.2f})"
        )
        return {
            "policy": "target-tracking",
            "metric": "ASGAverageCPUUtilization",
            "target": target,
            "min": min_n,
            "max": max_n,
            "predictive_scaling": predictive,
            "seasonality_strength": round(strength, 3),
        }


def analyze(resource: ResourceMetrics, **params: Any) -> ModelOutput:
    """Workload class and recommendations for one resource as an insight.

    Parameters
    ----------
    resource : ResourceMetrics
        Any resource with at least a day of one metric.
    **params
        :class:`ResourceRecommender` parameters.

    Returns
    -------
    ModelOutput
        One ``info``/``low`` proactive insight (class, family, size, autoscaling) with the features as evidence;
        ``detail`` holds the scores and the driving metric's plot data.

    Raises
    ------
    InsufficientDataError
        Less than a day of usable data.

    Examples
    --------
    >>> from cloudsage.local.demo import build_demo_fleet
    >>> out = analyze(build_demo_fleet().to_resource_metrics()[1])
    >>> out.insights[0].evidence["workload"]
    'batch'
    """
    unknown = sorted(set(params) - set(ResourceRecommender().get_params()))
    if unknown:  # a misspelt option must not be ignored silently
        raise InputValidationError(f"unknown parameter(s) {unknown}", field=unknown[0])
    est = ResourceRecommender(**params)
    rec = est.fit(resource).predict()
    cur = resource.attributes.get("instance_type")
    change = rec.instance_type is not None and cur and rec.instance_type != cur
    any_series = next(iter(resource.series.values()))
    t0 = min(float(s.start) for s in resource.series.values())
    t1 = max(float(s.end) for s in resource.series.values())
    parts = [f"{resource.resource_id} behaves like a {rec.workload} workload ({rec.confidence:.0%} confidence)."]
    recs = []
    if rec.instance_type:
        parts.append(f"Family: {rec.family_class}; size: {rec.instance_type}.")
        if change:
            recs.append(f"Move from {cur} to {rec.instance_type}.")
    if rec.autoscaling:
        a = rec.autoscaling
        recs.append(
            f"Target tracking on average CPU at {a['target']:.0f} %, min {a['min']}, max {a['max']}; predictive "
            f"scaling {'on' if a['predictive_scaling'] else 'off'}."
        )
    key = f"{rec.workload} ({rec.confidence:.0%})"
    insight = Insight(
        resource_id=resource.resource_id,
        model=MODEL_NAME,
        kind="proactive",
        severity="low" if change or rec.autoscaling else "info",
        confidence=float(min(1.0, rec.confidence)),
        title=f"{resource.resource_id}: {rec.workload} workload"
        + (f", recommend {rec.instance_type}" if change else ""),
        summary=" ".join([*parts, "Reasons: " + "; ".join(rec.reasons) + "."]),
        recommendation=" ".join(recs) if recs else "No change needed.",
        detected_at=t1,
        window_start=t0,
        window_end=t1,
        evidence={
            "workload": rec.workload,
            "family_class": rec.family_class,
            "instance_type": rec.instance_type,
            "current_type": cur,
            "autoscaling": rec.autoscaling,
            "scores": rec.scores,
            "features": {
                k: (round(v, 4) if math.isfinite(v) else None) for k, v in est.classification_.features.items()
            },
            "key_figure": key,
        },
        metric="",
    )
    name = "CPUUtilization" if "CPUUtilization" in resource.series else any_series.metric
    s = resource.series[name]
    step = max(1, math.ceil(len(s) / 600))
    detail = {
        name: {
            "timestamps": [int(t) for t in s.timestamps[::step]],
            "values": [float(v) for v in s.values[::step]],
        },
        "scores": rec.scores,
        "recommendation": rec.to_dict(),
    }
    return ModelOutput(MODEL_NAME, resource.resource_id, (insight,), detail)
