"""Unit tests of the capacity model: queueing maths, the estimator contract, ceilings, USL trust, SLA, analyze.

Load tests are synthetic and seeded: steps drawn around an exact closed-network (MVA) curve with known ceiling,
parallelism and unloaded response time, with server CPU from the utilisation law, repeated like real runs.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from cloudsage.core.base import NotFittedError
from cloudsage.core.errors import InputValidationError, InsufficientDataError
from cloudsage.core.loadtest import LoadPoint, LoadTest
from cloudsage.core.models.performance import (
    PerformancePredictor,
    analyze,
    erlang_c,
    fit_usl,
    forecast_peak,
    mva_throughput,
    usl_throughput,
    vcpus_of,
)
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import SEVERITIES, ModelOutput
from cloudsage.core.series import MetricSeries

LEVELS = (1, 2, 4, 8, 16, 32, 64)


def closed_test(
    x_max: float = 950.0,
    m: float = 1.0,
    r0: float = 0.0021,
    cores: float = 2.0,
    reps: int = 4,
    noise: float = 0.05,
    levels: tuple[int, ...] = LEVELS,
    seed: int = 1,
    workers: float = math.nan,
    cpu: bool = True,
) -> LoadTest:
    """Closed-loop steps around the exact MVA curve; server CPU = X * D with D = cores / x_max."""
    rng = np.random.default_rng(seed)
    demand = cores / x_max
    pts = []
    for rep in range(reps):
        for n in levels:
            x = float(mva_throughput([n], x_max, m, r0)[0]) * math.exp(rng.normal(0.0, noise))
            pts.append(
                LoadPoint(
                    "closed",
                    float(n),
                    x,
                    n / x,
                    server_cpu_cores=x * demand if cpu else math.nan,
                    host_cpus=cores,
                    workers=workers,
                    rep=rep + 1,
                )
            )
    return LoadTest("closed", tuple(pts))


def open_test(
    x_max: float = 500.0, cores: float = 2.0, base: float = 0.002, rates: tuple[float, ...] = (50, 100, 150, 200)
) -> LoadTest:
    """Open-loop steps from the M/M/2 mean latency plus a base latency."""
    s = cores / x_max
    pts = []
    for rep in (1, 2):
        for lam in rates:
            rho = lam / x_max
            wq = float(erlang_c(int(cores), rho * cores)[0]) * s / (cores * (1 - rho))
            mean = (base + s + wq) * (1.0 + 0.01 * rep)
            pts.append(LoadPoint("open", lam, lam, mean, server_cpu_cores=lam * s, host_cpus=cores, rep=rep))
    return LoadTest("open", tuple(pts))


# ---------------------------------------------------------------------------------------------- queueing maths
def test_erlang_c_known_values_match_closed_forms() -> None:
    # Given M/M/1 at rho = 0.5 and M/M/2 at a = 1
    # When the probability of waiting is computed
    # Then it matches rho (M/M/1) and 1/3 (M/M/2)
    assert float(erlang_c(1, 0.5)[0]) == pytest.approx(0.5)
    assert float(erlang_c(2, 1.0)[0]) == pytest.approx(1 / 3)
    assert float(erlang_c(4, 4.5)[0]) == 1.0


def test_mva_throughput_without_delay_equals_server_rate() -> None:
    # Given a bottleneck with no delay station (R0 = D_b)
    # When evaluated at N = 1..5 with m = 2
    x = mva_throughput([1, 2, 3, 5], x_max=1000.0, m=2.0, r0=0.002)
    # Then X = min(N, m) / D_b exactly
    assert x.tolist() == pytest.approx([500.0, 1000.0, 1000.0, 1000.0])


@settings(max_examples=40, deadline=None)
@given(
    x_max=st.floats(min_value=10.0, max_value=1e4),
    m=st.floats(min_value=1.0, max_value=16.0),
    extra=st.floats(min_value=0.0, max_value=5.0),
)
def test_mva_throughput_obeys_asymptotic_bounds(x_max: float, m: float, extra: float) -> None:
    # Given any bottleneck and a delay of `extra` bottleneck demands
    r0 = (m / x_max) * (1.0 + extra)
    n = np.array([1, 2, 3, 5, 8, 13, 40, 200])
    # When the exact throughput is computed
    x = mva_throughput(n, x_max, m, r0)
    # Then X(1) = 1/R0, X <= min(N/R0, X_max) and X never falls with N
    assert x[0] == pytest.approx(1.0 / r0, rel=1e-9)
    assert np.all(x <= np.minimum(n / r0, x_max) * (1 + 1e-9))
    assert np.all(np.diff(x) >= -1e-9 * x_max)


def test_fit_usl_recovers_generating_parameters() -> None:
    # Given throughput drawn exactly from a USL with a retrograde region
    n = np.array([1, 2, 4, 8, 16, 32], dtype=float)
    x = usl_throughput(n, 100.0, 0.05, 0.002)
    # When fitted
    usl = fit_usl(n, x)
    # Then the parameters and the peak come back
    assert usl["sigma"] == pytest.approx(0.05, rel=1e-3)
    assert usl["kappa"] == pytest.approx(0.002, rel=1e-3)
    assert usl["peak_n"] == pytest.approx(math.sqrt(0.95 / 0.002), rel=1e-3)


# ---------------------------------------------------------------------------------------------- estimator contract
def test_predict_before_fit_raises_not_fitted() -> None:
    # Given an unfitted model
    # When predicting
    # Then scikit-learn's NotFittedError is raised
    with pytest.raises(NotFittedError):
        PerformancePredictor().predict([4])


def test_fit_returns_self_and_clone_keeps_params() -> None:
    # Given a model with non-default params
    model = PerformancePredictor(level=80, cores=4.0, random_state=3)
    # When fitted and cloned
    fitted = model.fit(closed_test())
    twin = clone(model)
    # Then fit returns self and the clone has the same params and no fitted state
    assert fitted is model
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "params_")


def test_fit_same_random_state_gives_same_intervals() -> None:
    # Given the same data and seed twice
    data = closed_test()
    # When fitted twice
    a = PerformancePredictor(random_state=5).fit(data).predict([16, 64])
    b = PerformancePredictor(random_state=5).fit(data).predict([16, 64])
    # Then the predictions, intervals included, are identical
    assert a == b


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": 120}, "level"),
        ({"cores": -1.0}, "cores"),
        ({"workers": 0}, "workers"),
        ({"think_time_s": -0.5}, "think_time_s"),
        ({"max_error_rate": 2.0}, "max_error_rate"),
        ({"tail_ratio": 0.5}, "tail_ratio"),
    ],
)
def test_fit_bad_hyperparameter_names_field(params: dict[str, float], field: str) -> None:
    # Given a hyperparameter out of range
    # When fitting
    # Then the error names it
    with pytest.raises(InputValidationError) as info:
        PerformancePredictor(**params).fit(closed_test())
    assert info.value.field == field


def test_fit_single_level_raises_insufficient_data() -> None:
    # Given steps at one concurrency only
    data = closed_test(levels=(4,))
    # When fitting
    # Then it needs two load levels
    with pytest.raises(InsufficientDataError, match="load levels"):
        PerformancePredictor().fit(data)


def test_fit_mixed_kinds_names_kind() -> None:
    # Given closed and open steps together
    pts = [*closed_test().points[:3], *open_test().points[:3]]
    # When fitting
    # Then the error names the kind
    with pytest.raises(InputValidationError) as info:
        PerformancePredictor().fit(pts)
    assert info.value.field == "kind"


def test_predict_non_positive_load_names_field() -> None:
    # Given a fitted model
    model = PerformancePredictor().fit(closed_test())
    # When asked for a load of 0
    # Then the error names the load
    with pytest.raises(InputValidationError) as info:
        model.predict([0.0])
    assert info.value.field == "load"


# ---------------------------------------------------------------------------------------------- ceilings
def test_fit_closed_plateau_in_light_load_measures_ceiling() -> None:
    # Given a 950 req/s server whose knee (N ~ 2) lies inside N <= 8
    data = closed_test(x_max=950.0)
    # When fitted on N <= 8 and asked for N = 16..64
    model = PerformancePredictor().fit(data.select(max_load=8))
    pred = model.predict([16, 32, 64])
    # Then the ceiling is the measured plateau and response time grows linearly with N (Little's law)
    assert model.capacity_.method == "observed"
    assert model.max_throughput_ == pytest.approx(950.0, rel=0.05)
    assert pred.mean_s[2] == pytest.approx(64 / model.max_throughput_)
    assert model.capacity_.max_throughput_lower <= model.max_throughput_ <= model.capacity_.max_throughput_upper


def test_fit_closed_below_knee_extrapolates_with_utilisation_law() -> None:
    # Given an 8-core server (1,600 req/s, D = 5 ms) whose knee lies beyond N = 8
    data = closed_test(x_max=1600.0, cores=8.0, m=8.0, r0=0.008, noise=0.02)
    # When fitted on N <= 8 only
    model = PerformancePredictor().fit(data.select(max_load=8))
    pred = model.predict([64])
    # Then the utilisation law gives the ceiling and the demand per request
    assert model.capacity_.method == "utilisation_law"
    assert model.service_demand_s_ == pytest.approx(8.0 / 1600.0, rel=0.05)
    assert pred.throughput[0] == pytest.approx(1600.0, rel=0.08)


def test_fit_io_bound_without_plateau_uses_worker_pool() -> None:
    # Given a server with 4 workers each held 50 ms per request and little CPU
    data = closed_test(x_max=80.0, cores=16.0, m=4.0, r0=0.05, levels=(1, 2, 3), workers=4.0, cpu=False, noise=0.01)
    # When fitted below the pool size
    model = PerformancePredictor().fit(data)
    # Then the worker pool (Little's law: workers / hold time) is the ceiling
    assert model.capacity_.method == "worker_pool"
    assert model.max_throughput_ == pytest.approx(80.0, rel=0.05)


def test_fit_flat_plateau_does_not_trust_usl_collapse() -> None:
    # Given a flat plateau with noise, where a USL fit finds kappa > 0
    data = closed_test(noise=0.08, seed=3)
    # When fitted on N <= 8
    model = PerformancePredictor().fit(data.select(max_load=8))
    # Then USL is reported but its collapse is not used: throughput at N = 64 stays at the ceiling
    assert model.capacity_.usl is not None
    assert not model.capacity_.usl_retrograde_trusted
    assert model.predict([64]).throughput[0] == pytest.approx(model.max_throughput_, rel=1e-6)


def test_fit_measured_decline_trusts_usl_collapse() -> None:
    # Given throughput that really declines past N = 8 (coherency delay), measured up to N = 32
    rng = np.random.default_rng(0)
    pts = []
    for rep in range(3):
        for n in (1, 2, 4, 8, 16, 32):
            x = float(usl_throughput(np.array([n]), 400.0, 0.02, 0.01)[0]) * math.exp(rng.normal(0, 0.01))
            pts.append(LoadPoint("closed", float(n), x, n / x, rep=rep + 1))
    # When fitted
    model = PerformancePredictor().fit(pts)
    # Then the collapse is trusted and the prediction at N = 64 is below the peak
    assert model.capacity_.usl_retrograde_trusted
    assert model.predict([64]).throughput[0] < 0.8 * model.max_throughput_


def test_fit_open_loop_recovers_ceiling_and_latency() -> None:
    # Given an M/M/2 server with a 500 req/s ceiling measured up to 40 % utilisation
    data = open_test()
    # When fitted and asked for 300 and 400 req/s
    model = PerformancePredictor().fit(data)
    pred = model.predict([300.0, 400.0])
    # Then the ceiling comes from the utilisation law and the latency from Erlang C
    s = 2 / 500.0
    want = [0.002 + s + float(erlang_c(2, r / 500 * 2)[0]) * s / (2 * (1 - r / 500)) for r in (300.0, 400.0)]
    assert model.max_throughput_ == pytest.approx(500.0, rel=0.01)
    assert pred.mean_s == pytest.approx(want, rel=0.06)


# ---------------------------------------------------------------------------------------------- intervals
def test_predict_open_interval_widens_near_saturation() -> None:
    # Given a fitted open-loop model
    model = PerformancePredictor().fit(open_test())
    # When predicting at rising utilisation
    pred = model.predict(np.array([0.2, 0.5, 0.8, 0.95]) * model.max_throughput_)
    # Then the relative latency interval widens and confidence falls
    width = [(u - lo) / m for lo, m, u in zip(pred.mean_lower_s, pred.mean_s, pred.mean_upper_s, strict=True)]
    assert all(b >= a for a, b in itertools.pairwise(width))
    assert pred.confidence[0] >= pred.confidence[-1]


@settings(max_examples=30, deadline=None)
@given(
    load=st.lists(st.floats(min_value=1.0, max_value=2000.0), min_size=1, max_size=8), cap=st.sampled_from([1, 2, 3.5])
)
def test_predict_intervals_contain_point_and_throughput_is_bounded(load: list[float], cap: float) -> None:
    # Given fitted closed and open models
    # When predicting any loads at any capacity
    for model in (CLOSED_MODEL, OPEN_MODEL):
        pred = model.predict(load, capacity=cap)
        # Then lower <= point <= upper and throughput never exceeds the capacity's ceiling
        for lo, mid, hi in zip(pred.throughput_lower, pred.throughput, pred.throughput_upper, strict=True):
            assert lo <= mid * (1 + 1e-9) and mid <= hi * (1 + 1e-9)
            assert mid <= cap * model.max_throughput_ * (1 + 1e-9)
        for lo, mid, hi in zip(pred.mean_lower_s, pred.mean_s, pred.mean_upper_s, strict=True):
            assert lo <= mid * (1 + 1e-9) and (mid <= hi * (1 + 1e-9) or math.isinf(hi))


CLOSED_MODEL = PerformancePredictor().fit(closed_test().select(max_load=8))
OPEN_MODEL = PerformancePredictor().fit(open_test())


# ---------------------------------------------------------------------------------------------- scenarios
def test_virtual_load_test_more_capacity_lowers_latency() -> None:
    # Given a fitted open-loop model
    # When running a virtual load test for 1 and 2 units
    vlt = OPEN_MODEL.virtual_load_test(capacities=[1.0, 2.0], labels=["today", "proposed"])
    today, proposed = vlt.scenarios
    # Then both use the same loads, doubling capacity doubles the ceiling and never raises latency
    assert today.load == proposed.load
    assert vlt.max_throughput[1] == pytest.approx(2 * vlt.max_throughput[0])
    assert all(b <= a for a, b in zip(today.mean_s, proposed.mean_s, strict=True))
    json.dumps(vlt.to_dict())


def test_sla_check_too_few_instances_breach_with_fix() -> None:
    # Given a 500 req/s-per-instance service and a peak of 1,800 req/s on 3 instances
    # When checking a 20 ms p95 target
    sla = OPEN_MODEL.sla_check(1800.0, 0.020, instances_now=3)
    # Then it breaches and names a count that keeps p95 under the target
    assert sla.breach
    assert sla.instances_needed is not None and sla.instances_needed > 3
    assert sla.p95_needed_s <= 0.020


def test_sla_check_target_below_latency_floor_has_no_fix() -> None:
    # Given a target below the unloaded latency
    # When checking
    sla = OPEN_MODEL.sla_check(100.0, 0.0001)
    # Then no instance count meets it
    assert sla.breach and sla.instances_needed is None


@settings(max_examples=20, deadline=None)
@given(st.floats(min_value=10.0, max_value=5000.0), st.floats(min_value=1.2, max_value=4.0))
def test_sla_check_needed_instances_grow_with_peak(peak: float, factor: float) -> None:
    # Given two peaks, one `factor` times the other
    # When checking the same target
    a = OPEN_MODEL.sla_check(peak, 0.05)
    b = OPEN_MODEL.sla_check(peak * factor, 0.05)
    # Then the larger peak never needs fewer instances
    assert a.instances_needed is not None and b.instances_needed is not None
    assert b.instances_needed >= a.instances_needed


# ---------------------------------------------------------------------------------------------- analyze
DAY = 288
START = 1_767_571_200


def web_resource(peak_rps: float = 220.0, instances: float = 4.0, days: int = 7, **attrs: object) -> ResourceMetrics:
    """An ALB-fronted group: daily traffic cycle, CPU = 5 % + 0.8 % per req/s per instance, latency rising."""
    rng = np.random.default_rng(4)
    n = days * DAY
    t = np.arange(n)
    load = 0.2 + 0.8 * np.clip(np.sin((t % DAY) / DAY * np.pi), 0, None) ** 2
    rate = peak_rps * load * np.exp(rng.normal(0, 0.03, n))
    per = rate / instances
    cpu = 5.0 + 0.8 * per + rng.normal(0, 1.0, n)
    lat = 0.05 + 0.016 + 0.0002 * per + rng.normal(0, 0.002, n)
    ts = START + 300 * t

    def s(name: str, v: np.ndarray) -> MetricSeries:
        return MetricSeries.from_points("web", name, ts, v, period=300)

    series = {
        "RequestCount": s("RequestCount", rate * 300),
        "CPUUtilization": s("CPUUtilization", np.clip(cpu, 0, 100)),
        "TargetResponseTime": s("TargetResponseTime", lat),
    }
    return ResourceMetrics("web", "asg", series, {"instance_type": "c6i.large", "instance_count": instances, **attrs})


def test_analyze_web_group_reports_capacity_with_key_figure() -> None:
    # Given a group with headroom
    # When analysed
    out = analyze(web_resource())
    # Then one proactive, informational insight with the ceiling and a key figure, JSON-ready detail
    assert isinstance(out, ModelOutput)
    (ins,) = out.insights
    assert ins.kind == "proactive" and ins.severity == "info"
    assert "key_figure" in ins.evidence
    assert ins.evidence["max_throughput_per_instance_rps"] == pytest.approx(95.0 / 0.8, rel=0.05)
    assert len(out.detail["RequestCount"]["timestamps"]) <= 600
    json.dumps(out.to_dict())


def test_analyze_forecast_peak_beyond_capacity_raises_breach_with_fix() -> None:
    # Given a forecast peak far above what 4 instances carry
    # When analysed with a 0.2 s p95 target
    out = analyze(web_resource(), forecast_peak_rps=900.0, p95_target_s=0.2)
    (ins,) = out.insights
    # Then it is a breach with the instance count that fixes it
    assert SEVERITIES.index(ins.severity) >= SEVERITIES.index("medium")
    needed = ins.evidence["instances_needed"]
    assert needed is not None and needed > 4
    assert str(needed) in ins.recommendation


def test_analyze_unknown_param_names_it() -> None:
    # Given an unknown parameter
    # When analysed
    # Then the error names it
    with pytest.raises(InputValidationError) as info:
        analyze(web_resource(days=2), bogus=1)
    assert info.value.field == "bogus"


def test_analyze_without_request_metrics_raises_insufficient_data() -> None:
    # Given a database with CPU only
    cpu = MetricSeries("db", "CPUUtilization", START, 300, np.full(100, 30.0))
    # When analysed
    # Then the model does not apply
    with pytest.raises(InsufficientDataError):
        analyze(ResourceMetrics("db", "rds", {"CPUUtilization": cpu}))


def test_analyze_demo_fleet_runs_on_every_resource() -> None:
    # Given the demo fleet
    from cloudsage.local.demo import build_demo_fleet

    outputs = {}
    # When every resource is analysed
    for res in build_demo_fleet(days=7).to_resource_metrics():
        try:
            outputs[res.resource_id] = analyze(res)
        except InsufficientDataError:
            continue
    # Then the web group and the Lambda function get one insight each, JSON-ready
    assert {"web-api-asg", "orders-processor"} <= set(outputs)
    for out in outputs.values():
        assert len(out.insights) == 1
        json.dumps(out.to_dict())


def test_forecast_peak_growing_traffic_exceeds_recent_peak() -> None:
    # Given daily peaks growing 10 req/s a day
    ts = START + 300.0 * np.arange(10 * DAY)
    rate = 100 + 10 * (ts - START) / 86_400 + 50 * np.sin((np.arange(ts.size) % DAY) / DAY * np.pi)
    # When forecasting a week ahead
    fc = forecast_peak(rate, ts, 7.0)
    # Then the peak is above the last observed daily peak
    assert fc.peak > float(np.max(rate)) + 50


def test_vcpus_of_sizes() -> None:
    # Given instance types of several sizes
    # When their vCPUs are read
    # Then sizes map to vCPUs and unknown ones to NaN
    assert vcpus_of("c6i.large") == 2 and vcpus_of("m5.4xlarge") == 16
    assert math.isnan(vcpus_of("m5.metal")) and math.isnan(vcpus_of(None))


def test_analyze_proposed_instance_type_adds_scenario_with_catalog_factor() -> None:
    # Given a c6i.large group and a proposed c6i.xlarge
    # When analysed
    out = analyze(web_resource(days=3), proposed_instance_type="c6i.xlarge")
    scen = out.detail["virtual_load_test"]["scenarios"]
    # Then a scenario for the proposed type carries about twice today's ceiling
    today, proposed = scen[0], scen[-1]
    assert "c6i.xlarge" in proposed["label"]
    assert proposed["max_throughput"] == pytest.approx(2 * today["max_throughput"], rel=0.1)


def test_fit_large_system_knee_near_balanced_job_bound() -> None:
    # Given a big server: 50,000 req/s ceiling, 40 ms unloaded response time (knee near N = 2,000)
    data = closed_test(x_max=50_000.0, cores=64.0, m=64.0, r0=0.04, levels=(1, 10, 100, 400), noise=0.01, reps=2)
    # When fitted (below the knee) and asked for far beyond it
    model = PerformancePredictor().fit(data)
    pred = model.predict([20_000])
    # Then the ceiling comes from the utilisation law and the knee is near X_max * R0
    assert model.capacity_.method == "utilisation_law"
    assert model.knee_ == pytest.approx(50_000 * 0.04, rel=0.25)
    assert pred.throughput[0] == pytest.approx(50_000, rel=0.05)


def test_fit_resource_metrics_equals_fit_on_its_operational_points() -> None:
    # Given CloudWatch metrics of a group
    from cloudsage.core.models.performance import operational_points

    res = web_resource(days=2)
    # When fitted directly and through its per-instance load bins
    a = PerformancePredictor().fit(res)
    b = PerformancePredictor().fit(operational_points(res))
    # Then both give the same capacity model
    assert a.capacity_ == b.capacity_
    assert a.kind_ == "open"


def test_theil_sen_matches_scipy_on_ties_and_noise():
    from scipy.stats import theilslopes

    from cloudsage.core.models.performance import _theil_sen

    rng = np.random.default_rng(7)
    for n in (3, 5, 12):
        x = np.round(rng.uniform(1, 50, n))  # rounded: tied x values, as repeated load levels give
        y = 0.02 * x + 0.3 + rng.normal(0, 0.05, n)
        slope, icpt, _, _ = theilslopes(y, x)
        assert _theil_sen(y, x) == (float(slope), float(icpt))
