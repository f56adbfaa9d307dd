"""Aggregation: composite insights, priority formula and order independence."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.insights import (
    COMPOSITE_MODEL,
    aggregate,
    composite_id,
    composite_kind,
    impact,
    priority,
    signals,
)
from cloudsage.core.results import ModelOutput
from tests.utils import make_insight

T0 = 1_700_000_000.0


def _finding(metric: str, start: float, end: float, **kw):
    base = {"metric": metric, "window_start": start, "window_end": end, "detected_at": end}
    base.update(kw)
    return make_insight(**base)


def _capacity_cluster(shift: float = 0.0):
    return [
        _finding("TargetResponseTime", T0 + shift, T0 + 3600 + shift, severity="critical", model="anomaly"),
        _finding("CPUUtilization", T0 - 600 + shift, T0 + 1800 + shift, severity="high", model="anomaly"),
        _finding(
            "CPUUtilization",
            T0 + 900,
            T0 + 7200,
            severity="medium",
            model="scaling",
            kind="proactive",
            evidence={"breach": "CPU above 90 % in 3 h", "key_figure": "90 % in 3 h"},
        ),
    ]


def test_aggregate_latency_and_cpu_saturation_form_one_capacity_risk():
    # Given a latency anomaly, CPU saturation and a forecast breach on one resource, overlapping in time
    cluster = _capacity_cluster()
    # When
    ranked = aggregate(
        [
            ModelOutput("anomaly", "web-api-asg", tuple(cluster[:2])),
            ModelOutput("scaling", "web-api-asg", (cluster[2],)),
        ]
    )
    # Then one composite carries every member and its evidence
    assert len(ranked) == 1
    comp = ranked[0].insight
    assert comp.model == COMPOSITE_MODEL and comp.evidence["composite"] == "capacity_risk"
    assert comp.severity == "critical" and comp.metric == "TargetResponseTime"
    assert set(ranked[0].members) == {i.id for i in cluster}
    assert comp.evidence["members"][0]["id"] == cluster[0].id  # most severe first
    assert comp.evidence["members"][2]["evidence"]["breach"] == "CPU above 90 % in 3 h"
    assert comp.window_start == T0 - 600 and comp.window_end == T0 + 7200
    assert comp.title.startswith("Capacity risk on web-api-asg")


def test_aggregate_composite_id_stable_when_members_change_slightly():
    # Given the same incident seen by a later run: one member's window moved by 10 minutes, one member missing
    first = aggregate([ModelOutput("anomaly", "r", tuple(_capacity_cluster()))])
    later = aggregate([ModelOutput("anomaly", "r", tuple(_capacity_cluster(shift=600.0)[:2]))])
    # Then the composite keeps its id (resource + kind + earliest start floored to the hour)
    assert first[0].insight.id == later[0].insight.id
    assert first[0].insight.id == composite_id("web-api-asg", "capacity_risk", T0 - 600)


def test_aggregate_far_apart_findings_stay_separate():
    # Given latency and CPU findings three hours apart
    a = _finding("TargetResponseTime", T0, T0 + 600)
    b = _finding("CPUUtilization", T0 + 4 * 3600, T0 + 4 * 3600 + 600)
    # When / Then
    ranked = aggregate([ModelOutput("anomaly", "r", (a, b))])
    assert {r.insight.id for r in ranked} == {a.id, b.id}


def test_aggregate_other_resources_never_group():
    a = _finding("TargetResponseTime", T0, T0 + 600)
    b = _finding("CPUUtilization", T0, T0 + 600, resource_id="orders-db")
    assert len(aggregate([ModelOutput("anomaly", "r", (a, b))])) == 2


@pytest.mark.parametrize(
    ("metrics", "models", "kind"),
    [
        (("Errors", "Duration"), ("anomaly", "anomaly"), "availability_risk"),
        (("CPUUtilization", "DatabaseConnections"), ("anomaly", "anomaly"), "resource_pressure"),
        (("CPUUtilization", "RequestCount"), ("anomaly", "anomaly"), None),
        (("M1", "M2"), ("anomaly", "anomaly"), None),
        (("M1", "M2"), ("anomaly", "performance"), "correlated"),
    ],
)
def test_composite_kind_rules(metrics, models, kind):
    cluster = [_finding(m, T0, T0 + 600, model=mod) for m, mod in zip(metrics, models, strict=True)]
    assert composite_kind(cluster) == kind


def test_composite_kind_cost_and_idle_is_cost_waste():
    cost = _finding("CPUUtilization", T0, T0 + 600, model="cost", evidence={"monthly_savings_usd": 120.0})
    idle = _finding("CPUUtilization", T0, T0 + 600, evidence={"direction": "down"})
    assert "cost" in signals(cost)
    assert composite_kind([cost, idle]) == "cost_waste"


def test_priority_formula_matches_documentation():
    # Given a fresh high-severity latency finding worth $1,000/month on 16 resources
    ins = _finding(
        "TargetResponseTime",
        T0,
        T0,
        severity="high",
        confidence=0.5,
        evidence={"monthly_savings_usd": 999.0, "resources_affected": 16},
    )
    # Then impact = 1 + cost 1 + sla 1 + spread 1 and priority = 0.8 * 0.5 * 4 * recency
    assert impact(ins) == pytest.approx(4.0)
    assert priority(ins, T0) == pytest.approx(0.8 * 0.5 * 4.0)
    assert priority(ins, T0 + 24 * 3600) == pytest.approx(0.8 * 0.5 * 4.0 / 2)


def test_priority_saturation_counts_half_sla_risk():
    assert impact(_finding("CPUUtilization", T0, T0)) == pytest.approx(1.5)
    assert impact(_finding("Unknown", T0, T0)) == pytest.approx(1.0)
    assert impact(_finding("Unknown", T0, T0, evidence={"sla_risk": 0.25})) == pytest.approx(1.25)


def test_aggregate_ranks_latency_above_equal_unknown_metric():
    # Given two equally severe, confident and fresh findings on different resources
    lat = _finding("TargetResponseTime", T0, T0, resource_id="a")
    other = _finding("Whatever", T0, T0, resource_id="b")
    # Then the one with SLA impact ranks first
    ranked = aggregate([ModelOutput("anomaly", "x", (other, lat))])
    assert [r.insight.id for r in ranked] == [lat.id, other.id]
    assert ranked[0].impact == 2.0


_metric = st.sampled_from(
    ["CPUUtilization", "TargetResponseTime", "Errors", "RequestCount", "DatabaseConnections", "M"]
)
_finding_st = st.builds(
    lambda r, m, start, dur, sev, conf, model: _finding(
        m, T0 + start * 300, T0 + (start + dur) * 300, resource_id=r, severity=sev, confidence=conf, model=model
    ),
    st.sampled_from(["a", "b"]),
    _metric,
    st.integers(0, 60),
    st.integers(0, 12),
    st.sampled_from(["info", "low", "medium", "high", "critical"]),
    st.sampled_from([0.3, 0.6, 0.9]),
    st.sampled_from(["anomaly", "performance"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_finding_st, min_size=0, max_size=12), st.randoms(use_true_random=False))
def test_aggregate_is_order_independent(findings, rnd):
    # Given the same findings delivered in another order and split differently into outputs
    shuffled = list(findings)
    rnd.shuffle(shuffled)
    a = aggregate([ModelOutput("m", "r", tuple(findings))])
    b = aggregate([ModelOutput("m", "r", (f,)) for f in shuffled])
    # Then the ranked result is identical
    assert [(r.insight, r.priority, r.rank, r.members) for r in a] == [
        (r.insight, r.priority, r.rank, r.members) for r in b
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(_finding_st, min_size=1, max_size=12))
def test_aggregate_keeps_every_finding_once(findings):
    # Every finding appears exactly once: as an insight of its own or as a member of one composite
    ranked = aggregate([ModelOutput("m", "r", tuple(findings))])
    covered = [m for r in ranked for m in (r.members or (r.insight.id,))]
    assert sorted(covered) == sorted({f.id for f in findings})
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    prios = [r.priority for r in ranked]
    assert prios == sorted(prios, reverse=True) and all(math.isfinite(p) and 0 <= p <= 4 for p in prios)


def _standing(metric: str, **kw):
    # a verdict over the whole 14-day lookback (cost, rightsizing)
    return _finding(metric, T0 - 14 * 86_400, T0 + 3600, kind="proactive", **kw)


def test_aggregate_standing_finding_does_not_glue_unrelated_episodes():
    # Given two latency+CPU episodes a week apart and a 14-day cost finding overlapping both
    early = [_finding("TargetResponseTime", T0 - 7 * 86_400, T0 - 7 * 86_400 + 600), _cpu_at(T0 - 7 * 86_400)]
    late = [_finding("TargetResponseTime", T0, T0 + 600), _cpu_at(T0)]
    cost = _standing("graviton", model="cost", severity="low", evidence={"monthly_savings_usd": 40.0})
    # When
    ranked = aggregate([ModelOutput("m", "web-api-asg", (*early, *late, cost))])
    # Then: two capacity-risk composites with tight windows, and the cost finding on its own
    comps = [r.insight for r in ranked if r.insight.model == COMPOSITE_MODEL]
    assert len(comps) == 2 and all(c.window_end - c.window_start <= 3600 for c in comps)
    assert cost.id in {r.insight.id for r in ranked}


def test_aggregate_under_provisioned_verdict_joins_latest_capacity_risk():
    # Given a latency+CPU episode and a standing "under-provisioned" rightsizing verdict
    episode = [_finding("TargetResponseTime", T0, T0 + 600), _cpu_at(T0)]
    verdict = _standing("CPUUtilization", model="cost", severity="medium", title="web-api-asg is under-provisioned")
    # When
    ranked = aggregate([ModelOutput("m", "web-api-asg", (*episode, verdict))])
    # Then one capacity risk carries it, and its window stays the episode's
    assert len(ranked) == 1 and verdict.id in ranked[0].members
    assert ranked[0].insight.window_start == T0


def test_aggregate_info_findings_never_join_composites():
    info = _finding("CPUUtilization", T0, T0 + 600, severity="info", model="performance", kind="proactive")
    lat = _finding("TargetResponseTime", T0, T0 + 600)
    assert len(aggregate([ModelOutput("m", "web-api-asg", (info, lat))])) == 2


def _cpu_at(start: float):
    return _finding("CPUUtilization", start, start + 600, severity="high")
