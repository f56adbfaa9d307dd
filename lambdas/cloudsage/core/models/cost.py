"""Cost optimisation: rightsizing, idle resources, Graviton, Spot, EBS gp2 to gp3 and Lambda memory (CostOptimizer v1).

Rightsizing works in *capacity units* (m5.large = 1.0, CoreMark-derived, see :mod:`cloudsage.core.catalog`):
the CPU demand at each interval is ``CPUUtilization / 100 x capacity(current type)``. A strategy maps to a
percentile of that demand and a headroom:

====================  ==========  ========  ===============================================================
strategy              percentile  headroom  for
====================  ==========  ========  ===============================================================
``aggressive``        P95         +10 %     dev/test, anything that tolerates the odd slow interval
``balanced``          P99         +15 %     the default
``conservative``      P99.5       +20 %     Compute Optimizer's default (same rule)
``performance-first`` P100 (max)  +30 %     latency-critical services
====================  ==========  ========  ===============================================================

Required capacity = percentile x (1 + headroom). On top of the percentile, **every** strategy also checks the
whole fit window: the observed demand may exceed a candidate's capacity in at most ``max_exceed_share`` of the
intervals (0.1 % by default, about 4 five-minute points in two weeks), so a rare but long tail beyond the
percentile is not ignored. An interval where today's type runs at 95 % or more is *censored* (the true demand is at
least the whole instance, how much more is unknown): in that check it exceeds every candidate with less capacity
than today's, so a workload saturated in more than that share of the window never moves to a smaller type, however
short its spells and however close the smaller type's capacity. Burstable candidates (t3/t4g) are only accepted when
a CPU-credit simulation of the window never runs out (standard credit mode, starting from an empty balance since
T3/T4g get no launch credits) and the mean utilisation with headroom stays under the baseline. Memory is sized
only when a memory metric exists (``MemoryUtilization`` or ``mem_used_percent``: its P99.5 plus 20 %); without one,
no candidate has less memory than today's type. Measured network is kept below 80 % of a candidate's bandwidth.

Finding (the Compute Optimizer vocabulary): ``under-provisioned`` when today's type is below the requirement,
``over-provisioned`` when a cheaper type meets it, else ``optimised``. Performance risk 0-4 from the projected
P99.5 utilisation on the new type (< 60 %: 0, < 75 %: 1, < 90 %: 2, < 100 %: 3, else 4; burstable at least 1).

Options are ranked by monthly savings, 730 hours a month (:data:`~cloudsage.core.catalog.HOURS_PER_MONTH`), at
the On-Demand prices of the price book; every figure names the book (``snapshot 2026-12-06`` or ``live api``).
Effort is priced in engineer hours (``engineer_hour_usd``) to give ROI and payback.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Self

import numpy as np

from cloudsage.core.base import Estimator as BaseEstimator
from cloudsage.core.base import check_is_fitted
from cloudsage.core.catalog import (
    GRAVITON_EQUIVALENT,
    HOURS_PER_MONTH,
    InstanceSpec,
    PriceBook,
    instance_spec,
    instance_specs,
    load_prices,
)
from cloudsage.core.errors import InputValidationError, InsufficientDataError
from cloudsage.core.native import library as native_library
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import Insight, ModelOutput, jsonable
from cloudsage.core.rounding import rounded6
from cloudsage.core.series import MetricSeries

__all__ = [
    "STRATEGIES",
    "CostOptimizer",
    "CostReport",
    "RightsizingOption",
    "analyze",
    "credit_exhausted_share",
    "gp2_to_gp3",
    "lambda_memory_options",
    "performance_risk",
    "rightsize",
]

MODEL_NAME = "cost"
DAY_S = 86_400.0

#: strategy -> (percentile of CPU demand, headroom)
STRATEGIES: dict[str, tuple[float, float]] = {
    "aggressive": (95.0, 0.10),
    "balanced": (99.0, 0.15),
    "conservative": (99.5, 0.20),
    "performance-first": (100.0, 0.30),
}
MEMORY_METRICS = ("MemoryUtilization", "mem_used_percent")
_MEMORY_PERCENTILE, _MEMORY_HEADROOM = 99.5, 0.20
_NETWORK_MAX_SHARE = 0.8
#: at or above this share of today's capacity an interval is *censored*: today's type is full, so the true demand is
#: unknown (at least the whole instance); CloudWatch rarely shows a busy instance above 95-99 %, whence 95 %.
_SATURATED_SHARE = 0.95
_MIN_POINTS = 288  # one day of 5-minute points (scaled by period in analyze)
_PLOT_POINTS = 600

#: engineer hours per kind of change (priced with ``engineer_hour_usd`` for ROI and payback)
EFFORT_HOURS: dict[str, float] = {
    "terminate": 1.0,  # confirm with the owner, snapshot, terminate
    "stop": 0.5,
    "rightsize": 1.0,  # stop, change type, start, watch
    "graviton": 16.0,  # rebuild images and native dependencies for arm64, test, roll out
    "spot": 8.0,  # interruption handling, mixed-instances policy or retrying job queue
    "gp3": 0.5,  # ModifyVolume, online
    "lambda_memory": 1.0,
}
_ACTION_ORDER = ("terminate", "stop", "rightsize", "graviton", "spot", "gp3", "lambda_memory")
_EFFORT_TEXT = {
    "terminate": "low (snapshot the volumes, confirm with the owner)",
    "stop": "low",
    "rightsize": "low (stop, change type, start)",
    "graviton": "medium (arm64 build of the image and native dependencies, test, roll out)",
    "spot": "medium (handle the 2-minute interruption notice; checkpoint or retry jobs)",
    "gp3": "low (ModifyVolume, no downtime)",
    "lambda_memory": "low (configuration change)",
}


# --------------------------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class RightsizingOption:
    """One candidate action with its cost figures.

    Parameters
    ----------
    action : str
        ``rightsize``, ``terminate``, ``stop``, ``graviton``, ``spot``, ``gp3``, ``lambda_memory``.
    target : str
        Instance type (or volume type, memory size) after the change.
    monthly_cost_usd, monthly_savings_usd : float
        After the change and the difference to today (negative = costs more), 730 h/month.
    projected_p995_pct : float
        Projected P99.5 CPU utilisation on the target (NaN when not applicable).
    performance_risk : int
        0 (none) to 4 (very high).
    effort : str
        Migration effort in words.
    effort_cost_usd : float
        Effort in engineer hours x ``engineer_hour_usd``.
    payback_months : float
        Effort cost / monthly savings (inf when it saves nothing).
    estimate : bool
        True when the saving is an estimate rather than list prices (Spot, Lambda duration models).
    price_origin : str
        Which price book the figures come from.
    note : str
        Anything the reader must know.
    """

    action: str
    target: str
    monthly_cost_usd: float
    monthly_savings_usd: float
    projected_p995_pct: float = math.nan
    performance_risk: int = 0
    effort: str = ""
    effort_cost_usd: float = 0.0
    payback_months: float = math.inf
    estimate: bool = False
    price_origin: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True, slots=True)
class CostReport:
    """What the optimizer found for one resource.

    Parameters
    ----------
    finding : str
        ``idle``, ``over-provisioned``, ``under-provisioned`` or ``optimised``.
    current_type : str
        Instance type today.
    instance_count : float
        Instances (mean in service for a group).
    current_monthly_usd : float
        Today's On-Demand cost (730 h/month).
    required_capacity : float
        CPU capacity needed per instance (m5.large = 1.0) after percentile and headroom.
    required_memory_gib : float
        Memory needed per instance.
    options : tuple of RightsizingOption
        Ranked by monthly savings, best first.
    strategy : str
        The strategy used.
    price_origin : str
        Which price book.
    """

    finding: str
    current_type: str
    instance_count: float
    current_monthly_usd: float
    required_capacity: float
    required_memory_gib: float
    options: tuple[RightsizingOption, ...] = ()
    strategy: str = "balanced"
    price_origin: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> RightsizingOption | None:
        """The option with the largest saving, if any."""
        return self.options[0] if self.options else None

    def to_dict(self) -> dict[str, Any]:
        out = jsonable({f.name: getattr(self, f.name) for f in fields(self) if f.name != "options"})
        out["options"] = [o.to_dict() for o in self.options]
        return out


# --------------------------------------------------------------------------------------------- pure helpers
def _clean(values: Any, field_name: str) -> np.ndarray:
    arr = np.asarray(values.values if isinstance(values, MetricSeries) else values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)] if arr.size else arr


def credit_exhausted_share(
    util_pct: np.ndarray, spec: InstanceSpec, period_s: float, start_balance: float = 0.0
) -> float:
    """Share of intervals a burstable type spends without CPU credits (standard mode).

    T3/T4g get no launch credits, so the balance starts empty by default (``start_balance`` is a fraction of the
    maximum, a day of earnings).

    Parameters
    ----------
    util_pct : numpy.ndarray
        Projected CPU utilisation (% of the whole instance) per interval, in time order.
    spec : InstanceSpec
        A burstable type (``baseline_pct`` set); non-burstable types return 0.
    period_s : float
        Interval length in seconds.

    Returns
    -------
    float
        Fraction of intervals in which the balance is empty (demand is then capped at the baseline).
    """
    if spec.baseline_pct is None or util_pct.size == 0:
        return 0.0
    minutes = period_s / 60.0
    earn = spec.baseline_pct / 100.0 * spec.vcpu * minutes  # vCPU-minutes of credit per interval
    cap = spec.baseline_pct / 100.0 * spec.vcpu * 60.0 * 24.0  # a day of earnings
    spend = np.clip(util_pct, 0.0, 100.0) / 100.0 * spec.vcpu * minutes
    net = np.ascontiguousarray(earn - spend, dtype=np.float64)
    balance, empty = cap * float(start_balance), 0
    lib = native_library()
    if lib is not None:  # the same loop compiled (cs_credit_empty), the same count
        return int(lib.cs_credit_empty(net.ctypes.data, net.shape[0], cap, balance)) / util_pct.size
    for x in net.tolist():  # a clipped running sum has no closed form; 4k points is ~1 ms
        balance = min(cap, balance + x)
        if balance <= 0.0:
            empty += 1
            balance = 0.0
    return empty / util_pct.size


def performance_risk(p995_pct: float, burstable: bool) -> int:
    """Performance risk 0 (none) to 4 (very high) of a type from its projected P99.5 CPU utilisation (%).

    < 60 %: 0, < 75 %: 1, < 90 %: 2, < 100 %: 3, else 4; a burstable type is at least 1 (its credits can run out).
    """
    level = 0 if p995_pct < 60 else 1 if p995_pct < 75 else 2 if p995_pct < 90 else 3 if p995_pct < 100 else 4
    return max(level, 1) if burstable else level


def rightsize(
    demand: np.ndarray,
    current: str,
    book: PriceBook,
    *,
    percentile: float,
    headroom: float,
    period_s: float = 300.0,
    required_memory_gib: float | None = None,
    network_gbps: float | None = None,
    candidates: Iterable[str] | None = None,
    same_arch: bool = True,
    allow_burstable: bool = True,
    max_exceed_share: float | None = 0.001,
) -> tuple[float, list[tuple[InstanceSpec, float, float]]]:
    """Required capacity and the acceptable candidate types, cheapest first.

    Parameters
    ----------
    demand : numpy.ndarray
        CPU demand per interval in capacity units (m5.large = 1.0), finite values in time order.
    current : str
        Today's type (its memory is the floor when ``required_memory_gib`` is None).
    book : PriceBook
        Prices; only priced types are candidates.
    percentile, headroom : float
        The sizing rule: required = percentile of demand x (1 + headroom).
    period_s : float
        Interval length (credit simulation).
    required_memory_gib : float, optional
        Memory needed; None = at least today's.
    network_gbps : float, optional
        Peak measured network; candidates keep it under 80 % of their bandwidth.
    candidates : iterable of str, optional
        Types to consider; default every priced type of the catalog.
    same_arch : bool
        Only today's architecture (a Graviton move is a separate option with its own effort).
    allow_burstable : bool
        Consider t3/t4g (with the credit simulation).
    max_exceed_share : float or None
        Also require that at most this share of the observed intervals would have exceeded 100 % of the
        candidate's capacity (the tail beyond the percentile); None switches the check off (a pure percentile rule).
        Intervals where today's type runs at 95 % or more are censored (the true demand is unknown, at least the
        whole instance): they count as exceeding every candidate with less capacity than today's.

    Returns
    -------
    (float, list)
        Required capacity, and ``(spec, $/hour, projected P99.5 %)`` for every acceptable type, cheapest first
        (ties: more capacity first).
    """
    cur = instance_spec(current)
    need = float(np.percentile(demand, percentile)) * (1.0 + headroom) if demand.size else 0.0
    mem = cur.memory_gib if required_memory_gib is None else float(required_memory_gib)
    p995 = float(np.percentile(demand, 99.5)) if demand.size else 0.0
    scaled = demand * (1.0 + headroom)
    # censored intervals: today's type was full, the true demand was at least its whole capacity, so they exceed
    # every candidate with less capacity than today's (else a type 2 % smaller than a saturated one would look safe)
    censored = demand >= _SATURATED_SHARE * cur.capacity
    specs = instance_specs()
    names = list(candidates) if candidates is not None else list(specs)
    out: list[tuple[InstanceSpec, float, float]] = []
    for name in names:
        spec = specs.get(name)
        if spec is None or not book.has(name):
            continue
        if same_arch and spec.arch != cur.arch:
            continue
        if spec.memory_gib + 1e-9 < mem:
            continue
        if network_gbps is not None and network_gbps > _NETWORK_MAX_SHARE * spec.network_gbps:
            continue
        if spec.burstable:
            if not allow_burstable or spec.capacity < need:
                continue
            util = 100.0 * scaled / spec.capacity
            baseline = float(spec.baseline_pct or 0.0)
            if float(np.mean(util)) > baseline or credit_exhausted_share(util, spec, period_s) > 0.0:
                continue
        elif spec.capacity < need:
            continue
        if max_exceed_share is not None and demand.size:
            over = demand > spec.capacity
            if spec.capacity < cur.capacity:
                over = over | censored
            if float(np.mean(over)) > max_exceed_share:
                continue
        out.append((spec, book.hourly(name), 100.0 * p995 / spec.capacity))
    out.sort(key=lambda t: (t[1], -t[0].capacity, t[0].instance_type))
    return need, out


def gp2_to_gp3(
    size_gb: float, book: PriceBook, *, needed_iops: float | None = None, needed_mbps: float | None = None
) -> tuple[float, float, float, float]:
    """Monthly cost of a gp2 volume and of the gp3 volume that matches what it delivers (or what is needed).

    A gp2 volume gives 3 IOPS per GB (at least 100, at most 16,000) and up to 250 MB/s; gp3 includes 3,000 IOPS
    and 125 MB/s, and the rest is bought. Without measured needs, the gp3 matches gp2's baseline.

    Returns
    -------
    (gp2 $/month, gp3 $/month, gp3 IOPS, gp3 MB/s)

    Raises
    ------
    InputValidationError
        Negative size or needs (field ``size_gb`` / ``needed_iops``).

    Examples
    --------
    >>> book = load_prices()
    >>> gp2_to_gp3(100, book)
    (10.0, 8.0, 3000.0, 125.0)
    """
    if not size_gb >= 0:
        raise InputValidationError(f"must be >= 0, got {size_gb!r}", field="size_gb")
    if (needed_iops is not None and needed_iops < 0) or (needed_mbps is not None and needed_mbps < 0):
        raise InputValidationError("must be >= 0", field="needed_iops")
    gp2_iops = min(16_000.0, max(100.0, 3.0 * size_gb))
    gp2_mbps = 128.0 if size_gb <= 170 else 250.0 if size_gb >= 334 else 128.0 + (size_gb - 170) * (122.0 / 164.0)
    iops = max(3000.0, gp2_iops if needed_iops is None else float(needed_iops))
    mbps = max(125.0, min(gp2_mbps, 1000.0) if needed_mbps is None else float(needed_mbps))
    if needed_mbps is None and gp2_mbps <= 128.0:
        mbps = 125.0  # gp2 below 170 GB bursts to 128 MB/s: gp3's included 125 MB/s is the match
    return book.ebs_monthly("gp2", size_gb), book.ebs_monthly("gp3", size_gb, iops, mbps), iops, mbps


LAMBDA_SIZES_MB: tuple[int, ...] = (128, 256, 512, 768, 1024, 1536, 1769, 2048, 3008, 4096, 6144, 8192, 10240)
_FULL_VCPU_MB = 1769.0


def lambda_memory_options(
    duration_ms: float,
    invocations_month: float,
    memory_mb: int,
    book: PriceBook,
    *,
    arch: str = "x86_64",
    cpu_bound_share: float = 0.5,
    max_used_mb: float | None = None,
) -> list[dict[str, float]]:
    """Monthly cost of a Lambda function across memory sizes.

    Duration at another size is modelled as ``d * (share * m0/m + (1 - share))`` with the CPU share scaling with
    memory up to one full vCPU (1,769 MB), since Lambda allocates CPU in proportion to memory; the I/O-bound part
    does not change. ``cpu_bound_share`` is an assumption unless measured (an estimate, flagged as such).

    Returns
    -------
    list of dict
        ``{"memory_mb", "duration_ms", "monthly_usd"}`` for each size that fits (at least 1.3 x ``max_used_mb``).
    """
    if memory_mb <= 0 or duration_ms < 0 or invocations_month < 0:
        raise InputValidationError("memory, duration and invocations must be positive", field="memory_mb")
    rows = []
    floor_mb = 1.3 * max_used_mb if max_used_mb is not None else 0.0
    for size in sorted(set(LAMBDA_SIZES_MB) | {int(memory_mb)}):
        if size < floor_mb:
            continue
        speed = min(size, _FULL_VCPU_MB) / min(memory_mb, _FULL_VCPU_MB)
        d = duration_ms * (cpu_bound_share / speed + (1.0 - cpu_bound_share))
        gb_s = invocations_month * d / 1000.0 * size / 1024.0
        rows.append(
            {
                "memory_mb": float(size),
                "duration_ms": d,
                "monthly_usd": book.lambda_monthly(gb_s, invocations_month, arch),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------- estimator
class CostOptimizer(BaseEstimator):
    """Rightsize one EC2 instance or auto scaling group from its CPU (and, if present, memory) history.

    Parameters
    ----------
    instance_type : str
        Today's instance type (``db.``/``cache.`` types size within their family and are not priced).
    instance_count : float
        Number of instances (mean in service for a group); costs scale with it.
    strategy : str
        ``aggressive``, ``balanced`` (default), ``conservative`` or ``performance-first`` (see module docstring).
    max_exceed_share : float
        At most this share of fit intervals may exceed a candidate's capacity after headroom.
    idle_cpu_pct : float
        Idle when the P99 of CPU is at most this (robust to monitoring blips) ...
    idle_network_mb_day : float
        ... and network in + out averages at most this many MB a day (when measured).
    same_arch : bool
        Rightsizing stays on today's architecture; the Graviton move is its own option.
    allow_burstable : bool
        Consider t3/t4g (credit-simulated).
    engineer_hour_usd : float
        Price of an engineer hour for ROI and payback.
    region : str
        Price book region.
    price_path : str or None
        A price file in the snapshot format (e.g. the live refresh cached by
        :func:`cloudsage.adapters.pricing.shared_live_prices`); None = the packaged snapshot.
    period_s : int
        Interval of the input in seconds (CPU credits and idle network per day).
    random_state : int or None
        Unused (the optimizer is deterministic); accepted so all models share the contract.

    Attributes
    ----------
    demand_ : numpy.ndarray
        CPU demand per interval in capacity units.
    required_capacity_ : float
        Per-instance capacity needed.
    required_memory_gib_ : float
        Per-instance memory needed.
    cpu_p99_ : float
        P99 of CPU %.
    network_mb_day_ : float
        Mean network MB/day (NaN when not measured).
    idle_ : bool
        Whether the resource looks idle.
    book_ : PriceBook
        Prices used.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> cpu = np.clip(12 + 4 * rng.standard_normal(4032), 0, 100)
    >>> rep = CostOptimizer(instance_type="m5.2xlarge").fit(cpu).predict()
    >>> rep.finding, rep.best.target
    ('over-provisioned', 'r5.xlarge')
    """

    def __init__(
        self,
        instance_type: str = "m5.large",
        instance_count: float = 1.0,
        strategy: str = "balanced",
        max_exceed_share: float = 0.001,
        idle_cpu_pct: float = 2.0,
        idle_network_mb_day: float = 100.0,
        same_arch: bool = True,
        allow_burstable: bool = True,
        engineer_hour_usd: float = 100.0,
        region: str = "us-east-1",
        price_path: str | None = None,
        period_s: int = 300,
        random_state: int | None = None,
    ) -> None:
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.strategy = strategy
        self.max_exceed_share = max_exceed_share
        self.idle_cpu_pct = idle_cpu_pct
        self.idle_network_mb_day = idle_network_mb_day
        self.same_arch = same_arch
        self.allow_burstable = allow_burstable
        self.engineer_hour_usd = engineer_hour_usd
        self.region = region
        self.price_path = price_path
        self.period_s = period_s
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, y: Any, X: Any = None) -> Self:
        """Learn demand and requirements from CPU utilisation.

        Parameters
        ----------
        y : array-like or MetricSeries
            CPU utilisation in % of today's type, one value per interval (NaN = missing).
        X : array-like of shape (n, k) or dict, optional
            Extra metrics aligned with ``y``: a dict ``{"memory_pct": ..., "network_bytes": ...}`` (network in +
            out bytes per interval), or an array whose first column is memory %.

        Returns
        -------
        self

        Raises
        ------
        InputValidationError
            Unknown strategy or instance type, bad counts (names the parameter).
        InsufficientDataError
            Fewer than 2 usable CPU points.
        """
        if self.strategy not in STRATEGIES:
            raise InputValidationError(f"must be one of {tuple(STRATEGIES)}, got {self.strategy!r}", field="strategy")
        spec = instance_spec(self.instance_type)
        if not (isinstance(self.instance_count, (int, float)) and self.instance_count > 0):
            raise InputValidationError(f"must be > 0, got {self.instance_count!r}", field="instance_count")
        if not 0 <= float(self.max_exceed_share) < 1:
            raise InputValidationError("must be in [0, 1)", field="max_exceed_share")
        cpu = _clean(y, "y")
        if cpu.size < 2:
            raise InsufficientDataError("CPU utilisation", needed=2, got=int(cpu.size))
        if np.any(cpu < 0) or np.any(cpu > 100.0001):
            raise InputValidationError("CPU utilisation must lie in [0, 100]", field="y")
        memory_pct, network = _extras(X)
        self.book_ = load_prices(self.region, path=self.price_path)
        self.spec_ = spec
        raw = np.asarray(y.values if isinstance(y, MetricSeries) else y, dtype=np.float64).ravel()
        ordered = raw[np.isfinite(raw)]
        self.demand_ = ordered / 100.0 * spec.capacity
        pct, head = STRATEGIES[self.strategy]
        self.percentile_, self.headroom_ = pct, head
        self.cpu_p99_ = float(np.percentile(cpu, 99))
        self.cpu_max_ = float(np.max(cpu))
        if memory_pct is not None and memory_pct.size:
            self.required_memory_gib_ = float(
                np.percentile(memory_pct, _MEMORY_PERCENTILE) / 100.0 * spec.memory_gib * (1 + _MEMORY_HEADROOM)
            )
            self.memory_measured_ = True
        else:
            self.required_memory_gib_ = spec.memory_gib
            self.memory_measured_ = False
        self.network_peak_gbps_: float | None = None
        if network is not None and network.size:
            per_day = DAY_S / float(self.period_s)
            self.network_mb_day_ = float(np.mean(network) * per_day / 1e6)
            self.network_peak_gbps_ = float(np.max(network) * 8 / float(self.period_s) / 1e9)
        else:
            self.network_mb_day_ = math.nan
        net_idle = math.isnan(self.network_mb_day_) or self.network_mb_day_ <= float(self.idle_network_mb_day)
        self.idle_ = bool(self.cpu_p99_ <= float(self.idle_cpu_pct) and net_idle)
        # RDS / ElastiCache types (db./cache.) are sized within their own family: engines limit the classes,
        # and EC2 list prices of that family only rank the sizes (they are not the service's prices)
        self.prefix_ = (
            self.instance_type.split(".")[0] + "." if self.instance_type.startswith(("db.", "cache.")) else ""
        )
        family_only = [n for n, s in instance_specs().items() if s.family == spec.family] if self.prefix_ else None
        self.required_capacity_, self.candidates_ = rightsize(
            self.demand_,
            spec.instance_type,
            self.book_,
            percentile=pct,
            headroom=head,
            period_s=float(self.period_s),
            required_memory_gib=self.required_memory_gib_ if self.memory_measured_ else None,
            network_gbps=self.network_peak_gbps_,
            candidates=family_only,
            same_arch=bool(self.same_arch),
            allow_burstable=bool(self.allow_burstable),
            max_exceed_share=float(self.max_exceed_share),
        )
        return self

    # ------------------------------------------------------------------ predict
    def predict(self) -> CostReport:
        """The finding and the options, ranked by monthly savings.

        Returns
        -------
        CostReport
        """
        check_is_fitted(self, "demand_")
        book, spec, count = self.book_, self.spec_, float(self.instance_count)
        priced = book.has(self.instance_type)
        current_month = book.monthly(self.instance_type) * count if priced else math.nan
        p995 = float(np.percentile(self.demand_, 99.5))
        options: list[RightsizingOption] = []
        origin = book.origin
        if self.idle_ and priced:
            options.append(self._option("terminate", "terminate", 0.0, current_month, origin, note="after a snapshot"))
            options.append(
                self._option(
                    "stop",
                    "stop",
                    0.0,
                    current_month,
                    origin,
                    note="attached EBS volumes are still billed when stopped",
                )
            )
        cheapest = self.candidates_[0] if self.candidates_ else None
        under = self.required_capacity_ > spec.capacity or self.required_memory_gib_ > spec.memory_gib + 1e-9
        if priced:
            for cand, hourly, proj in self.candidates_[:5]:
                if cand.instance_type == self.instance_type:
                    continue
                cost = hourly * HOURS_PER_MONTH * count
                options.append(
                    self._option(
                        "rightsize",
                        cand.instance_type,
                        cost,
                        current_month,
                        origin,
                        proj=proj,
                        risk=performance_risk(proj, cand.burstable),
                        note="burstable: standard credit mode assumed" if cand.burstable else "",
                    )
                )
            options.extend(self._graviton(p995, current_month, origin, count))
        options.sort(
            key=lambda o: (-o.monthly_savings_usd, o.performance_risk, _ACTION_ORDER.index(o.action), o.target)
        )
        if self.idle_:
            finding = "idle"
        elif under:
            finding = "under-provisioned"
        elif cheapest is not None and (not priced or cheapest[1] < book.hourly(self.instance_type) - 1e-12):
            finding = "over-provisioned" if cheapest[0].capacity < spec.capacity or priced else "optimised"
        else:
            finding = "optimised"
        return CostReport(
            finding=finding,
            current_type=self.instance_type,
            instance_count=count,
            current_monthly_usd=current_month,
            required_capacity=float(self.required_capacity_),
            required_memory_gib=float(self.required_memory_gib_),
            options=tuple(options),
            strategy=self.strategy,
            price_origin=origin,
            figures={
                "cpu_p99_pct": self.cpu_p99_,
                "cpu_max_pct": self.cpu_max_,
                "current_capacity": spec.capacity,
                "percentile": self.percentile_,
                "headroom": self.headroom_,
                "memory_measured": self.memory_measured_,
                "network_mb_day": self.network_mb_day_,
                "hours_per_month": HOURS_PER_MONTH,
                "suggested_type": self.prefix_ + cheapest[0].instance_type if cheapest is not None else None,
            },
        )

    def _option(
        self,
        action: str,
        target: str,
        cost: float,
        current: float,
        origin: str,
        *,
        proj: float = math.nan,
        risk: int = 0,
        estimate: bool = False,
        note: str = "",
    ) -> RightsizingOption:
        savings = current - cost
        effort_cost = EFFORT_HOURS[action] * float(self.engineer_hour_usd)
        payback = effort_cost / savings if savings > 0 else math.inf
        return RightsizingOption(
            action=action,
            target=target,
            monthly_cost_usd=round(cost, 2),
            monthly_savings_usd=round(savings, 2),
            projected_p995_pct=round(proj, 1) if math.isfinite(proj) else math.nan,
            performance_risk=risk,
            effort=_EFFORT_TEXT[action],
            effort_cost_usd=round(effort_cost, 2),
            payback_months=round(payback, 2) if math.isfinite(payback) else math.inf,
            estimate=estimate,
            price_origin=origin,
            note=note,
        )

    def _graviton(self, p995: float, current: float, origin: str, count: float) -> list[RightsizingOption]:
        """The cheapest acceptable arm64 type of the equivalent Graviton family."""
        spec = self.spec_
        target_family = GRAVITON_EQUIVALENT.get(spec.family)
        if spec.arch == "arm64" or target_family is None:
            return []
        names = [n for n, s in instance_specs().items() if s.family == target_family]
        _, cands = rightsize(
            self.demand_,
            spec.instance_type,
            self.book_,
            percentile=self.percentile_,
            headroom=self.headroom_,
            period_s=float(self.period_s),
            required_memory_gib=self.required_memory_gib_ if self.memory_measured_ else None,
            network_gbps=self.network_peak_gbps_,
            candidates=names,
            same_arch=False,
            allow_burstable=bool(self.allow_burstable),
            max_exceed_share=float(self.max_exceed_share),
        )
        if not cands:
            return []
        cand, hourly, proj = cands[0]
        return [
            self._option(
                "graviton",
                cand.instance_type,
                hourly * HOURS_PER_MONTH * count,
                current,
                origin,
                proj=proj,
                risk=performance_risk(proj, cand.burstable),
                note=f"arm64; capacity {cand.capacity:.2f} vs {spec.capacity:.2f} (CoreMark)",
            )
        ]

    def spot_option(self, report: CostReport, workload: str, discount: float = 0.6) -> RightsizingOption | None:
        """A Spot option for interruption-tolerant workloads (``batch`` or ``ml``), an estimate.

        Parameters
        ----------
        report : CostReport
            From :meth:`predict`.
        workload : str
            The ResourceRecommender's class.
        discount : float
            Assumed Spot discount off On-Demand (0.6 = 60 %, a typical figure; actual prices vary by pool and hour).
        """
        check_is_fitted(self, "demand_")
        if workload not in ("batch", "ml") or not math.isfinite(report.current_monthly_usd):
            return None
        best = next((o for o in report.options if o.action == "rightsize" and o.performance_risk <= 2), None)
        target = best.target if best else report.current_type
        base = best.monthly_cost_usd if best else report.current_monthly_usd
        return self._option(
            "spot",
            f"{target} (Spot)",
            base * (1.0 - discount),
            report.current_monthly_usd,
            report.price_origin,
            estimate=True,
            note=f"estimated at {discount:.0%} off On-Demand; Spot prices vary by pool and hour",
        )


def _extras(X: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    if X is None:
        return None, None
    if isinstance(X, dict):
        mem = X.get("memory_pct")
        net = X.get("network_bytes")
        mem_arr = None if mem is None else _clean(mem, "memory_pct")
        net_arr = None if net is None else _clean(net, "network_bytes")
        if mem_arr is not None and (np.any(mem_arr < 0) or np.any(mem_arr > 100.0001)):
            raise InputValidationError("memory utilisation must lie in [0, 100]", field="memory_pct")
        return mem_arr, net_arr
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputValidationError("must be one- or two-dimensional", field="X")
    mem_arr = arr[:, 0][np.isfinite(arr[:, 0])]
    return mem_arr, None


# --------------------------------------------------------------------------------------------- analyze
def _severity(savings: float, current: float) -> str:
    share = savings / current if current > 0 else 0.0
    if savings >= 500 or share >= 0.6:
        return "high"
    if savings >= 100 or share >= 0.3:
        return "medium"
    if savings > 0:
        return "low"
    return "info"


def _downsample(ts: np.ndarray, vs: np.ndarray) -> dict[str, list[float]]:
    step = max(1, math.ceil(ts.size / _PLOT_POINTS))
    return {
        "timestamps": [int(t) for t in ts[::step]],
        "values": rounded6(vs[::step], missing=math.nan),  # type: ignore[dict-item]  # float(f"{v:.6g}"), bit for bit
    }


def _network(resource: ResourceMetrics, n: int) -> np.ndarray | None:
    parts = [resource.series[m].values for m in ("NetworkIn", "NetworkOut") if m in resource.series]
    if not parts:
        return None
    m = min(p.shape[0] for p in parts)
    total = np.sum([np.nan_to_num(p[:m], nan=0.0) for p in parts], axis=0)
    return np.asarray(total, dtype=np.float64)


def analyze(resource: ResourceMetrics, **params: Any) -> ModelOutput:
    """Cost insights for one resource: idle, rightsizing, Graviton, Spot, gp2 to gp3, Lambda memory.

    Parameters
    ----------
    resource : ResourceMetrics
        An ``ec2``/``asg`` resource needs ``CPUUtilization`` and ``attributes["instance_type"]``; ``rds`` and
        ``cache`` types are sized within their family without dollars (not in the price book); a ``lambda``
        function needs ``Invocations`` and ``Duration`` plus ``attributes["memory_mb"]``. EBS volumes come from
        ``attributes["volumes"]`` (``[{"volume_id", "type", "size_gb", "iops"?, "throughput_mbps"?}]``).
    **params
        :class:`CostOptimizer` parameters (``strategy``, ``engineer_hour_usd`` ...), plus ``spot_discount``
        (default 0.6) and ``workload`` (skip classification and use this class).

    Returns
    -------
    ModelOutput
        Proactive insights with dollar figures (730 h/month, price origin in the evidence), and per metric
        ``{"timestamps", "values", "capacity_new_pct"}`` plot data.

    Raises
    ------
    InsufficientDataError
        When the resource has none of the metrics the optimizer needs, or too little history.

    Examples
    --------
    >>> from cloudsage.local.demo import build_demo_fleet
    >>> idle = build_demo_fleet().to_resource_metrics()[-1]
    >>> out = analyze(idle)
    >>> out.insights[0].evidence["finding"], out.insights[0].evidence["monthly_savings_usd"]
    ('idle', 280.32)
    """
    params = dict(params)
    unknown = sorted(set(params) - set(CostOptimizer().get_params()) - {"spot_discount", "workload"})
    if unknown:  # a misspelt option must not be ignored silently
        raise InputValidationError(f"unknown parameter(s) {unknown}", field=unknown[0])
    spot_discount = float(params.pop("spot_discount", 0.6))
    workload = params.pop("workload", None)
    if resource.resource_type == "lambda":
        return _analyze_lambda(resource, params)
    insights: list[Insight] = []
    detail: dict[str, Any] = {}
    volumes = resource.attributes.get("volumes") or []
    cpu_series = resource.series.get("CPUUtilization")
    itype = resource.attributes.get("instance_type")
    if cpu_series is None or not itype:
        if volumes:
            insights.extend(_ebs_insights(resource, params))
            return ModelOutput(MODEL_NAME, resource.resource_id, tuple(insights), detail)
        raise InsufficientDataError(
            f"{resource.resource_id}: cost needs CPUUtilization and attributes.instance_type", needed=1, got=0
        )
    min_points = max(12, int(_MIN_POINTS * 300 / cpu_series.period))
    cpu_series.require(min_points, f"{resource.resource_id}/CPUUtilization")
    count = _instance_count(resource)
    mem_name = next((m for m in MEMORY_METRICS if m in resource.series), None)
    X: dict[str, Any] = {}
    if mem_name:
        X["memory_pct"] = resource.series[mem_name].values
    net = _network(resource, len(cpu_series))
    if net is not None and resource.resource_type == "ec2":  # per-instance network only
        X["network_bytes"] = net
    est_params = {k: v for k, v in params.items() if k in CostOptimizer().get_params()}
    est_params.setdefault("period_s", cpu_series.period)
    opt = CostOptimizer(instance_type=str(itype), instance_count=count, **est_params).fit(cpu_series, X or None)
    report = opt.predict()
    if workload is None:
        try:
            from cloudsage.core.models.resources import classify_resource

            workload = classify_resource(resource).workload
        except InsufficientDataError:
            workload = None
    spot = opt.spot_option(report, workload, spot_discount) if workload else None
    ts, vs = cpu_series.timestamps, cpu_series.values
    window = (float(ts[0]), float(ts[-1]))
    insights.append(_rightsizing_insight(resource, report, window))
    for o in report.options:
        if o.action == "graviton" and o.monthly_savings_usd > 0 and report.finding != "idle":
            insights.append(_option_insight(resource, report, o, window, "graviton"))
            break
    if spot is not None and spot.monthly_savings_usd > 0 and report.finding != "idle":
        insights.append(_option_insight(resource, report, spot, window, "spot", workload=workload))
    insights.extend(_ebs_insights(resource, params))
    plot: dict[str, Any] = dict(_downsample(ts, vs))
    best = report.best
    if best is not None and best.action == "rightsize":
        new_cap = instance_spec(best.target).capacity
        plot["capacity_new_pct"] = 100.0 * new_cap / opt.spec_.capacity
    detail["CPUUtilization"] = plot
    if mem_name:
        detail[mem_name] = _downsample(resource.series[mem_name].timestamps, resource.series[mem_name].values)
    detail["report"] = report.to_dict()
    return ModelOutput(MODEL_NAME, resource.resource_id, tuple(insights), detail)


def _instance_count(resource: ResourceMetrics) -> float:
    s = resource.series.get("GroupInServiceInstances")
    if s is not None and s.n_valid:
        return float(np.nanmean(s.values))
    try:
        return float(resource.attributes.get("instance_count", 1) or 1)
    except (TypeError, ValueError):
        raise InputValidationError("must be a number", field="instance_count") from None


def _rightsizing_insight(resource: ResourceMetrics, report: CostReport, window: tuple[float, float]) -> Insight:
    rid, cur = resource.resource_id, report.current_type
    best = report.best
    priced = math.isfinite(report.current_monthly_usd)
    fig = report.figures
    pct, head = fig["percentile"], fig["headroom"]
    basis = (
        f"CPU P99 {fig['cpu_p99_pct']:.1f} %, max {fig['cpu_max_pct']:.1f} % over {_days(window)} days; "
        f"{report.strategy} strategy = P{pct:g} + {head:.0%} headroom -> {report.required_capacity:.2f} capacity units "
        f"needed per instance (today {fig['current_capacity']:.2f}); memory "
        + (
            f"sized from its metric ({report.required_memory_gib:.1f} GiB)"
            if fig["memory_measured"]
            else "kept at today's (no memory metric)"
        )
    )
    evidence: dict[str, Any] = {
        "finding": report.finding,
        "current_type": cur,
        "instance_count": round(report.instance_count, 2),
        "current_monthly_usd": round(report.current_monthly_usd, 2) if priced else None,
        "strategy": report.strategy,
        "required_capacity": round(report.required_capacity, 3),
        "cpu_p99_pct": round(fig["cpu_p99_pct"], 2),
        "cpu_max_pct": round(fig["cpu_max_pct"], 2),
        "hours_per_month": HOURS_PER_MONTH,
        "price_origin": report.price_origin,
        "options": [o.to_dict() for o in report.options[:5]],
    }
    if math.isfinite(fig["network_mb_day"]):
        evidence["network_mb_day"] = round(fig["network_mb_day"], 1)
    savings = best.monthly_savings_usd if best is not None and priced else 0.0
    evidence["monthly_savings_usd"] = round(savings, 2)
    if report.finding == "idle":
        title = f"{rid} ({cur}) looks idle"
        summary = (
            f"CPU P99 {fig['cpu_p99_pct']:.2f} % (max {fig['cpu_max_pct']:.2f} %)"
            + (f", network {fig['network_mb_day']:.0f} MB/day" if math.isfinite(fig["network_mb_day"]) else "")
            + f" over {_days(window)} days. Terminating saves ${savings:,.2f}/month (730 h, {report.price_origin})."
        )
        downs = [o for o in report.options if o.action == "rightsize"]
        rec = "Confirm with the owner, snapshot the volumes and terminate (or stop) the instance."
        if downs:
            d = downs[0]
            rec += f" If it must stay, downsize to {d.target} (saves ${d.monthly_savings_usd:,.2f}/month)."
        evidence["key_figure"] = f"${savings:,.0f}/month idle"
        severity = _severity(savings, report.current_monthly_usd)
        confidence = 0.9 if "network_mb_day" in evidence else 0.7
    elif report.finding in ("over-provisioned", "under-provisioned") and best is not None:
        verb = "Downsize" if report.finding == "over-provisioned" else "Upsize"
        target = next((o for o in report.options if o.action == "rightsize"), best)
        title = f"{rid} is {report.finding}: {cur} -> {target.target}"
        if priced:
            money = (
                f"saves ${target.monthly_savings_usd:,.2f}/month"
                if target.monthly_savings_usd >= 0
                else f"costs ${-target.monthly_savings_usd:,.2f}/month more"
            )
            evidence["key_figure"] = f"${target.monthly_savings_usd:,.0f}/month"
        else:
            money = "saving not priced (type not in the price book)"
            evidence["key_figure"] = f"{cur} -> {target.target}"
        summary = (
            f"{basis}. {target.target} would run at P99.5 {target.projected_p995_pct:.0f} % "
            f"(performance risk {target.performance_risk}/4) and {money} (730 h, {report.price_origin})."
        )
        rec = f"{verb} to {target.target} in a maintenance window and watch CPU and latency for a week."
        severity = _severity(max(target.monthly_savings_usd, 0.0), report.current_monthly_usd)
        if report.finding == "under-provisioned":
            deficit = report.required_capacity / max(fig["current_capacity"], 1e-9) - 1.0
            severity = "medium" if deficit > 0.2 else "low"
        confidence = 0.8
    elif report.finding == "over-provisioned" and fig.get("suggested_type"):
        target_name = fig["suggested_type"]
        title = f"{rid} is over-provisioned: {cur} -> {target_name}"
        summary = f"{basis}. {target_name} meets it; the saving is not priced here (type not in the price book)."
        rec = f"Move to {target_name} in a maintenance window and watch CPU and latency for a week."
        evidence["key_figure"] = f"{cur} -> {target_name}"
        severity, confidence = "low", 0.7
    elif report.finding == "under-provisioned":
        title = f"{rid} is under-provisioned ({cur})"
        summary = f"{basis}. No type in the catalog meets the requirement on today's architecture."
        rec = "Scale out (more instances) or move to a larger family."
        evidence["key_figure"] = f"needs {report.required_capacity:.2f} units"
        severity, confidence = "medium", 0.6
    else:
        title = f"{rid} is right-sized ({cur})"
        summary = f"{basis}. No cheaper type meets it."
        rec = "No change needed."
        if report.required_capacity < 0.5 * fig["current_capacity"] and not fig["memory_measured"]:
            summary += " CPU alone would allow a smaller type: memory is the binding constraint."
            rec = "No change on CPU grounds; publish a memory metric (CloudWatch agent) so memory can be sized too."
        evidence["key_figure"] = "optimised"
        severity, confidence = "info", 0.8
    return Insight(
        resource_id=rid,
        model=MODEL_NAME,
        kind="proactive",
        severity=severity,
        confidence=confidence,
        title=title,
        summary=summary,
        recommendation=rec,
        detected_at=window[1],
        window_start=window[0],
        window_end=window[1],
        evidence=evidence,
        metric="CPUUtilization",
    )


def _option_insight(
    resource: ResourceMetrics,
    report: CostReport,
    option: RightsizingOption,
    window: tuple[float, float],
    kind: str,
    workload: str | None = None,
) -> Insight:
    rid = resource.resource_id
    est = " (estimate)" if option.estimate else ""
    if kind == "graviton":
        title = f"{rid}: move to Graviton {option.target}"
        summary = (
            f"{report.current_type} -> {option.target} saves ${option.monthly_savings_usd:,.2f}/month{est} "
            f"(730 h, {option.price_origin}); {option.note}; projected P99.5 {option.projected_p995_pct:.0f} %. "
            f"Migration effort: {option.effort}."
        )
        rec = f"Build and test an arm64 image, then switch to {option.target}."
    else:
        title = f"{rid}: run on Spot ({workload} workload)"
        summary = (
            f"The workload is classified {workload} (interruption-tolerant). {option.target} saves about "
            f"${option.monthly_savings_usd:,.2f}/month{est}; {option.note}. Effort: {option.effort}."
        )
        rec = "Use Spot with capacity-optimized allocation across several types, and checkpoint or retry jobs."
    return Insight(
        resource_id=rid,
        model=MODEL_NAME,
        kind="proactive",
        severity=_severity(option.monthly_savings_usd, report.current_monthly_usd),
        confidence=0.6 if option.estimate else 0.75,
        title=title,
        summary=summary,
        recommendation=rec,
        detected_at=window[1],
        window_start=window[0],
        window_end=window[1],
        evidence={
            **option.to_dict(),
            "hours_per_month": HOURS_PER_MONTH,
            "roi_12_months": _roi(option),
            "key_figure": f"${option.monthly_savings_usd:,.0f}/month{est}",
        },
        metric=f"{kind}",
    )


def _roi(option: RightsizingOption) -> float | None:
    if option.effort_cost_usd <= 0:
        return None
    return round((12 * option.monthly_savings_usd - option.effort_cost_usd) / option.effort_cost_usd, 2)


def _days(window: tuple[float, float]) -> str:
    return f"{(window[1] - window[0]) / DAY_S:.0f}"


def _ebs_insights(resource: ResourceMetrics, params: dict[str, Any]) -> list[Insight]:
    book = load_prices(str(params.get("region", "us-east-1")), path=params.get("price_path"))
    out: list[Insight] = []
    now = max((float(s.end) for s in resource.series.values()), default=0.0)
    for i, vol in enumerate(resource.attributes.get("volumes") or []):
        if not isinstance(vol, dict) or vol.get("type") != "gp2":
            continue
        try:
            size = float(vol["size_gb"])
        except (KeyError, TypeError, ValueError):
            raise InputValidationError("each volume needs a numeric size_gb", field=f"volumes.{i}.size_gb") from None
        gp2, gp3, iops, mbps = gp2_to_gp3(
            size, book, needed_iops=vol.get("iops"), needed_mbps=vol.get("throughput_mbps")
        )
        savings = gp2 - gp3
        if savings <= 0:
            continue
        vid = str(vol.get("volume_id", f"volume {i}"))
        out.append(
            Insight(
                resource_id=resource.resource_id,
                model=MODEL_NAME,
                kind="proactive",
                severity=_severity(savings, gp2),
                confidence=0.9,
                title=f"{vid}: gp2 -> gp3 saves ${savings:,.2f}/month",
                summary=(
                    f"{size:.0f} GB gp2 costs ${gp2:,.2f}/month; the same size as gp3 with {iops:,.0f} IOPS and "
                    f"{mbps:,.0f} MB/s costs ${gp3:,.2f}/month ({book.origin})."
                ),
                recommendation=f"ModifyVolume {vid} to gp3 ({iops:,.0f} IOPS, {mbps:,.0f} MB/s); no downtime.",
                detected_at=now,
                window_start=now,
                window_end=now,
                evidence={
                    "volume_id": vid,
                    "gp2_monthly_usd": round(gp2, 2),
                    "gp3_monthly_usd": round(gp3, 2),
                    "gp3_iops": iops,
                    "gp3_mbps": mbps,
                    "monthly_savings_usd": round(savings, 2),
                    "price_origin": book.origin,
                    "key_figure": f"${savings:,.0f}/month",
                },
                metric=f"ebs:{vid}",
            )
        )
    return out


def _analyze_lambda(resource: ResourceMetrics, params: dict[str, Any]) -> ModelOutput:
    rid = resource.resource_id
    inv, dur = resource.series.get("Invocations"), resource.series.get("Duration")
    if inv is None or dur is None or not inv.n_valid or not dur.n_valid:
        raise InsufficientDataError(f"{rid}: Lambda cost needs Invocations and Duration", needed=1, got=0)
    try:
        memory_mb = int(resource.attributes.get("memory_mb", 0))
    except (TypeError, ValueError):
        raise InputValidationError("must be an integer", field="memory_mb") from None
    if memory_mb <= 0:
        raise InputValidationError("Lambda cost needs attributes.memory_mb > 0", field="memory_mb")
    arch = str(resource.attributes.get("architecture", "x86_64"))
    book = load_prices(str(params.get("region", "us-east-1")), path=params.get("price_path"))
    span_s = float(inv.end - inv.start + inv.period)
    invocations_month = float(np.nansum(inv.values)) / span_s * HOURS_PER_MONTH * 3600.0
    w = np.nan_to_num(inv.values[: len(dur)], nan=0.0)
    d = dur.values[: len(w)]
    ok = np.isfinite(d)
    duration_ms = float(np.average(d[ok], weights=w[ok])) if w[ok].sum() > 0 else float(np.nanmean(d))
    max_used = resource.attributes.get("max_memory_used_mb")
    rows = lambda_memory_options(
        duration_ms,
        invocations_month,
        memory_mb,
        book,
        arch=arch,
        max_used_mb=float(max_used) if max_used else None,
    )
    current = next(r for r in rows if int(r["memory_mb"]) == memory_mb)
    ts = inv.timestamps
    window = (float(ts[0]), float(ts[-1]))
    insights: list[Insight] = []
    arm = book.lambda_monthly(invocations_month * duration_ms / 1000.0 * memory_mb / 1024.0, invocations_month, "arm64")
    if max_used:
        best = min(rows, key=lambda r: r["monthly_usd"])
        saving = current["monthly_usd"] - best["monthly_usd"]
        title = f"{rid}: {memory_mb} MB -> {int(best['memory_mb'])} MB saves ${saving:,.2f}/month (estimate)"
        rec = f"Set memory to {int(best['memory_mb'])} MB and compare p99 duration for a day."
    else:
        best, saving = current, 0.0
        title = f"{rid}: Lambda cost ${current['monthly_usd']:,.2f}/month at {memory_mb} MB"
        rec = (
            "Memory use is not measured (enable Lambda Insights to size memory); meanwhile arm64 is 20 % cheaper per "
            "GB-second if the code has no x86-only dependencies."
        )
    summary = (
        f"{invocations_month:,.0f} invocations/month of {duration_ms:.0f} ms at {memory_mb} MB cost "
        f"${current['monthly_usd']:,.2f}/month ({book.origin}, 730 h months); on arm64 about ${arm:,.2f}. "
        "Duration at other sizes assumes half the time is CPU-bound (an estimate)."
    )
    insights.append(
        Insight(
            resource_id=rid,
            model=MODEL_NAME,
            kind="proactive",
            severity=_severity(
                max(saving, current["monthly_usd"] - arm if arch == "x86_64" else 0.0), current["monthly_usd"]
            )
            if current["monthly_usd"] > 0
            else "info",
            confidence=0.5,
            title=title,
            summary=summary,
            recommendation=rec,
            detected_at=window[1],
            window_start=window[0],
            window_end=window[1],
            evidence={
                "memory_mb": memory_mb,
                "duration_ms": round(duration_ms, 1),
                "invocations_month": round(invocations_month),
                "monthly_usd": round(current["monthly_usd"], 2),
                "arm64_monthly_usd": round(arm, 2),
                "best_memory_mb": int(best["memory_mb"]),
                "monthly_savings_usd": round(saving, 2),
                "estimate": True,
                "price_origin": book.origin,
                "hours_per_month": HOURS_PER_MONTH,
                "sizes": [{k: round(v, 4) for k, v in r.items()} for r in rows],
                "key_figure": f"${current['monthly_usd']:,.0f}/month",
            },
            metric="Duration",
        )
    )
    detail = {
        "Invocations": _downsample(inv.timestamps, inv.values),
        "Duration": _downsample(dur.timestamps, dur.values),
        "memory_sizes": rows,
    }
    return ModelOutput(MODEL_NAME, rid, tuple(insights), detail)
