"""Builders shared by the tests (events and records, not inline dicts)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import Insight
from cloudsage.core.series import MetricSeries

DAY = 86_400


def make_insight(**overrides: Any) -> Insight:
    base: dict[str, Any] = {
        "resource_id": "web-api-asg",
        "model": "anomaly",
        "kind": "reactive",
        "severity": "high",
        "confidence": 0.9,
        "title": "CPUUtilization spike on web-api-asg",
        "summary": "CPU rose to 97 % against a baseline of 41 %",
        "recommendation": "Check the latest deploy",
        "detected_at": 1_700_000_000.0,
        "window_start": 1_699_990_000.0,
        "window_end": 1_700_000_000.0,
        "evidence": {"observed": 97.0, "baseline": 41.0, "deviation_sigma": 9.5},
        "metric": "CPUUtilization",
    }
    base.update(overrides)
    return Insight(**base)


def seasonal_series(
    resource_id: str = "web-api-asg",
    metric: str = "CPUUtilization",
    days: int = 14,
    period: int = 300,
    seed: int = 0,
    start: float = 1_764_000_000.0 // DAY * DAY,
) -> MetricSeries:
    rng = np.random.default_rng(seed)
    n = days * DAY // period
    t = start + period * np.arange(n)
    daily = 30 + 20 * np.sin(2 * np.pi * (t % DAY) / DAY)
    values = np.clip(daily + rng.normal(0, 2, n), 0, 100)
    return MetricSeries.from_points(resource_id, metric, t, values, period=period)


def make_resource(resource_id: str = "web-api-asg", days: int = 14, seed: int = 0) -> ResourceMetrics:
    cpu = seasonal_series(resource_id, "CPUUtilization", days=days, seed=seed)
    req = seasonal_series(resource_id, "RequestCount", days=days, seed=seed + 1)
    return ResourceMetrics(resource_id, "asg", {"CPUUtilization": cpu, "RequestCount": req}, {"instance_count": 4})
