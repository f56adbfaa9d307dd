"""A deterministic demo fleet: two weeks of realistic CloudWatch metrics with labelled incidents.

The fleet is what the README examples, the local run and the model evaluations analyse. It is generated,
not recorded, so it is reproducible bit for bit for a given ``seed`` and carries ground truth: every
injected incident is an :class:`Incident` with its resource, metric, kind and time span, and a
deliberately noisy-but-normal day is a :class:`NormalPeriod` on which a good model stays quiet.

Resources (default ``end`` 2026-12-04T00:00Z, a Friday; all incidents fall in the last five days):

==================  ======  ==========================================================================
resource_id         type    what it shows
==================  ======  ==========================================================================
web-api-asg         asg     daily traffic cycle, weaker weekends; CPU saturation then latency (E-1d)
i-0b7c1d2e3f4a5b6c7 ec2     nightly batch worker, CPU bursts 01:00-04:00 UTC; memory leak (last 2 days)
orders-db           rds     follows the web traffic; level shift after a deploy (E-3d 10:30)
sessions-cache-001  cache   follows the web traffic; CPU spike (E-3d 20:40)
orders-processor    lambda  follows the web traffic; error spike with slower calls (E-2d 14:05)
i-0e9f8a7b6c5d4e3f2 ec2     idle, over-provisioned m5.2xlarge: CPU about 1 %, low network
==================  ======  ==========================================================================

Noise is a mix of Gaussian and Student-t (heavy tails), counts are over-dispersed Poisson draws, and
about 0.5 % of the points of every metric are missing (NaN).
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import numpy as np

from cloudsage.core.errors import InputValidationError
from cloudsage.core.metrics_catalog import metric_info
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import iso
from cloudsage.core.series import MetricSeries

__all__ = [
    "DEFAULT_END",
    "INCIDENT_KINDS",
    "DemoFleet",
    "DemoResource",
    "Incident",
    "NormalPeriod",
    "build_demo_fleet",
    "fleet_to_csv",
]

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0

#: Default end of the demo window (exclusive): 2026-12-04T00:00:00Z, a Friday.
DEFAULT_END: float = datetime(2026, 12, 4, tzinfo=UTC).timestamp()

#: The kinds of injected incidents.
INCIDENT_KINDS: tuple[str, ...] = ("spike", "level_shift", "memory_leak", "latency_after_cpu_saturation")

MISSING_RATE = 0.005
REGION = "us-east-1"


# ---------------------------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class Incident:
    """One injected incident (ground truth).

    Parameters
    ----------
    resource_id : str
        Resource the incident happens on.
    metric : str
        The metric that shows the incident most clearly.
    kind : str
        One of :data:`INCIDENT_KINDS`.
    start, end : float
        Epoch seconds (UTC); ``end`` is exclusive. Ongoing incidents end at the end of the data.
    description : str
        What happened, in words.
    related_metrics : tuple of str
        Other metrics of the same resource that move with it (cause or consequence).
    """

    resource_id: str
    metric: str
    kind: str
    start: float
    end: float
    description: str
    related_metrics: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with ISO-8601 times added."""
        return {
            "resource_id": self.resource_id,
            "metric": self.metric,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "start_iso": iso(self.start),
            "end_iso": iso(self.end),
            "description": self.description,
            "related_metrics": list(self.related_metrics),
        }


@dataclass(frozen=True, slots=True)
class NormalPeriod:
    """A period that looks unusual (more noise) but holds no incident (ground truth).

    Parameters
    ----------
    resource_id : str
        Resource concerned.
    start, end : float
        Epoch seconds (UTC); ``end`` is exclusive.
    description : str
        What is unusual about it.
    """

    resource_id: str
    start: float
    end: float
    description: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with ISO-8601 times added."""
        return {
            "resource_id": self.resource_id,
            "start": self.start,
            "end": self.end,
            "start_iso": iso(self.start),
            "end_iso": iso(self.end),
            "description": self.description,
        }


@dataclass(frozen=True, eq=False)
class DemoResource:
    """One resource of the demo fleet with its metrics.

    Parameters
    ----------
    resource_id : str
        Instance id, ASG name, DB identifier, cache cluster id or function name.
    resource_type : str
        One of ``asg``, ``ec2``, ``rds``, ``cache``, ``lambda``.
    namespace : str
        CloudWatch namespace of most of its metrics (``AWS/EC2``, ``AWS/RDS``...).
    dimensions : dict of str to str
        CloudWatch dimensions in that namespace, e.g. ``{"InstanceId": "i-0..."}``.
    attributes : dict
        Known facts: ``instance_type``, ``instance_count``, ``region``, ``name``...
    metrics : dict of str to (numpy.ndarray, numpy.ndarray)
        Metric name to ``(timestamps, values)``: epoch seconds and float64 values, NaN = missing.
        Arrays are read-only.
    metric_namespaces : dict of str to str
        Metrics published under another namespace (e.g. ``RequestCount`` under ``AWS/ApplicationELB``).
    metric_dimensions : dict of str to dict
        Dimensions of those metrics.
    """

    resource_id: str
    resource_type: str
    namespace: str
    dimensions: dict[str, str]
    attributes: dict[str, Any]
    metrics: dict[str, tuple[np.ndarray, np.ndarray]]
    metric_namespaces: dict[str, str] = field(default_factory=dict)
    metric_dimensions: dict[str, dict[str, str]] = field(default_factory=dict)

    def source(self, metric: str) -> tuple[str, dict[str, str]]:
        """Namespace and dimensions under which CloudWatch publishes ``metric`` for this resource."""
        return (
            self.metric_namespaces.get(metric, self.namespace),
            dict(self.metric_dimensions.get(metric, self.dimensions)),
        )

    def to_resource_metrics(self, period: int) -> ResourceMetrics:
        """Convert to the core :class:`~cloudsage.core.resource.ResourceMetrics` (grid of ``period`` s)."""
        series = {
            name: MetricSeries.from_points(self.resource_id, name, ts, vs, period=period)
            for name, (ts, vs) in self.metrics.items()
        }
        return ResourceMetrics(self.resource_id, self.resource_type, series, dict(self.attributes))


@dataclass(frozen=True, eq=False)
class DemoFleet:
    """The demo fleet: resources with metrics plus ground-truth labels.

    Parameters
    ----------
    resources : tuple of DemoResource
        The resources, in a fixed order.
    incidents : tuple of Incident
        Injected incidents, in time order.
    normal_periods : tuple of NormalPeriod
        Unusual-looking but normal periods.
    seed : int
        Seed the fleet was generated with.
    start, end : float
        Epoch seconds of the first grid point and the (exclusive) end of the window.
    period : int
        Grid spacing in seconds.
    """

    resources: tuple[DemoResource, ...]
    incidents: tuple[Incident, ...]
    normal_periods: tuple[NormalPeriod, ...]
    seed: int
    start: float
    end: float
    period: int

    def resource(self, resource_id: str) -> DemoResource:
        """Return the resource with that id.

        Raises
        ------
        KeyError
            When the fleet has no such resource.
        """
        for r in self.resources:
            if r.resource_id == resource_id:
                return r
        raise KeyError(resource_id)

    def incidents_for(self, resource_id: str) -> tuple[Incident, ...]:
        """The incidents of one resource."""
        return tuple(i for i in self.incidents if i.resource_id == resource_id)

    def to_resource_metrics(self) -> list[ResourceMetrics]:
        """Every resource as :class:`~cloudsage.core.resource.ResourceMetrics`, in fleet order."""
        return [r.to_resource_metrics(self.period) for r in self.resources]

    def labels(self) -> dict[str, Any]:
        """Ground truth as JSON-ready data: ``{"incidents": [...], "normal_periods": [...]}``."""
        return {
            "seed": self.seed,
            "start": self.start,
            "end": self.end,
            "period": self.period,
            "incidents": [i.to_dict() for i in self.incidents],
            "normal_periods": [p.to_dict() for p in self.normal_periods],
        }


# ---------------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True, eq=False)
class _Grid:
    """The shared time grid and the traffic shape every user-facing resource follows."""

    ts: np.ndarray
    period: int
    end: float
    load: np.ndarray  # 0.15..1.05: fraction of peak traffic

    @property
    def n(self) -> int:
        return int(self.ts.shape[0])

    @property
    def hour(self) -> np.ndarray:
        return (self.ts % DAY) / HOUR

    def at(self, days_before_end: float, hour: float = 0.0, minute: float = 0.0) -> float:
        """Epoch seconds of ``end - days_before_end`` days plus a time of day."""
        return self.end - days_before_end * DAY + hour * HOUR + minute * MINUTE

    def steps(self, seconds: float) -> int:
        """Number of grid steps in ``seconds`` (at least 1)."""
        return max(1, round(seconds / self.period))


def _rng(seed: int, name: str) -> np.random.Generator:
    """An independent, deterministic generator per (seed, resource)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def _noise(rng: np.random.Generator, n: int, scale: float | np.ndarray) -> np.ndarray:
    """Heavy-tailed noise: mostly Gaussian, with a Student-t (3 dof) component and rare isolated blips."""
    gauss = rng.standard_normal(n)
    heavy = np.clip(rng.standard_t(3, n), -12.0, 12.0)
    blips = np.where(rng.random(n) < 0.002, rng.choice([-1.0, 1.0], n) * rng.uniform(3.0, 5.0, n), 0.0)
    return np.asarray(scale) * (0.8 * gauss + 0.25 * heavy + blips)


def _counts(rng: np.random.Generator, expected: np.ndarray, dispersion: float = 40.0) -> np.ndarray:
    """Over-dispersed (gamma-Poisson) counts around ``expected``."""
    lam = np.clip(expected, 0.0, None) * rng.gamma(dispersion, 1.0 / dispersion, expected.shape[0])
    return np.asarray(rng.poisson(lam), dtype=np.float64)


def _envelope(ts: np.ndarray, t0: float, t1: float, rise: float, fall: float) -> np.ndarray:
    """Trapezoid in [0, 1]: ramps up over ``rise`` s from ``t0``, holds until ``t1``, ramps down over ``fall`` s."""
    up = np.clip((ts - t0) / max(rise, 1e-9), 0.0, 1.0)
    down = np.clip(1.0 - (ts - t1) / max(fall, 1e-9), 0.0, 1.0)
    return np.minimum(up, down)


def _ramp(ts: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """0 before ``t0``, linear to 1 at ``t1``, 1 after."""
    return np.clip((ts - t0) / (t1 - t0), 0.0, 1.0)


def _drop(rng: np.random.Generator, values: np.ndarray, rate: float = MISSING_RATE) -> np.ndarray:
    """Make about ``rate`` of the points missing; return a read-only float64 array."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[rng.random(out.shape[0]) < rate] = np.nan
    out.setflags(write=False)
    return out


def _rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing rolling maximum over ``window`` points."""
    padded = np.concatenate([np.full(window - 1, x[0]), x])
    return np.asarray(np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1), dtype=np.float64)


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with edge padding."""
    if window <= 1:
        return x.copy()
    half = window // 2
    padded = np.concatenate([np.full(half, x[0]), x, np.full(window - 1 - half, x[-1])])
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def _traffic(ts: np.ndarray, rng: np.random.Generator, period: int) -> np.ndarray:
    """User traffic as a fraction of the weekday peak: daily cycle, weaker weekends, slight growth."""
    hour = (ts % DAY) / HOUR
    phase = 2.0 * np.pi * (hour - 4.0) / 24.0
    shape = 0.5 - 0.5 * np.cos(phase) + 0.06 * np.sin(2.0 * phase)  # trough ~04:00 UTC, peak ~16:00 UTC
    shape = np.clip(shape, 0.0, None) / 1.03
    day_index = np.floor(ts / DAY).astype(np.int64)
    weekday = (day_index + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    days = np.unique(day_index)
    jitter = dict(zip(days.tolist(), (1.0 + 0.04 * rng.standard_normal(days.size)).tolist(), strict=True))
    day_factor = np.array([jitter[d] for d in day_index.tolist()]) * np.where(weekday >= 5, 0.6, 1.0)
    day_factor = _smooth(day_factor, max(1, round(4 * HOUR / period)))  # no cliff at midnight
    growth = 1.0 + 0.01 * (ts - ts[0]) / (7 * DAY)
    return np.asarray((0.15 + 0.85 * shape**1.2) * day_factor * growth, dtype=np.float64)


def _rounded(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.round(values, decimals)


# ---------------------------------------------------------------------------------------------- resources
_Built = tuple[DemoResource, list[Incident], list[NormalPeriod]]


def _web_asg(g: _Grid, seed: int) -> _Built:
    rid = "web-api-asg"
    rng = _rng(seed, rid)
    ts, n = g.ts, g.n
    noisy_start, noisy_end = g.at(4), g.at(3)
    mult = np.where((ts >= noisy_start) & (ts < noisy_end), 2.0, 1.0)

    peak_rps = 220.0
    rate = peak_rps * g.load * np.exp(_noise(rng, n, 0.04 * mult))  # requests / s
    requests = _counts(rng, rate * g.period, dispersion=5000.0)

    cpu_t0, cpu_t1 = g.at(1, 13), g.at(1, 15)  # CPU pinned 13:00-15:00 the day before the end
    lat_t0, lat_t1 = cpu_t0 + 20 * MINUTE, cpu_t1 + 10 * MINUTE
    label_end = lat_t1 + 20 * MINUTE

    # in-service instances: target 50 rps per instance, scale out ~10 min late, scale in after 30 min
    need = np.clip(np.ceil(_smooth(rate, g.steps(15 * MINUTE)) / 50.0), 2, 6)
    lag = g.steps(10 * MINUTE)
    need = np.concatenate([np.full(lag, need[0]), need[:-lag]])
    in_service = _rolling_max(need, g.steps(30 * MINUTE))
    saturated = (ts >= cpu_t0 + 10 * MINUTE) & (ts < cpu_t1 + 30 * MINUTE)
    in_service = np.where(saturated, 6.0, in_service)  # target tracking scales to max; it does not help

    per_instance = rate / in_service
    cpu = 5.0 + 0.8 * per_instance + _noise(rng, n, 1.8 * mult)
    sat = _envelope(ts, cpu_t0, cpu_t1, 10 * MINUTE, 10 * MINUTE)
    cpu = (1.0 - sat) * cpu + sat * (95.0 + _noise(rng, n, 0.8))
    cpu = np.clip(cpu, 0.5, 100.0)

    base_latency = 0.085 + 0.0012 * per_instance
    latency = base_latency * np.exp(_noise(rng, n, 0.05 * mult))
    latency = latency + 1.0 * _envelope(ts, lat_t0, lat_t1, 30 * MINUTE, 15 * MINUTE) * np.exp(_noise(rng, n, 0.05))

    net_in = requests * 1_800.0 * np.exp(_noise(rng, n, 0.03 * mult))
    net_out = requests * 14_000.0 * np.exp(_noise(rng, n, 0.03 * mult))

    metrics = {
        "RequestCount": _drop(rng, requests),
        "CPUUtilization": _drop(rng, _rounded(cpu, 3)),
        "TargetResponseTime": _drop(rng, _rounded(latency, 5)),
        "NetworkIn": _drop(rng, np.round(net_in)),
        "NetworkOut": _drop(rng, np.round(net_out)),
        "GroupInServiceInstances": _drop(rng, in_service),
    }
    alb = {"LoadBalancer": "app/web-api-alb/50dc6c495c0c9188", "TargetGroup": "targetgroup/web-api-tg/73e2d6bc24d8a067"}
    asg_dims = {"AutoScalingGroupName": rid}
    resource = DemoResource(
        resource_id=rid,
        resource_type="asg",
        namespace="AWS/EC2",
        dimensions=asg_dims,
        attributes={
            "name": "web API",
            "instance_type": "c6i.large",
            "instance_count": 4,
            "min_size": 2,
            "max_size": 6,
            "region": REGION,
            "scaling_policy": "target tracking, 50 requests/s per instance",
        },
        metrics={k: (ts, v) for k, v in metrics.items()},
        metric_namespaces={
            "RequestCount": "AWS/ApplicationELB",
            "TargetResponseTime": "AWS/ApplicationELB",
            "GroupInServiceInstances": "AWS/AutoScaling",
        },
        metric_dimensions={"RequestCount": alb, "TargetResponseTime": alb},
    )
    incident = Incident(
        resource_id=rid,
        metric="TargetResponseTime",
        kind="latency_after_cpu_saturation",
        start=cpu_t0,
        end=label_end,
        description=(
            "A runaway job pins CPU at ~95 % on every web instance for 2 h (13:00-15:00 UTC); scaling out to the "
            "maximum of 6 does not help and TargetResponseTime climbs from ~0.13 s to ~1.1 s starting 20 min later."
        ),
        related_metrics=("CPUUtilization", "GroupInServiceInstances"),
    )
    normal = NormalPeriod(
        resource_id=rid,
        start=noisy_start,
        end=noisy_end,
        description="Noise doubled on every metric for one day (flaky load-balancer health checks); no incident.",
    )
    return resource, [incident], [normal]


def _batch_worker(g: _Grid, seed: int) -> _Built:
    rid = "i-0b7c1d2e3f4a5b6c7"
    rng = _rng(seed, rid)
    ts, n = g.ts, g.n
    # one batch run per night: starts 01:00-01:10 UTC, runs 2.5-3.2 h
    busy = np.zeros(n)
    first_day = np.floor(ts[0] / DAY) * DAY
    for day in np.arange(first_day, g.end, DAY):
        t0 = day + HOUR + rng.uniform(0.0, 10 * MINUTE)
        t1 = t0 + rng.uniform(2.5, 3.2) * HOUR
        busy = np.maximum(busy, _envelope(ts, t0, t1, 10 * MINUTE, 10 * MINUTE))
    cpu = np.clip(3.0 + 82.0 * busy + _noise(rng, n, 0.8 + 1.2 * busy), 0.2, 100.0)

    leak_t0 = g.at(2)
    leak = 40.0 * _ramp(ts, leak_t0, g.end)
    memory = np.clip(44.0 + 5.0 * busy + leak + _noise(rng, n, 0.6), 0.0, 100.0)

    net_in = (2.0e6 + 2.4e9 * busy) * g.period / 300.0 * np.exp(_noise(rng, n, 0.08))
    net_out = (0.8e6 + 3.0e8 * busy) * g.period / 300.0 * np.exp(_noise(rng, n, 0.08))
    metrics = {
        "CPUUtilization": _drop(rng, _rounded(cpu, 3)),
        "MemoryUtilization": _drop(rng, _rounded(memory, 3)),
        "NetworkIn": _drop(rng, np.round(net_in)),
        "NetworkOut": _drop(rng, np.round(net_out)),
    }
    resource = DemoResource(
        resource_id=rid,
        resource_type="ec2",
        namespace="AWS/EC2",
        dimensions={"InstanceId": rid},
        attributes={
            "name": "nightly-batch-worker",
            "instance_type": "c5.2xlarge",
            "instance_count": 1,
            "vcpus": 8,
            "memory_gib": 16,
            "region": REGION,
            "schedule": "nightly 01:00 UTC, about 3 h",
        },
        metrics={k: (ts, v) for k, v in metrics.items()},
        metric_namespaces={"MemoryUtilization": "CWAgent"},
        metric_dimensions={"MemoryUtilization": {"InstanceId": rid, "InstanceType": "c5.2xlarge"}},
    )
    incident = Incident(
        resource_id=rid,
        metric="MemoryUtilization",
        kind="memory_leak",
        start=leak_t0,
        end=g.end,
        description=(
            "A slow memory leak in the batch worker: MemoryUtilization climbs linearly from ~45 % to ~85 % over "
            "the last 2 days and is still climbing at the end of the data."
        ),
    )
    return resource, [incident], []


def _database(g: _Grid, seed: int) -> _Built:
    rid = "orders-db"
    rng = _rng(seed, rid)
    ts, n = g.ts, g.n
    deploy = g.at(3, 10, 30)
    after = (ts >= deploy).astype(np.float64)
    cpu = np.clip(12.0 + 26.0 * g.load + 20.0 * after + _noise(rng, n, 1.5), 0.5, 100.0)
    connections = np.clip(np.round(25.0 + 60.0 * g.load + 60.0 * after + _noise(rng, n, 2.5)), 0.0, None)
    read_latency = (0.0008 + 0.0006 * g.load) * np.exp(_noise(rng, n, 0.08))
    freeable = 4.9e9 - 0.3e9 * g.load + _noise(rng, n, 2.5e7)
    metrics = {
        "CPUUtilization": _drop(rng, _rounded(cpu, 3)),
        "DatabaseConnections": _drop(rng, connections),
        "ReadLatency": _drop(rng, _rounded(read_latency, 7)),
        "FreeableMemory": _drop(rng, np.round(freeable)),
    }
    resource = DemoResource(
        resource_id=rid,
        resource_type="rds",
        namespace="AWS/RDS",
        dimensions={"DBInstanceIdentifier": rid},
        attributes={
            "name": "orders database",
            "instance_type": "db.r6g.large",
            "instance_count": 1,
            "engine": "postgres",
            "engine_version": "16.4",
            "memory_gib": 16,
            "region": REGION,
        },
        metrics={k: (ts, v) for k, v in metrics.items()},
    )
    incident = Incident(
        resource_id=rid,
        metric="CPUUtilization",
        kind="level_shift",
        start=deploy,
        end=g.end,
        description=(
            "Deploy of orders-service v2.14 at 10:30 UTC drops a query's index hint and opens a second connection "
            "pool: CPU steps up by ~20 points and DatabaseConnections by ~60, and both stay there."
        ),
        related_metrics=("DatabaseConnections",),
    )
    return resource, [incident], []


def _cache(g: _Grid, seed: int) -> _Built:
    rid = "sessions-cache-001"
    rng = _rng(seed, rid)
    ts, n = g.ts, g.n
    spike_t0 = g.at(3, 20, 40)
    spike_t1 = spike_t0 + 20 * MINUTE
    spike = ((ts >= spike_t0) & (ts < spike_t1)).astype(np.float64)
    cpu = 5.0 + 14.0 * g.load + _noise(rng, n, 0.9)
    cpu = np.clip((1.0 - spike) * cpu + spike * (86.0 + _noise(rng, n, 2.0)), 0.3, 100.0)
    hit_rate = np.clip(95.5 + 1.0 * g.load + _noise(rng, n, 0.35), 0.0, 100.0)
    conns = np.clip(np.round(30.0 + 220.0 * g.load + _noise(rng, n, 6.0)), 0.0, None)
    metrics = {
        "CPUUtilization": _drop(rng, _rounded(cpu, 3)),
        "CacheHitRate": _drop(rng, _rounded(hit_rate, 3)),
        "CurrConnections": _drop(rng, conns),
    }
    resource = DemoResource(
        resource_id=rid,
        resource_type="cache",
        namespace="AWS/ElastiCache",
        dimensions={"CacheClusterId": rid, "CacheNodeId": "0001"},
        attributes={
            "name": "sessions cache",
            "instance_type": "cache.r6g.large",
            "instance_count": 1,
            "engine": "redis",
            "region": REGION,
        },
        metrics={k: (ts, v) for k, v in metrics.items()},
    )
    incident = Incident(
        resource_id=rid,
        metric="CPUUtilization",
        kind="spike",
        start=spike_t0,
        end=spike_t1,
        description="A debugging script runs KEYS * against the sessions cache: CPU jumps to ~86 % for 20 minutes.",
    )
    return resource, [incident], []


def _lambda(g: _Grid, seed: int) -> _Built:
    rid = "orders-processor"
    rng = _rng(seed, rid)
    ts, n = g.ts, g.n
    spike_t0 = g.at(2, 14, 5)
    spike_t1 = spike_t0 + 25 * MINUTE
    spike = ((ts >= spike_t0) & (ts < spike_t1)).astype(np.float64)
    invocations = _counts(rng, 4.0 * g.load * g.period, dispersion=200.0)
    errors = _counts(rng, invocations * (0.002 + 0.25 * spike), dispersion=20.0)
    duration = (150.0 + 40.0 * g.load) * np.exp(_noise(rng, n, 0.07))
    duration = duration + spike * 700.0 * np.exp(_noise(rng, n, 0.1))
    throttles = np.where(rng.random(n) < 0.002, rng.integers(1, 3, n), 0).astype(np.float64)
    metrics = {
        "Invocations": _drop(rng, invocations),
        "Errors": _drop(rng, errors),
        "Duration": _drop(rng, _rounded(duration, 2)),
        "Throttles": _drop(rng, throttles),
    }
    resource = DemoResource(
        resource_id=rid,
        resource_type="lambda",
        namespace="AWS/Lambda",
        dimensions={"FunctionName": rid},
        attributes={
            "name": "orders processor",
            "memory_mb": 1024,
            "timeout_s": 30,
            "runtime": "python3.12",
            "reserved_concurrency": 100,
            "region": REGION,
        },
        metrics={k: (ts, v) for k, v in metrics.items()},
    )
    incident = Incident(
        resource_id=rid,
        metric="Errors",
        kind="spike",
        start=spike_t0,
        end=spike_t1,
        description=(
            "The payment provider times out for 25 minutes: about a quarter of the invocations fail "
            "(Errors from ~2 to ~250 per 5 min) and Duration rises from ~180 ms to ~900 ms."
        ),
        related_metrics=("Duration",),
    )
    return resource, [incident], []


def _idle(g: _Grid, seed: int) -> _Built:
    rid = "i-0e9f8a7b6c5d4e3f2"
    rng = _rng(seed, rid)
    ts, n = g.ts, g.n
    cpu = np.clip(0.9 + _noise(rng, n, 0.15), 0.1, 100.0)
    net_in = 60_000.0 * g.period / 300.0 * np.exp(_noise(rng, n, 0.15))
    net_out = 40_000.0 * g.period / 300.0 * np.exp(_noise(rng, n, 0.15))
    metrics = {
        "CPUUtilization": _drop(rng, _rounded(cpu, 3)),
        "NetworkIn": _drop(rng, np.round(net_in)),
        "NetworkOut": _drop(rng, np.round(net_out)),
    }
    resource = DemoResource(
        resource_id=rid,
        resource_type="ec2",
        namespace="AWS/EC2",
        dimensions={"InstanceId": rid},
        attributes={
            "name": "legacy-reporting",
            "instance_type": "m5.2xlarge",
            "instance_count": 1,
            "vcpus": 8,
            "memory_gib": 32,
            "hourly_cost_usd": 0.384,
            "region": REGION,
        },
        metrics={k: (ts, v) for k, v in metrics.items()},
    )
    return resource, [], []


_BUILDERS: tuple[Callable[[_Grid, int], _Built], ...] = (_web_asg, _batch_worker, _database, _cache, _lambda, _idle)


# ---------------------------------------------------------------------------------------------- public API
def build_demo_fleet(seed: int = 7, days: int = 14, period: int = 300, end: float | None = None) -> DemoFleet:
    """Generate the demo fleet.

    Parameters
    ----------
    seed : int
        Random seed; the same seed (and arguments) gives identical data.
    days : int
        Length of the history in days, at least 7 (incidents sit in the last 5 days).
    period : int
        Grid spacing in seconds; must divide a day and lie in [60, 3600].
    end : float, optional
        Exclusive end of the window, epoch seconds; rounded down to a whole day (UTC). Defaults to
        :data:`DEFAULT_END` (2026-12-04T00:00Z) so that output does not depend on the clock.

    Returns
    -------
    DemoFleet
        Six resources, five incidents and one noisy-but-normal period.

    Raises
    ------
    InputValidationError
        When ``days`` or ``period`` is out of range.

    Examples
    --------
    >>> fleet = build_demo_fleet()
    >>> [r.resource_type for r in fleet.resources]
    ['asg', 'ec2', 'rds', 'cache', 'lambda', 'ec2']
    >>> sorted({i.kind for i in fleet.incidents})
    ['latency_after_cpu_saturation', 'level_shift', 'memory_leak', 'spike']
    """
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or not 7 <= days <= 366:
        raise InputValidationError(f"must be a whole number of days in [7, 366], got {days!r}", field="days")
    if (
        isinstance(period, bool)
        or not isinstance(period, (int, np.integer))
        or not 60 <= period <= 3600
        or int(DAY) % period
    ):
        raise InputValidationError(f"must divide a day and lie in [60, 3600] s, got {period!r}", field="period")
    end_s = DEFAULT_END if end is None else float(np.floor(float(end) / DAY) * DAY)
    n = int(days) * int(DAY) // int(period)
    start = end_s - int(days) * DAY
    ts = start + float(period) * np.arange(n, dtype=np.float64)
    ts.setflags(write=False)
    load = _traffic(ts, _rng(seed, "traffic"), int(period))
    grid = _Grid(ts=ts, period=int(period), end=end_s, load=load)

    resources: list[DemoResource] = []
    incidents: list[Incident] = []
    normals: list[NormalPeriod] = []
    for build in _BUILDERS:
        resource, incs, norms = build(grid, int(seed))
        resources.append(resource)
        incidents.extend(incs)
        normals.extend(norms)
    incidents.sort(key=lambda i: (i.start, i.resource_id))
    return DemoFleet(
        resources=tuple(resources),
        incidents=tuple(incidents),
        normal_periods=tuple(normals),
        seed=int(seed),
        start=float(start),
        end=end_s,
        period=int(period),
    )


CSV_HEADER: tuple[str, ...] = ("timestamp", "resource_id", "metric", "value", "unit", "resource_type")


def fleet_to_csv(fleet: DemoFleet, path: str | os.PathLike[str] | TextIO) -> int:
    """Write the fleet's metrics in the long CSV format :func:`cloudsage.local.csvio.read_metrics_csv` reads.

    Columns: ``timestamp,resource_id,metric,value,unit,resource_type``; timestamps are ISO-8601 UTC, missing
    values are empty cells. Rows are ordered by resource, metric, then time.

    Parameters
    ----------
    fleet : DemoFleet
        The fleet to write.
    path : str, path-like or text file
        Destination file (created or overwritten), or an open text stream.

    Returns
    -------
    int
        Number of data rows written.
    """
    if isinstance(path, (str, os.PathLike)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            return _write_csv(fleet, fh)
    return _write_csv(fleet, path)


def _write_csv(fleet: DemoFleet, fh: TextIO | io.TextIOBase) -> int:
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    rows = 0
    iso_cache: dict[float, str] = {}
    for resource in fleet.resources:
        for metric, (ts, vs) in resource.metrics.items():
            unit = metric_info(metric).unit
            for t, v in zip(ts.tolist(), vs.tolist(), strict=True):
                stamp = iso_cache.get(t)
                if stamp is None:
                    stamp = iso_cache[t] = iso(t)
                value = "" if v != v else f"{v:.10g}"  # NaN -> empty cell
                writer.writerow((stamp, resource.resource_id, metric, value, unit, resource.resource_type))
                rows += 1
    return rows
