"""Insight record v1, aggregation and alert text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.alerts import SUBJECT_MAX, format_alert, format_digest, message_attributes
from cloudsage.core.errors import InputValidationError
from cloudsage.core.insights import aggregate, priority
from cloudsage.core.results import Insight, ModelOutput, insight_id
from tests.utils import make_insight


def test_insight_id_same_finding_same_id():
    # Given the same resource, model, kind, metric and window
    a, b = make_insight(), make_insight(title="other words", confidence=0.5)
    # Then a re-run cannot create a duplicate
    assert a.id == b.id == insight_id("web-api-asg", "anomaly", "reactive", "CPUUtilization", a.window_start)


def test_insight_id_other_window_other_id():
    assert make_insight().id != make_insight(window_start=1_699_000_000.0).id


def test_insight_json_round_trip():
    ins = make_insight()
    back = Insight.from_dict(json.loads(json.dumps(ins.to_dict())))
    assert back == ins
    assert ins.to_dict()["window_start_iso"].endswith("Z")


@pytest.mark.parametrize(
    ("field", "value"), [("severity", "urgent"), ("kind", "psychic"), ("confidence", 1.5), ("confidence", -0.1)]
)
def test_insight_bad_field_is_named(field, value):
    with pytest.raises(InputValidationError) as err:
        make_insight(**{field: value})
    assert err.value.field == field


def test_insight_from_dict_missing_field_is_named():
    data = make_insight().to_dict()
    del data["severity"]
    with pytest.raises(InputValidationError) as err:
        Insight.from_dict(data)
    assert err.value.field == "severity"


def test_model_output_round_trip_with_numpy_detail():
    import numpy as np

    out = ModelOutput("anomaly", "r", (make_insight(),), {"x": np.arange(3), "y": np.float64(np.nan)})
    data = json.loads(json.dumps(out.to_dict(), allow_nan=False))
    assert data["detail"] == {"x": [0, 1, 2], "y": None}
    assert ModelOutput.from_dict(data).insights[0].id == out.insights[0].id


def test_aggregate_ranks_by_severity_confidence_recency():
    crit = make_insight(severity="critical", metric="A")
    high_old = make_insight(severity="high", metric="B", window_start=1_699_000_000.0, window_end=1_699_100_000.0)
    low = make_insight(severity="low", metric="C")
    ranked = aggregate([ModelOutput("anomaly", "r", (low, high_old, crit))])
    assert [r.insight.metric for r in ranked] == ["A", "C", "B"]  # old high insight decays below a fresh low
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert ranked[0].priority == pytest.approx(priority(crit, crit.detected_at))


def test_aggregate_duplicate_ids_keep_most_severe():
    a = make_insight(severity="medium")
    b = make_insight(severity="critical")
    ranked = aggregate([ModelOutput("anomaly", "r", (a,)), ModelOutput("anomaly", "r", (b,))])
    assert len(ranked) == 1 and ranked[0].insight.severity == "critical"


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(6))))
def test_aggregate_order_independent(order):
    sev = ["info", "low", "medium", "high", "critical", "high"]
    insights = [make_insight(metric=f"m{i}", severity=sev[i], confidence=0.5 + i / 20) for i in range(6)]
    outputs = [ModelOutput("anomaly", "r", (insights[i],)) for i in order]
    expected = aggregate([ModelOutput("anomaly", "r", (i,)) for i in insights])
    assert [r.insight.id for r in aggregate(outputs)] == [r.insight.id for r in expected]


def test_format_alert_is_readable_and_bounded():
    ins = make_insight(title="x" * 300).to_dict()
    subject, body = format_alert(ins)
    assert len(subject) <= SUBJECT_MAX and subject.startswith("[CloudSage HIGH]")
    for needle in ("What:", "Where:", "Since:", "Evidence:", "Recommendation:", "deviation_sigma"):
        assert needle in body


def test_format_digest_names_every_insight():
    items = [make_insight(metric=f"m{i}").to_dict() for i in range(7)]
    subject, body = format_digest(items)
    assert "7 new insights" in subject
    assert all(i["id"] in body for i in items)


def test_message_attributes_allow_filtering():
    attrs = message_attributes(make_insight().to_dict())
    assert attrs["severity"]["StringValue"] == "high"
    assert set(attrs) == {"severity", "model", "resource", "kind"}
