"""Tests of the deterministic demo fleet."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from cloudsage.core.errors import InputValidationError
from cloudsage.core.resource import ResourceMetrics
from cloudsage.local.demo import (
    DAY,
    DEFAULT_END,
    INCIDENT_KINDS,
    DemoFleet,
    build_demo_fleet,
    fleet_to_csv,
)

HOUR = 3600.0


@pytest.fixture(scope="module")
def fleet() -> DemoFleet:
    return build_demo_fleet()


def _series(fleet: DemoFleet, resource_id: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    return fleet.resource(resource_id).metrics[metric]


def _seasonal_residual(fleet: DemoFleet, ts: np.ndarray, vs: np.ndarray, before: float) -> tuple[np.ndarray, float]:
    """Residual from the time-of-day median of the days before ``before``, and its robust sigma."""
    slots = int(DAY // fleet.period)
    idx = np.arange(ts.size) % slots
    pre = ts < before
    profile = np.array([np.nanmedian(vs[pre & (idx == k)]) for k in range(slots)])
    res = vs - profile[idx]
    pre_res = res[pre]
    sigma = 1.4826 * np.nanmedian(np.abs(pre_res - np.nanmedian(pre_res)))
    return res, max(float(sigma), 1e-9)


# ---------------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_fleet() -> None:
    a, b = build_demo_fleet(seed=3), build_demo_fleet(seed=3)
    assert a.incidents == b.incidents
    assert a.normal_periods == b.normal_periods
    for ra, rb in zip(a.resources, b.resources, strict=True):
        assert ra.resource_id == rb.resource_id
        assert ra.metrics.keys() == rb.metrics.keys()
        for name in ra.metrics:
            np.testing.assert_array_equal(ra.metrics[name][0], rb.metrics[name][0])
            np.testing.assert_array_equal(ra.metrics[name][1], rb.metrics[name][1])


def test_different_seed_gives_different_values() -> None:
    a, b = build_demo_fleet(seed=1), build_demo_fleet(seed=2)
    va = a.resource("web-api-asg").metrics["CPUUtilization"][1]
    vb = b.resource("web-api-asg").metrics["CPUUtilization"][1]
    assert not np.array_equal(np.nan_to_num(va), np.nan_to_num(vb))
    # the labels do not depend on the seed
    assert [(i.resource_id, i.kind, i.start, i.end) for i in a.incidents] == [
        (i.resource_id, i.kind, i.start, i.end) for i in b.incidents
    ]


def test_default_end_is_fixed() -> None:
    fleet = build_demo_fleet()
    assert fleet.end == DEFAULT_END == 1_796_342_400.0  # 2026-12-04T00:00:00Z
    assert fleet.start == DEFAULT_END - 14 * DAY


# ---------------------------------------------------------------------------------------------- shapes
def test_shapes_and_grid(fleet: DemoFleet) -> None:
    n = 14 * 288
    for r in fleet.resources:
        assert r.metrics, r.resource_id
        for name, (ts, vs) in r.metrics.items():
            assert ts.shape == vs.shape == (n,), (r.resource_id, name)
            assert ts.dtype == vs.dtype == np.float64
            assert ts[0] == fleet.start and ts[-1] == fleet.end - fleet.period
            assert np.all(np.diff(ts) == fleet.period)
            assert not vs.flags.writeable and not ts.flags.writeable


def test_fleet_resources_and_metrics(fleet: DemoFleet) -> None:
    by_id = {r.resource_id: r for r in fleet.resources}
    assert len(fleet.resources) >= 6
    expected = {
        "web-api-asg": (
            "asg",
            {
                "RequestCount",
                "CPUUtilization",
                "TargetResponseTime",
                "NetworkIn",
                "NetworkOut",
                "GroupInServiceInstances",
            },
        ),
        "i-0b7c1d2e3f4a5b6c7": ("ec2", {"CPUUtilization", "MemoryUtilization", "NetworkIn", "NetworkOut"}),
        "orders-db": ("rds", {"CPUUtilization", "DatabaseConnections", "ReadLatency", "FreeableMemory"}),
        "sessions-cache-001": ("cache", {"CPUUtilization", "CacheHitRate", "CurrConnections"}),
        "orders-processor": ("lambda", {"Invocations", "Errors", "Duration", "Throttles"}),
        "i-0e9f8a7b6c5d4e3f2": ("ec2", {"CPUUtilization", "NetworkIn", "NetworkOut"}),
    }
    for rid, (rtype, metrics) in expected.items():
        assert by_id[rid].resource_type == rtype
        assert metrics <= set(by_id[rid].metrics), rid


def test_namespaces_and_dimensions(fleet: DemoFleet) -> None:
    web = fleet.resource("web-api-asg")
    assert web.source("CPUUtilization") == ("AWS/EC2", {"AutoScalingGroupName": "web-api-asg"})
    ns, dims = web.source("RequestCount")
    assert ns == "AWS/ApplicationELB" and set(dims) == {"LoadBalancer", "TargetGroup"}
    assert web.source("GroupInServiceInstances")[0] == "AWS/AutoScaling"
    assert fleet.resource("orders-db").dimensions == {"DBInstanceIdentifier": "orders-db"}
    assert fleet.resource("orders-db").namespace == "AWS/RDS"
    assert fleet.resource("sessions-cache-001").dimensions["CacheClusterId"] == "sessions-cache-001"
    assert fleet.resource("orders-processor").dimensions == {"FunctionName": "orders-processor"}
    worker = fleet.resource("i-0b7c1d2e3f4a5b6c7")
    assert worker.dimensions == {"InstanceId": "i-0b7c1d2e3f4a5b6c7"}
    assert worker.source("MemoryUtilization")[0] == "CWAgent"


def test_realistic_magnitudes(fleet: DemoFleet) -> None:
    for r in fleet.resources:
        for name, (_, vs) in r.metrics.items():
            finite = vs[np.isfinite(vs)]
            assert finite.min() >= 0, (r.resource_id, name)
            if name in ("CPUUtilization", "MemoryUtilization", "CacheHitRate"):
                assert finite.max() <= 100, (r.resource_id, name)
    idle = fleet.resource("i-0e9f8a7b6c5d4e3f2")
    assert idle.attributes["instance_type"] == "m5.2xlarge"
    assert np.nanmedian(idle.metrics["CPUUtilization"][1]) < 2.0
    assert np.nanpercentile(idle.metrics["CPUUtilization"][1], 99) < 5.0
    assert np.nanmedian(idle.metrics["NetworkIn"][1]) < 1e6  # bytes per 5 min
    web_latency = np.nanmedian(fleet.resource("web-api-asg").metrics["TargetResponseTime"][1])
    assert 0.05 < web_latency < 0.3  # seconds
    assert np.nanmedian(fleet.resource("orders-db").metrics["ReadLatency"][1]) < 0.01


def test_missing_points_are_rare_but_present(fleet: DemoFleet) -> None:
    rates = [np.isnan(vs).mean() for r in fleet.resources for _, vs in r.metrics.values()]
    assert all(0.001 < rate < 0.015 for rate in rates)
    assert 0.003 < float(np.mean(rates)) < 0.008


def test_noise_is_heavy_tailed(fleet: DemoFleet) -> None:
    idle = fleet.resource("i-0e9f8a7b6c5d4e3f2")
    beyond = 0
    for metric in ("CPUUtilization", "NetworkIn", "NetworkOut"):
        vs = np.log(idle.metrics[metric][1]) if metric.startswith("Network") else idle.metrics[metric][1]
        res = vs[np.isfinite(vs)] - np.nanmedian(vs)
        sigma = 1.4826 * np.median(np.abs(res))
        beyond += int(np.sum(np.abs(res) > 4 * sigma))
    # Gaussian noise would put about 0.75 of these 3 x 4000 points beyond 4 robust sigmas
    assert beyond >= 6


def test_web_traffic_has_daily_cycle_and_weaker_weekends(fleet: DemoFleet) -> None:
    ts, vs = _series(fleet, "web-api-asg", "RequestCount")
    early = ts < fleet.end - 6 * DAY
    hour = (ts % DAY) / HOUR
    weekday = (np.floor(ts / DAY).astype(int) + 3) % 7
    peak = np.nanmean(vs[early & (weekday < 5) & (hour >= 14) & (hour < 18)])
    trough = np.nanmean(vs[early & (weekday < 5) & (hour >= 2) & (hour < 6)])
    assert peak > 3 * trough
    weekday_mean = np.nanmean(vs[early & (weekday < 5)])
    weekend_mean = np.nanmean(vs[early & (weekday >= 5)])
    assert weekend_mean < 0.75 * weekday_mean


def test_batch_worker_bursts_at_night(fleet: DemoFleet) -> None:
    ts, vs = _series(fleet, "i-0b7c1d2e3f4a5b6c7", "CPUUtilization")
    hour = (ts % DAY) / HOUR
    assert np.nanmedian(vs[(hour >= 2) & (hour < 3.5)]) > 70
    assert np.nanmedian(vs[(hour >= 8) & (hour < 20)]) < 10


# ---------------------------------------------------------------------------------------------- labels
def test_each_incident_kind_present(fleet: DemoFleet) -> None:
    assert {i.kind for i in fleet.incidents} == set(INCIDENT_KINDS)
    assert len(fleet.normal_periods) >= 1


@pytest.mark.parametrize("kwargs", [{}, {"days": 7}, {"period": 60, "days": 8}, {"end": 1_800_000_123.0}])
def test_labels_inside_window_and_recent(kwargs: dict) -> None:
    fleet = build_demo_fleet(**kwargs)
    ids = {r.resource_id for r in fleet.resources}
    for inc in fleet.incidents:
        assert inc.resource_id in ids
        assert inc.metric in fleet.resource(inc.resource_id).metrics
        assert all(m in fleet.resource(inc.resource_id).metrics for m in inc.related_metrics)
        assert fleet.start <= inc.start < inc.end <= fleet.end
        assert inc.start >= fleet.end - 5 * DAY, inc
        assert inc.description
    for p in fleet.normal_periods:
        assert p.resource_id in ids
        assert fleet.start <= p.start < p.end <= fleet.end
        assert p.start >= fleet.end - 5 * DAY
        # the noisy-but-normal period holds no incident on that resource
        assert not any(i.resource_id == p.resource_id and i.start < p.end and i.end > p.start for i in fleet.incidents)


def test_labels_to_dict_is_json_ready(fleet: DemoFleet) -> None:
    import json

    data = json.loads(json.dumps(fleet.labels()))
    assert len(data["incidents"]) == len(fleet.incidents)
    assert data["incidents"][0]["start_iso"].endswith("Z")


# ---------------------------------------------------------------------------------------------- visibility
@pytest.mark.parametrize("seed", [1, 7, 42, 2026])
def test_incidents_clearly_visible(seed: int) -> None:
    fleet = build_demo_fleet(seed=seed)
    for inc in fleet.incidents:
        ts, vs = _series(fleet, inc.resource_id, inc.metric)
        res, sigma = _seasonal_residual(fleet, ts, vs, inc.start)
        window = (ts >= inc.start) & (ts < inc.end)
        z = res[window] / sigma
        if inc.kind in ("spike", "latency_after_cpu_saturation"):
            assert np.nanmax(z) > 15, (inc.kind, inc.metric)
        elif inc.kind == "level_shift":
            assert np.nanmedian(z) > 5, inc.metric
        for related in inc.related_metrics:
            rts, rvs = _series(fleet, inc.resource_id, related)
            rres, rsigma = _seasonal_residual(fleet, rts, rvs, inc.start)
            assert np.nanmax(np.abs(rres[window])) / rsigma > 5, related


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_memory_leak_climbs_from_45_to_85(seed: int) -> None:
    fleet = build_demo_fleet(seed=seed)
    (leak,) = [i for i in fleet.incidents if i.kind == "memory_leak"]
    ts, vs = _series(fleet, leak.resource_id, leak.metric)
    assert leak.metric == "MemoryUtilization"
    assert 1.5 * DAY <= leak.end - leak.start <= 2.5 * DAY
    before = vs[(ts >= leak.start - DAY) & (ts < leak.start)]
    last = vs[ts >= leak.end - 2 * HOUR]
    assert 40 < np.nanmedian(before) < 50
    assert 78 < np.nanmedian(last) < 92
    inside = (ts >= leak.start) & np.isfinite(vs)
    slope = np.polyfit(ts[inside], vs[inside], 1)[0] * DAY
    assert 15 < slope < 25  # percent per day


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_latency_follows_cpu_saturation(seed: int) -> None:
    fleet = build_demo_fleet(seed=seed)
    (inc,) = [i for i in fleet.incidents if i.kind == "latency_after_cpu_saturation"]
    assert inc.resource_id == "web-api-asg" and inc.metric == "TargetResponseTime"
    ts, cpu = _series(fleet, inc.resource_id, "CPUUtilization")
    _, lat = _series(fleet, inc.resource_id, "TargetResponseTime")
    window = (ts >= inc.start) & (ts < inc.end)
    hot = ts[window & (cpu > 90)]
    assert hot.size and 1.5 * HOUR <= hot[-1] - hot[0] <= 2.5 * HOUR
    assert np.nanmedian(cpu[window & (cpu > 90)]) > 93
    baseline = np.nanmedian(lat[(ts < inc.start) & (ts >= inc.start - DAY)])
    slow = ts[window & (lat > 3 * baseline)]
    assert slow.size
    delay = slow[0] - hot[0]
    assert 10 * 60 <= delay <= 40 * 60


def test_noisy_normal_period_has_doubled_noise_without_level_change(fleet: DemoFleet) -> None:
    (period,) = fleet.normal_periods
    for metric in ("CPUUtilization", "TargetResponseTime", "RequestCount"):
        ts, vs = _series(fleet, period.resource_id, metric)

        def diff_sigma(t0: float, t1: float, ts: np.ndarray = ts, vs: np.ndarray = vs) -> float:
            d = np.diff(vs[(ts >= t0) & (ts < t1)])
            return 1.4826 * float(np.nanmedian(np.abs(d - np.nanmedian(d))))

        noisy = diff_sigma(period.start, period.end)
        same_day_last_week = diff_sigma(period.start - 7 * DAY, period.end - 7 * DAY)
        assert 1.3 < noisy / same_day_last_week < 3.2, metric  # about 2; one day of MAD is itself noisy
        # the level is that of a normal day
        inside = vs[(ts >= period.start) & (ts < period.end)]
        last_week = vs[(ts >= period.start - 7 * DAY) & (ts < period.end - 7 * DAY)]
        assert abs(np.nanmedian(inside) / np.nanmedian(last_week) - 1.0) < 0.25, metric


# ---------------------------------------------------------------------------------------------- conversion
def test_to_resource_metrics(fleet: DemoFleet) -> None:
    rms = fleet.to_resource_metrics()
    assert [r.resource_id for r in rms] == [r.resource_id for r in fleet.resources]
    for rm, demo in zip(rms, fleet.resources, strict=True):
        assert isinstance(rm, ResourceMetrics)
        assert rm.resource_type == demo.resource_type
        assert rm.attributes == demo.attributes
        for name, s in rm.series.items():
            assert s.period == fleet.period and s.start == fleet.start
            np.testing.assert_array_equal(s.values, demo.metrics[name][1])


def test_custom_end_is_rounded_to_a_day_and_period_respected() -> None:
    fleet = build_demo_fleet(days=7, period=600, end=DEFAULT_END + 5 * HOUR)
    assert fleet.end == DEFAULT_END
    ts, _ = fleet.resources[0].metrics["CPUUtilization"]
    assert ts.size == 7 * 144 and np.all(np.diff(ts) == 600)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"days": 3}, "days"),
        ({"days": 7.5}, "days"),
        ({"period": 7}, "period"),
        ({"period": 7000}, "period"),
        ({"period": 420}, "period"),
    ],
)
def test_invalid_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(InputValidationError) as err:
        build_demo_fleet(**kwargs)
    assert err.value.field == field


def test_fleet_to_csv(tmp_path, fleet: DemoFleet) -> None:
    path = tmp_path / "fleet.csv"
    n = fleet_to_csv(fleet, path)
    assert n == sum(ts.size for r in fleet.resources for ts, _ in r.metrics.values())
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["timestamp", "resource_id", "metric", "value", "unit", "resource_type"]
    assert len(rows) == n + 1
    assert rows[1][0] == "2026-11-20T00:00:00Z"
    assert any(row[3] == "" for row in rows[1:])  # missing points are empty cells
    buf = io.StringIO()
    assert fleet_to_csv(fleet, buf) == n
    assert buf.getvalue() == path.read_text(encoding="utf-8")
