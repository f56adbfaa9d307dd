"""False-alarm budget of the anomaly detector: the mapping to a threshold, and its check on the demo fleet."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.models.anomaly import analyze, threshold_for_budget
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.series import MetricSeries
from cloudsage.local.demo import DemoFleet, build_demo_fleet

WEEK_S = 7 * 86_400
BURN_IN_S = 3 * 86_400  # analyze() reports nothing from a metric's first three days


@pytest.fixture(scope="module")
def fleet() -> DemoFleet:
    return build_demo_fleet()


@pytest.fixture(scope="module")
def resources(fleet: DemoFleet) -> list[ResourceMetrics]:
    res: Any = fleet.to_resource_metrics()
    return list(res.values()) if isinstance(res, dict) else list(res)


def _false_alarms_per_resource_week(fleet: DemoFleet, resources: list[ResourceMetrics], **params: Any) -> float:
    """Insights that overlap no labelled incident (one hour of slack either side), per resource and week."""
    alarms, weeks = 0, 0.0
    for r in resources:
        out = analyze(r, **params)
        incidents = fleet.incidents_for(r.resource_id)
        for ins in out.insights:
            if not any(ins.window_start <= i.end + 3600 and ins.window_end >= i.start - 3600 for i in incidents):
                alarms += 1
        span = max(float(s.timestamps[-1] - s.timestamps[0]) for s in r.series.values())
        weeks += max(0.0, span - BURN_IN_S) / WEEK_S
    return alarms / weeks


def test_threshold_for_budget_one_a_week_four_metrics_five_minutes_exact() -> None:
    # Given 4 metrics at 5 minutes: 8,064 points a week
    # When a budget of one false alarm a week is mapped / Then the threshold leaves one exceedance a week
    assert threshold_for_budget(1.0, 4, 300) == pytest.approx(1.0 - 1.0 / 8064, abs=1e-15)


@settings(max_examples=30, deadline=None)
@given(
    low=st.floats(0.01, 100.0),
    factor=st.floats(1.01, 100.0),
    n_metrics=st.integers(1, 20),
    period=st.sampled_from([60, 300, 3600]),
)
def test_threshold_for_budget_larger_budget_lower_threshold(
    low: float, factor: float, n_metrics: int, period: int
) -> None:
    # Given two budgets, one larger / When mapped / Then the larger never gets the stricter threshold, both in (0.5, 1)
    strict, loose = threshold_for_budget(low, n_metrics, period), threshold_for_budget(low * factor, n_metrics, period)
    assert 0.5 <= loose <= strict < 1.0


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0.0, 4, 300), "false_alarms_per_week"),
        ((-1.0, 4, 300), "false_alarms_per_week"),
        ((float("nan"), 4, 300), "false_alarms_per_week"),
        ((1.0, 0, 300), "n_metrics"),
        ((1.0, 4, 0), "period_s"),
    ],
)
def test_threshold_for_budget_bad_input_raises_naming_field(args: tuple[float, int, int], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        threshold_for_budget(*args)


def test_analyze_budget_and_threshold_together_rejected() -> None:
    # Given a tiny resource / When both a threshold and a budget are given / Then it refuses, naming both
    s = MetricSeries("r", "CPUUtilization", 1.7e9, 300, 40.0 + np.random.default_rng(0).normal(0, 1, 600))
    with pytest.raises(ValueError, match="threshold or false_alarms_per_week"):
        analyze(ResourceMetrics("r", "ec2", {"CPUUtilization": s}), threshold=0.99, false_alarms_per_week=1.0)


@pytest.mark.parametrize("budget", [0.5, 2.0, 10.0])
def test_analyze_budget_on_demo_normal_periods_holds(
    fleet: DemoFleet, resources: list[ResourceMetrics], budget: float
) -> None:
    # Given the demo fleet (two weeks, six resources, labelled incidents; everything else is normal behaviour,
    # including a deliberately noisy day)
    # When analysed with a false-alarm budget
    rate = _false_alarms_per_resource_week(fleet, resources, false_alarms_per_week=budget)

    # Then the false alarms outside the incidents stay within the budget
    assert rate <= budget


def test_analyze_budget_of_two_a_week_still_finds_every_demo_incident(
    fleet: DemoFleet, resources: list[ResourceMetrics]
) -> None:
    # Given the demo fleet / When analysed with a budget of two false alarms per resource-week
    found = set()
    for r in resources:
        out = analyze(r, false_alarms_per_week=2.0)
        for inc in fleet.incidents_for(r.resource_id):
            if any(i.window_start <= inc.end and i.window_end >= inc.start for i in out.insights):
                found.add((inc.resource_id, inc.metric, inc.start))

    # Then every labelled incident is still found
    assert len(found) == len(fleet.incidents)
