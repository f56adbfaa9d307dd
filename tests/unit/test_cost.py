"""Unit tests of the CostOptimizer: rightsizing, idle, Graviton, Spot, gp2 to gp3, Lambda memory, analyze."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from cloudsage.core.base import NotFittedError
from cloudsage.core.catalog import instance_spec, load_prices
from cloudsage.core.errors import InputValidationError, InsufficientDataError
from cloudsage.core.models.cost import (
    STRATEGIES,
    CostOptimizer,
    analyze,
    credit_exhausted_share,
    gp2_to_gp3,
    lambda_memory_options,
    rightsize,
)
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import SEVERITIES, ModelOutput
from cloudsage.core.series import MetricSeries
from cloudsage.local.demo import build_demo_fleet

N = 14 * 288
T0 = 1_767_571_200


def steady(level: float, noise: float = 2.0, seed: int = 0, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(level + noise * rng.standard_normal(n), 0.0, 100.0)


def ec2(cpu: np.ndarray, itype: str = "m5.2xlarge", **extra: np.ndarray) -> ResourceMetrics:
    series = {"CPUUtilization": MetricSeries("i-1", "CPUUtilization", T0, 300, cpu)}
    for name, values in extra.items():
        series[name] = MetricSeries("i-1", name, T0, 300, values)
    return ResourceMetrics("i-1", "ec2", series, {"instance_type": itype})


@pytest.fixture(scope="module")
def demo() -> dict[str, ResourceMetrics]:
    return {r.resource_id: r for r in build_demo_fleet().to_resource_metrics()}


# ---------------------------------------------------------------------------------------------- estimator contract
def test_cost_optimizer_fit_returns_self_and_predict_before_fit_raises() -> None:
    # Given an optimizer / When predict is called before fit / Then NotFittedError; fit returns self
    est = CostOptimizer(instance_type="m5.xlarge")
    with pytest.raises(NotFittedError):
        est.predict()
    assert est.fit(steady(30)) is est


def test_cost_optimizer_clone_round_trips_params() -> None:
    # Given non-default params / When cloned / Then the params are identical and stored unchanged
    est = CostOptimizer(instance_type="c5.large", strategy="aggressive", engineer_hour_usd=80.0)
    assert clone(est).get_params() == est.get_params()
    assert CostOptimizer(strategy="nonsense").strategy == "nonsense"  # no validation in __init__


def test_cost_optimizer_same_input_same_report() -> None:
    # Given the same data twice / When fitted / Then the reports are equal (deterministic)
    a = CostOptimizer(instance_type="m5.xlarge", random_state=1).fit(steady(30)).predict()
    b = CostOptimizer(instance_type="m5.xlarge", random_state=1).fit(steady(30)).predict()
    assert a.to_dict() == b.to_dict()


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"strategy": "yolo"}, "strategy"),
        ({"instance_type": "zz.large"}, "instance_type"),
        ({"instance_count": 0}, "instance_count"),
        ({"max_exceed_share": 1.5}, "max_exceed_share"),
    ],
)
def test_cost_optimizer_bad_params_raise_naming_field(params: dict, field: str) -> None:
    # Given a bad parameter / When fitted / Then InputValidationError names it
    with pytest.raises(InputValidationError) as err:
        CostOptimizer(**params).fit(steady(20))
    assert err.value.field == field


def test_cost_optimizer_cpu_out_of_range_raises_naming_y() -> None:
    with pytest.raises(InputValidationError) as err:
        CostOptimizer().fit(np.array([10.0, 150.0, 20.0]))
    assert err.value.field == "y"


def test_cost_optimizer_too_little_data_raises_insufficient() -> None:
    with pytest.raises(InsufficientDataError):
        CostOptimizer().fit(np.array([np.nan, 5.0]))


# ---------------------------------------------------------------------------------------------- findings
def test_rightsizing_low_cpu_over_provisioned_with_savings() -> None:
    # Given an m5.2xlarge at ~12 % CPU without memory metrics
    rep = CostOptimizer(instance_type="m5.2xlarge", allow_burstable=False).fit(steady(12)).predict()
    # Then it is over-provisioned, the best option saves money and keeps today's 32 GiB memory
    assert rep.finding == "over-provisioned"
    best = next(o for o in rep.options if o.action == "rightsize")
    assert best.monthly_savings_usd > 0
    assert instance_spec(best.target).memory_gib >= 32
    assert instance_spec(best.target).arch == "x86_64"


def test_rightsizing_memory_metric_allows_smaller_memory() -> None:
    # Given low CPU and a measured memory use of 20 % of 32 GiB
    cpu, mem = steady(12), steady(20, 1.0, seed=1)
    rep = CostOptimizer(instance_type="m5.2xlarge", allow_burstable=False).fit(cpu, {"memory_pct": mem}).predict()
    best = next(o for o in rep.options if o.action == "rightsize")
    # Then the target may have less memory than today but at least P99.5 x 1.2 of what is used
    assert instance_spec(best.target).memory_gib < 32
    assert instance_spec(best.target).memory_gib >= rep.required_memory_gib


def test_rightsizing_saturated_cpu_under_provisioned() -> None:
    # Given an m5.large pinned near 95 %
    rep = CostOptimizer(instance_type="m5.large").fit(steady(95, 1.0)).predict()
    # Then it is under-provisioned and the rightsizing option adds capacity at no saving
    assert rep.finding == "under-provisioned"
    up = next(o for o in rep.options if o.action == "rightsize")
    assert up.monthly_savings_usd <= 0
    assert instance_spec(up.target).capacity >= rep.required_capacity > instance_spec("m5.large").capacity


def test_rightsizing_options_ranked_by_savings() -> None:
    rep = CostOptimizer(instance_type="m5.4xlarge").fit(steady(10)).predict()
    savings = [o.monthly_savings_usd for o in rep.options]
    assert savings == sorted(savings, reverse=True)


def _short_saturated_spells() -> np.ndarray:
    # ~10 % CPU with 1 % of the intervals (40 five-minute points, in 4 spells) pinned at 97 %: censored demand
    cpu = steady(10, 1.0, seed=3)
    for start in (500, 1500, 2500, 3500):
        cpu[start : start + 10] = 97.0
    return cpu


def test_rightsize_never_below_todays_capacity_when_saturated() -> None:
    # Given an m5.2xlarge (32 GiB kept) whose CPU is pinned at 97 % in 1 % of the intervals: the true demand there
    # is at least the whole instance, but 97 % of m5.2xlarge fits a t3.2xlarge (2 % less capacity, credits plenty)
    demand = _short_saturated_spells() / 100.0 * instance_spec("m5.2xlarge").capacity
    book = load_prices()
    _, cands = rightsize(demand, "m5.2xlarge", book, percentile=95, headroom=0.10)
    # Then no candidate has less capacity than today's (the censored intervals exceed any smaller type)
    assert cands
    assert all(spec.capacity >= instance_spec("m5.2xlarge").capacity for spec, _, _ in cands)
    # and a pure percentile rule (tail check off) is blind to it: the guard is what keeps the t3.2xlarge out
    _, blind = rightsize(demand, "m5.2xlarge", book, percentile=95, headroom=0.10, max_exceed_share=None)
    assert blind[0][0].instance_type != cands[0][0].instance_type
    assert blind[0][0].capacity < instance_spec("m5.2xlarge").capacity


def test_rightsize_unsaturated_spells_may_downsize() -> None:
    # Given the same spells at 80 % instead of 97 % (not censored: the demand is observed)
    cpu = _short_saturated_spells()
    cpu[cpu > 90] = 80.0
    demand = cpu / 100.0 * instance_spec("m5.2xlarge").capacity
    _, cands = rightsize(demand, "m5.2xlarge", load_prices(), percentile=95, headroom=0.10)
    # Then a type with less capacity than today's that still covers the spells is acceptable
    assert cands[0][0].capacity < instance_spec("m5.2xlarge").capacity
    assert cands[0][0].capacity >= float(demand.max())


@settings(max_examples=20, deadline=None)
@given(level=st.floats(1.0, 90.0), seed=st.integers(0, 1000))
def test_strategies_more_conservative_never_cheaper(level: float, seed: int) -> None:
    # Given any CPU level / When sized with each strategy / Then the more conservative never needs less capacity
    demand = steady(level, 5.0, seed, n=2000) / 100.0 * 4.0
    book = load_prices()
    needs = [
        rightsize(demand, "m5.2xlarge", book, percentile=p, headroom=h, max_exceed_share=None)[0]
        for p, h in STRATEGIES.values()
    ]
    assert needs == sorted(needs)


@settings(max_examples=20, deadline=None)
@given(level=st.floats(1.0, 95.0), seed=st.integers(0, 1000))
def test_rightsize_candidates_meet_requirement_and_sorted(level: float, seed: int) -> None:
    # Given a demand / When candidates are listed / Then each has the required capacity and they are cheapest first
    demand = steady(level, 3.0, seed, n=1500) / 100.0 * 2.0
    book = load_prices()
    need, cands = rightsize(demand, "m5.xlarge", book, percentile=99, headroom=0.15)
    prices = [p for _, p, _ in cands]
    assert prices == sorted(prices)
    for spec, _, _ in cands:
        assert spec.capacity >= need - 1e-9
        assert spec.memory_gib >= 16


def test_idle_instance_terminate_savings_730_hours() -> None:
    # Given an m5.2xlarge at ~1 % CPU with ~30 MB/day of network
    cpu = steady(0.9, 0.15)
    net = np.full(N, 50_000.0)
    rep = CostOptimizer(instance_type="m5.2xlarge").fit(cpu, {"network_bytes": net}).predict()
    # Then it is idle and terminating saves 0.384 x 730 $/month
    assert rep.finding == "idle"
    assert rep.best.action == "terminate"
    assert rep.best.monthly_savings_usd == pytest.approx(0.384 * 730)


def test_idle_with_busy_network_not_idle() -> None:
    # Given low CPU but 5 GB/day of network / Then not idle
    cpu, net = steady(0.9, 0.15), np.full(N, 5e9 / 288)
    rep = CostOptimizer(instance_type="m5.2xlarge").fit(cpu, {"network_bytes": net}).predict()
    assert rep.finding != "idle"


def test_graviton_option_present_for_x86_with_effort() -> None:
    rep = CostOptimizer(instance_type="m5.xlarge").fit(steady(40)).predict()
    grav = [o for o in rep.options if o.action == "graviton"]
    assert grav and instance_spec(grav[0].target).arch == "arm64"
    assert "arm64" in grav[0].effort
    assert grav[0].effort_cost_usd == pytest.approx(16 * 100.0)
    assert grav[0].payback_months == pytest.approx(grav[0].effort_cost_usd / grav[0].monthly_savings_usd, rel=0.01)


def test_spot_option_only_for_interruption_tolerant_workloads() -> None:
    est = CostOptimizer(instance_type="c5.2xlarge").fit(steady(40))
    rep = est.predict()
    assert est.spot_option(rep, "web") is None
    spot = est.spot_option(rep, "batch")
    assert spot is not None and spot.estimate and spot.monthly_savings_usd > 0


# ---------------------------------------------------------------------------------------------- credits, EBS, Lambda
def test_credit_simulation_sustained_load_exhausts_baseline() -> None:
    # Given a t3.large (30 % baseline) / When run at 80 % for days / Then the credits run out; at 20 % never
    spec = instance_spec("t3.large")
    assert credit_exhausted_share(np.full(2000, 80.0), spec, 300) > 0.5
    assert credit_exhausted_share(np.full(2000, 20.0), spec, 300) == 0.0
    assert credit_exhausted_share(np.full(10, 99.0), instance_spec("m5.large"), 300) == 0.0


def test_gp2_to_gp3_same_size_cheaper_and_addons_priced() -> None:
    book = load_prices()
    gp2, gp3, iops, mbps = gp2_to_gp3(170, book)
    assert (gp2, gp3, iops, mbps) == pytest.approx((17.0, 13.6, 3000.0, 125.0))
    # Given 500 GB (gp2 delivers 250 MB/s) / Then gp3 buys the 125 MB/s above its included 125
    assert gp2_to_gp3(500, book) == pytest.approx((50.0, 45.0, 3000.0, 250.0))
    # Given a 2 TB gp2 (6,000 IOPS baseline) / Then gp3 buys the 3,000 IOPS above its included 3,000
    gp2, gp3, iops, _ = gp2_to_gp3(2000, book)
    assert iops == 6000 and gp3 > 2000 * 0.08 and gp3 < gp2


def test_gp2_to_gp3_negative_size_raises_naming_field() -> None:
    with pytest.raises(InputValidationError) as err:
        gp2_to_gp3(-5, load_prices())
    assert err.value.field == "size_gb"


def test_lambda_memory_options_respect_used_memory() -> None:
    rows = lambda_memory_options(200.0, 1e6, 1024, load_prices(), max_used_mb=300)
    assert min(r["memory_mb"] for r in rows) >= 390
    assert any(r["memory_mb"] == 1024 for r in rows)


# ---------------------------------------------------------------------------------------------- analyze
def test_analyze_demo_idle_instance_terminate_with_savings(demo: dict[str, ResourceMetrics]) -> None:
    # Given the demo's idle m5.2xlarge / When analysed
    out = analyze(demo["i-0e9f8a7b6c5d4e3f2"])
    first = out.insights[0]
    # Then the first insight is an idle finding with $/month savings at 730 h
    assert first.evidence["finding"] == "idle"
    assert first.evidence["monthly_savings_usd"] == pytest.approx(280.32)
    assert first.evidence["hours_per_month"] == 730
    assert "snapshot" in first.evidence["price_origin"]
    assert "$" in first.evidence["key_figure"]
    assert first.severity in ("medium", "high")


def test_analyze_demo_batch_worker_offers_spot(demo: dict[str, ResourceMetrics]) -> None:
    out = analyze(demo["i-0b7c1d2e3f4a5b6c7"])
    spot = [i for i in out.insights if i.metric == "spot"]
    assert spot and spot[0].evidence["estimate"] is True


def test_analyze_runs_on_every_demo_resource(demo: dict[str, ResourceMetrics]) -> None:
    # Given every demo resource / When analysed / Then a ModelOutput with valid, JSON-able insights
    for res in demo.values():
        out = analyze(res)
        assert isinstance(out, ModelOutput)
        assert out.insights
        for ins in out.insights:
            assert ins.severity in SEVERITIES and ins.kind == "proactive"
            assert ins.evidence["key_figure"]
        d = out.to_dict()
        for plot in d["detail"].values():
            if isinstance(plot, dict) and "timestamps" in plot:
                assert len(plot["timestamps"]) <= 600


def test_analyze_gp2_volume_insight() -> None:
    res = ec2(steady(40), "m5.large")
    res.attributes["volumes"] = [{"volume_id": "vol-1", "type": "gp2", "size_gb": 1000}]
    out = analyze(res)
    ebs = [i for i in out.insights if i.metric == "ebs:vol-1"]
    assert ebs and ebs[0].evidence["monthly_savings_usd"] > 0


def test_analyze_no_cpu_raises_insufficient() -> None:
    series = {"NetworkIn": MetricSeries("i-1", "NetworkIn", T0, 300, np.ones(400))}
    with pytest.raises(InsufficientDataError):
        analyze(ResourceMetrics("i-1", "ec2", series, {"instance_type": "m5.large"}))


def test_analyze_short_history_raises_insufficient() -> None:
    with pytest.raises(InsufficientDataError):
        analyze(ec2(steady(30, n=50)))


def test_analyze_bad_lambda_memory_raises_naming_field(demo: dict[str, ResourceMetrics]) -> None:
    fn = demo["orders-processor"]
    bad = ResourceMetrics(fn.resource_id, "lambda", fn.series, {**fn.attributes, "memory_mb": "lots"})
    with pytest.raises(InputValidationError) as err:
        analyze(bad)
    assert err.value.field == "memory_mb"


def test_report_to_dict_is_json_safe() -> None:
    import json

    rep = CostOptimizer(instance_type="m5.xlarge").fit(steady(30)).predict()
    text = json.dumps(rep.to_dict(), allow_nan=False)
    assert "options" in text and not math.isnan(rep.current_monthly_usd)


def test_analyze_rds_sizes_within_family_keeps_prefix_without_dollars() -> None:
    # Given an RDS db.r6g.2xlarge at ~5 % CPU using 20 % of its memory (not priced in the book)
    cpu, mem = steady(5, 1.0), steady(20, 1.0, seed=2)
    series = {
        "CPUUtilization": MetricSeries("db1", "CPUUtilization", T0, 300, cpu),
        "MemoryUtilization": MetricSeries("db1", "MemoryUtilization", T0, 300, mem),
    }
    res = ResourceMetrics("db1", "rds", series, {"instance_type": "db.r6g.2xlarge"})
    # When analysed
    first = analyze(res, workload="database").insights[0]
    # Then it suggests a smaller db.r6g size and states no dollar figure
    assert first.evidence["finding"] == "over-provisioned"
    assert first.evidence["key_figure"].endswith(("db.r6g.large", "db.r6g.xlarge", "db.r6g.medium"))
    assert first.evidence["current_monthly_usd"] is None


def test_analyze_misspelt_option_is_an_error_naming_it() -> None:
    from cloudsage.core.errors import InputValidationError
    from cloudsage.local.demo import build_demo_fleet

    idle = build_demo_fleet().to_resource_metrics()[-1]
    with pytest.raises(InputValidationError) as err:
        analyze(idle, stratgy="aggressive")
    assert err.value.field == "stratgy"
