"""Unit tests of the ScalingPredictor: forecaster, capacity learning, capacity plan and analyze."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from cloudsage.core.base import NotFittedError
from cloudsage.core.errors import InputValidationError, InsufficientDataError, InvalidSeriesError
from cloudsage.core.models.scaling import (
    Forecast,
    ScalingForecaster,
    analyze,
    forecast,
    learn_capacity,
    plan_capacity,
    recurring_schedule,
)
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.series import MetricSeries

DAY = 288  # 5-minute steps per day
T0 = 1_700_006_400.0  # a midnight UTC


def _daily(days: float, noise: float = 3.0, seed: int = 0, level: float = 100.0) -> np.ndarray:
    n = int(days * DAY)
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return level + 50.0 * np.sin(2 * np.pi * t / DAY) + rng.normal(0.0, noise, n)


def _truth(days: float, horizon: int, level: float = 100.0) -> np.ndarray:
    t = np.arange(int(days * DAY), int(days * DAY) + horizon)
    return level + 50.0 * np.sin(2 * np.pi * t / DAY)


# ---------------------------------------------------------------------------------------------- estimator contract
def test_forecaster_fit_returns_self_with_fitted_attributes() -> None:
    # Given a week of a daily cycle
    y = _daily(7)
    est = ScalingForecaster()
    # When fitted
    out = est.fit(y)
    # Then fit returns the estimator itself, with learned attributes
    assert out is est
    assert est.seasonality_ == "daily"
    assert 0.0 < est.confidence_ <= 1.0
    assert est.n_points_ == y.size


def test_forecaster_predict_before_fit_raises_not_fitted() -> None:
    # Given an unfitted estimator / When predicting / Then NotFittedError
    with pytest.raises(NotFittedError):
        ScalingForecaster().predict()


def test_forecast_one_shot_equals_two_step() -> None:
    # Given a series with a gap
    y = _daily(5, seed=3)
    y[400:420] = np.nan
    # When forecasting one-shot and with fit/predict
    one = forecast(y, 36, period_s=300, start_s=T0)
    two = ScalingForecaster(horizon=36, period_s=300, start_s=T0).fit(y).predict()
    # Then both give exactly the same result
    assert one == two


def test_forecaster_same_input_same_output() -> None:
    # Given the same series twice / When fitted twice / Then identical forecasts (no hidden randomness)
    y = _daily(4, seed=5)
    assert forecast(y, 24) == forecast(y, 24)


def test_forecaster_clone_keeps_params_unchanged() -> None:
    # Given an estimator with non-default params
    est = ScalingForecaster(horizon=48, seasonality="daily", max_horizon_s=3600.0 * 24)
    # When cloned / Then get_params round-trips unchanged
    assert clone(est).get_params() == est.get_params()


# ---------------------------------------------------------------------------------------------- forecast quality
def test_forecaster_daily_cycle_forecast_tracks_truth() -> None:
    # Given ten days of a daily cycle with noise sigma 3
    y = _daily(10)
    # When forecasting one day ahead
    fc = forecast(y, DAY)
    # Then the error is close to the noise level and the 95 % band covers the truth
    truth = _truth(10, DAY)
    assert np.mean(np.abs(np.asarray(fc.mean) - truth)) < 3.0
    inside = (truth >= np.asarray(fc.lower_95)) & (truth <= np.asarray(fc.upper_95))
    assert inside.mean() > 0.9


def test_forecaster_level_shift_forecast_follows_new_level() -> None:
    # Given a flat, noisy metric that stepped from 40 to 70 half a day ago
    rng = np.random.default_rng(1)
    y = 40.0 + rng.normal(0, 1.0, 4 * DAY)
    y[-DAY // 2 :] += 30.0
    # When forecasting two hours ahead
    fc = forecast(y, 24)
    # Then the forecast sits at the new level
    assert np.all(np.abs(np.asarray(fc.mean) - 70.0) < 3.0)


def test_forecaster_ramp_forecast_keeps_rising() -> None:
    # Given a memory leak climbing 1 % per hour for three days
    rng = np.random.default_rng(2)
    n = 3 * DAY
    y = 20.0 + np.arange(n) / 12.0 + rng.normal(0, 0.3, n)
    # When forecasting six hours ahead
    fc = forecast(y, 72)
    # Then the forecast keeps rising above the last level
    assert fc.mean[-1] > y[-12:].mean() + 2.0


def test_forecaster_single_spike_in_history_does_not_move_forecast() -> None:
    # Given a flat metric with one huge spike a day ago
    rng = np.random.default_rng(4)
    y = 10.0 + rng.normal(0, 0.2, 3 * DAY)
    y[-DAY] = 500.0
    # When forecasting / Then the forecast stays at the usual level
    fc = forecast(y, 12)
    assert np.all(np.abs(np.asarray(fc.mean) - 10.0) < 1.0)


@pytest.mark.parametrize("seed", [3, 11])
def test_forecaster_intermittent_spikes_forecast_stays_at_typical_value(seed: int) -> None:
    # Given a week of an intermittent metric: zero, with a spike of about 100 in one point out of ten (mean 10)
    rng = np.random.default_rng(seed)
    n = 7 * DAY
    y = np.where(rng.random(n) < 0.1, 100.0 + rng.normal(0, 5, n), 0.0)
    y[-1] = 0.0
    # When forecasting two hours
    fc = forecast(y, 24)
    # Then the point forecast stays at the typical value (the median, what absolute errors reward), not the mean,
    # while the 95 % band still reaches the spikes
    assert max(fc.mean[1:]) < 1.0
    assert min(fc.upper_95) > 90.0


@pytest.mark.parametrize("value", [0.0, 45.0])
def test_forecaster_constant_series_forecasts_the_constant(value: float) -> None:
    # Given a flat (or all-zero) series / When forecasting
    fc = forecast(np.full(600, value), 12)
    # Then the forecast and its bands are that constant
    for arr in (fc.mean, fc.lower_95, fc.upper_95):
        assert np.allclose(arr, value, atol=1e-6)


def test_forecaster_short_history_falls_back_and_lowers_confidence() -> None:
    # Given one day of history and ten days of the same process
    short = ScalingForecaster().fit(_daily(1))
    long = ScalingForecaster().fit(_daily(10))
    # Then the short one uses no daily season and states a lower confidence
    assert short.seasonality_ == "none"
    assert long.seasonality_ != "none"
    assert short.confidence_ < long.confidence_


def test_forecaster_metric_series_uses_its_period_and_clock() -> None:
    # Given a MetricSeries of CPU starting at midnight
    y = np.clip(_daily(6) / 2.0, 0, 100)
    s = MetricSeries("i-1", "CPUUtilization", T0, 300, y)
    # When forecasting
    fc = forecast(s, 12)
    # Then the forecast starts one step after the last point and respects the metric's range
    assert fc.start == s.end + 300
    assert fc.period == 300
    assert max(fc.upper_95) <= 100.0 and min(fc.lower_95) >= 0.0


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=8, max_value=700),
    scale=st.floats(min_value=1e-3, max_value=1e6),
    seed=st.integers(min_value=0, max_value=10_000),
    horizon=st.integers(min_value=1, max_value=60),
)
def test_forecast_bands_are_ordered_and_finite(n: int, scale: float, seed: int, horizon: int) -> None:
    # Given any positive random series (heavy-tailed, with a few gaps)
    rng = np.random.default_rng(seed)
    y = scale * np.abs(rng.standard_t(3, n)) + scale
    y[rng.random(n) < 0.05] = np.nan
    y[0] = scale
    y[-1] = scale
    if np.isfinite(y).sum() < 8:
        return
    # When forecasting
    fc = forecast(y, horizon)
    # Then lower_95 <= lower_80 <= mean <= upper_80 <= upper_95, all finite, non-negative, one per step
    arrs = [np.asarray(a) for a in (fc.lower_95, fc.lower_80, fc.mean, fc.upper_80, fc.upper_95)]
    assert all(a.shape == (horizon,) and np.all(np.isfinite(a)) for a in arrs)
    for lo, hi in itertools.pairwise(arrs):
        assert np.all(lo <= hi + 1e-9 * (1 + abs(scale)))
    assert np.all(arrs[0] >= 0.0)


def test_forecaster_too_few_points_raises_insufficient_data() -> None:
    # Given five valid points / When fitting / Then the error names the minimum
    with pytest.raises(InsufficientDataError) as err:
        ScalingForecaster().fit([1.0, 2.0, np.nan, 3.0, 4.0, 5.0])
    assert err.value.needed == 8 and err.value.got == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"horizon": 0}, "horizon"),
        ({"period_s": 0}, "period_s"),
        ({"seasonality": "hourly"}, "seasonality"),
        ({"max_horizon_s": -1.0}, "max_horizon_s"),
    ],
)
def test_forecaster_bad_param_raises_naming_field(params: dict[str, object], field: str) -> None:
    # Given a bad hyperparameter / When fitting / Then InputValidationError names it
    with pytest.raises(InputValidationError) as err:
        ScalingForecaster(**params).fit(_daily(2))  # type: ignore[arg-type]
    assert err.value.field == field


def test_forecaster_two_dimensional_input_raises_invalid_series() -> None:
    # Given a 2-D array / When fitting / Then InvalidSeriesError on y
    with pytest.raises(InvalidSeriesError) as err:
        ScalingForecaster().fit(np.ones((10, 2)))
    assert err.value.field == "y"


def test_forecast_interval_unknown_level_raises() -> None:
    # Given a forecast / When asking for a 50 % interval / Then the level is named
    fc = forecast(_daily(2), 3)
    with pytest.raises(InputValidationError) as err:
        fc.interval(50)
    assert err.value.field == "level"
    lo, hi = fc.interval(80)
    assert np.all(lo <= hi)


# ---------------------------------------------------------------------------------------------- fast paths
# The forecaster's CPU savings are refactors that must give the same numbers as the direct computation.
@pytest.mark.parametrize(("start", "period", "n"), [(T0, 300, 5000), (T0 + 7.0, 3600, 700), (0.0, 600, 100)])
def test_design_matrix_cycle_gather_equals_direct(start: float, period: int, n: int) -> None:
    from cloudsage.core.models.scaling import _Design, _design_matrix

    t = start + period * np.arange(n, dtype=np.float64)
    design = _Design("daily+weekly", 11, (1, 2, 3))
    np.testing.assert_allclose(_design_matrix(t, design, period), _design_matrix(t, design), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("period", "days", "missing"), [(300, 9, 0.0), (3600, 30, 0.1), (600, 15, 0.3)])
def test_seasonal_fit_summed_per_phase_equals_row_by_row(period: int, days: int, missing: float) -> None:
    from cloudsage.core.models.scaling import _Design, _design_matrix, _phases, _seasonal_fit

    steps = 86_400 // period
    n = days * steps
    t = T0 + 1800.0 + period * np.arange(n, dtype=np.float64)  # not starting at midnight: phases are offset
    rng = np.random.default_rng(1)
    y = 10.0 * np.sin(2 * np.pi * t / 86_400) + rng.standard_t(2, n)  # heavy tails: the Huber weights matter
    ok = rng.random(n) >= missing
    X = _design_matrix(t, _Design("daily", 6, ()))
    w_time = 0.5 ** ((t[-1] - t) / (14 * 86_400))
    y0 = np.where(ok, y, 0.0)
    direct = _seasonal_fit(X, y0, ok, w_time, 1e-9)
    phased = _seasonal_fit(X, y0, ok, w_time, 1e-9, _phases(n, t[0], period, steps))
    np.testing.assert_allclose(phased, direct, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 101])
def test_gap_scales_equal_the_robust_scale_of_each_gap(n: int) -> None:
    from cloudsage.core.models.scaling import _gap_scales, _robust_scale

    states = np.random.default_rng(n).normal(size=(n, 5))
    states[:, 4] = states[:, 1]  # a gap of zeros: MAD 0, mean-absolute-deviation fallback
    expected = [_robust_scale(states[:, 1] - states[:, i]) for i in range(2, 5)]
    assert _gap_scales(states) == expected


def test_convex_weights_batched_match_one_by_one_and_are_convex() -> None:
    from cloudsage.core.models.scaling import _convex_weights

    rng = np.random.default_rng(3)
    base = rng.normal(size=(400, 1))
    S = base + 0.1 * rng.normal(size=(400, 5))  # strongly correlated levels, like the ladder
    targets = [S @ rng.dirichlet(np.ones(5)) + 0.05 * rng.normal(size=400) for _ in range(6)]
    A = np.array([S.T @ S] * len(targets))
    b = np.array([S.T @ r for r in targets])
    batched = _convex_weights(A, b, 1.0)
    one_by_one = np.vstack([_convex_weights(A[i : i + 1], b[i : i + 1], 1.0) for i in range(len(targets))])
    np.testing.assert_array_equal(batched, one_by_one)
    assert np.all(batched >= 0)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0)
    singular = np.zeros((1, 5, 5))  # no data (all-zero normal equations): still a convex combination
    np.testing.assert_allclose(_convex_weights(singular, np.zeros((1, 5)), 0.0).sum(), 1.0)


def test_forecaster_hourly_first_hour_ensemble_is_deterministic_and_tracks_truth() -> None:
    hours = 24 * 28
    t = np.arange(hours + 24)
    truth = 100 + 30 * np.sin(2 * np.pi * t / 24)
    y = truth[:hours] + np.random.default_rng(5).normal(0, 2, hours)
    est = ScalingForecaster(horizon=24, period_s=3600, start_s=T0).fit(y)
    assert len(est.cores_) >= 3  # the first hour averages every seasonal design's ladder (plus the long-horizon one)
    fc = est.predict()
    err = np.abs(np.asarray(fc.mean) - truth[hours:])
    assert err[0] < 6.0
    assert err.mean() < 4.0
    assert fc == ScalingForecaster(horizon=24, period_s=3600, start_s=T0).fit(y).predict()


# ---------------------------------------------------------------------------------------------- capacity
def test_learn_capacity_recovers_line_despite_saturation_incident() -> None:
    # Given cpu = 5 + 0.01 * requests per instance, with a 95 % CPU incident on 10 % of the points
    rng = np.random.default_rng(0)
    per = rng.uniform(500, 4000, 2000)
    inst = rng.integers(2, 7, 2000).astype(float)
    cpu = 5 + 0.01 * per + rng.normal(0, 0.5, 2000)
    cpu[:200] = 95.0
    # When learning capacity at 60 % CPU
    est = learn_capacity(per * inst, cpu, inst, target_utilization=60.0)
    # Then it finds (60 - 5) / 0.01 = 5500 requests per instance, inside its interval
    assert est.method == "theil-sen"
    assert abs(est.per_instance - 5500) / 5500 < 0.03
    assert est.lower <= est.per_instance <= est.upper


def test_learn_capacity_too_few_points_raises() -> None:
    # Given ten points / When learning / Then InsufficientDataError
    with pytest.raises(InsufficientDataError):
        learn_capacity(np.ones(10), np.ones(10), np.ones(10))


def test_learn_capacity_mismatched_lengths_names_field() -> None:
    with pytest.raises(InputValidationError) as err:
        learn_capacity(np.ones(30), np.ones(29), np.ones(30))
    assert err.value.field == "cpu"


def _fc(upper: list[float], period: int = 300) -> Forecast:
    up = tuple(float(u) for u in upper)
    mean = tuple(u * 0.8 for u in up)
    return Forecast(0.0, period, mean, mean, up, mean, up, "daily", 0.9, 1000)


def test_plan_capacity_scale_out_is_issued_a_warmup_ahead() -> None:
    # Given p90 load needing 5 instances from step 4 (t = 1200 s)
    fc = _fc([150.0] * 4 + [450.0] * 8)
    # When planning with a 10-minute warm-up
    plan = plan_capacity(fc, 100.0, 2, min_size=1, max_size=10, warmup_s=600.0, cooldown_s=0.0)
    # Then one scale out to 5, issued 600 s before it is needed, with its extra instance-hours per hour
    out = plan.actions[0]
    assert (out.kind, out.target, out.effective_at, out.at) == ("scale_out", 5, 1200.0, 600.0)
    assert out.cost_delta_per_hour == 3.0 and out.cost_unit == "instance-hours/h"
    assert 0.0 <= out.confidence <= 1.0


def test_plan_capacity_scale_in_waits_for_cooldown_and_respects_bounds() -> None:
    # Given a peak of 9 instances for two steps then 1 instance of load, max size 6, min size 2
    fc = _fc([850.0, 850.0] + [50.0] * 10)
    # When planning with a 15-minute cooldown and a price
    plan = plan_capacity(fc, 100.0, 6, min_size=2, max_size=6, cooldown_s=900.0, price_per_hour=0.5)
    # Then the size is capped at 6, held for 3 steps after the peak, then scaled in to the minimum 2
    assert plan.desired[:5] == (6, 6, 6, 6, 6)
    assert plan.desired[5] == 2
    scale_in = [a for a in plan.actions if a.kind == "scale_in"]
    assert scale_in[0].target == 2 and scale_in[0].cost_delta_per_hour == pytest.approx(-2.0)
    assert scale_in[0].cost_unit == "USD/h"


def test_plan_capacity_no_change_is_one_maintain_action() -> None:
    fc = _fc([250.0] * 12)
    plan = plan_capacity(fc, 100.0, 3)
    assert [a.kind for a in plan.actions] == ["maintain"]
    assert plan.instance_hours == pytest.approx(plan.instance_hours_current)


def test_recurring_schedule_needs_the_change_on_every_day() -> None:
    # Given a peak from 08:20 to 16:40 on day one only, and the same peak on both of two days
    day = [100.0] * 100 + [450.0] * 100 + [100.0] * 88
    once = _fc(day + [100.0] * 288)
    twice = _fc(day * 2)
    # When looking for daily recurring actions
    none = recurring_schedule(plan_capacity(once, 100.0, 1, cooldown_s=0.0))
    both = recurring_schedule(plan_capacity(twice, 100.0, 1, cooldown_s=0.0))
    # Then only the repeated peak gives a scale-out and a scale-in "schedule" action
    assert none == ()
    assert [(a.kind, a.target) for a in both] == [("schedule", 5), ("schedule", 1)]
    assert both[0].reason == "daily at 08:15 UTC"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"capacity_per_instance": 0.0}, "capacity_per_instance"),
        ({"min_size": -1}, "min_size"),
        ({"warmup_s": -5.0}, "warmup_s"),
        ({"quantile": 50}, "quantile"),
        ({"quantile_capacity": -1.0}, "quantile_capacity"),
    ],
)
def test_plan_capacity_bad_argument_names_field(kwargs: dict[str, float], field: str) -> None:
    args: dict[str, object] = {"capacity_per_instance": 100.0, "current": 2} | kwargs
    with pytest.raises(InputValidationError) as err:
        plan_capacity(_fc([100.0] * 3), **args)  # type: ignore[arg-type]
    assert err.value.field == field


# ---------------------------------------------------------------------------------------------- analyze
@pytest.fixture(scope="module")
def demo_outputs() -> dict[str, object]:
    from cloudsage.local.demo import build_demo_fleet

    return {r.resource_id: analyze(r) for r in build_demo_fleet().to_resource_metrics()}


def test_analyze_demo_fleet_runs_on_every_resource(demo_outputs: dict[str, object]) -> None:
    # Given the six demo resources / When analysed / Then every one has forecast plots of at most 600 points
    assert len(demo_outputs) == 6
    for out in demo_outputs.values():
        plots = [v for v in out.detail.values() if "forecast" in v]  # type: ignore[attr-defined]
        assert plots
        for p in plots:
            assert len(p["timestamps"]) <= 600 and len(p["forecast"]["mean"]) <= 600
            assert len(p["forecast"]["timestamps"]) == len(p["forecast"]["upper"])


def test_analyze_demo_asg_reports_proactive_scale_out(demo_outputs: dict[str, object]) -> None:
    # Given the web ASG at its night-time size of 2 / When analysed
    out = demo_outputs["web-api-asg"]
    ins = [i for i in out.insights if i.metric == "RequestCount"]  # type: ignore[attr-defined]
    # Then it warns that p90 load exceeds current capacity, with a scale-to target and a key figure
    assert ins and ins[0].kind == "proactive"
    assert "exceeds current capacity" in ins[0].title and "scale to" in ins[0].title
    assert ins[0].evidence["key_figure"]
    plan = out.detail["RequestCount"]["plan"]  # type: ignore[attr-defined]
    assert any(a["kind"] == "scale_out" for a in plan["actions"])
    assert min(plan["desired"]) >= 2 and max(plan["desired"]) <= 6  # min_size / max_size of the group
    cap = out.detail["RequestCount"]["capacity_per_instance"]  # type: ignore[attr-defined]
    # demo truth: cpu = 5 + 0.8 * rps per instance -> 68.75 rps = 20625 requests per 5 minutes at 60 %
    assert abs(cap["per_instance"] - 20625) / 20625 < 0.05


def test_analyze_demo_asg_reports_the_cpu_the_plan_implies(demo_outputs: dict[str, object]) -> None:
    # Given the web ASG analysed / Then its CPU detail is the CPU per instance under the plan
    out = demo_outputs["web-api-asg"]
    cpu = out.detail["CPUUtilization"]  # type: ignore[attr-defined]
    fc, plan = cpu["forecast"], out.detail["RequestCount"]["plan"]  # type: ignore[attr-defined]
    assert fc["under_plan"] is True
    lower, mean, p90, upper = (np.asarray(fc[k], dtype=float) for k in ("lower", "mean", "upper_80", "upper"))
    assert np.all((lower >= 0) & (lower <= mean) & (mean <= p90) & (p90 <= upper) & (upper <= 100))
    # the plan sizes the group for p90 load at the target CPU (60 %), except where it is capped at max_size
    if max(plan["desired"]) < plan["max_size"]:
        assert p90.max() <= 60.0 + 1e-3
    # and it is not a flat line: the load's daily cycle shows through
    assert mean.max() - mean.min() > 5.0


def test_analyze_demo_memory_leak_is_flagged(demo_outputs: dict[str, object]) -> None:
    out = demo_outputs["i-0b7c1d2e3f4a5b6c7"]
    assert any(i.metric == "MemoryUtilization" for i in out.insights)  # type: ignore[attr-defined]


def test_analyze_idle_instance_has_no_insight(demo_outputs: dict[str, object]) -> None:
    assert demo_outputs["i-0e9f8a7b6c5d4e3f2"].insights == ()  # type: ignore[attr-defined]


def test_analyze_unknown_param_raises_naming_it() -> None:
    s = MetricSeries("db", "CPUUtilization", T0, 300, _daily(2) / 3)
    with pytest.raises(InputValidationError) as err:
        analyze(ResourceMetrics("db", "rds", {"CPUUtilization": s}), horizon=5)
    assert err.value.field == "horizon"


def test_analyze_no_load_metric_raises_insufficient_data() -> None:
    s = MetricSeries("db", "ReadLatency", T0, 300, np.full(500, 0.001))
    with pytest.raises(InsufficientDataError):
        analyze(ResourceMetrics("db", "rds", {"ReadLatency": s}))


def test_analyze_asg_without_request_count_plans_on_cpu_demand() -> None:
    # Given a group of 3 instances whose CPU swings between 10 % and 90 % daily (no RequestCount)
    cpu = np.clip(_daily(4, noise=1.0, level=50.0) * 0.8, 0, 100)
    inst = np.full(cpu.size, 3.0)
    s = {
        "CPUUtilization": MetricSeries("g", "CPUUtilization", T0, 300, cpu),
        "GroupInServiceInstances": MetricSeries("g", "GroupInServiceInstances", T0, 300, inst),
    }
    # When analysed
    out = analyze(ResourceMetrics("g", "asg", s, {"min_size": 1, "max_size": 10}))
    # Then the plan is made on CPU-percent x instances (above 100, not clipped as a percentage)
    detail = out.detail["CPUUtilization"]
    assert detail["unit"] == "CPU-percent x instances"
    assert max(v for v in detail["forecast"]["upper"] if v is not None) > 100.0
    assert max(detail["plan"]["desired"]) >= 4


def test_group_plan_prices_actions_from_the_instance_type_and_says_where_from():
    from cloudsage.core.models.scaling import analyze, group_plan
    from cloudsage.local.demo import build_demo_fleet

    web = next(r for r in build_demo_fleet().to_resource_metrics() if r.resource_type == "asg")
    gp = group_plan(web)
    assert gp.price_origin.startswith(f"{web.attributes['instance_type']} On-Demand, snapshot")
    assert {a.cost_unit for a in gp.plan.actions} == {"USD/h"}
    assert {abs(a.cost_delta_per_hour) for a in gp.plan.actions} == {0.085}  # c6i.large list price per instance
    planned = [i for i in analyze(web).insights if "n_actions" in i.evidence]
    assert planned and all(i.evidence["price_origin"] == gp.price_origin for i in planned)
    unpriced = dataclasses.replace(web, attributes={k: v for k, v in web.attributes.items() if k != "instance_type"})
    bare = group_plan(unpriced)
    assert bare.price_origin == "" and {a.cost_unit for a in bare.plan.actions} == {"instance-hours/h"}
