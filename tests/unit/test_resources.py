"""Unit tests of the ResourceRecommender: features, classification, recommendation, analyze."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from cloudsage.core.base import NotFittedError
from cloudsage.core.errors import InputValidationError, InsufficientDataError
from cloudsage.core.models.resources import (
    WORKLOADS,
    ResourceRecommender,
    analyze,
    class_scores,
    classify_resource,
    seasonality_strength,
    workload_features,
)
from cloudsage.core.resource import ResourceMetrics
from cloudsage.core.results import ModelOutput
from cloudsage.core.series import MetricSeries
from cloudsage.local.demo import build_demo_fleet

T0 = 1_767_571_200  # a Monday 00:00 UTC
N = 14 * 288


def make(rid: str, rtype: str, attrs: dict | None = None, **metrics: np.ndarray) -> ResourceMetrics:
    series = {k: MetricSeries(rid, k, T0, 300, v) for k, v in metrics.items()}
    return ResourceMetrics(rid, rtype, series, attrs or {})


def nightly_batch(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hour = (np.arange(N) % 288) / 12.0
    busy = (hour >= 2) & (hour < 4.5)
    return np.clip(4 + 80 * busy + rng.normal(0, 1.5, N), 0, 100)


@pytest.fixture(scope="module")
def demo() -> dict[str, ResourceMetrics]:
    return {r.resource_id: r for r in build_demo_fleet().to_resource_metrics()}


def test_recommender_contract_fit_returns_self_predict_before_fit_raises(demo: dict) -> None:
    est = ResourceRecommender()
    with pytest.raises(NotFittedError):
        est.predict()
    assert est.fit(demo["web-api-asg"]) is est
    assert clone(est).get_params() == est.get_params()


def test_recommender_same_input_same_output(demo: dict) -> None:
    a = ResourceRecommender(random_state=0).fit(demo["orders-db"]).predict()
    b = ResourceRecommender(random_state=0).fit(demo["orders-db"]).predict()
    assert a.to_dict() == b.to_dict()


def test_recommender_bad_input_raises_naming_field() -> None:
    with pytest.raises(InputValidationError) as err:
        ResourceRecommender().fit(np.ones(10))  # type: ignore[arg-type]
    assert err.value.field == "y"
    res = make("i-1", "ec2", CPUUtilization=nightly_batch())
    with pytest.raises(InputValidationError) as err:
        ResourceRecommender(predictive_threshold=2.0).fit(res)
    assert err.value.field == "predictive_threshold"


def test_classify_demo_fleet_without_names_expected_classes(demo: dict) -> None:
    # Given the demo fleet with names ignored / When classified / Then each gets its expected class
    expected = {
        "web-api-asg": "web",
        "i-0b7c1d2e3f4a5b6c7": "batch",
        "orders-db": "database",
        "sessions-cache-001": "cache",
        "orders-processor": "microservice",
    }
    for rid, cls in expected.items():
        assert classify_resource(demo[rid], use_name=False).workload == cls, rid


def test_classify_nightly_batch_on_plain_instance_batch() -> None:
    res = make("i-2", "ec2", CPUUtilization=nightly_batch(3))
    c = classify_resource(res)
    assert c.workload == "batch" and c.confidence > 0.5


def test_classify_sustained_saturation_ml() -> None:
    rng = np.random.default_rng(1)
    cpu = np.clip(92 + rng.normal(0, 3, N), 0, 100)
    mem = np.clip(75 + rng.normal(0, 1, N), 0, 100)
    assert classify_resource(make("i-3", "ec2", CPUUtilization=cpu, MemoryUtilization=mem)).workload == "ml"


def test_classify_name_is_only_a_hint(demo: dict) -> None:
    # Given the batch worker renamed "web-frontend" / When classified / Then its metrics still win
    res = demo["i-0b7c1d2e3f4a5b6c7"]
    renamed = ResourceMetrics(
        res.resource_id, res.resource_type, res.series, {**res.attributes, "name": "web-frontend"}
    )
    assert classify_resource(renamed).workload == "batch"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), level=st.floats(0.5, 95.0), noise=st.floats(0.0, 20.0))
def test_classify_confidence_is_probability_of_a_known_class(seed: int, level: float, noise: float) -> None:
    # Given any CPU series / When classified / Then one of the 7 classes with confidence in (0, 1]
    rng = np.random.default_rng(seed)
    cpu = np.clip(level + noise * rng.standard_normal(3 * 288), 0, 100)
    c = classify_resource(make("i-4", "ec2", CPUUtilization=cpu))
    assert c.workload in WORKLOADS
    assert 1.0 / len(WORKLOADS) - 1e-9 <= c.confidence <= 1.0


def test_class_scores_cover_every_class(demo: dict) -> None:
    scores = class_scores(workload_features(demo["orders-db"]))
    assert set(scores) == set(WORKLOADS)


def test_seasonality_strength_sine_high_noise_low() -> None:
    t = np.arange(24 * 14)
    rng = np.random.default_rng(0)
    assert seasonality_strength(50 + 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, t.size)) > 0.9
    assert seasonality_strength(50 + rng.normal(0, 5, t.size)) < 0.3
    assert seasonality_strength(np.ones(10)) == 0.0


def test_features_too_little_data_raises_insufficient() -> None:
    with pytest.raises(InsufficientDataError):
        workload_features(make("i-5", "ec2", CPUUtilization=np.ones(100)))


def test_recommend_web_asg_autoscaling_predictive_on(demo: dict) -> None:
    # Given the demo web ASG (strong daily cycle) / When recommended
    rec = ResourceRecommender().fit(demo["web-api-asg"]).predict()
    a = rec.autoscaling
    # Then target tracking with min <= max and predictive scaling on
    assert a is not None and a["policy"] == "target-tracking"
    assert 2 <= a["min"] < a["max"] and 30 <= a["target"] <= 80
    assert a["predictive_scaling"] is True and a["seasonality_strength"] >= 0.5


def test_recommend_predictive_off_when_threshold_above_strength(demo: dict) -> None:
    rec = ResourceRecommender(predictive_threshold=1.0).fit(demo["web-api-asg"]).predict()
    assert rec.autoscaling is not None and rec.autoscaling["predictive_scaling"] is False


def test_recommend_batch_compute_family_and_size(demo: dict) -> None:
    rec = ResourceRecommender().fit(demo["i-0b7c1d2e3f4a5b6c7"]).predict()
    assert rec.family_class == "compute" and rec.instance_type is not None
    assert rec.autoscaling is None


def test_recommend_database_keeps_db_prefix(demo: dict) -> None:
    rec = ResourceRecommender().fit(demo["orders-db"]).predict()
    assert rec.family_class == "memory"
    assert rec.instance_type is not None and rec.instance_type.startswith("db.r6g.")


def test_analyze_runs_on_every_demo_resource(demo: dict) -> None:
    for res in demo.values():
        out = analyze(res)
        assert isinstance(out, ModelOutput) and len(out.insights) == 1
        ins = out.insights[0]
        assert ins.evidence["workload"] in WORKLOADS and ins.evidence["key_figure"]
        assert 0 <= ins.confidence <= 1
        for plot in out.detail.values():
            if isinstance(plot, dict) and "timestamps" in plot:
                assert len(plot["timestamps"]) <= 600


def test_analyze_demo_batch_worker_classified_batch(demo: dict) -> None:
    out = analyze(demo["i-0b7c1d2e3f4a5b6c7"])
    assert out.insights[0].evidence["workload"] == "batch"


def test_analyze_misspelt_option_is_an_error_naming_it() -> None:
    from cloudsage.core.errors import InputValidationError
    from cloudsage.core.models.resources import analyze
    from cloudsage.local.demo import build_demo_fleet

    web = build_demo_fleet().to_resource_metrics()[0]
    with pytest.raises(InputValidationError) as err:
        analyze(web, target_cpu=55)
    assert err.value.field == "target_cpu"


def test_metrics_with_different_spans_are_put_on_one_and_every_model_runs() -> None:
    """CloudWatch leaves out a metric's empty trailing periods: NetworkOut one hour short, CPU starting an hour late
    (a 167- vs 168-point week crashed the classifier with a broadcast error in the 1,000-resource run)."""
    from cloudsage.core.registry import MODEL_SPECS

    rng = np.random.default_rng(4)
    n, t0 = 168, 1_700_000_000 - 1_700_000_000 % 3600
    cpu = 20 + 10 * np.sin(np.arange(n) * 2 * np.pi / 24) + rng.normal(0, 1, n)
    net = 1e8 * (1 + rng.random(n))
    series = {
        "CPUUtilization": MetricSeries("i-x", "CPUUtilization", t0 + 3600, 3600, cpu[1:]),
        "NetworkIn": MetricSeries("i-x", "NetworkIn", t0, 3600, net, stat="Sum"),
        "NetworkOut": MetricSeries("i-x", "NetworkOut", t0, 3600, net[:-1], stat="Sum"),
    }
    r = ResourceMetrics("i-x", "ec2", series, {"instance_type": "m5.large"})
    # Given series of 167, 168 and 167 points / Then they share the 168-point span, NaN where a metric had nothing
    assert {len(s) for s in r.series.values()} == {n} and {s.start for s in r.series.values()} == {t0}
    assert np.isnan(r.series["CPUUtilization"].values[0]) and np.isnan(r.series["NetworkOut"].values[-1])
    assert (
        r.series["CPUUtilization"].values[1:].tolist()
        == MetricSeries("i", "CPUUtilization", 0, 3600, cpu[1:]).values.tolist()
    )
    # and every model either analyses it or says it does not apply (never a crash)
    for spec in MODEL_SPECS:
        try:
            out = spec.load_analyze()(r)
        except InsufficientDataError:
            continue
        assert isinstance(out, ModelOutput)


def test_series_on_another_phase_or_period_are_left_as_they_are() -> None:
    a = MetricSeries("i-x", "CPUUtilization", 0, 300, np.ones(10))
    b = MetricSeries("i-x", "NetworkIn", 150, 300, np.ones(5))  # half a period off: no common grid
    c = MetricSeries("i-x", "NetworkOut", 0, 3600, np.ones(3))  # another period
    r = ResourceMetrics("i-x", "ec2", {"CPUUtilization": a, "NetworkIn": b, "NetworkOut": c})
    assert r.series["NetworkIn"] is b and r.series["NetworkOut"] is c and r.series["CPUUtilization"] is a
