"""A labelled fleet generator for the workload classifier, with randomised parameters.

Independent of the demo fleet (:mod:`cloudsage.local.demo`): its own seeds, its own shapes, and every parameter drawn
per resource (history 7-21 days, 5- or 15-minute period, peak hour, weekend factor, amplitudes, noise, missing
points, which optional metrics exist, and the resource type a class runs on: a database may be RDS or a
self-managed EC2 instance, a cache ElastiCache or EC2, ML a GPU or a CPU instance, a microservice a Lambda function
or a small always-on instance). Names are neutral (``res-0001``) unless ``names=True``.

Each class is written from what the workload *is* (see :mod:`cloudsage.core.models.resources`), not from the
classifier's rules; the accuracy printed by ``run.py`` is therefore a check of those rules against an independent
description, not a guarantee on fleets generated differently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.series import MetricSeries

DAY = 86_400.0
HOUR = 3_600.0
END = 1_798_761_600.0  # 2027-01-01T00:00Z, away from the demo's window
CLASSES: tuple[str, ...] = ("web", "api", "batch", "database", "cache", "ml", "microservice")


@dataclass(frozen=True)
class Labelled:
    """One generated resource with its true class."""

    resource: ResourceMetrics
    label: str


class _Ctx:
    def __init__(self, rng: np.random.Generator, rid: str) -> None:
        self.rng = rng
        self.rid = rid
        self.days = int(rng.integers(7, 22))
        self.period = int(rng.choice([300, 300, 300, 900, 60])) if rng.random() < 0.9 else 3600
        if self.period == 60:
            self.days = min(self.days, 8)  # keep one-minute series short
        n = int(self.days * DAY / self.period)
        self.start = END - self.days * DAY
        self.ts = self.start + self.period * np.arange(n, dtype=np.float64)
        self.hour = (self.ts % DAY) / HOUR
        self.weekday = ((np.floor(self.ts / DAY).astype(np.int64) + 3) % 7).astype(np.int64)
        self.missing = float(rng.uniform(0.0, 0.03))

    @property
    def n(self) -> int:
        return int(self.ts.size)

    def noise(self, scale: float) -> np.ndarray:
        g = self.rng.standard_normal(self.n)
        t = np.clip(self.rng.standard_t(3, self.n), -10, 10)
        return scale * (0.85 * g + 0.2 * t)

    def daily(self, peak_hour: float, sharp: float = 1.2) -> np.ndarray:
        shape = 0.5 + 0.5 * np.cos(2 * np.pi * (self.hour - peak_hour) / 24.0)
        return np.asarray(shape**sharp, dtype=np.float64)

    def weekend(self, factor: float) -> np.ndarray:
        return np.where(self.weekday >= 5, factor, 1.0)

    def series(self, metric: str, values: np.ndarray) -> MetricSeries:
        v = np.asarray(values, dtype=np.float64).copy()
        v[self.rng.random(v.size) < self.missing] = np.nan
        return MetricSeries(self.rid, metric, float(self.start), self.period, v)

    def counts(self, rate_per_s: np.ndarray) -> np.ndarray:
        lam = np.clip(rate_per_s, 0, None) * self.period * self.rng.gamma(30.0, 1 / 30.0, self.n)
        return np.asarray(self.rng.poisson(lam), dtype=np.float64)


def _pct(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.05, 100.0)


def _web(c: _Ctx) -> tuple[str, dict[str, np.ndarray], dict]:
    r = c.rng
    peak = r.uniform(11, 22)
    load = (r.uniform(0.05, 0.3) + c.daily(peak, r.uniform(0.8, 2.0))) * c.weekend(r.uniform(0.35, 0.8))
    load = load * np.exp(c.noise(r.uniform(0.02, 0.08)))
    rps = r.uniform(20, 2000) * load / load.max()
    inst = np.clip(np.ceil(rps / r.uniform(40, 400)), 2, None)
    cpu = _pct(r.uniform(3, 10) + r.uniform(30, 60) * (rps / inst) / (rps / inst).max() + c.noise(r.uniform(1, 3)))
    req = c.counts(rps)
    m = {"RequestCount": req, "CPUUtilization": cpu}
    if r.random() < 0.8:
        m["NetworkOut"] = req * r.uniform(25_000, 250_000) * np.exp(c.noise(0.05))
        m["NetworkIn"] = req * r.uniform(800, 3000) * np.exp(c.noise(0.05))
    if r.random() < 0.6:
        m["TargetResponseTime"] = r.uniform(0.1, 0.5) * (1 + 0.3 * load) * np.exp(c.noise(0.1))
    if r.random() < 0.6:
        m["GroupInServiceInstances"] = inst
    return "asg" if r.random() < 0.8 else "ec2", m, {"instance_type": str(r.choice(["m6i.large", "c6i.xlarge"]))}


def _api(c: _Ctx) -> tuple[str, dict[str, np.ndarray], dict]:
    r = c.rng
    amp = r.uniform(0.0, 0.4)  # machine-to-machine traffic: flat or gently cyclic, no weekend dip
    load = (1 - amp + amp * c.daily(r.uniform(0, 24), 1.0)) * c.weekend(r.uniform(0.9, 1.05))
    load = load * np.exp(c.noise(r.uniform(0.03, 0.15)))
    if r.random() < 0.3:  # partner batches calling the API: bursts
        load = load * (1 + r.uniform(1, 3) * (c.rng.random(c.n) < 0.01))
    rps = r.uniform(50, 5000) * load / load.max()
    cpu = _pct(r.uniform(3, 8) + r.uniform(20, 60) * rps / rps.max() + c.noise(r.uniform(0.5, 2)))
    req = c.counts(rps)
    m = {"RequestCount": req, "CPUUtilization": cpu}
    if r.random() < 0.8:
        m["NetworkOut"] = req * r.uniform(300, 6_000) * np.exp(c.noise(0.05))
        m["NetworkIn"] = req * r.uniform(300, 3000) * np.exp(c.noise(0.05))
    if r.random() < 0.6:
        m["TargetResponseTime"] = r.uniform(0.01, 0.08) * np.exp(c.noise(0.1))
    if r.random() < 0.5:
        m["GroupInServiceInstances"] = np.full(c.n, float(r.integers(2, 8)))
    return "asg" if r.random() < 0.7 else "ec2", m, {"instance_type": "c6i.large"}


def _batch(c: _Ctx) -> tuple[str, dict[str, np.ndarray], dict]:
    r = c.rng
    every_h = float(r.choice([24, 24, 12, 6, 4, 168 / 7]))
    dur_h = r.uniform(0.3, min(6.0, 0.45 * every_h))
    first = r.uniform(0, every_h)
    phase = ((c.ts - c.start) / HOUR - first) % every_h
    jitter = r.uniform(0, 0.3)
    busy = (phase < dur_h * (1 + jitter * c.rng.standard_normal(c.n) * 0.1)).astype(float)
    if r.random() < 0.3:  # some runs skipped (weekends off)
        busy = busy * c.weekend(float(r.choice([0.0, 1.0])))
    idle, high = r.uniform(0.5, 8), r.uniform(45, 99)
    cpu = _pct(idle + (high - idle) * busy + c.noise(r.uniform(0.3, 2.5)) * (1 + busy))
    m = {"CPUUtilization": cpu}
    if r.random() < 0.6:
        m["MemoryUtilization"] = _pct(r.uniform(15, 50) + r.uniform(5, 35) * busy + c.noise(0.8))
    if r.random() < 0.7:
        m["NetworkIn"] = (r.uniform(1e5, 1e7) + r.uniform(1e8, 5e9) * busy) * np.exp(c.noise(0.1))
        m["NetworkOut"] = (r.uniform(1e5, 1e7) + r.uniform(1e7, 1e9) * busy) * np.exp(c.noise(0.1))
    return "ec2", m, {"instance_type": "c5.2xlarge"}


def _database(c: _Ctx) -> tuple[str, dict[str, np.ndarray], dict]:
    r = c.rng
    load = (r.uniform(0.2, 0.6) + c.daily(r.uniform(10, 20), 1.0)) * c.weekend(r.uniform(0.5, 1.0))
    cpu = _pct(r.uniform(5, 20) + r.uniform(10, 45) * load / load.max() + c.noise(r.uniform(0.5, 2)))
    if r.random() < 0.65:  # RDS
        m = {"CPUUtilization": cpu}
        extra = {
            "DatabaseConnections": np.round(r.uniform(10, 300) * (0.5 + load / load.max()) + c.noise(3)).clip(0),
            "ReadIOPS": (r.uniform(50, 3000) * load / load.max()) * np.exp(c.noise(0.1)),
            "WriteIOPS": (r.uniform(20, 1000) * load / load.max()) * np.exp(c.noise(0.1)),
            "FreeableMemory": r.uniform(1e9, 3e10) + c.noise(2e7),
            "ReadLatency": r.uniform(5e-4, 3e-3) * np.exp(c.noise(0.1)),
        }
        keep = [k for k in extra if r.random() < 0.6] or ["DatabaseConnections"]
        m.update({k: extra[k] for k in keep})
        return "rds", m, {"instance_type": "db.r6g.large"}
    m = {"CPUUtilization": cpu, "MemoryUtilization": _pct(r.uniform(65, 92) + c.noise(0.4))}
    if r.random() < 0.7:
        m["DiskReadOps"] = (r.uniform(1e3, 1e5) * load / load.max()) * np.exp(c.noise(0.1))
        m["DiskWriteOps"] = (r.uniform(1e3, 5e4) * load / load.max()) * np.exp(c.noise(0.1))
    if r.random() < 0.5:
        m["NetworkIn"] = r.uniform(1e6, 2e7) * load * np.exp(c.noise(0.05))
        m["NetworkOut"] = r.uniform(1e6, 2e7) * load * np.exp(c.noise(0.05))
    return "ec2", m, {"instance_type": "r6i.xlarge"}


def _cache(c: _Ctx) -> tuple[str, dict[str, np.ndarray], dict]:
    r = c.rng
    load = (r.uniform(0.2, 0.6) + c.daily(r.uniform(10, 22), 1.2)) * c.weekend(r.uniform(0.5, 1.0))
    cpu = _pct(r.uniform(1, 5) + r.uniform(3, 20) * load / load.max() + c.noise(r.uniform(0.2, 1)))
    if r.random() < 0.7:  # ElastiCache
        m = {"CPUUtilization": cpu}
        extra = {
            "CacheHitRate": np.clip(r.uniform(80, 99) + c.noise(0.5), 0, 100),
            "CurrConnections": np.round(r.uniform(20, 2000) * (0.3 + load / load.max())).clip(0),
            "Evictions": c.counts(r.uniform(0, 5) * load),
            "CacheHits": c.counts(r.uniform(100, 1e4) * load),
            "BytesUsedForCache": np.full(c.n, r.uniform(1e8, 1e10)),
        }
        keep = [k for k in extra if r.random() < 0.5] or ["CurrConnections"]
        m.update({k: extra[k] for k in keep})
        return "cache", m, {"instance_type": "cache.r6g.large"}
    m = {
        "CPUUtilization": cpu,
        "MemoryUtilization": _pct(r.uniform(60, 90) + c.noise(0.3)),
        "NetworkIn": r.uniform(2e8, 5e9) * load / load.max() * np.exp(c.noise(0.05)) * c.period / 300,
        "NetworkOut": r.uniform(5e8, 2e10) * load / load.max() * np.exp(c.noise(0.05)) * c.period / 300,
    }
    return "ec2", m, {"instance_type": "r6i.large"}


def _ml(c: _Ctx) -> tuple[str, dict[str, np.ndarray], dict]:
    r = c.rng
    # training: long runs near saturation with short gaps between epochs / jobs
    gaps = (c.rng.random(c.n) < r.uniform(0.0, 0.02)).astype(float)
    level = r.uniform(75, 99)
    cpu = _pct(level - 50 * gaps + c.noise(r.uniform(0.5, 3)))
    m = {"CPUUtilization": cpu}
    if r.random() < 0.7:
        m["MemoryUtilization"] = _pct(r.uniform(50, 90) + c.noise(0.5))
    if r.random() < 0.4:
        m["GPUUtilization"] = _pct(r.uniform(80, 99) + c.noise(2))
        m["CPUUtilization"] = _pct(r.uniform(25, 60) + c.noise(3))  # GPU jobs leave CPU mid-range
    if r.random() < 0.5:
        m["NetworkIn"] = r.uniform(1e7, 1e9) * np.exp(c.noise(0.2))
    return "ec2", m, {"instance_type": "c6i.4xlarge"}


def _microservice(c: _Ctx) -> tuple[str, dict[str, np.ndarray], dict]:
    r = c.rng
    load = (r.uniform(0.1, 1.0) + c.daily(r.uniform(0, 24), 1.0)) * c.weekend(r.uniform(0.5, 1.05))
    if r.random() < 0.7:  # a Lambda function
        inv = c.counts(r.uniform(0.05, 50) * load / load.max())
        m = {
            "Invocations": inv,
            "Duration": r.uniform(20, 800) * np.exp(c.noise(0.1)),
            "Errors": c.counts(np.full(c.n, r.uniform(0, 0.01))),
        }
        if r.random() < 0.5:
            m["Throttles"] = np.zeros(c.n)
        if r.random() < 0.4:
            m["ConcurrentExecutions"] = np.ceil(inv / c.period * 0.2 + 1)
        return "lambda", m, {"memory_mb": int(r.choice([128, 256, 512, 1024]))}
    cpu = _pct(r.uniform(1, 6) + r.uniform(0.5, 6) * load / load.max() + c.noise(r.uniform(0.2, 0.8)))
    m = {"CPUUtilization": cpu}
    if r.random() < 0.6:
        m["MemoryUtilization"] = _pct(r.uniform(20, 50) + c.noise(0.3))
    if r.random() < 0.7:
        m["NetworkIn"] = r.uniform(1e5, 1e7) * load * np.exp(c.noise(0.1))
        m["NetworkOut"] = r.uniform(1e5, 1e7) * load * np.exp(c.noise(0.1))
    return "ec2", m, {"instance_type": "t3.small"}


_GENERATORS: dict[str, Callable[[_Ctx], tuple[str, dict[str, np.ndarray], dict]]] = {
    "web": _web,
    "api": _api,
    "batch": _batch,
    "database": _database,
    "cache": _cache,
    "ml": _ml,
    "microservice": _microservice,
}
_NAMES = {
    "web": "storefront-web",
    "api": "payments-api",
    "batch": "nightly-etl",
    "database": "orders-db",
    "cache": "session-cache",
    "ml": "train-gpu",
    "microservice": "thumbnail-fn",
}


def generate(per_class: int = 30, seed: int = 20_270_101, names: bool = False) -> list[Labelled]:
    """Generate ``per_class`` labelled resources of every class.

    Parameters
    ----------
    per_class : int
        Resources per class.
    seed : int
        Master seed (each resource gets its own stream).
    names : bool
        Give telling names (``orders-db-3``) instead of neutral ones.
    """
    out: list[Labelled] = []
    k = 0
    for label in CLASSES:
        for j in range(per_class):
            rng = np.random.default_rng([seed, k])
            rid = f"res-{k:04d}"
            c = _Ctx(rng, rid)
            rtype, metrics, attrs = _GENERATORS[label](c)
            series = {name: c.series(name, v) for name, v in metrics.items() if not math.isnan(float(np.nanmax(v)))}
            if names:
                attrs = {**attrs, "name": f"{_NAMES[label]}-{j}"}
            out.append(Labelled(ResourceMetrics(rid, rtype, series, attrs), label))
            k += 1
    return out
